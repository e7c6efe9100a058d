from __future__ import annotations

import os

from ansible_collections.opsiface.sendmail.plugins.module_utils import _qfork


class Share:
    def __init__(self, part: int, pid: int) -> None:
        self.part, self.pid = part, pid

    def dump(self) -> dict:
        return {"part": self.part, "pid": self.pid}


def test_part_zero_here_the_others_in_children():
    results = _qfork.run_parts(lambda part: Share(part, os.getpid()), 3)
    assert results[0].pid == os.getpid() and [r["part"] for r in results[1:]] == [1, 2]
    assert all(r["pid"] != os.getpid() for r in results[1:])


def test_a_failing_child_has_its_share_done_here():
    parent = os.getpid()

    def work(part: int) -> Share:
        if os.getpid() != parent:
            raise RuntimeError("child failure")
        return Share(part, os.getpid())

    results = _qfork.run_parts(work, 2)
    assert results[1] == {"part": 1, "pid": parent}


def test_one_worker_for_one_cpu(monkeypatch, tmp_path):
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0}, raising=False)
    assert _qfork.workers_for([str(tmp_path)]) == 1
