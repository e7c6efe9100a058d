"""What AWX sees: the health check through ansible-runner (AWX's engine), and the EE build context."""

from __future__ import annotations

import json
import os
import shutil
import subprocess

import ansible_runner
import pytest
from conftest import OUTPUT, ROOT, VENV_BIN


@pytest.fixture(scope="module")
def fleet(lab):
    """it01 healthy, it02 with its daemon stopped (critical)."""
    healthy, stopped = lab.hosts[0], lab.hosts[1]
    lab.fault(stopped, "service-stop")
    yield healthy, stopped
    lab.heal(stopped)


def run_healthcheck(lab, tmp_path, hosts, fail_on):
    private = tmp_path / f"runner-{fail_on}"
    private.mkdir()
    report_dir = OUTPUT / f"awx-report-{fail_on}"
    shutil.rmtree(report_dir, ignore_errors=True)
    result = ansible_runner.run(
        private_data_dir=str(private),
        playbook=str(ROOT / "playbooks" / "healthcheck.yml"),
        inventory=str(lab.inventory),
        limit=",".join(hosts),
        extravars={
            "health_check_fail_on": fail_on,
            "sendmail_report_dir": str(report_dir),
            "health_check_smtp_timeout": 4,
        },
        envvars={
            "ANSIBLE_COLLECTIONS_PATH": str(ROOT / ".collections"),
            "PATH": f"{VENV_BIN}:{os.environ.get('PATH', '')}",
            "ANSIBLE_NOCOLOR": "1",
        },
        quiet=True,
        timeout=600,
    )
    return result, private


def stats_event(result) -> dict:
    return next(e for e in result.events if e.get("event") == "playbook_on_stats")


def test_runner_exit_status_and_set_stats_follow_fail_on(lab, fleet, tmp_path):
    healthy, stopped = fleet
    result, private = run_healthcheck(lab, tmp_path, fleet, "critical")
    assert result.status == "failed" and result.rc != 0
    stats = stats_event(result)["event_data"]
    artifact = stats["artifact_data"]["sendmail_healthcheck"]
    assert artifact["escalate"] == [stopped]
    assert artifact["summary"] == {"total": 2, "ok": 1, "warning": 0, "unknown": 0, "critical": 1, "unreachable": 0}
    assert os.path.isfile(os.path.join(artifact["report_dir"], "fleet.json"))
    assert stopped in stats["failures"] and healthy not in stats.get("failures", {})
    # the artefacts AWX stores: job events on disk, one JSON file each, and the status and rc
    artifacts = next((private / "artifacts").iterdir())
    events = sorted((artifacts / "job_events").glob("*.json"))
    assert len(events) > 10
    names = {json.loads(p.read_text()).get("event") for p in events}
    assert {"playbook_on_start", "runner_on_ok", "runner_on_failed", "playbook_on_stats"} <= names
    assert (artifacts / "status").read_text() == "failed" and (artifacts / "rc").read_text() == "2"

    result, _private = run_healthcheck(lab, tmp_path, fleet, "never")
    assert result.status == "successful" and result.rc == 0
    artifact = stats_event(result)["event_data"]["artifact_data"]["sendmail_healthcheck"]
    assert artifact["escalate"] == [stopped]  # still escalated, only the job does not fail


def test_execution_environment_context_renders(tmp_path):
    tarball = ROOT / "opsiface-sendmail-0.1.0.tar.gz"
    subprocess.run(
        [str(VENV_BIN / "ansible-galaxy"), "collection", "build", "--force", "--output-path", str(ROOT)],
        cwd=ROOT,
        check=True,
        capture_output=True,
    )
    context = tmp_path / "context"
    proc = subprocess.run(
        [str(VENV_BIN / "ansible-builder"), "create", "-f", "ee/execution-environment.yml", "-c", str(context)],
        cwd=ROOT,
        check=False,
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    build_file = next(p for p in (context / "Containerfile", context / "Dockerfile") if p.exists())
    text = build_file.read_text()
    assert "ansible-galaxy collection install" in text and "COPY _build /build" in text
    assert (context / "_build" / "collections" / tarball.name).stat().st_size == tarball.stat().st_size
    assert "opsiface-sendmail-0.1.0.tar.gz" in (context / "_build" / "requirements.yml").read_text()
    assert (
        "ansible-core==2.19.14" in text
        or "ansible-core==2.19.14" in (context / "_build" / "requirements.txt").read_text()
    )
