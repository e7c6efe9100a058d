"""The scan itself: two processes find what one finds, a failed or impossible fork loses nothing, and the
previous scan's rows are reused only for files that did not change."""

from __future__ import annotations

import os

import pytest
from ansible_collections.opsiface.sendmail.plugins.module_utils import _qfork, _qscan, _queue
from ansible_collections.opsiface.sendmail.tests.unit.plugins.module_utils.queue_helpers import NOW, write_msg

TEMPLATE = "queue/debian12-8.17.1.9-qf-deferred-relay.bin"
SAME = ("count", "size_bytes", "oldest_age_seconds", "oldest_queue_id", "max_attempts", "by_domain", "by_reason")


def facts(summary) -> dict:
    d = summary.to_dict()
    return {k: d[k] for k in (*SAME, "quarantined", "anomalies")}


@pytest.fixture
def big(tmp_path, fixture_bytes):
    """300 messages over three domains and ages, in a queue directory with qf/ and df/ subdirectories."""
    template = fixture_bytes(TEMPLATE)
    q = tmp_path / "mqueue"
    (q / "qf").mkdir(parents=True)
    for n in range(300):
        write_msg(q, f"6ARAbig{n:07d}", template, int(NOW) - 10 * n, n % 7, f"d{n % 3}.example")
    os.rename(q / "qf6ARAbig0000007", q / "qf" / "qf6ARAbig0000007")
    return q


def _kinds(summary) -> list:
    return sorted((e["kind"], e["path"]) for e in summary.anomaly_examples)


def test_two_processes_find_what_one_finds(queue_dir, big, monkeypatch):
    forks = []
    real_fork = os.fork
    monkeypatch.setattr(os, "fork", lambda: forks.append(1) or real_fork())
    for q in (queue_dir, big):
        one = _queue.scan_queue([str(q)], NOW, workers=1)
        two = _queue.scan_queue([str(q)], NOW, workers=2)
        assert facts(two) == facts(one) and two.files_read == one.files_read
        assert _kinds(two) == _kinds(one)
    assert len(forks) == 2


def test_two_processes_with_a_cache_and_past_its_bound(big, tmp_path):
    cache = str(tmp_path / "cache")
    cold = _queue.scan_queue([str(big)], NOW, cache_dir=cache, workers=2)
    assert cold.cache["written"] and cold.files_read == 300
    warm = _queue.scan_queue([str(big)], NOW, cache_dir=cache, workers=2)
    assert warm.files_read == 0 and warm.cache["hits"] == 300 and facts(warm) == facts(cold)
    over = _queue.scan_queue([str(big)], NOW, cache_dir=cache, cache_max_entries=100, workers=2)
    assert facts(over) == facts(cold) and over.cache["written"] is False


def test_a_child_that_fails_has_its_share_done_by_the_parent(big, monkeypatch):
    parent = os.getpid()
    real_dump = _qscan.Part.dump

    def dump(self):
        if os.getpid() != parent:
            raise RuntimeError("child failure")
        return real_dump(self)

    monkeypatch.setattr(_qscan.Part, "dump", dump)
    assert facts(_queue.scan_queue([str(big)], NOW, workers=2)) == facts(_queue.scan_queue([str(big)], NOW, workers=1))


def test_no_fork_no_loss(big, monkeypatch):
    def no_fork():
        raise OSError(11, "Resource temporarily unavailable")

    monkeypatch.setattr(os, "fork", no_fork)
    assert facts(_queue.scan_queue([str(big)], NOW, workers=2)) == facts(_queue.scan_queue([str(big)], NOW, workers=1))


def test_workers_for_a_small_queue_is_one(big):
    assert _qfork.workers_for([str(big)]) == 1


@pytest.mark.parametrize("workers", [1, 2])
def test_a_qf_changed_in_place_is_read_again(tmp_path, fixture_bytes, workers):
    """Same name and inode (sendmail writes a new qf in place; the file system reuses inodes): size or mtime
    tell the change."""
    q = tmp_path / "mqueue"
    q.mkdir()
    template = fixture_bytes(TEMPLATE)
    write_msg(q, "6ARAcach000001", template, int(NOW) - 100)
    path = q / "qf6ARAcach000001"
    cache = str(tmp_path / "cache")
    assert _queue.scan_queue([str(q)], NOW, cache_dir=cache, workers=workers).max_attempts == 1
    inode, mtime = path.stat().st_ino, path.stat().st_mtime_ns
    with open(path, "r+b") as fh:  # same size, same inode, a new attempt count
        fh.write(template.replace(b"N1\n", b"N7\n"))
    os.utime(path, ns=(mtime + 1, mtime + 1))
    assert path.stat().st_ino == inode
    again = _queue.scan_queue([str(q)], NOW, cache_dir=cache, workers=workers)
    assert again.files_read == 1 and again.max_attempts == 7
    with open(path, "r+b") as fh:  # same mtime, another size
        fh.write(template.replace(b"N1\n", b"N12\n"))
    os.utime(path, ns=(mtime + 1, mtime + 1))
    assert _queue.scan_queue([str(q)], NOW, cache_dir=cache, workers=workers).max_attempts == 12


def test_an_incomplete_qf_is_never_served_from_the_cache(tmp_path, fixture_bytes):
    q = tmp_path / "mqueue"
    q.mkdir()
    template = fixture_bytes(TEMPLATE)
    (q / "qf6ARAwrit000001").write_bytes(template[:200])  # sendmail still writing it
    cache = str(tmp_path / "cache")
    first = _queue.scan_queue([str(q)], NOW, cache_dir=cache)
    assert first.anomalies == {"truncated_qf": 1}
    second = _queue.scan_queue([str(q)], NOW, cache_dir=cache)
    assert second.files_read == 1 and second.anomalies == {"truncated_qf": 1}


def test_a_df_seen_before_its_qf_is_sized_again(tmp_path, fixture_bytes):
    q = tmp_path / "mqueue"
    q.mkdir()
    (q / "df6ARAlate000001").write_bytes(b"part")  # body being written, no qf yet
    cache = str(tmp_path / "cache")
    assert _queue.scan_queue([str(q)], NOW, cache_dir=cache).anomalies == {"orphan_df": 1}
    (q / "df6ARAlate000001").write_bytes(b"the whole body\n")
    write_msg(q, "6ARAlate000001", fixture_bytes(TEMPLATE), int(NOW))
    (q / "df6ARAlate000001").write_bytes(b"the whole body, longer\n")
    s = _queue.scan_queue([str(q)], NOW, cache_dir=cache)
    assert s.size_bytes == (q / "qf6ARAlate000001").stat().st_size + len(b"the whole body, longer\n")
