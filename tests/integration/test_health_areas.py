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
