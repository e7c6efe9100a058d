from __future__ import annotations

import calendar
import gzip
import io
import os
import tracemalloc

import pytest
from ansible_collections.opsiface.sendmail.plugins.module_utils import _syslog

# The Debian 12 capture was taken at 2026-11-27 10:57 UTC.
DEBIAN_NOW = calendar.timegm((2026, 11, 27, 11, 0, 0))


def test_debian12_rfc3339_line():
    line = _syslog.parse_line(
        b"2026-11-27T10:56:44.605671+00:00 mx02 sm-mta[147]: 6ARAuis8000145: to=<user0@a.example>, "
        b"stat=Deferred: Connection refused by [127.0.0.2]",
        DEBIAN_NOW,
    )
    assert line.timestamp == calendar.timegm((2026, 11, 27, 10, 56, 44))
    assert (line.host, line.program, line.pid, line.queue_id) == ("mx02", "sm-mta", 147, "6ARAuis8000145")
    assert _syslog.classify(line.message) == ("deferred", "warning")


def test_solaris_messages_line_with_id_tag():
    now = calendar.timegm((2026, 11, 27, 11, 0, 0))
    line = _syslog.parse_line(
        b"Nov 27 10:52:00 mx01 sendmail[4713]: [ID 801593 mail.crit] NOQUEUE: SYSERR(root): "
        b'/etc/mail/sendmail.cf: line 93: unknown configuration line "garbage"',
        now,
    )
    assert line.queue_id == "NOQUEUE" and line.message.startswith("NOQUEUE: SYSERR")
    assert _syslog.classify(line.message) == ("syserr", "error")


def test_bsd_stamp_in_december_read_in_january_is_last_year():
    now = calendar.timegm((2027, 1, 1, 0, 5, 0))
    line = _syslog.parse_line(b"Dec 31 23:59:00 h sendmail[1]: x", now)
    assert line.timestamp == calendar.timegm((2026, 12, 31, 23, 59, 0))


def test_bsd_stamp_with_local_offset():
    now = calendar.timegm((2026, 11, 27, 12, 0, 0))
    line = _syslog.parse_line(b"Nov 27 12:00:00 h sendmail[1]: x", now, utc_offset=3600)
    assert line.timestamp == now - 3600


@pytest.mark.parametrize(
    "raw", [b"", b"garbage", b"\xff\xfe\x00", b"Nov 99 99:99:99 h x: y", b"2026-13-45T99:99:99Z h p: m"]
)
def test_non_syslog_lines_are_none(raw):
    assert _syslog.parse_line(raw, DEBIAN_NOW) is None


def test_debian12_capture_scan(tmp_path, fixture_bytes):
    log = tmp_path / "mail.log"
    log.write_bytes(fixture_bytes("debian12-8.17.1.9-mail.log"))
    scan = _syslog.scan_files([str(log)], DEBIAN_NOW, _syslog.LogWindow(since_minutes=60, max_lines=3))
    assert scan.source == "file" and scan.complete
    assert scan.syserr == 4 and scan.counts["syserr"] == 4
    assert scan.counts["deferred"] == 5  # grep -c stat=Deferred on the capture
    assert scan.probe_lines_ignored >= 1  # banner-only connections from localhost
    assert len(scan.offending) == 3 and scan.offending[0]["time"] >= scan.offending[-1]["time"]
    assert scan.last_activity is not None


def test_rhel9_maillog_window_and_probe_exclusion(tmp_path, fixture_bytes):
    log = tmp_path / "maillog"
    log.write_bytes(fixture_bytes("rhel9-8.16-maillog.txt"))
    now = calendar.timegm((2026, 11, 27, 11, 0, 0))
    scan = _syslog.scan_files([str(tmp_path / "absent"), str(log)], now, _syslog.LogWindow(since_minutes=30))
    assert scan.counts.get("deferred") == 1 and scan.syserr == 1
    assert scan.probe_lines_ignored == 1  # localhost; the remote null connection is counted
    assert scan.counts.get("null_connection") == 1
    assert scan.lines_in_window == 5  # the 09:10 line is outside the window


def test_missing_log_is_reported_not_raised(tmp_path):
    scan = _syslog.scan_files([str(tmp_path / "mail.log")], DEBIAN_NOW)
    assert scan.source == "none" and not scan.complete and "no mail log found" in scan.problems[0]


def test_fifo_as_log_is_not_opened_for_blocking_read(tmp_path):
    os.mkfifo(tmp_path / "mail.log")
    scan = _syslog.scan_files([str(tmp_path / "mail.log")], DEBIAN_NOW)
    assert not scan.complete and "not a regular file" in scan.problems[0]


def test_symlinked_log_is_not_followed(tmp_path):
    (tmp_path / "real").write_bytes(b"x\n")
    os.symlink(tmp_path / "real", tmp_path / "mail.log")
    scan = _syslog.scan_files([str(tmp_path / "mail.log")], DEBIAN_NOW)
    assert not scan.complete


