from __future__ import annotations

import pytest
from ansible_collections.opsiface.sendmail.plugins.module_utils import _verdict

OK_DAEMON = {
    "state": "accepting",
    "pid": 71,
    "ppid": 1,
    "pidfile": "/run/sm.pid",
    "pidfile_matches": True,
    "uptime_seconds": 10,
    "listeners": [{"pid": 71}],
    "zombie_children": 0,
}
OURS = [{"address": "0.0.0.0", "port": 25, "pid": 71, "args": "sendmail: MTA: accepting connections"}]


@pytest.mark.parametrize(
    "daemon,listening,status,words",
    [
        (OK_DAEMON, OURS, "ok", "accepting connections"),
        (
            {"state": "absent", "pidfile": "/run/sm.pid", "pidfile_problem": "stale: pid 71 is not running"},
            [],
            "critical",
            "stale",
        ),
        (dict(OK_DAEMON, state="stopped"), OURS, "critical", "stopped (state T)"),
        (dict(OK_DAEMON, state="zombie"), OURS, "critical", "zombie"),
        (dict(OK_DAEMON, state="rejecting_load", load_average=42.0), OURS, "warning", "load average 42.0"),
        (dict(OK_DAEMON, pidfile_matches=False, pidfile_problem="missing"), OURS, "warning", "PidFile"),
        (dict(OK_DAEMON, zombie_children=9), OURS, "warning", "9 defunct children"),
        (OK_DAEMON, [{"port": 25, "pid": 999, "args": "nc -l 25"}], "critical", "owned by pid 999 (nc -l 25)"),
        (OK_DAEMON, [], "critical", "nothing listens"),
        (dict(OK_DAEMON, listeners=[{"pid": 71}, {"pid": 72}]), OURS, "warning", "more than one listener"),
    ],
    ids=[
        "ok",
        "absent",
        "stopped",
        "zombie",
        "load",
        "pidfile",
        "zombie-children",
        "foreign-port",
        "not-listening",
        "two-listeners",
    ],
)
def test_process_check(daemon, listening, status, words):
    got = _verdict.process_check(daemon, listening)
    assert got["status"] == status and words in got["reason"]


def test_config_check_broken_says_restart_would_fail():
    got = _verdict.config_check(
        {
            "path": "/etc/mail/sendmail.cf",
            "exists": True,
            "check": {"ok": False, "rc": 70, "errors": [{"line": 1944, "message": "unknown configuration line"}]},
        }
    )
    assert got["status"] == "critical" and "line 1944" in got["reason"] and "restart" in got["reason"]


@pytest.mark.parametrize(
    "config,status",
    [
        ({"path": "x", "exists": False}, "critical"),
        ({"path": "x", "exists": True, "check": {"ok": True, "command": "c"}}, "ok"),
        ({"path": "x", "exists": True, "check": {"ok": None, "skipped": "no binary"}}, "unknown"),
        ({"path": "x", "exists": True, "check": {"timed_out": True}}, "unknown"),
    ],
)
def test_config_check_states(config, status):
    assert _verdict.config_check(config)["status"] == status


@pytest.mark.parametrize(
    "scan,status",
    [
        ({"source": "none", "problems": ["no mail log found: /var/log/mail.log"]}, "warning"),
        ({"source": "file", "errors": 0, "warnings": 0}, "ok"),
        ({"source": "file", "errors": 1, "warnings": 0, "offending": [{"line": "SYSERR x"}]}, "warning"),
        ({"source": "file", "errors": 10, "warnings": 0}, "critical"),
        ({"source": "file", "errors": 0, "warnings": 0, "complete": False, "problems": ["x"]}, "unknown"),
    ],
)
def test_syslog_check(scan, status):
    assert _verdict.syslog_check(scan)["status"] == status


def test_smtp_check():
    assert _verdict.smtp_check({"success": False, "failure": "timeout_banner", "detail": "d"})["status"] == "critical"
    assert _verdict.smtp_check({"success": True, "timings": {"banner": 3000}})["status"] == "warning"
    assert (
        _verdict.smtp_check({"success": True, "hostname": "h", "timings": {"banner": 3, "total": 4}})["status"] == "ok"
    )


def test_worst():
    assert _verdict.worst(["ok", "unknown", "warning"]) == "warning"
    assert _verdict.worst(["ok", "critical"]) == "critical"
    assert _verdict.worst([]) == "unknown"


def test_syslog_daemon_down_is_a_warning():
    got = _verdict.syslog_check({"source": "file", "errors": 0, "warnings": 0, "daemon": {"running": False}})
    assert got["status"] == "warning" and "no syslog daemon" in got["reason"]
    got = _verdict.syslog_check({"source": "none", "problems": ["no mail log found: x"], "daemon": {"running": False}})
    assert "log lines are lost" in got["reason"]
