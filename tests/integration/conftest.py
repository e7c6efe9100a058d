"""Integration fixtures: a fleet of real sendmail lab hosts for the session.

The hosts are named it01..itNN (prefix "it", so a developer's own mx hosts
are left alone) and are removed at the end of the session whether the tests
pass or fail. `make test` removes them again afterwards as a second line.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
# IT_PREFIX lets a second run (a developer's, beside CI's) use hosts of its own.
PREFIX = os.environ.get("IT_PREFIX", "it")
LAB = [sys.executable, str(ROOT / "lab" / "lab.py"), "--prefix", PREFIX]
OUTPUT = ROOT / "tests" / "output"
INVENTORY = OUTPUT / f"inventory-{os.environ.get('IT_PREFIX', 'it')}.ini"
HOSTS = int(os.environ.get("IT_HOSTS", "6"))
VENV_BIN = ROOT / ".venv" / "bin"


@dataclass
class Lab:
    hosts: list[str]
    inventory: Path

    def lab(self, *args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [*LAB, "--inventory", str(self.inventory), *args], check=True, text=True, capture_output=True
        )

    def fault(self, host: str, kind: str, *args: str) -> str:
        return self.lab("fault", host, kind, *args).stdout

    def heal(self, host: str) -> None:
        self.fault(host, "heal")

    def exec(self, host: str, *cmd: str, check: bool = True, stdin: str | None = None) -> subprocess.CompletedProcess:
        args = ["docker", "exec"] + (["-i"] if stdin is not None else []) + [host, *cmd]
        return subprocess.run(args, check=check, encoding="utf-8", errors="replace", capture_output=True, input=stdin)

    def ansible_env(self) -> dict[str, str]:
        env = dict(os.environ)
        env["ANSIBLE_CONFIG"] = str(ROOT / "ansible.cfg")
        env["PATH"] = f"{VENV_BIN}:{env.get('PATH', '')}"
        env["ANSIBLE_NOCOLOR"] = "1"
        return env

    def playbook_cmd(self, playbook: str, *args: str) -> list[str]:
        return [str(VENV_BIN / "ansible-playbook"), "-i", str(self.inventory), playbook, *args]

    def playbook(self, playbook: str, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        cmd = self.playbook_cmd(playbook, *args)
        proc = subprocess.run(cmd, cwd=ROOT, env=self.ansible_env(), text=True, capture_output=True, check=False)
        if check and proc.returncode != 0:
            raise AssertionError(
                f"{' '.join(cmd)} failed rc={proc.returncode}\n{proc.stdout[-6000:]}\n{proc.stderr[-3000:]}"
            )
        return proc

    def start_playbook(self, playbook: str, *args: str, **popen) -> subprocess.Popen:
        """The same run as playbook(), started in the background, its output readable line by line."""
        cmd = self.playbook_cmd(playbook, *args)
        return subprocess.Popen(cmd, cwd=ROOT, env=self.ansible_env(), stdout=subprocess.PIPE, text=True, **popen)

    def module_cmd(self, host: str, module: str, args: dict, *extra: str) -> list[str]:
        cmd = [str(VENV_BIN / "ansible"), "-i", str(self.inventory), host, "-m", module, *extra]
        if args:  # an empty JSON object would be taken as raw parameters
            cmd += ["-a", json.dumps(args)]
        return cmd

    def module_env(self) -> dict[str, str]:
        env = self.ansible_env()
        env["ANSIBLE_LOAD_CALLBACK_PLUGINS"] = "1"
        env["ANSIBLE_STDOUT_CALLBACK"] = "ansible.builtin.json"
        return env

    @staticmethod
    def module_result(host: str, cmd: list[str], stdout: str, stderr: str = "") -> dict:
        try:
            data = json.loads(stdout)
        except json.JSONDecodeError as exc:
            raise AssertionError(f"no JSON from {cmd}: {stdout[-3000:]} {stderr[-3000:]}") from exc
        return data["plays"][0]["tasks"][0]["hosts"][host]

    def module(self, host: str, module: str, args: dict, *extra: str) -> dict:
        """Run one module ad hoc on one host; return its JSON result."""
        cmd = self.module_cmd(host, module, args, *extra)
        proc = subprocess.run(cmd, cwd=ROOT, env=self.module_env(), text=True, capture_output=True, check=False)
        return self.module_result(host, cmd, proc.stdout, proc.stderr)

    def start_module(self, host: str, module: str, args: dict) -> tuple[list[str], subprocess.Popen]:
        """The same run as module(), started in the background; read it with module_result()."""
        cmd = self.module_cmd(host, module, args)
        return cmd, subprocess.Popen(cmd, cwd=ROOT, env=self.module_env(), stdout=subprocess.PIPE, text=True)

    @contextlib.contextmanager
    def extra_hosts(
        self, count: int, *tmpfs: str, kinds: Sequence[Sequence[str]] = (), pythons: Sequence[str] = ()
    ) -> Iterator[list[str]]:
        """`count` hosts beyond the fleet (tmpfs specs as `lab.py up --tmpfs`), removed afterwards and the
        inventory rewritten for the fleet alone. *kinds*: `lab.py up` options of each extra host in
        order (`("--connection", "ssh", "--variant", "postfix")`); hosts beyond them get none.
        *pythons*: the target Python of each extra host in order (`lab.py up --python`)."""
        total = len(self.hosts) + count
        names = [f"{PREFIX}{i:02d}" for i in range(len(self.hosts) + 1, total + 1)]
        options = [
            (tuple(kinds[i]) if i < len(kinds) else ()) + (("--python", pythons[i]) if i < len(pythons) else ())
            for i in range(count)
        ]
        try:
            # one `up` per run of hosts of the same kind, each starting the hosts up to its end
            for end in range(1, count + 1):
                if end == count or options[end] != options[end - 1]:
                    tmpfs_args = [arg for spec in tmpfs for arg in ("--tmpfs", spec)]
                    self.lab("up", "--count", str(len(self.hosts) + end), *tmpfs_args, *options[end - 1])
            yield names
        finally:
            subprocess.run(["docker", "rm", "-f", *names], check=False, capture_output=True)
            self.lab("up", "--count", str(len(self.hosts)))


@pytest.fixture(scope="session")
def lab() -> Lab:
    OUTPUT.mkdir(parents=True, exist_ok=True)
    subprocess.run([*LAB, "--inventory", str(INVENTORY), "up", "--count", str(HOSTS)], check=True)
    hosts = [f"{PREFIX}{i:02d}" for i in range(1, HOSTS + 1)]
    yield Lab(hosts=hosts, inventory=INVENTORY)
    subprocess.run([*LAB, "--inventory", str(INVENTORY), "down"], check=False)