def _line(ts: float, msg: str) -> bytes:
    import time as _t

    stamp = _t.strftime("%Y-%m-%dT%H:%M:%S", _t.gmtime(ts))
    return f"{stamp}.000000+00:00 mx01 sm-mta[9]: {msg}\n".encode()


def test_rotation_reads_older_files_only_while_window_reaches(tmp_path):
    now = DEBIAN_NOW
    (tmp_path / "mail.log").write_bytes(_line(now - 60, "SYSERR(root): new"))
    with gzip.open(tmp_path / "mail.log.2.gz", "wb") as gz:
        gz.write(_line(now - 90000, "SYSERR(root): ancient"))
    (tmp_path / "mail.log.1").write_bytes(
        _line(now - 3000, "SYSERR(root): rotated") + _line(now - 1200, "x stat=Deferred")
    )
    os.utime(tmp_path / "mail.log.1", (now - 1000, now - 1000))
    os.utime(tmp_path / "mail.log.2.gz", (now - 80000, now - 80000))
    short = _syslog.scan_files([str(tmp_path / "mail.log")], now, _syslog.LogWindow(since_minutes=30))
    assert short.syserr == 1 and short.counts["deferred"] == 1
    assert [f["path"].rsplit("/", 1)[1] for f in short.files] == ["mail.log", "mail.log.1"]
    wide = _syslog.scan_files([str(tmp_path / "mail.log")], now, _syslog.LogWindow(since_minutes=60 * 26))
    assert wide.syserr == 3
    assert [f["path"].rsplit("/", 1)[1] for f in wide.files] == ["mail.log", "mail.log.1", "mail.log.2.gz"]


def test_corrupt_gzip_is_a_problem_not_a_traceback(tmp_path):
    (tmp_path / "mail.log").write_bytes(b"")
    (tmp_path / "mail.log.1.gz").write_bytes(b"\x1f\x8bnot really gzip")
    scan = _syslog.scan_files([str(tmp_path / "mail.log")], DEBIAN_NOW)
    assert not scan.complete and scan.problems


