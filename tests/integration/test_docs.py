"""ansible-doc renders every module (with examples), every filter, and every role's argument spec."""

from __future__ import annotations

import json
import re
import subprocess

import pytest
from conftest import ROOT, VENV_BIN

MODULES = sorted(p.stem for p in (ROOT / "plugins" / "modules").glob("*.py"))
ROLES = sorted(p.name for p in (ROOT / "roles").iterdir() if (p / "meta" / "argument_specs.yml").exists())
FILTERS = sorted(p.stem for p in (ROOT / "plugins" / "filter").glob("*.yml"))


def ansible_doc(*args: str) -> str:
    proc = subprocess.run(
        [str(VENV_BIN / "ansible-doc"), *args],
        cwd=ROOT,
        env={"ANSIBLE_CONFIG": str(ROOT / "ansible.cfg"), "PATH": str(VENV_BIN), "ANSIBLE_NOCOLOR": "1"},
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0 and not proc.stderr.strip(), proc.stderr
    return proc.stdout


def test_every_module_and_role_is_found():
    assert set(MODULES) >= {"sendmail_status", "sendmail_queue", "smtp_probe", "sendmail_service", "sendmail_crash"}
    assert set(ROLES) == {"health_check", "restart", "crash_capture", "trace", "operation_report"}
    listed = ansible_doc("-l", "opsiface.sendmail")
    for module in MODULES:
        assert f"opsiface.sendmail.{module}" in listed


@pytest.mark.parametrize("module", MODULES)
def test_module_renders_with_examples(module):
    text = ansible_doc(f"opsiface.sendmail.{module}")
    assert "EXAMPLES:" in text and f"opsiface.sendmail.{module}:" in text.split("EXAMPLES:")[1]
    assert "RETURN VALUES:" in text


@pytest.mark.parametrize("role", ROLES)
def test_role_argument_spec_renders(role):
    text = ansible_doc("-t", "role", f"opsiface.sendmail.{role}")
    assert "ENTRY POINT: *main*" in text
    if role != "operation_report":  # its options are the calling roles' business
        assert f"- {role}_" in text and "default:" in text


@pytest.mark.parametrize("name", FILTERS)
def test_filter_renders(name):
    assert "EXAMPLES:" in ansible_doc("-t", "filter", f"opsiface.sendmail.{name}")


def ini_blocks() -> list[tuple[str, str]]:
    blocks = []
    for doc in [*sorted((ROOT / "docs").glob("*.md")), ROOT / "README.md"]:
        for i, block in enumerate(re.findall(r"^```ini\n(.*?)^```", doc.read_text(), re.M | re.S)):
            blocks.append((f"{doc.name}-{i}", block))
    return blocks


@pytest.mark.parametrize("name,block", ini_blocks(), ids=[n for n, _b in ini_blocks()])
def test_inventory_examples_work_when_pasted(name, block, tmp_path):
    """Every INI inventory in the docs parses, and no comment hides inside a value (`x=y ; note` is 'y ; note')."""
    path = tmp_path / "inventory.ini"
    path.write_text(block)
    proc = subprocess.run(
        [str(VENV_BIN / "ansible-inventory"), "-i", str(path), "--list"],
        cwd=ROOT,
        env={"ANSIBLE_CONFIG": str(ROOT / "ansible.cfg"), "PATH": str(VENV_BIN), "ANSIBLE_NOCOLOR": "1"},
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0 and "WARNING" not in proc.stderr, proc.stderr
    data = json.loads(proc.stdout)
    assert data["all"]["children"] and any(group.get("hosts") for group in data.values())
    for host, hostvars in data["_meta"]["hostvars"].items():
        for key, value in hostvars.items():
            assert not re.search(r"\s[;#]", str(value)), (host, key, value)
