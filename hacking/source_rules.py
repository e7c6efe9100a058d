"""Rules about the source that a test should not assert and ruff cannot say; `make lint` runs this.

ruff.toml selects S602, S604 and S605 (no shell through subprocess, shell=True anywhere, os.system,
os.popen, subprocess.getoutput...). This adds:

``shell``
    Ansible's own switch to a shell, ``use_unsafe_shell``, is never used (code under plugins/).
``argv``
    Commands are lists: no string (or f-string, or concatenation) as the command of a runner's
    ``.run()`` or of subprocess's run/Popen/call/check_call/check_output (code under plugins/), and the
    Runner protocol's ``run`` takes ``argv: list[str]``.
``negative-kill``
    Process groups are signalled with os.killpg, never through kill(1) with a negative PID: procps-ng's
    kill (4.0.x, Debian 12) reads ``kill -9 -1263`` as kill(-1, SIGKILL), every process on the machine.
    It took down a whole CI run once. Checked in every Python, shell and YAML file of the project.

Usage: ``python hacking/source_rules.py [--root DIR]``; prints one line per finding (path:line: rule:
what) and exits 1 when there is any.
"""

from __future__ import annotations

import argparse
import ast
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
HOST_CODE = ("plugins",)
EVERYTHING = ("plugins", "roles", "playbooks", "lab", "tests", "bench", "molecule", "hacking", ".ci")
TEXT_SUFFIXES = (".py", ".sh", ".yml", ".yaml", "")
SUBPROCESS_CALLS = {"run", "Popen", "call", "check_call", "check_output"}
# kill(1) given a PID that may be negative: "-{...}" in an f-string or format, "-" + str(...), or -$var in shell
NEGATIVE_KILL = re.compile(r"""["']kill["'][^\n]*["']-\{|["']kill["'][^\n]*\+\s*str\(|\bkill\s+(-\w+\s+)?-\$""")


def _is_text_command(node: ast.expr) -> bool:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return True
    if isinstance(node, ast.JoinedStr):
        return True
    return isinstance(node, ast.BinOp) and (_is_text_command(node.left) or _is_text_command(node.right))


def _command_of(call: ast.Call) -> ast.expr | None:
    """The command argument of a runner's .run() or a subprocess call, or None for other calls."""
    func = call.func
    if not isinstance(func, ast.Attribute):
        return None
    is_subprocess = isinstance(func.value, ast.Name) and func.value.id == "subprocess"
    if func.attr != "run" and not (is_subprocess and func.attr in SUBPROCESS_CALLS):
        return None
    if call.args:
        return call.args[0]
    return next((k.value for k in call.keywords if k.arg in ("argv", "args")), None)


def python_findings(path: Path, text: str) -> list[tuple[int, str, str]]:
    """(line, rule, what) for the shell and argv rules in one Python file of host code."""
    try:
        tree = ast.parse(text, str(path))
    except SyntaxError as exc:
        return [(exc.lineno or 0, "syntax", str(exc))]
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.keyword) and node.arg == "use_unsafe_shell":
            found.append((node.value.lineno, "shell", "use_unsafe_shell runs the command through a shell"))
        elif isinstance(node, ast.Call):
            command = _command_of(node)
            if command is not None and _is_text_command(command):
                found.append((node.lineno, "argv", "a command given as a string: pass a list of arguments"))
        elif isinstance(node, ast.ClassDef) and node.name == "Runner":
            found += _runner_protocol(node)
    return found


def _runner_protocol(cls: ast.ClassDef) -> list[tuple[int, str, str]]:
    for item in cls.body:
        if isinstance(item, ast.FunctionDef) and item.name == "run":
            args = item.args.args
            argv = args[1] if len(args) > 1 else None
            if argv is None or argv.arg != "argv" or ast.unparse(argv.annotation or ast.Constant(None)) != "list[str]":
                return [(item.lineno, "argv", "Runner.run must take argv: list[str]")]
            return []
    return [(cls.lineno, "argv", "the Runner protocol has no run()")]


def files(root: Path, tops: tuple[str, ...], suffixes: tuple[str, ...]) -> list[Path]:
    return sorted(
        p
        for top in tops
        for p in (root / top).rglob("*")
        if p.is_file() and p.suffix in suffixes and "output" not in p.relative_to(root).parts
    )


def check(root: Path) -> list[str]:
    findings = []
    for path in files(root, HOST_CODE, (".py",)):
        for line, rule, what in python_findings(path, path.read_text(errors="replace")):
            findings.append(f"{path.relative_to(root)}:{line}: {rule}: {what}")
    for path in files(root, EVERYTHING, TEXT_SUFFIXES):
        for number, line in enumerate(path.read_text(errors="replace").splitlines(), 1):
            if NEGATIVE_KILL.search(line):
                findings.append(
                    f"{path.relative_to(root)}:{number}: negative-kill: kill(1) with a negative PID "
                    "(procps reads it as kill(-1): every process); use os.killpg"
                )
    return findings


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--root", type=Path, default=ROOT)
    args = parser.parse_args(argv)
    findings = check(args.root.resolve())
    for finding in findings:
        print(finding)
    print(f"source rules: {len(findings)} finding(s)", file=sys.stderr)
    return 1 if findings else 0


if __name__ == "__main__":
    sys.exit(main())
