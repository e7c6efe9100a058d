"""The three modules against real sendmail lab hosts: healthy, faulted, and in check mode."""

from __future__ import annotations

import time

import pytest

STATUS = "opsiface.sendmail.sendmail_status"
QUEUE = "opsiface.sendmail.sendmail_queue"
PROBE = "opsiface.sendmail.smtp_probe"
ALL_AREAS = {"areas": ["process", "config", "syslog", "queue", "smtp"]}


def snapshot(lab, host: str) -> str:
    """Checksums of /etc/mail, both queues, the mailboxes, and the daemon's pid."""
    script = (
        "cd / && find etc/mail var/spool/mqueue var/spool/mqueue-client var/mail -type f -print0 | sort -z | "
        "xargs -0 sha256sum; head -n1 /var/run/sendmail/mta/sendmail.pid"
    )
    return lab.exec(host, "sh", "-c", script).stdout


def test_healthy_host_everything_ok(lab):
    host = lab.hosts[0]
    r = lab.module(host, STATUS, ALL_AREAS)
    assert r["changed"] is False and r["status"] == "ok", r["checks"]
    assert r["daemon"]["state"] == "accepting" and r["daemon"]["ppid"] == 1 and r["daemon"]["pidfile_matches"]
    assert r["listening"]["by_daemon"] is True
    assert r["config"]["version"] == "8.17.1.9" and r["config"]["hostname"] == f"{host}.lab.test"
    assert r["config"]["check"]["ok"] is True
    assert r["syslog"]["source"] == "file"
    assert r["queue"]["mta"]["verdict"] == "empty" and r["queue"]["msp"]["verdict"] == "empty"
    assert r["smtp"]["success"] and r["smtp"]["hostname"] == f"{host}.lab.test"


def test_killed_daemon(lab):
    host = lab.hosts[1]
    try:
        lab.fault(host, "kill")
        r = lab.module(host, STATUS, ALL_AREAS)
        assert r["daemon"]["state"] == "absent" and r["daemon"]["running"] is False
        assert r["checks"]["process"]["status"] == "critical"
        assert "stale" in r["checks"]["process"]["reason"]
        assert r["smtp"]["failure"] == "refused" and r["status"] == "critical"
        p = lab.module(host, PROBE, {})
        assert p["success"] is False and p["failure"] == "refused"
    finally:
        lab.heal(host)


def test_sigstopped_daemon_times_out_within_the_banner_timeout(lab):
    host = lab.hosts[1]
    try:
        lab.fault(host, "stop")
        started = time.monotonic()
        p = lab.module(host, PROBE, {"banner_timeout": 2, "connect_timeout": 2})
        assert time.monotonic() - started < 15
        assert p["failure"] == "timeout_banner" and p["timings"]["total"] < 4000
        r = lab.module(host, STATUS, {"areas": ["process"]})
        assert r["daemon"]["state"] == "stopped"
        assert "stopped (state T)" in r["checks"]["process"]["reason"]
    finally:
        lab.heal(host)


def test_backlog_through_the_real_daemon(lab):
    host = lab.hosts[2]
    before = lab.module(host, QUEUE, {})["queues"]["mta"]["count"]  # other tests may share this host
    lab.fault(
        host, "backlog", "--count", "30", "--age-hours", "6", "--domains", "mod-a.example,mod-b.example,mod-c.example"
    )
    r = lab.module(host, QUEUE, {})
    mta = r["queues"]["mta"]
    assert mta["count"] == before + 30 and mta["source"] == "directory"
    assert {d: mta["by_domain"][d] for d in ("mod-a.example", "mod-b.example", "mod-c.example")} == {
        "mod-a.example": 10,
        "mod-b.example": 10,
        "mod-c.example": 10,
    }
    assert "Deferred: Connection refused by [ADDR]" in mta["by_reason"]
    assert mta["oldest_age_seconds"] >= 6 * 3600
    assert mta["verdict"] == "backlog" and mta["status"] == "warning" and r["changed"] is False
    listed = lab.module(host, QUEUE, {"operation": "list", "recipient_domain": "mod-b.example", "limit": 3})
    assert listed["selected"] == 10 and len(listed["messages"]) == 3
    mailq = lab.exec(host, "mailq").stdout
    assert f"({before + 30} requests)" in mailq


def test_mutating_queue_operations_in_check_mode_change_nothing(lab):
    host = lab.hosts[2]
    before = snapshot(lab, host)
    listed = lab.module(host, QUEUE, {"operation": "list", "limit": 2})
    ids = [m["queue_id"] for m in listed["messages"]]
    for args in (
        {"operation": "hold", "queue": "mta", "queue_ids": ids},
        {"operation": "flush", "queue": "mta", "queue_ids": ids},
        {"operation": "delete", "queue": "mta", "queue_ids": ids},
        {"operation": "move_aside", "queue": "mta"},
    ):
        r = lab.module(host, QUEUE, args, "--check")
        assert r.get("failed") is not True or "while the sendmail daemon runs" in r.get("msg", ""), r
    assert lab.module(host, PROBE, {"send": True, "verify_mailbox": True}, "--check")["changed"] is False
    assert snapshot(lab, host) == before


