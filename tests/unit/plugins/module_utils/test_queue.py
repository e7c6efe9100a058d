from __future__ import annotations

import fcntl
import os
import socket
import time

import pytest
from ansible_collections.opsiface.sendmail.plugins.module_utils import _queue

NOW = 1795777500.0


def test_debian12_deferred_relay_qf(fixture_bytes):
    qf = _queue.parse_qf(fixture_bytes("queue/debian12-8.17.1.9-qf-deferred-relay.bin"), "6ARAuis9000145")
    assert qf.complete and qf.problems == []
    assert qf.version == 8 and qf.attempts == 1
    assert qf.created == 1795759003
    assert qf.reason == "Deferred: Connection refused by [127.0.0.2]"
    assert qf.sender == "<lab-backlog@mx02.lab.test>"
    assert qf.recipients == ["<user1@b.example>"]


def test_debian12_quarantined_hf(fixture_bytes):
    qf = _queue.parse_qf(fixture_bytes("queue/debian12-8.17.1.9-hf-quarantined.bin"), "6ARAuis8000145", "hf")
    assert qf.quarantine == "lab hold" and qf.complete


def test_debian12_msp_qf_has_binary_macro_bytes(fixture_bytes):
    data = fixture_bytes("queue/debian12-8.17.1.9-qf-msp-refused.bin")
    assert b"\x81" in data  # sendmail's own macro byte in H?P?Return-Path: <\201g>
    qf = _queue.parse_qf(data, "6ARAujTs000163")
    assert qf.recipients == ["root"] and qf.sender == "root" and qf.complete


def test_solaris_88_qf(fixture_bytes):
    qf = _queue.parse_qf(fixture_bytes("queue/solaris-8.8-qf-deferred-written-from-8.8-queue.c"), "HAA23118")
    assert qf.complete and qf.attempts == 3 and qf.recipients == ["friend@remote.example"]
    assert qf.reason.startswith("Deferred: Connection timed out")


