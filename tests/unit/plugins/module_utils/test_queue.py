from __future__ import annotations

import fcntl
import json
import os
import time

import pytest
from ansible_collections.opsiface.sendmail.plugins.module_utils import _queue
from ansible_collections.opsiface.sendmail.tests.unit.plugins.module_utils.queue_helpers import NOW, write_msg


def test_scan_counts_messages_and_every_anomaly_without_blocking(queue_dir):
    started = time.monotonic()
    s = _queue.scan_queue([str(queue_dir)], NOW)
    assert time.monotonic() - started < 5  # the FIFO was not opened for reading
    assert s.count == 4  # three good ones and the truncated one (it is still a message)
    assert s.quarantined == 1
    assert s.oldest_age_seconds == 7200 and s.oldest_queue_id == "6ARAaaaa000002"
    assert s.max_attempts == 4
    assert s.by_domain == {"b.example": 2, "a.example": 1, "(none)": 1}
    assert s.anomalies == {
        "orphan_df": 1,
        "lost_qf": 1,
        "stale_tf": 1,
        "zero_length_qf": 1,
        "truncated_qf": 1,
        "not_regular": 3,
    }
    paths = {e["path"].rsplit("/", 1)[1] for e in s.anomaly_examples}
    assert {"df6ARAorphan0005", "qf6ARAlink000011", "qf6ARAfifo000010", "qf6ARAsock000012"} <= paths
    assert os.readlink(queue_dir / "qf6ARAlink000011") == "/etc/passwd"  # untouched


def test_scan_does_not_wait_on_a_locked_qf(queue_dir):
    fd = os.open(queue_dir / "qf6ARAaaaa000001", os.O_RDWR)
    fcntl.flock(fd, fcntl.LOCK_EX)
    fcntl.lockf(fd, fcntl.LOCK_EX)
    try:
        s = _queue.scan_queue([str(queue_dir)], NOW)
    finally:
        os.close(fd)
    assert s.count == 4


def test_scan_qd_multidirs_and_subdirs(tmp_path, fixture_bytes):
    template = fixture_bytes("queue/debian12-8.17.1.9-qf-deferred-relay.bin")
    for n in (1, 2):
        qd = tmp_path / f"qd{n}"
        (qd / "qf").mkdir(parents=True)
        (qd / "df").mkdir()
        (qd / "qf" / f"qf6ARAmult00000{n}").write_bytes(template)
        (qd / "df" / f"df6ARAmult00000{n}").write_bytes(b"b")
    dirs = _queue.expand_queue_dirs(str(tmp_path / "qd*"))
    assert dirs == [str(tmp_path / "qd1"), str(tmp_path / "qd2")]
    s = _queue.scan_queue(dirs, NOW)
    assert s.count == 2 and s.anomalies == {}


def test_scan_missing_directory_raises_named_error(tmp_path):
    with pytest.raises(_queue.QueueError, match="does not exist"):
        _queue.scan_queue([str(tmp_path / "nope")], NOW)


def test_list_filters(queue_dir):
    msgs, total = _queue.list_messages([str(queue_dir)], NOW, recipient_domain_filter="b.example")
    assert total == 2 and {m["queue_id"] for m in msgs} == {"6ARAaaaa000002", "6ARAaaaa000003"}
    msgs, total = _queue.list_messages([str(queue_dir)], NOW, older_than=3600)
    assert {m["queue_id"] for m in msgs} == {"6ARAaaaa000002", "6ARAaaaa000004"}  # the held one is old too
    msgs, total = _queue.list_messages([str(queue_dir)], NOW, queue_ids=["6ARAaaaa000004"])
    assert msgs[0]["quarantined"] and msgs[0]["quarantine_reason"] == "lab hold"
    msgs, total = _queue.list_messages([str(queue_dir)], NOW, limit=1)
    assert len(msgs) == 1 and total == 6


@pytest.mark.parametrize(
    "summary,verdict,status",
    [
        ({"count": 0}, "empty", "ok"),
        ({"count": 3, "oldest_age_seconds": 60}, "draining", "ok"),
        ({"count": 3, "oldest_age_seconds": 20000}, "backlog", "warning"),
        ({"count": 6000, "oldest_age_seconds": 60}, "stuck", "critical"),
        ({"count": 3, "oldest_age_seconds": 60, "anomalies": {"orphan_df": 1}}, "draining", "warning"),
    ],
    ids=["empty", "young-queue-is-normal", "old-backlog", "too-many", "anomaly-warns"],
)
def test_queue_verdict(summary, verdict, status):
    got = _queue.queue_verdict(summary, warn_count=500, crit_count=5000, warn_age=14400, crit_age=172800)
    assert got[:2] == (verdict, status)


