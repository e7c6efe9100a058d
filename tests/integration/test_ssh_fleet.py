"""A real fleet: hosts reached over SSH as an unprivileged user who becomes root with sudo.

One mixed fleet (lab.py up --connection ssh): healthy, daemon stopped, listener hung
(SIGSTOP), a backlog, a host that is down, one without sendmail, one whose MTA is
Postfix, and one whose sudo needs a password nobody gives. The playbooks are run as a
new user would, without -b: they become root themselves.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import stat
import subprocess

import ansible_runner
import pytest
from conftest import OUTPUT, ROOT, VENV_BIN

SSH = ("--connection", "ssh")
ROLES = ("healthy", "stopped", "hung", "backlog", "down", "nosendmail", "postfix", "sudopw")
KINDS = [SSH] * 6 + [(*SSH, "--variant", "postfix"), (*SSH, "--ssh-user", "opspw")]
QUICK = ("-e", "health_check_smtp_timeout=4", "-e", "sendmail_hosts=sendmail_ssh")


@pytest.fixture(scope="module")
def fleet(lab):
    with lab.extra_hosts(len(ROLES), kinds=KINDS) as names:
        f = dict(zip(ROLES, names, strict=True))
        lab.fault(f["stopped"], "service-stop")
        lab.fault(f["hung"], "stop")
        lab.fault(f["backlog"], "backlog", "--count", "12", "--age-hours", "6", "--domains", "ssh-slow.example")
        lab.fault(f["nosendmail"], "no-sendmail")
        # down after the inventory was written: its published SSH port refuses connections
        subprocess.run(["docker", "stop", "-t", "1", f["down"]], check=True, capture_output=True)
        yield f


def reachable(f: dict) -> str:
    return ",".join(h for role, h in f.items() if role != "down")


def fleet_json(report_dir) -> dict:
    return json.loads((report_dir / "fleet.json").read_text())


def run_report(lab, name: str, *args: str, check: bool = False):
    report_dir = OUTPUT / f"ssh-{name}"
    shutil.rmtree(report_dir, ignore_errors=True)
    proc = lab.playbook(
        "playbooks/healthcheck.yml", *QUICK, "-e", f"sendmail_report_dir={report_dir}", *args, check=check
    )
    return fleet_json(report_dir), proc


@pytest.fixture(scope="module")
def runner_run(lab, fleet, tmp_path_factory):
    """The health check as AWX runs it (ansible-runner), over SSH, without -b."""
    private = tmp_path_factory.mktemp("runner-ssh")
    report_dir = OUTPUT / "ssh-mixed-fleet"
    shutil.rmtree(report_dir, ignore_errors=True)
    result = ansible_runner.run(
        private_data_dir=str(private),
        playbook=str(ROOT / "playbooks" / "healthcheck.yml"),
        inventory=str(lab.inventory),
        extravars={
            "sendmail_hosts": "sendmail_ssh",
            "sendmail_report_dir": str(report_dir),
            "health_check_smtp_timeout": 4,
        },
        envvars={
            "ANSIBLE_CONFIG": str(ROOT / "ansible.cfg"),
            "ANSIBLE_COLLECTIONS_PATH": str(ROOT / ".collections"),
            "PATH": f"{VENV_BIN}:{os.environ.get('PATH', '')}",
            "ANSIBLE_NOCOLOR": "1",
        },
        quiet=True,
        timeout=600,
    )
    stats = next(e for e in result.events if e.get("event") == "playbook_on_stats")["event_data"]
    return {"data": fleet_json(report_dir), "stats": stats, "stdout": result.stdout.read(), "result": result}


def test_mixed_fleet_over_ssh_with_become_by_default(fleet, runner_run):
    hosts = runner_run["data"]["hosts"]
    f = fleet

    def reasons(role: str) -> str:
        return " | ".join(hosts[f[role]]["reasons"])

    assert hosts[f["healthy"]]["status"] == "ok", reasons("healthy")
    assert set(hosts[f["healthy"]]["checks"]) == {"mta", "process", "config", "syslog", "queue", "smtp"}
    assert hosts[f["backlog"]]["status"] == "warning", reasons("backlog")
    assert hosts[f["backlog"]]["checks"]["queue"]["by_domain"] == {"ssh-slow.example": 12}
    assert hosts[f["stopped"]]["status"] == "critical" and "no sendmail listener is running" in reasons("stopped")
    assert hosts[f["hung"]]["status"] == "critical" and "stopped (state T)" in reasons("hung")
    assert hosts[f["down"]]["status"] == "unreachable"
    assert hosts[f["sudopw"]]["status"] == "unknown" and hosts[f["sudopw"]]["escalate"] is False
    assert "sudo needs a password and none was given" in reasons("sudopw") and "become" in reasons("sudopw")
    assert hosts[f["nosendmail"]]["status"] == "critical"
    assert "sendmail is not installed (no /usr/sbin/sendmail, no /etc/mail/sendmail.cf)" in reasons("nosendmail")
    postfix = hosts[f["postfix"]]
    assert postfix["status"] == "critical" and "the MTA here is Postfix, not sendmail" in reasons("postfix")
    assert postfix["checks"]["smtp"]["status"] == "critical"  # Postfix's 220/221 is no self-test of sendmail
    assert "/usr/lib/postfix/sbin/master" in reasons("postfix")  # port 25's owner, seen as root
    counts = {k: v for k, v in runner_run["data"]["summary"].items() if k not in ("new", "recovered", "persisting")}
    assert counts == {
        "total": 8,
        "ok": 1,
        "warning": 1,
        "unknown": 1,
        "critical": 4,
        "unreachable": 1,
    }


def test_down_host_is_unreachable_in_ansibles_stats_too(fleet, runner_run):
    stats = runner_run["stats"]
    down = fleet["down"]
    assert down in stats["dark"], stats  # AWX's host summary: unreachable
    assert down not in stats.get("failures", {})
    tail = runner_run["stdout"].split("PLAY RECAP")[-1]
    recap = re.search(rf"{down}\s+:[^\n]*", tail)
    assert recap, tail
    recap = recap.group(0)
    assert "unreachable=1" in recap and "failed=0" in recap, recap
    # the hosts at or above health_check_fail_on (critical) fail; unknown and warning do not
    assert set(stats["failures"]) == {fleet[r] for r in ("stopped", "hung", "nosendmail", "postfix")}
    assert runner_run["result"].status == "failed"


def test_without_become_no_verdict_comes_from_missing_privileges_and_the_log_stays_clean(lab, fleet):
    f = fleet
    logged = ",".join(f[r] for r in ("healthy", "backlog", "postfix"))
    for run in range(3):  # the whole fleet once, then the hosts whose logs are read below
        data, _proc = run_report(
            lab, "nobecome", "-e", "ansible_become=false", "--limit", logged if run else reachable(f)
        )
        for host, result in data["hosts"].items():
            assert result["status"] != "ok", (host, result["reasons"])
            not_sendmail = result["checks"]["mta"]["status"] == "critical"  # its other areas say why
            for area, check in result["checks"].items():
                if check["status"] == "unknown" and not not_sendmail:
                    assert "not root" in check["reason"] or "become" in check["reason"], (host, area, check)
                if check["status"] == "critical":
                    assert "not root" not in check["reason"] and "ermission denied" not in check["reason"], check
        assert data["hosts"][f["healthy"]]["status"] == "unknown"
        assert data["hosts"][f["backlog"]]["status"] == "unknown"
        if not run:
            assert data["hosts"][f["stopped"]]["status"] == "critical"  # no listener: visible without root
    # nothing the non-root runs did left a line sendmail (or Postfix's wrapper) wrote for them
    for role in ("healthy", "backlog", "postfix"):
        log = lab.exec(f[role], "cat", "/var/log/mail.log").stdout
        for needle in ("SYSERR", "Authentication-Warning", "changed syslog label", "postfix/sendmail"):
            assert needle not in log, (role, needle, [x for x in log.splitlines() if needle in x])
    data, _proc = run_report(lab, "root-after", "--limit", f["healthy"])
    syslog = data["hosts"][f["healthy"]]["checks"]["syslog"]
    assert data["hosts"][f["healthy"]]["status"] == "ok" and syslog["errors"] == 0 and syslog["warnings"] == 0


def test_queue_tag_alone_never_passes_a_backlog(lab, fleet):
    """The issue's `--tags queue` run said "1 hosts: 1 ok" for a 6-hour backlog it could not read."""
    host = fleet["backlog"]
    data, _proc = run_report(lab, "tags-queue", "--tags", "queue", "--limit", host)
    assert data["hosts"][host]["status"] == "warning" and set(data["hosts"][host]["checks"]) == {"mta", "queue"}
    data, _proc = run_report(
        lab, "tags-queue-nobecome", "--tags", "queue", "--limit", host, "-e", "sendmail_become=false"
    )
    result = data["hosts"][host]
    assert result["status"] == "unknown" and "not root" in result["checks"]["queue"]["reason"], result