@pytest.mark.parametrize(
    "mutate,problem",
    [
        (lambda d: b"", "zero-length"),
        (lambda d: d[: len(d) // 2], "truncated (no terminating '.' line)"),
        (lambda d: d.replace(b"\nT1795759003", b"\nTgarbage"), "no creation time (T line)"),
    ],
    ids=["zero-length", "truncated", "bad-T-line"],
)
def test_damaged_qf_is_described_not_raised(fixture_bytes, mutate, problem):
    qf = _queue.parse_qf(mutate(fixture_bytes("queue/debian12-8.17.1.9-qf-deferred-relay.bin")))
    assert problem in qf.problems


def test_hostile_values_are_escaped(fixture_bytes):
    data = fixture_bytes("queue/debian12-8.17.1.9-qf-deferred-relay.bin")
    data = data.replace(b"MDeferred: Connection refused by [127.0.0.2]", b"MDeferred: \xff\x00\x1b[31m" + b"A" * 10000)
    data = data.replace(b"RPFD:<user1@b.example>", b"RPFD:<evil\r\n@b.example>\r")
    qf = _queue.parse_qf(data)
    assert "\\xff\\x00\\x1b[31m" in qf.reason and "more]" in qf.reason
    assert qf.recipients == ["<evil\\r"]  # the line ends at LF; the CR stays visible
    for value in [qf.reason, *qf.recipients]:
        value.encode("utf-8")


@pytest.mark.parametrize(
    "addr,domain",
    [("<user@Example.COM>", "example.com"), ("root", "(local)"), ("<a@b.example.>", "b.example"), ("@", "(local)")],
)
def test_recipient_domain(addr, domain):
    assert _queue.recipient_domain(addr) == domain


def write_msg(directory, qid, template: bytes, created: int, attempts: int = 1, domain: str = "a.example"):
    data = template.replace(b"T1795759003", b"T%d" % created).replace(b"N1\n", b"N%d\n" % attempts)
    data = data.replace(b"user1@b.example", f"user@{domain}".encode())
    (directory / f"qf{qid}").write_bytes(data)
    (directory / f"df{qid}").write_bytes(b"body\n")


@pytest.fixture
def queue_dir(tmp_path, fixture_bytes):
    """A queue directory with three good messages and one of every anomaly."""
    template = fixture_bytes("queue/debian12-8.17.1.9-qf-deferred-relay.bin")
    q = tmp_path / "mqueue"
    q.mkdir()
    write_msg(q, "6ARAaaaa000001", template, int(NOW) - 100, 1, "a.example")
    write_msg(q, "6ARAaaaa000002", template, int(NOW) - 7200, 4, "b.example")
    write_msg(q, "6ARAaaaa000003", template, int(NOW) - 50, 2, "b.example")
    (q / "hf6ARAaaaa000004").write_bytes(fixture_bytes("queue/debian12-8.17.1.9-hf-quarantined.bin"))
    (q / "df6ARAaaaa000004").write_bytes(b"held body\n")
    (q / "df6ARAorphan0005").write_bytes(b"orphan\n")
    (q / "Qf6ARAlost000006").write_bytes(template)
    stale = q / "tf6ARAstale00007"
    stale.write_bytes(b"V8\n")
    os.utime(stale, (NOW - 7200, NOW - 7200))
    (q / "qf6ARAzero000008").write_bytes(b"")
    (q / "qf6ARAtrunc00009").write_bytes(template.replace(b"T1795759003", b"T%d" % (int(NOW) - 10))[:100])
    os.mkfifo(q / "qf6ARAfifo000010")
    os.symlink("/etc/passwd", q / "qf6ARAlink000011")
    sock = socket.socket(socket.AF_UNIX)
    sock.bind(str(q / "qf6ARAsock000012"))
    sock.close()
    (q / "not-a-queue-file").write_bytes(b"ignored")
    (q / "qfjunk").write_bytes(b"ignored: too short to be a queue ID")
    (q / "dfjunk").write_bytes(b"ignored too")
    return q


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


@pytest.mark.parametrize("value", ["../etc/passwd", "-qfoo", "6ARA/x", "short", "a" * 21, "6ARA aaaa0001"])
def test_decode_queue_id_refuses_unsafe_ids(value):
    with pytest.raises(_queue.QueueError):
        _queue.decode_queue_id(value)


def test_cache_skips_unchanged_files_and_rereads_rewritten_ones(tmp_path, fixture_bytes):
    template = fixture_bytes("queue/debian12-8.17.1.9-qf-deferred-relay.bin")
    q = tmp_path / "mqueue"
    q.mkdir()
    for n in range(5):
        write_msg(q, f"6ARAcach{n:06d}", template, int(NOW) - 100 * n)
    cache = tmp_path / "cache"
    first = _queue.scan_queue([str(q)], NOW, cache_dir=str(cache))
    assert first.files_read == 5 and first.cache["written"] and first.cache["hits"] == 0
    (cache_file,) = cache.iterdir()
    assert oct(cache_file.stat().st_mode & 0o777) == "0o600" and oct(cache.stat().st_mode & 0o777) == "0o700"
    second = _queue.scan_queue([str(q)], NOW, cache_dir=str(cache))
    assert second.files_read == 0 and second.cache["hits"] == 5
    assert (second.count, second.by_domain, second.oldest_age_seconds, second.size_bytes) == (
        first.count,
        first.by_domain,
        first.oldest_age_seconds,
        first.size_bytes,
    )
    # sendmail rewrites a qf through tf + rename: a new inode, so it is read again
    tf = q / "tf6ARAcach000001"
    tf.write_bytes(template.replace(b"N1\n", b"N9\n"))
    os.rename(tf, q / "qf6ARAcach000001")
    third = _queue.scan_queue([str(q)], NOW, cache_dir=str(cache))
    assert third.files_read == 1 and third.max_attempts == 9


def test_cache_not_ours_is_ignored_and_check_mode_writes_none(tmp_path, fixture_bytes):
    q = tmp_path / "mqueue"
    q.mkdir()
    write_msg(q, "6ARAcach000001", fixture_bytes("queue/debian12-8.17.1.9-qf-deferred-relay.bin"), int(NOW))
    cache = tmp_path / "cache"
    ro = _queue.scan_queue([str(q)], NOW, cache_dir=str(cache), write_cache=False)
    assert ro.cache["written"] is False and not cache.exists()
    _queue.scan_queue([str(q)], NOW, cache_dir=str(cache))
    (cache_file,) = cache.iterdir()
    os.chmod(cache_file, 0o644)  # group/world readable: not trusted
    again = _queue.scan_queue([str(q)], NOW, cache_dir=str(cache), write_cache=False)
    assert again.files_read == 1 and again.cache["hits"] == 0
    cache_file.write_bytes(b"\x00garbage")
    os.chmod(cache_file, 0o600)
    assert _queue.scan_queue([str(q)], NOW, cache_dir=str(cache)).count == 1


def test_queue_larger_than_the_cache_is_scanned_without_one(tmp_path, fixture_bytes):
    q = tmp_path / "mqueue"
    q.mkdir()
    for n in range(4):
        write_msg(q, f"6ARAcach{n:06d}", fixture_bytes("queue/debian12-8.17.1.9-qf-deferred-relay.bin"), int(NOW))
    s = _queue.scan_queue([str(q)], NOW, cache_dir=str(tmp_path / "c"), cache_max_entries=3)
    assert s.count == 4 and s.cache["written"] is False


def test_decode_queue_id_refuses_a_trailing_newline():
    with pytest.raises(_queue.QueueError):
        _queue.decode_queue_id("6ARAaaaa000001\n")


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