def test_huge_log_costs_only_its_window(tmp_path):
    """120 MB of old lines and one new one: the scan reads a few blocks, in bounded memory."""
    now = DEBIAN_NOW
    log = tmp_path / "mail.log"
    old = _line(now - 7200, "6ARAxxxx000001: to=<a@b>, stat=Deferred: x " + "y" * 150)
    with open(log, "wb") as fh:
        chunk = old * 5000
        for _round in range(120 * 1024 * 1024 // len(chunk)):
            fh.write(chunk)
        fh.write(_line(now - 10, "SYSERR(root): fresh"))
    tracemalloc.start()
    scan = _syslog.scan_files([str(log)], now, _syslog.LogWindow(since_minutes=60))
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert scan.syserr == 1 and scan.counts.get("deferred") is None
    assert scan.files[0]["bytes_read"] < 1024 * 1024
    assert peak < 8 * 1024 * 1024


def test_max_bytes_stops_and_says_so(tmp_path):
    now = DEBIAN_NOW
    log = tmp_path / "mail.log"
    log.write_bytes(_line(now - 5, "stat=Deferred: x") * 20000)
    scan = _syslog.scan_files([str(log)], now, _syslog.LogWindow(max_bytes=100000))
    assert not scan.complete and "max_bytes" in scan.problems[0]


def test_reverse_lines_long_and_binary_lines():
    data = b"first\n" + b"\xff" * 200000 + b"\nlast\n"
    lines = list(_syslog.reverse_lines(io.BytesIO(data), block_size=4096, max_line=1000))
    assert lines[0] == b"last" and lines[-1] == b"first"
    assert len(lines[1]) <= 200000


def test_journal_output():
    now = calendar.timegm((2026, 11, 27, 11, 0, 0))
    data = (
        b"2026-11-27T10:50:00+0000 mail1 sendmail[5]: NOQUEUE: SYSERR(root): hmm\n"
        b"2026-11-27T10:51:00+0000 mail1 sendmail[6]: abc12345: to=<x@y>, stat=Sent\n"
    )
    scan = _syslog.scan_journal_output(data, now)
    assert scan.source == "journald" and scan.syserr == 1 and scan.last_activity == now - 540


def test_find_outcomes_real_log(tmp_path, fixture_bytes):
    log = tmp_path / "mail.log"
    log.write_bytes(fixture_bytes("debian12-8.17.1.9-mail.log-sent-bounced"))
    now = 1795786600.0  # 2026-11-27T13:36:40Z, a minute after the capture
    wanted = {"6ARDZa6m000883", "6ARDZa9I000888", "6ARDZaai000884", "6ARDNLH6000148", "6ARDZZZZ000001"}
    outcomes = _syslog.find_outcomes([str(log)], wanted, now, now - 3600)
    assert outcomes == {"6ARDZa6m000883": "sent", "6ARDZa9I000888": "bounced", "6ARDZaai000884": "sent"}
    assert _syslog.find_outcomes([str(log)], wanted, now, now + 600) == {}  # every line is older than since
    assert _syslog.find_outcomes([str(tmp_path / "missing")], wanted, now, 0) == {}
    # only what was logged at or after a moment (the move aside): 6ARDZa6m000883 at 13:35:36, ...884 at 13:35:37
    after = calendar.timegm((2026, 11, 27, 13, 35, 37))
    assert _syslog.find_outcomes([str(log)], wanted, now, after, after=after) == {"6ARDZaai000884": "sent"}


# #13 item 5: a long run without newlines (a NUL burst after a crash, a binary write) around the window
def _log_with_a_run(tmp_path, run: bytes, gz: bool = False):
    now = DEBIAN_NOW
    before = _line(now - 600, "NOQUEUE: SYSERR(root): before the run") + _line(now - 590, "x: stat=Deferred: a")
    after = _line(now - 60, "NOQUEUE: SYSERR(root): glued right after the run")  # written with no newline before it
    last = _line(now - 30, "6ARAxxxx000009: to=<a@b>, stat=Sent (ok)")
    data = before + run + after + last
    path = tmp_path / ("mail.log.1.gz" if gz else "mail.log")
    path.write_bytes(gzip.compress(data) if gz else data)
    return str(path), len(before), len(run)


@pytest.mark.parametrize("run", [b"\0" * 3_000_000, b"\x00\x07\xfe" * 1_000_000], ids=["nul-burst", "binary-nul"])
def test_budget_reached_inside_a_run_says_incomplete_and_keeps_the_line_after(tmp_path, run):
    path, _before, _run = _log_with_a_run(tmp_path, run)
    scan = _syslog.scan_files([path], DEBIAN_NOW, _syslog.LogWindow(since_minutes=60, max_bytes=1_000_000))
    assert scan.complete is False
    assert any("stopped after 1000000 bytes (max_bytes) inside a run of NUL bytes" in p for p in scan.problems), (
        scan.problems
    )
    assert scan.files[0]["nul_bytes"] > 300_000
    assert scan.files[0]["bytes_read"] == 1_000_000  # what was really read, not the length of the lines
    assert scan.syserr == 1 and "glued right after the run" in scan.offending[0]["line"]  # the line after it
    assert scan.counts.get("activity") == 1  # and the one after that


@pytest.mark.parametrize("run", [b"\0" * 3_000_000, b"\x00\x07\xfe" * 1_000_000], ids=["nul-burst", "binary-nul"])
def test_a_run_inside_the_budget_counts_the_lines_on_both_sides(tmp_path, run):
    path, _before, _run = _log_with_a_run(tmp_path, run)
    scan = _syslog.scan_files([path], DEBIAN_NOW, _syslog.LogWindow(since_minutes=60))
    assert scan.complete is True, scan.problems
    assert scan.syserr == 2 and scan.counts.get("deferred") == 1 and scan.counts.get("activity") == 1


def test_a_binary_run_without_nul_or_newline_salvages_the_line_after_and_says_what_was_not_parsed(tmp_path):
    path, _before, _run = _log_with_a_run(tmp_path, bytes(range(32, 127)) * 3000 + b"\xff\xfe")
    scan = _syslog.scan_files([path], DEBIAN_NOW, _syslog.LogWindow(since_minutes=60))
    assert scan.syserr == 2 and scan.counts.get("deferred") == 1  # the lines on both sides
    assert scan.files[0]["salvaged"] == 1
    assert scan.complete is False and any("were not parsed" in p for p in scan.problems)


def test_a_rotated_gzip_with_a_nul_burst_is_streamed_and_counted(tmp_path):
    _path, _before, _run = _log_with_a_run(tmp_path, b"\0" * 3_000_000, gz=True)
    live = tmp_path / "mail.log"
    live.write_bytes(b"")
    tracemalloc.start()
    scan = _syslog.scan_files([str(live)], DEBIAN_NOW, _syslog.LogWindow(since_minutes=60))
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert scan.syserr == 2 and scan.complete is True, scan.problems
    assert peak < 8 * 1024 * 1024


def test_outcomes_glued_after_a_nul_burst_are_found(tmp_path):
    """The restart's nothing-lost gate reads the same log: a delivery logged right after a burst is no loss."""
    path, _before, _run = _log_with_a_run(tmp_path, b"\0" * 200_000)
    with open(path, "ab") as fh:
        fh.write(b"\0" * 5000 + _line(DEBIAN_NOW - 10, "6ARAxxxx000010: to=<c@d>, stat=Sent (ok)"))
    got = _syslog.find_outcomes([path], {"6ARAxxxx000009", "6ARAxxxx000010"}, DEBIAN_NOW, DEBIAN_NOW - 3600)
    assert got == {"6ARAxxxx000009": "sent", "6ARAxxxx000010": "sent"}
