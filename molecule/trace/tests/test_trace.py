"""Verify the trace role on its molecule instance (testinfra)."""

from __future__ import annotations

import json
import os
from pathlib import Path


def test_listener_still_serves(host):
    listeners = [p for p in host.process.filter() if p.args.startswith("sendmail: MTA: accepting connections")]
    assert len(listeners) == 1 and listeners[0].ppid == 1
    assert not [p for p in host.process.filter() if p.comm == "strace"]


def test_trace_file_is_root_only(host):
    d = host.file("/var/lib/opsiface-sendmail/trace")
    assert d.is_directory and d.mode == 0o700
    files = host.run("ls /var/lib/opsiface-sendmail/trace").stdout.split()
    assert len(files) == 1
    f = host.file(f"/var/lib/opsiface-sendmail/trace/{files[0]}")
    assert f.mode == 0o600 and 0 < f.size <= 10485760


def test_report_names_the_mailers():
    data = json.loads((Path(os.environ["MOLECULE_EPHEMERAL_DIRECTORY"]) / "report" / "trace.json").read_text())
    result = data["hosts"]["molecule-tr01"]
    assert result["status"] == "ok", result["reasons"]
    assert "trace: sendmail -bv nobody@remote.example: deliverable (relay via [127.0.0.2])" in result["observations"]
