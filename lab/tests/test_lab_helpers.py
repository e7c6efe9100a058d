"""Unit tests for the lab's pure helpers (no docker needed)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

LAB_PY = Path(__file__).resolve().parents[1] / "lab.py"
spec = importlib.util.spec_from_file_location("lab", LAB_PY)
lab = importlib.util.module_from_spec(spec)
spec.loader.exec_module(lab)


def test_host_names_are_two_digit():
    assert lab.host_names("mx", 3) == ["mx01", "mx02", "mx03"]
    assert lab.host_names("it", 0) == []


def test_image_digest_depends_on_image_inputs_only():
    first = lab.image_inputs_digest()
    assert first == lab.image_inputs_digest()
    assert len(first) == 12 and int(first, 16) >= 0


@pytest.mark.parametrize(
    "content,expected",
    [
        (
            "Types: deb\nURIs: http://mirror.invalid/debian\nSuites: bookworm bookworm-updates\n\n"
            "Types: deb\nURIs: http://mirror.invalid/debian-security\nSuites: bookworm-security\n",
            "http://mirror.invalid/debian",
        ),
        (
            "Types: deb\nURIs: http://sec.invalid/debian-security\nSuites: bookworm-security\n\n"
            "Types: deb\nURIs: http://main.invalid/debian\nSuites: bookworm\n",
            "http://main.invalid/debian",
        ),
    ],
    ids=["main-first", "security-first"],
)
def test_debian_mirror_reads_deb822(tmp_path, monkeypatch, content, expected):
    sources = tmp_path / "debian.sources"
    sources.write_text(content)
    real_path = lab.Path

    def fake_path(p):
        return sources if p == "/etc/apt/sources.list.d/debian.sources" else real_path(tmp_path / "absent")

    monkeypatch.delenv("LAB_DEBIAN_MIRROR", raising=False)
    monkeypatch.setattr(lab, "Path", fake_path)
    assert lab.debian_mirror() == expected


def test_target_python_is_the_newest_pyenv_patch_mounted_read_only(tmp_path, monkeypatch):
    monkeypatch.setenv("PYENV_ROOT", str(tmp_path))
    for name in ("3.9.2", "3.9.18", "3.9.18-dev", "3.10.13"):
        (tmp_path / "versions" / name / "bin").mkdir(parents=True)
        exe = tmp_path / "versions" / name / "bin" / f"python{name.rsplit('.', 1)[0]}"
        exe.write_text("")
        exe.chmod(0o755)
    found = lab.target_pythons(["3.9", "system"])
    assert found == [str(tmp_path / "versions" / "3.9.18" / "bin" / "python3.9"), None]
    install = str(tmp_path / "versions" / "3.9.18")
    assert lab.python_run_args(found[0]) == [
        "-v",
        f"{install}:{install}:ro",
        "--label",
        f"opsiface.lab.python={found[0]}",
    ]
    assert lab.python_run_args(None) == []
    with pytest.raises(SystemExit, match=r"no Python 3\.8 under"):
        lab.target_pythons(["3.8"])


def test_python_of_reads_the_label_from_docker_ps():
    labels = "opsiface.lab=,opsiface.lab.prefix=it,opsiface.lab.python=/root/.pyenv/versions/3.8.18/bin/python3.8"
    assert lab.python_of({"Labels": labels}) == "/root/.pyenv/versions/3.8.18/bin/python3.8"
    assert lab.python_of({"Labels": "opsiface.lab=,opsiface.lab.prefix=it"}) is None
    assert lab.python_of({}) is None


def test_container_labels_from_docker_ps_json():
    entry = {"Labels": "opsiface.lab=,opsiface.lab.prefix=hc,opsiface.lab.connection=ssh,opsiface.lab.ssh_user=opspw"}
    labels = lab.container_labels(entry)
    assert labels["opsiface.lab.connection"] == "ssh" and labels["opsiface.lab.ssh_user"] == "opspw"
    assert lab.container_labels({}) == {}


def test_ssh_run_args_publish_port_22_on_loopback_only():
    args = lab.ssh_run_args("ssh", "ops")
    assert args[args.index("-p") + 1] == "127.0.0.1::22" and "LAB_SSHD=1" in args
    assert "-p" not in lab.ssh_run_args("docker", "ops")
    with pytest.raises(SystemExit):
        lab.ssh_run_args("ssh", "root")
