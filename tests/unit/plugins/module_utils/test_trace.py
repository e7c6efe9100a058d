from __future__ import annotations

import os
import stat
import sys

import pytest
from ansible_collections.opsiface.sendmail.plugins.module_utils import _trace


def test_parse_bv_real(fixture_bytes):
    lines = fixture_bytes("debian12-8.17.1.9-bv.txt").splitlines(keepends=True)
    root = _trace.parse_bv("root", 0, lines[0])
    assert root["verdict"] == "deliverable"
    assert root["targets"][0]["mailer"] == "local" and root["targets"][0]["user"] == "root"
    remote = _trace.parse_bv("nobody@remote.example", 0, lines[1])
    assert remote["targets"][0]["host"] == "[127.0.0.2]" and remote["targets"][0]["mailer"] == "relay"
    unknown = _trace.parse_bv("nosuchuser", 67, lines[2])
    assert unknown["verdict"] == "undeliverable" and unknown["targets"][0]["message"] == "User unknown"
    assert _trace.parse_bv("a@@b", 65, lines[3])["targets"][0]["message"] == "Invalid route address"
    assert _trace.parse_bv("x", None, b"", b"")["verdict"] == "error"


def test_parse_bv_alias_expansion_and_bad_bytes():
    out = b"alice... deliverable: mailer local, user alice\nbob@x.example... deliverable: mailer esmtp, host x.example., user bob@x.example\n\xff\xfe junk\n"
    result = _trace.parse_bv("team", 0, out)
    assert [t["address"] for t in result["targets"]] == ["alice", "bob@x.example"]
    assert result["verdict"] == "deliverable"
    assert result["problems"] == ["\\xff\\xfe junk"]


@pytest.mark.parametrize("bad", ["-bt", "", "a b", "a\nb", "a\rb", "x" * 600, "tab\there", "nul\x00"])
def test_check_address_refuses(bad):
    with pytest.raises(_trace.TraceError):
        _trace.check_address(bad)


def test_check_address_accepts():
    assert _trace.check_address("user+tag@example.org") == "user+tag@example.org"


def test_summarize_real_strace(fixture_bytes):
    summary = _trace.summarize_syscalls(fixture_bytes("debian12-strace6-listener-smtp-session.txt").decode(), top=100)
    assert summary["lines"] == 301
    assert summary["errors"] == 9
    assert "pselect6" in summary["syscalls"]
    assert summary["syscalls"]["accept"] == 1  # the SMTP connection the listener took while traced
    assert summary["syscalls"]["clone"] == 1  # and the child it forked for it
    idle = _trace.summarize_syscalls(fixture_bytes("debian12-strace6-listener-idle.txt").decode())
    assert idle["syscalls"]["pselect6"] >= 1


def test_tracer_argv():
    assert _trace.tracer_argv("/usr/bin/strace", 71, "/t/x") == [
        "/usr/bin/strace",
        "-f",
        "-tt",
        "-s",
        "128",
        "-o",
        "/t/x",
        "-p",
        "71",
    ]
    assert _trace.tracer_argv("/usr/bin/truss", 71, "/t/x") == ["/usr/bin/truss", "-f", "-d", "-o", "/t/x", "-p", "71"]


WRITER = (
    "import sys,time\nf=open(sys.argv[1],'w')\nwhile True:\n    f.write('x'*1000+'\\n'); f.flush(); time.sleep(0.01)\n"
)


def test_bounded_trace_stops_at_max_bytes(tmp_path):
    out = str(tmp_path / "t.trace")
    run = _trace.bounded_trace([sys.executable, "-c", WRITER, out], out, 30, 20000, poll=0.02)
    assert run.stopped_by == "max_bytes"
    assert run.bytes_written <= 20000 and os.path.getsize(out) <= 20000
    assert run.seconds < 10
    assert stat.S_IMODE(os.lstat(out).st_mode) == 0o600


def test_bounded_trace_stops_at_seconds(tmp_path):
    out = str(tmp_path / "t.trace")
    run = _trace.bounded_trace([sys.executable, "-c", "import time; time.sleep(60)"], out, 0.5, 1 << 20)
    assert run.stopped_by == "seconds" and run.seconds < 6


def test_bounded_trace_refuses_existing_file(tmp_path):
    out = tmp_path / "t.trace"
    out.symlink_to("/etc/passwd")
    with pytest.raises(FileExistsError):
        _trace.bounded_trace(["true"], str(out), 1, 1024)


def test_summarize_solaris_truss(fixture_bytes):
    text = fixture_bytes("solaris10-truss-f-d-listener-written-from-truss.1.txt").decode()
    summary = _trace.summarize_syscalls(text, top=100)
    assert summary["syscalls"] == {
        "pollsys": 2,
        "fork1": 2,
        "accept": 1,
        "open": 1,
        "write": 1,
        "close": 1,
        "read": 1,
        "_exit": 1,
    }
    assert summary["errors"] == 1 and summary["lines"] == 11
