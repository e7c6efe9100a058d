"""The health check's areas as the tags choose them (#16 item 6), and the tls area (#16 item 7), on one real host.

Before #16 every task of the role carried every area tag, so `--skip-tags smtp` skipped the whole health
check (and its report); the tags now choose areas in one place (roles/health_check/vars/main.yml)."""

from __future__ import annotations

import json
import shutil

import pytest
from conftest import OUTPUT


@pytest.fixture(scope="module")
def host(lab):
    host = lab.hosts[0]
    lab.heal(host)
    return host


def run(lab, host: str, name: str, *args: str) -> dict:
    report_dir = OUTPUT / f"areas-{name}"
    shutil.rmtree(report_dir, ignore_errors=True)
    proc = lab.playbook("playbooks/healthcheck.yml", "--limit", host, "-e", f"sendmail_report_dir={report_dir}", *args)
    assert "health_check : Fault status" in proc.stdout, proc.stdout[-3000:]
    return json.loads((report_dir / "fleet.json").read_text())["hosts"][host]


def test_skip_tags_leaves_out_one_area_and_keeps_the_check(lab, host):
    result = run(lab, host, "skip-smtp", "--skip-tags", "smtp")
    assert set(result["checks"]) == {"mta", "process", "config", "syslog", "queue"}, result["checks"]
    assert result["status"] == "ok", result["reasons"]


def test_tags_run_only_the_areas_named(lab, host):
    result = run(lab, host, "tags-queue-config", "--tags", "queue,config")
    assert set(result["checks"]) == {"mta", "queue", "config"} and result["status"] == "ok", result


def test_tls_area_says_the_lab_daemon_offers_no_starttls(lab, host):
    """The lab's sendmail offers no STARTTLS: said so (ok, not required), never a certificate verdict."""
    result = run(lab, host, "tags-tls", "--tags", "tls")
    tls = result["checks"]["tls"]
    assert set(result["checks"]) == {"mta", "tls"} and tls["status"] == "ok", result
    assert "does not offer STARTTLS" in tls["reason"] and "days_to_expiry" not in tls
    r = lab.module(host, "opsiface.sendmail.sendmail_status", {"areas": ["smtp", "tls"], "tls_required": True})
    assert r["tls"]["offered"] is False and r["checks"]["smtp"]["status"] == "ok"
    assert r["checks"]["tls"]["status"] == "critical" and r["status"] == "critical", r["checks"]


def test_delivery_runs_in_the_status_call_and_leaves_no_test_message(lab, host):
    """Verify/Request in the health check's one sendmail_status call per host: no task of its own (a skipped
    per-host task costs a round of forks on every run without it), the same verdict and actions in the report."""
    result = run(lab, host, "tags-delivery", "--tags", "delivery")
    delivery = result["checks"]["delivery"]
    assert set(result["checks"]) == {"mta", "delivery"} and delivery["status"] == "ok", result
    assert result["actions"][0].startswith(f"sent test message {delivery['queue_id']}"), result["actions"]
    assert any("removed that message from /var/mail/root" in a for a in result["actions"]), result["actions"]
    mbox = lab.exec(host, "sh", "-c", "cat /var/mail/root 2>/dev/null; true").stdout
    assert delivery["queue_id"] not in mbox and "opsiface.sendmail delivery check" not in mbox

    r = lab.module(host, "opsiface.sendmail.sendmail_status", {"areas": ["smtp", "delivery"], "delivery_timeout": 60})
    assert r["changed"] is True and r["delivery"]["success"] is True and r["delivery"]["mailbox"]["removed"], r
    assert r["checks"]["delivery"]["status"] == "ok" and r["status"] == "ok", r["checks"]


def test_delivery_in_check_mode_sends_nothing_and_is_not_ok(lab, host):
    """--check: nothing is sent, so the delivery check was not done: unknown, never ok."""
    before = lab.exec(host, "sh", "-c", "cat /var/mail/root 2>/dev/null; true").stdout
    result = run(lab, host, "check-delivery", "--tags", "delivery", "--check")
    assert result["checks"]["delivery"]["status"] == "unknown", result
    assert "check mode: no test message sent" in result["checks"]["delivery"]["reason"]
    assert lab.exec(host, "sh", "-c", "cat /var/mail/root 2>/dev/null; true").stdout == before


def test_a_check_mode_run_with_delivery_is_not_added_to_the_history(lab, host):
    """A --check run of every area with the delivery check is unknown only because check mode sends nothing:
    recorded, it made each host's history go ok -> unknown -> ok (new, then recovered; flapping if dry runs
    and real runs alternate). Reported, not recorded; a real run of every area is recorded as before."""
    result = run(lab, host, "check-full-delivery", "-e", "health_check_delivery=true", "--check")
    assert result["status"] == "unknown" and result["checks"]["delivery"]["status"] == "unknown", result
    assert not (OUTPUT / "areas-check-full-delivery" / "history" / f"{host}.json").exists()
    result = run(lab, host, "check-full", "--check")
    assert result["status"] == "ok" and (OUTPUT / "areas-check-full" / "history" / f"{host}.json").exists()