def test_queue_ids_reads_names_only(tmp_path):
    q = tmp_path / "mqueue"
    (q / "qf").mkdir(parents=True)
    (q / "qfAAAAAAAA0001").write_bytes(b"")
    (q / "qf" / "qfAAAAAAAA0002").write_bytes(b"")
    (q / "hfAAAAAAAA0003").write_bytes(b"")
    (q / "QfAAAAAAAA0004").write_bytes(b"")
    (q / "dfAAAAAAAA0005").write_bytes(b"")  # orphan data file: not a message
    (q / "qf-not-an-id").write_bytes(b"")
    os.mkfifo(q / "qfAAAAAAAA0006")  # named like one; only the name is read, never opened
    ids, problems = _queue.queue_ids([str(q), str(tmp_path / "missing")])
    assert ids == ["AAAAAAAA0001", "AAAAAAAA0002", "AAAAAAAA0003", "AAAAAAAA0004", "AAAAAAAA0006"]
    assert problems and "missing" in problems[0]


@pytest.mark.parametrize(
    ("free", "total", "status", "text"),
    [
        (50, 100000, "critical", "at or below MinFreeBlocks=100: sendmail refuses new mail"),
        (100, 100000, "critical", "queue file system full"),
        (150, 100000, "warning", "nearly full"),
        (3000, 100000, "warning", "nearly full"),  # under 5 %
        (50000, 100000, "ok", None),
    ],
)
def test_space_verdict(free, total, status, text):
    got, evidence = _queue.space_verdict(free, total, 4096, 100)
    assert got == status
    assert (text in evidence[0]) if text else evidence == []


SECRET = b"V8\nT1795759003\nN1\nMSECRET-REASON from /etc/shadow\nSSECRET-SENDER\nRPFD:<root@secret.example>\n.\n"


@pytest.mark.parametrize("variant", ["hard-link", "other-owner", "world-writable"])
def test_files_not_written_by_sendmail_are_never_read(tmp_path, fixture_bytes, variant):
    """#13 item 6: a qf-named hard link to a root-only file (or a file of another user, or one anybody can
    write) is reported by name; its lines never reach the summary or the listing."""
    q = tmp_path / "mqueue"
    q.mkdir()
    write_msg(q, "6ARAgood000001", fixture_bytes("queue/debian12-8.17.1.9-qf-deferred-relay.bin"), int(NOW) - 60)
    target = tmp_path / "shadow"
    target.write_bytes(SECRET)
    target.chmod(0o600)
    planted = q / "qf6ARAleak000002"
    if variant == "hard-link":
        os.link(target, planted)
    else:
        planted.write_bytes(SECRET)
        if variant == "other-owner":
            os.chown(planted, 4242, 4242)
        else:
            planted.chmod(0o666)
    os.link(target, q / "hf6ARAleak000003")  # quarantined files are listed too
    for cache in (None, str(tmp_path / "cache")):
        s = _queue.scan_queue([str(q)], NOW, cache_dir=cache)
        assert s.count == 1 and s.anomalies.get("foreign_qf") == 1, s.anomalies
        assert "SECRET" not in json.dumps(s.to_dict())
        assert any(e["kind"] == "foreign_qf" and e["path"].endswith("qf6ARAleak000002") for e in s.anomaly_examples)
    problems: list[dict] = []
    msgs, total = _queue.list_messages([str(q)], NOW, anomalies=problems)
    assert total == 1 and [m["queue_id"] for m in msgs] == ["6ARAgood000001"]
    assert "SECRET" not in json.dumps([msgs, problems])
    assert {p["path"].rsplit("/", 1)[1] for p in problems} == {"qf6ARAleak000002", "hf6ARAleak000003"}
    assert {p["kind"] for p in problems} == {"foreign_qf"}
    assert _queue.list_messages([str(q)], NOW, queue_ids=["6ARAleak000002"]) == ([], 0)
