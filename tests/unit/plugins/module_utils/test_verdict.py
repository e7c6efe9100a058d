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
    # unknown: the check could not be done; what was not seen may be critical, so it outranks a warning
    assert _verdict.worst(["ok", "unknown", "warning"]) == "unknown"
    assert _verdict.worst(["unknown", "critical"]) == "critical"
    assert _verdict.worst(["ok", "critical"]) == "critical"
    assert _verdict.worst([]) == "unknown"


def test_syslog_daemon_down_is_a_warning():
    got = _verdict.syslog_check({"source": "file", "errors": 0, "warnings": 0, "daemon": {"running": False}})
    assert got["status"] == "warning" and "no syslog daemon" in got["reason"]
    got = _verdict.syslog_check({"source": "none", "problems": ["no mail log found: x"], "daemon": {"running": False}})
    assert "log lines are lost" in got["reason"]


# --------------------------------------------------------------- what cannot be seen without root
LISTENER = {"state": "accepting", "pid": 71, "ppid": 1, "pidfile": "/run/sm.pid", "pidfile_matches": True}
HIDDEN = [{"address": "0.0.0.0", "port": 25, "pid": None, "args": None}]  # /proc/PID/fd of root's listener


def test_port_owner_hidden_without_root_is_unknown_unless_the_banner_is_sendmails():
    got = _verdict.process_check(LISTENER, HIDDEN)
    assert got["status"] == "unknown" and "not root" in got["reason"] and "become" in got["reason"]
    got = _verdict.process_check(LISTENER, HIDDEN, banner_mta="sendmail")
    assert got["status"] == "ok" and "its banner is sendmail's" in got["reason"]
    got = _verdict.process_check(LISTENER, HIDDEN, banner_mta="postfix")
    assert got["status"] == "critical" and "answers as Postfix" in got["reason"]


def test_pidfile_not_readable_is_unknown_not_a_pidfile_fault():
    daemon = dict(LISTENER, pidfile_matches=False, pidfile_problem="cannot open: Permission denied")
    daemon["pidfile_access"] = "cannot read /run/sm.pid (0640 root:smmsp): not root, and not in group smmsp"
    got = _verdict.process_check(daemon, HIDDEN, banner_mta="sendmail")
    assert got["status"] == "unknown" and "PidFile not compared" in got["reason"] and "not root" in got["reason"]
    # a listener that is gone is seen without root: that stays critical
    absent = dict(daemon, state="absent", pid=None)
    assert _verdict.process_check(absent, HIDDEN)["status"] == "critical"


def test_config_and_syslog_not_done_for_lack_of_privilege_are_unknown():
    config = {"path": "/etc/mail/sendmail.cf", "exists": True, "readable": True}
    config["check"] = {"ok": None, "skipped": "not root: ...", "access": "not root: sendmail -bC runs only as root"}
    got = _verdict.config_check(config)
    assert got["status"] == "unknown" and "not root" in got["reason"]
    scan = {"source": "none", "access": "cannot read /var/log/mail.log (0640 root:adm): not root", "problems": []}
    got = _verdict.syslog_check(scan)
    assert got["status"] == "unknown" and "not root" in got["reason"]


@pytest.mark.parametrize(
    "delivery,status,reason",
    [
        (
            {
                "success": True,
                "queue_id": "6B1Fq",
                "mailbox": {"removed": True, "path": "/var/mail/root", "waited_seconds": 0.4},
            },
            "ok",
            "test message 6B1Fq delivered to /var/mail/root in 0.4 s and removed",
        ),
        (
            {"success": False, "failure": "error", "detail": "rcpt_to 'a@b.example' is not on the probed host"},
            "unknown",
            "delivery check not done: rcpt_to 'a@b.example' is not on the probed host",
        ),
        (  # smtp_probe as a task that failed before its check (the filter's deliveries argument)
            {"failed": True, "msg": "verify_mailbox=true needs send=true"},
            "unknown",
            "delivery check not done: verify_mailbox=true needs send=true",
        ),
        (  # check mode: the probe said what it would send and sent nothing; "ok" would be a promise not kept
            {"success": True, "queue_id": None, "would_send": {"rcpt_to": "root"}},
            "unknown",
            "check mode: no test message sent (one would go to root)",
        ),
        ({"success": False, "failure": "delivery_late", "detail": "still queued"}, "warning", None),
        (
            {"success": True, "queue_id": "Q", "mailbox": {"arrived": True}, "detail": "left"},
            "warning",
            "delivered, but left",
        ),
        ({"success": False, "failure": "not_accepted", "detail": "RCPT answered 550"}, "critical", None),
    ],
    ids=["ok", "not-started", "task-failed", "check-mode", "late", "left", "refused"],
)
def test_delivery_check(delivery, status, reason):
    got = _verdict.delivery_check(delivery)
    assert got["status"] == status, got
    if reason is not None:
        assert got["reason"] == reason
    assert "None: None" not in got["reason"]
