"""playbooks/healthcheck.yml on a lab fleet with one host per fault, and the fleet report."""

from __future__ import annotations

import json
import shutil
import subprocess
import time
import xml.etree.ElementTree as ET

import pytest
from conftest import OUTPUT


@pytest.fixture(scope="module")
def faulted_fleet(lab):
    """it01 healthy, it02 killed, it03 backlog, it04 SIGSTOP, it05 no syslog, it06 container stopped."""
    healthy, killed, backlog, hung, nolog, down = lab.hosts[:6]
    lab.fault(killed, "kill")
    lab.fault(backlog, "backlog", "--count", "12", "--age-hours", "6", "--domains", "hc-slow.example")
    lab.fault(hung, "stop")
    lab.fault(nolog, "syslog-missing")
    subprocess.run(["docker", "stop", "-t", "1", down], check=True, capture_output=True)
    yield {"healthy": healthy, "killed": killed, "backlog": backlog, "hung": hung, "nolog": nolog, "down": down}
    subprocess.run(["docker", "start", down], check=True, capture_output=True)
    for host in (killed, hung, nolog, down):
        lab.heal(host)


@pytest.fixture(scope="module")
def report(lab, faulted_fleet):
    report_dir = OUTPUT / "healthcheck-report"
    shutil.rmtree(report_dir, ignore_errors=True)
    started = time.monotonic()
    proc = lab.playbook(
        "playbooks/healthcheck.yml",
        "-e",
        f"sendmail_report_dir={report_dir}",
        "-e",
        "health_check_smtp_timeout=4",
        check=False,
    )
    elapsed = time.monotonic() - started
    data = json.loads((report_dir / "fleet.json").read_text())
    return {"dir": report_dir, "data": data, "proc": proc, "elapsed": elapsed, "fleet": faulted_fleet}


def test_every_host_has_the_right_status_and_reason(report):
    hosts = report["data"]["hosts"]
    f = report["fleet"]
    assert hosts[f["healthy"]]["status"] == "ok" and hosts[f["healthy"]]["escalate"] is False
    assert hosts[f["killed"]]["status"] == "critical"
    assert any("no sendmail listener is running" in r for r in hosts[f["killed"]]["reasons"])
    assert hosts[f["hung"]]["status"] == "critical"
    assert any("stopped (state T)" in r for r in hosts[f["hung"]]["reasons"])
    assert hosts[f["hung"]]["checks"]["smtp"]["failure"] == "timeout_banner"
    assert hosts[f["backlog"]]["status"] == "warning"
    queue = hosts[f["backlog"]]["checks"]["queue"]
    assert (
        queue["count"] >= 12 and queue["by_domain"]["hc-slow.example"] == 12 and queue["oldest_age_seconds"] >= 6 * 3600
    )
    assert hosts[f["nolog"]]["status"] == "warning"
    assert any("no mail log" in r for r in hosts[f["nolog"]]["reasons"])
    assert hosts[f["down"]]["status"] == "unreachable" and hosts[f["down"]]["escalate"] is True


def test_fleet_json_shape(report):
    data = report["data"]
    assert data["schema"] == "opsiface.sendmail/healthcheck/v1"
    assert set(data) >= {"run_id", "started", "finished", "summary", "hosts"}
    counts = {k: v for k, v in data["summary"].items() if k not in ("new", "recovered", "persisting")}  # #15: lists
    assert counts == {"total": 6, "ok": 1, "warning": 2, "unknown": 0, "critical": 2, "unreachable": 1}
    # a fresh report directory, a fresh history: every problem is new
    assert data["summary"]["new"] == sorted(h for h, r in data["hosts"].items() if r["status"] != "ok")
    for result in data["hosts"].values():
        assert set(result) >= {"status", "escalate", "reasons", "checks", "observations", "actions"}
        assert result["actions"]
    healthy = data["hosts"][report["fleet"]["healthy"]]
    assert set(healthy["checks"]) == {"mta", "process", "config", "syslog", "queue", "smtp"}
    assert "timings" in healthy["checks"]["smtp"] and "failure" in healthy["checks"]["smtp"]
    assert healthy["actions"] == ["none: the health check only read; it changed nothing on the host"]


def test_run_fails_the_critical_hosts_after_writing_the_report_within_the_timeouts(report):
    proc = report["proc"]
    f = report["fleet"]
    assert proc.returncode != 0
    assert f"{f['killed']}" in proc.stdout and "CRITICAL" in proc.stdout
    assert report["elapsed"] < 90, report["elapsed"]
    assert (report["dir"] / "hosts" / f"{f['healthy']}.json").exists()


def test_markdown_and_junit(report):
    md = (report["dir"] / "fleet.md").read_text()
    for host in report["data"]["hosts"]:
        assert f"| {host} |" in md
    tree = ET.parse(report["dir"] / "junit.xml").getroot()
    assert tree.tag == "testsuite" and int(tree.get("failures")) >= 5
    names = {c.get("name") for c in tree.iter("testcase")}
    assert f"{report['fleet']['healthy']}.process" in names


def test_html_renders_in_headless_chromium(report):
    chromium = shutil.which("chromium")
    assert chromium, "chromium is installed by lab/ensure-docker.sh"
    page = report["dir"] / "fleet.html"
    shot = OUTPUT / "fleet-report.png"
    flags = [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={OUTPUT / 'chromium-profile'}",
    ]
    dom = subprocess.run(
        [chromium, *flags, "--dump-dom", page.as_uri()], capture_output=True, text=True, timeout=120, check=False
    )
    for host in report["data"]["hosts"]:
        assert f'data-host="{host}"' in dom.stdout
    subprocess.run(
        [chromium, *flags, f"--screenshot={shot}", "--window-size=1400,900", page.as_uri()],
        capture_output=True,
        timeout=120,
        check=False,
    )
    assert shot.exists() and shot.stat().st_size > 10000
