"""No module or module_utils file runs a shell or builds a command line as a string."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SOURCES = sorted((ROOT / "plugins").rglob("*.py"))
FORBIDDEN = re.compile(
    r"shell\s*=\s*True|os\.system\(|os\.popen\(|use_unsafe_shell|subprocess\.getoutput|commands\.getoutput"
)


@pytest.mark.parametrize("path", SOURCES, ids=[str(p.relative_to(ROOT)) for p in SOURCES])
def test_no_shell(path):
    assert not FORBIDDEN.search(path.read_text()), f"{path} runs a shell"


def test_commands_are_lists():
    runner = (ROOT / "plugins" / "module_utils" / "_runner.py").read_text()
    assert "argv: list[str]" in runner and "shell" not in runner.replace("shell plus", "")
    for path in SOURCES:
        text = path.read_text()
        assert not re.search(r"\.run\(\s*f?[\"']", text), f"{path} passes a string command to a runner"
