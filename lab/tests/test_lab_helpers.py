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
