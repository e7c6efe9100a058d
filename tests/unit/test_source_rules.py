"""The lint rules that replaced tests/unit/test_security.py's assertions on source text (#16 item 6): the
lint itself must fail on each violation it is there for. (The samples are built at run time so that this
file does not break the rules it shows.)"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
RULES = ROOT / "hacking" / "source_rules.py"
pytestmark = pytest.mark.skipif(not RULES.exists(), reason="a checkout's hacking/ (not in the collection tarball)")
sys.path.insert(0, str(RULES.parent))
source_rules = pytest.importorskip("source_rules", reason="a checkout's hacking/ (not in the collection tarball)")

DASH, PLUS = "-", "+"
VIOLATIONS = {
    "use-unsafe-shell": ("plugins/module_utils/_x.py", "module.run_command('ls', use_unsafe_shell=True)\n", "shell"),
    "string-command": ("plugins/module_utils/_x.py", 'runner.run("sendmail -bp", timeout=5)\n', "argv"),
    "f-string-command": ("plugins/modules/x.py", 'ctx.runner.run(f"{sendmail} -bp")\n', "argv"),
    "subprocess-string": ("plugins/module_utils/_x.py", 'subprocess.check_output("ps " + args)\n', "argv"),
    "runner-protocol": (
        "plugins/module_utils/_runner.py",
        "class Runner:\n    def run(self, argv: str, stdin=None): ...\n",
        "argv",
    ),
    "kill-python": ("lab/x.py", f'subprocess.run(["kill", "-9", f"{DASH}{{proc.pid}}"])\n', "negative-kill"),
    "kill-str": ("bench/x.py", f'run(["kill", "-TERM", "{DASH}" {PLUS} str(pgid)])\n', "negative-kill"),
    "kill-shell": ("lab/image/x.sh", f"kill -TERM {DASH}$pgid\n", "negative-kill"),
    "kill-yaml": ("roles/x/tasks/main.yml", f"- ansible.builtin.command: kill -9 {DASH}$PGID\n", "negative-kill"),
}
ALLOWED = {
    "list-command": ("plugins/module_utils/_x.py", 'runner.run([sendmail, "-bp"], timeout=5)\n'),
    "killpg": ("lab/x.py", "os.killpg(proc.pid, signal.SIGKILL)\n"),
    "kill-one-pid": ("tests/x.py", 'dexec(host, "kill", "-9", str(pid))\n'),
}


def tree(tmp_path: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        path = tmp_path / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return tmp_path


@pytest.mark.parametrize("name", sorted(VIOLATIONS))
def test_each_violation_fails_the_lint(tmp_path, name, capsys):
    rel, text, rule = VIOLATIONS[name]
    assert source_rules.main(["--root", str(tree(tmp_path, {rel: text}))]) == 1
    assert f"{rel}:" in capsys.readouterr().out and f": {rule}: " in "\n".join(source_rules.check(tmp_path))


def test_lists_killpg_and_a_single_pid_pass(tmp_path):
    files = dict(ALLOWED.values())
    files["plugins/module_utils/_runner.py"] = "class Runner:\n    def run(self, argv: list[str], stdin=None): ...\n"
    assert source_rules.check(tree(tmp_path, files)) == []


def test_this_project_passes():
    assert source_rules.check(ROOT) == []


@pytest.mark.skipif(shutil.which("ruff") is None and not (ROOT / ".venv/bin/ruff").exists(), reason="no ruff")
@pytest.mark.parametrize(
    "code",
    [
        'subprocess.run("ls", shell=True)\n',
        'os.system("sendmail -bp")\n',
        'os.popen("mailq")\n',
        'subprocess.getoutput("mailq")\n',
        'run_it(["ls"], shell=True)\n',
    ],
    ids=["shell-true", "os-system", "os-popen", "getoutput", "any-call-shell-true"],
)
def test_ruff_refuses_a_shell(tmp_path, code):
    """The shell rules are ruff's (ruff.toml selects S602, S604, S605): the repo's configuration must fail these."""
    sample = tmp_path / "plugins" / "module_utils" / "_x.py"
    sample.parent.mkdir(parents=True)
    sample.write_text("import os\nimport subprocess\n\n" + code)
    ruff = shutil.which("ruff") or str(ROOT / ".venv/bin/ruff")
    proc = subprocess.run(
        [ruff, "check", "--no-cache", "--config", str(ROOT / "ruff.toml"), str(sample)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 1 and "S60" in proc.stdout, proc.stdout
