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


# procps-ng's kill(1) (4.0.x, Debian 12) reads `kill -9 -1263` as kill(-1, SIGKILL): every process on the
# machine. It took down a whole CI run once. Process groups are signalled with os.killpg, never via kill(1).
NEGATIVE_KILL = re.compile(r"""["']kill["'][^\n]*["']-\{|["']kill["'][^\n]*\+\s*str\(|\bkill\s+(-\w+\s+)?-\$""")
EVERYTHING = sorted(
    p
    for top in ("plugins", "roles", "playbooks", "lab", "tests", "bench", "molecule", "hacking", ".ci")
    for p in (ROOT / top).rglob("*")
    if p.is_file()
    and p.suffix in (".py", ".sh", ".yml", ".yaml", "")
    and "output" not in p.parts
    and p != Path(__file__).resolve()  # the spellings below are examples
)


def test_no_process_group_kill_through_the_kill_command():
    offenders = [str(p.relative_to(ROOT)) for p in EVERYTHING if NEGATIVE_KILL.search(p.read_text(errors="replace"))]
    assert not offenders, f"kill(1) with a negative pid (use os.killpg): {offenders}"


def test_the_negative_kill_pattern_catches_the_spellings_that_kill_everything():
    assert NEGATIVE_KILL.search('subprocess.run(["kill", "-9", f"-{proc.pid}"])')
    assert NEGATIVE_KILL.search("kill -TERM -$pgid")
    assert not NEGATIVE_KILL.search("os.killpg(proc.pid, signal.SIGKILL)")
    assert not NEGATIVE_KILL.search('dexec(host, "kill", "-9", str(pid))')
