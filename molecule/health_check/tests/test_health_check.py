"""Verify the health_check role on its molecule instance (testinfra)."""

from __future__ import annotations

import json
import os
from pathlib import Path


def test_listener_still_runs_with_ppid_1(host):
    listeners = [p for p in host.process.filter() if p.args.startswith("sendmail: MTA: accepting connections")]
    assert len(listeners) == 1 and listeners[0].ppid == 1


def test_nothing_changed_on_the_host(host):
    assert host.run("ls -A /var/spool/mqueue").stdout.strip() == ""
    assert not host.file("/var/mail/root").exists or host.file("/var/mail/root").size == 0


def test_queue_cache_if_any_is_root_only(host):
    # An empty queue leaves nothing to cache; whatever the run left must be root-only.
    cache = host.file("/var/cache/opsiface-sendmail")
    if cache.exists:
        assert cache.is_directory and cache.user == "root" and cache.mode == 0o700


def test_report_says_ok():
    report = Path(os.environ["MOLECULE_EPHEMERAL_DIRECTORY"]) / "report" / "fleet.json"
    data = json.loads(report.read_text())
    assert data["summary"]["total"] == 1
    result = data["hosts"]["molecule-hc01"]
    assert result["status"] == "ok", result["reasons"]
    assert set(result["checks"]) == {"mta", "process", "config", "syslog", "queue", "smtp"}