def test_hold_release_delete_keep_every_other_message(lab):
    host = lab.hosts[2]
    start = lab.module(host, QUEUE, {})["queues"]["mta"]
    listed = lab.module(host, QUEUE, {"operation": "list", "recipient_domain": "mod-c.example"})
    ids = sorted(m["queue_id"] for m in listed["messages"])
    held = lab.module(host, QUEUE, {"operation": "hold", "queue": "mta", "queue_ids": ids[:2], "reason": "itest"})
    assert held["changed"] and held["queue_ids"] == ids[:2]
    after = lab.module(host, QUEUE, {})["queues"]["mta"]
    assert after["count"] == start["count"] - 2 and after["quarantined"] == start["quarantined"] + 2
    lab.module(host, QUEUE, {"operation": "release", "queue": "mta", "queue_ids": ids[:2]})
    gone = lab.module(host, QUEUE, {"operation": "delete", "queue": "mta", "queue_ids": ids[:1]})
    assert "deleted" in gone, gone.get("msg")
    assert gone["deleted"]["deleted"] == ids[:1] and gone["deleted"]["trash_dir"].startswith(
        "/var/spool/opsiface-sendmail/"
    )
    assert lab.exec(host, "sh", "-c", f"ls {gone['deleted']['trash_dir']}").stdout.split() == [
        f"df{ids[0]}",
        f"qf{ids[0]}",
    ]
    final = lab.module(host, QUEUE, {})["queues"]["mta"]
    assert final["count"] == start["count"] - 1 and final["quarantined"] == start["quarantined"]


def test_move_aside_refused_while_daemon_runs(lab):
    host = lab.hosts[2]
    r = lab.module(host, QUEUE, {"operation": "move_aside", "queue": "mta"})
    assert r["failed"] and "while the sendmail daemon runs" in r["msg"]


def test_mailbox_round_trip(lab):
    host = lab.hosts[0]
    before = lab.exec(host, "sh", "-c", "cat /var/mail/root 2>/dev/null | sha256sum").stdout
    r = lab.module(host, PROBE, {"send": True, "verify_mailbox": True, "verify_timeout": 30})
    assert r["success"], r
    assert r["changed"] is True and len(r["queue_id"]) == 14
    assert r["mailbox"]["found"] and r["mailbox"]["removed"]
    assert lab.exec(host, "sh", "-c", "cat /var/mail/root 2>/dev/null | sha256sum").stdout == before
    log = lab.exec(host, "grep", r["queue_id"], "/var/log/mail.log").stdout
    assert "stat=Sent" in log


def test_probe_refuses_remote_recipient_and_injection(lab):
    host = lab.hosts[0]
    r = lab.module(host, PROBE, {"send": True, "rcpt_to": "someone@elsewhere.example"})
    assert r["failed"] and "allow_remote_recipient" in r["msg"]
    r = lab.module(host, PROBE, {"send": True, "rcpt_to": "root>\r\nRCPT TO:<x"})
    assert r["failed"] and "CR, LF" in r["msg"]


def test_probe_from_the_controller_through_the_published_port(lab):
    import re

    host = lab.hosts[0]
    port = re.search(rf"^{host} .*lab_smtp_port=(\d+)", lab.inventory.read_text(), re.M).group(1)
    r = lab.module(
        "localhost",
        PROBE,
        {"host": "127.0.0.1", "port": int(port), "expect_hostname": f"{host}.lab.test", "banner_timeout": 10},
        "-c",
        "local",
    )
    assert r["success"], r
    assert r["hostname"] == f"{host}.lab.test"


def test_broken_config_is_critical_and_daemon_keeps_running(lab):
    host = lab.hosts[3]
    try:
        lab.fault(host, "broken-cf")
        r = lab.module(host, STATUS, {"areas": ["process", "config"]})
        assert r["checks"]["config"]["status"] == "critical"
        assert "line 1944" in r["checks"]["config"]["reason"] or "line" in r["checks"]["config"]["reason"]
        assert r["daemon"]["state"] == "accepting"
    finally:
        lab.heal(host)


def test_missing_syslog_is_a_warning_not_a_crash(lab):
    host = lab.hosts[3]
    try:
        lab.fault(host, "syslog-missing")
        r = lab.module(host, STATUS, {"areas": ["syslog"]})
        assert r["syslog"]["source"] == "none" and r["syslog"]["daemon"]["running"] is False
        assert r["checks"]["syslog"]["status"] == "warning" and "no mail log" in r["checks"]["syslog"]["reason"]
    finally:
        lab.heal(host)


@pytest.mark.parametrize("module,args", [(STATUS, ALL_AREAS), (QUEUE, {})])
def test_read_only_modules_never_change_anything(lab, module, args):
    host = lab.hosts[3]
    before = snapshot(lab, host)
    assert lab.module(host, module, args)["changed"] is False
    assert snapshot(lab, host) == before