def test_read_only_groups_count_the_queue_without_root(lab, fleet):
    """docs/security.md's alternative: the user opsro is in adm (mail log) and smmsp (queues), no sudo."""
    f = fleet
    data, _proc = run_report(
        lab,
        "readonly",
        "-e",
        "ansible_become=false",
        "-e",
        "ansible_user=opsro",
        "--limit",
        f"{f['healthy']},{f['backlog']}",
    )
    backlog = data["hosts"][f["backlog"]]["checks"]
    assert backlog["queue"]["status"] == "warning" and backlog["queue"]["count"] == 12
    assert backlog["syslog"]["status"] != "unknown" and backlog["process"]["status"] == "ok"
    healthy = data["hosts"][f["healthy"]]
    assert healthy["checks"]["config"]["status"] == "unknown" and "not root" in healthy["checks"]["config"]["reason"]
    assert healthy["status"] == "unknown"  # the configuration check needs root
    assert {a: c["status"] for a, c in healthy["checks"].items() if a != "config"} == dict.fromkeys(
        ("mta", "process", "syslog", "queue", "smtp"), "ok"
    )
    data, _proc = run_report(
        lab,
        "readonly-noconfig",
        "-e",
        "ansible_become=false",
        "-e",
        "ansible_user=opsro",
        "--tags",
        "process,syslog,queue,smtp",
        "--limit",
        f["healthy"],
    )
    assert data["hosts"][f["healthy"]]["status"] == "ok"


