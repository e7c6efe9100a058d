"""The collection as users get it: built into a tarball, installed, and run by FQCN."""

from __future__ import annotations

import json
import subprocess
import tarfile

from conftest import ROOT, VENV_BIN


def test_build_install_and_run_installed_playbook(lab, tmp_path):
    env = lab.ansible_env()
    # Only the installed copy may be found: no checkout ansible.cfg, no .collections link.
    env.pop("ANSIBLE_CONFIG", None)
    env["ANSIBLE_COLLECTIONS_PATH"] = str(tmp_path / "collections")
    env["PWD"] = str(tmp_path)  # what a shell sets: the default report goes under $PWD/reports
    build = subprocess.run(
        [str(VENV_BIN / "ansible-galaxy"), "collection", "build", "--force", "--output-path", str(tmp_path), str(ROOT)],
        env=env,
        text=True,
        capture_output=True,
        check=True,
    )
    tarball = tmp_path / "opsiface-sendmail-0.1.0.tar.gz"
    assert tarball.exists(), build.stdout + build.stderr
    with tarfile.open(tarball) as tar:
        names = tar.getnames()
    assert "galaxy.yml" not in names and "MANIFEST.json" in names
    assert not [n for n in names if n.startswith(("lab/", "bench/", ".venv", ".collections", "tests/output"))]
    # #16 item 5: the report's templates are files of the collection, used from wherever it is installed
    assert {"plugins/plugin_utils/templates/fleet.md.j2", "plugins/plugin_utils/templates/fleet.html.j2"} <= set(names)

    install_path = tmp_path / "collections"
    subprocess.run(
        [str(VENV_BIN / "ansible-galaxy"), "collection", "install", "--offline", "-p", str(install_path), str(tarball)],
        cwd=tmp_path,
        env=env,
        text=True,
        capture_output=True,
        check=True,
    )
    assert (install_path / "ansible_collections" / "opsiface" / "sendmail" / "MANIFEST.json").exists()

    # Run from a directory outside the checkout, so only the installed copy can be found.
    for playbook in ("opsiface.sendmail.ping", "opsiface.sendmail.healthcheck"):
        proc = subprocess.run(
            [
                str(VENV_BIN / "ansible-playbook"),
                "-i",
                str(lab.inventory),
                playbook,
                "-e",
                "health_check_fail_on=never",
            ],
            cwd=tmp_path,
            env=env,
            text=True,
            capture_output=True,
            check=False,
        )
        assert proc.returncode == 0, proc.stdout + proc.stderr
        for host in lab.hosts:
            assert f"{host}" in proc.stdout
    # The installed health check wrote its report under the working directory, with a latest link.
    fleet = json.loads((tmp_path / "reports" / "latest" / "fleet.json").read_text())
    assert set(fleet["hosts"]) == set(lab.hosts) and fleet["schema"] == "opsiface.sendmail/healthcheck/v1"
    latest = tmp_path / "reports" / "latest"
    assert "## Changed since the last run" in (latest / "fleet.md").read_text()
    assert "Changed since the last run" in (latest / "fleet.html").read_text()
    assert "sendmail_health_status{" in (latest / "fleet.prom").read_text()
    assert {p.name for p in (tmp_path / "reports" / "history").glob("*.json")} == {f"{h}.json" for h in lab.hosts}

    # Every operation is callable by FQCN from the installed copy (check mode: it plans, changes nothing).
    host = lab.hosts[0]
    for playbook, extra in (
        ("opsiface.sendmail.restart", []),
        ("opsiface.sendmail.crash_capture", []),
        ("opsiface.sendmail.trace", ["-e", "trace_syscalls=true"]),
        ("opsiface.sendmail.site", ["--tags", "restart,trace"]),
    ):
        proc = subprocess.run(
            [
                str(VENV_BIN / "ansible-playbook"),
                "-i",
                str(lab.inventory),
                playbook,
                "--check",
                "--limit",
                host,
                *extra,
            ],
            cwd=tmp_path,
            env=env,
            text=True,
            capture_output=True,
            check=False,
        )
        assert proc.returncode == 0, playbook + proc.stdout[-3000:] + proc.stderr[-2000:]
        assert f"{host}" in proc.stdout and "failed=0" in proc.stdout
    journal = (tmp_path / "reports").glob("*/journal.jsonl")
    operations = {json.loads(line)["operation"] for path in journal for line in path.read_text().splitlines()}
    assert operations == {"healthcheck", "restart", "crash_capture", "trace"}
