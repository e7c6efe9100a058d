"""Verify the restart role on its molecule instance (testinfra)."""

from __future__ import annotations

import json
import os
from pathlib import Path


def test_a_new_listener_with_ppid_1(host):
    listeners = [p for p in host.process.filter() if p.args.startswith("sendmail: MTA: accepting connections")]
    assert len(listeners) == 1 and listeners[0].ppid == 1
    before = int(host.file("/root/pid-before").content_string.strip())
    assert listeners[0].pid != before


def test_every_message_is_still_queued(host):
    names = host.run("ls /var/spool/mqueue /var/spool/mqueue-client").stdout.split()
    assert len([n for n in names if n.startswith("qf")]) == 5


def test_report_says_ok():
    data = json.loads((Path(os.environ["MOLECULE_EPHEMERAL_DIRECTORY"]) / "report" / "restart.json").read_text())
    result = data["hosts"]["molecule-rs01"]
    assert result["status"] == "ok", result["reasons"]
    assert "nothing_lost" in result["checks"]