def test_sudo_password_wrong_is_unknown_and_right_is_ok(lab, fleet):
    host = fleet["sudopw"]
    data, _proc = run_report(lab, "sudo-wrong", "--limit", host, "-e", "ansible_become_password=not-the-password")
    result = data["hosts"][host]
    assert result["status"] == "unknown" and "password given is wrong" in result["reasons"][0], result
    data, _proc = run_report(lab, "sudo-right", "--limit", host, "-e", "ansible_become_password=lab-sudo-password")
    assert data["hosts"][host]["status"] == "ok", data["hosts"][host]["reasons"]


def queued(lab, host: str) -> set[str]:
    out = lab.exec(host, "sh", "-c", "ls /var/spool/mqueue /var/spool/mqueue-client").stdout
    return {name[2:] for name in out.split() if name[:2] in ("qf", "hf", "Qf")}


def test_site_restart_over_ssh_keeps_every_queued_message(lab, fleet):
    host = fleet["backlog"]
    before = queued(lab, host)
    report_dir = OUTPUT / "ssh-restart"
    shutil.rmtree(report_dir, ignore_errors=True)
    lab.playbook(
        "playbooks/site.yml", "--tags", "restart", "--limit", host, "-e", "sendmail_hosts=sendmail_ssh",
        "-e", f"sendmail_report_dir={report_dir}",
    )  # fmt: skip
    assert len(before) >= 12 and before <= queued(lab, host)
    result = json.loads((report_dir / "restart.json").read_text())["hosts"][host]
    assert result["status"] == "ok", result["reasons"]
    assert any(f"all {len(before)} message(s) recorded before are accounted for" in o for o in result["observations"])


def test_crash_capture_and_trace_over_ssh(lab, fleet):
    host = fleet["healthy"]
    report_dir = OUTPUT / "ssh-operations"
    shutil.rmtree(report_dir, ignore_errors=True)
    common = ("--limit", host, "-e", "sendmail_hosts=sendmail_ssh", "-e", f"sendmail_report_dir={report_dir}")
    lab.playbook("playbooks/crash_capture.yml", *common, "-e", "crash_capture_fetch=true")
    capture = json.loads((report_dir / "crash_capture.json").read_text())["hosts"][host]
    assert capture["status"] == "ok", capture["reasons"]
    fetched = list((report_dir / "crash" / host).rglob("*"))
    assert any(p.name.startswith("core") for p in fetched)
    for path in [report_dir / "crash", report_dir / "crash" / host, *fetched]:
        mode = stat.S_IMODE(path.stat().st_mode)
        assert mode == (0o700 if path.is_dir() else 0o600), (path, oct(mode))
    lab.playbook("playbooks/trace.yml", *common)
    trace = json.loads((report_dir / "trace.json").read_text())["hosts"][host]
    assert trace["status"] == "ok", trace["reasons"]
    assert trace["checks"]["trace"]["status"] == "ok"
