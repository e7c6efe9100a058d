"""Verify the crash_capture role on its molecule instance (testinfra)."""

from __future__ import annotations

import json
import os
from pathlib import Path


def test_same_listener_still_runs(host):
    listeners = [p for p in host.process.filter() if p.args.startswith("sendmail: MTA: accepting connections")]
    before = int(host.file("/root/pid-before").content_string.strip())
    assert [p.pid for p in listeners] == [before]
    assert listeners[0].ppid == 1


def test_bundle_is_root_only(host):
    base = host.file("/var/crash/sendmail")
    assert base.is_directory and base.user == "root" and base.mode == 0o700
    bundles = host.run("ls /var/crash/sendmail").stdout.split()
    assert len(bundles) == 1
    files = host.run(f"ls /var/crash/sendmail/{bundles[0]}").stdout.split()
    assert sorted(f.split(".")[0] for f in files) == ["backtrace", "core", "metadata"]
    assert any(f.endswith(".gz") for f in files)
    for name in files:
        f = host.file(f"/var/crash/sendmail/{bundles[0]}/{name}")
        assert f.user == "root" and f.mode == 0o600


def test_report_says_ok():
    data = json.loads((Path(os.environ["MOLECULE_EPHEMERAL_DIRECTORY"]) / "report" / "crash_capture.json").read_text())
    result = data["hosts"]["molecule-cc01"]
    assert result["status"] == "ok", result["reasons"]
