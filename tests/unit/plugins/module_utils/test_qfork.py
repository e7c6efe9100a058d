from __future__ import annotations

import os
import time

from ansible_collections.opsiface.sendmail.plugins.module_utils import _qfork


class Collect:
    """A worker that keeps the batches it was given; its dump says which process did them."""

    def __init__(self, pause: float = 0.0, fail: bool = False) -> None:
        self.batches: list = []
        self.pause, self.fail = pause, fail

    def batch(self, *args) -> None:
        if self.fail:
            raise RuntimeError("child failure")
        time.sleep(self.pause)
        self.batches.append(list(args))

    def dump(self) -> dict:
        return {"pid": os.getpid(), "batches": self.batches}


def test_the_child_does_the_batches_it_takes_and_sends_them_back():
    helper = _qfork.Helper(Collect())
    taken = [n for n in range(200) if helper.offer("/q", [f"qfAAAAAAAA{n:04d}"], [])]
    done, result = helper.result()
    assert done and result["pid"] != os.getpid() and len(taken) >= _qfork.QUEUED
    assert result["batches"] == [["/q", [f"qfAAAAAAAA{n:04d}"], []] for n in taken]


def test_a_busy_child_is_offered_no_more_than_it_can_queue():
    helper = _qfork.Helper(Collect(pause=0.5))
    offers = [helper.offer("/q", [str(n)], []) for n in range(10)]
    assert offers == [True] * _qfork.QUEUED + [False] * (10 - _qfork.QUEUED)  # the rest is done by the parent
    done, result = helper.result()
    assert done and len(result["batches"]) == _qfork.QUEUED


def test_a_failing_child_says_so():
    helper = _qfork.Helper(Collect(fail=True))
    for n in range(50):
        helper.offer("/q", [str(n)], [])
        time.sleep(0.001)
    assert helper.result() == (False, None)  # the caller does the whole scan again alone


def test_no_fork_no_helper(monkeypatch):
    def no_fork():
        raise OSError(11, "Resource temporarily unavailable")

    monkeypatch.setattr(os, "fork", no_fork)
    helper = _qfork.Helper(Collect())
    assert helper.offer("/q", ["x"], []) is False and helper.result() == (True, None)


def test_one_worker_for_one_cpu(monkeypatch, tmp_path):
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0}, raising=False)
    assert _qfork.workers_for([str(tmp_path)]) == 1
