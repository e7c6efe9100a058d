# Copyright: (c) 2026, opsiface.sendmail developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Running commands: argument lists only, always with a timeout.

``module.run_command`` has no timeout, and a sendmail that waits on DNS or a
lock must never hang a play, so commands go through :class:`Runner`. Tests
pass a fake that returns captured output.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class CmdResult:
    argv: tuple[str, ...]
    rc: int | None
    stdout: bytes
    stderr: bytes
    timed_out: bool = False
    missing: bool = False

    @property
    def ok(self) -> bool:
        return self.rc == 0 and not self.timed_out


class Runner(Protocol):
    def run(self, argv: list[str], stdin: bytes | None = None, timeout: float = 30.0) -> CmdResult: ...

    def which(self, name: str) -> str | None: ...


class SubprocessRunner:
    """The real runner. A command that runs past *timeout* is killed with its process group."""

    def __init__(self, env: dict[str, str] | None = None, max_output: int = 8 * 1024 * 1024) -> None:
        base = dict(os.environ)
        base.update({"LC_ALL": "C", "LANG": "C"})
        if env:
            base.update(env)
        self.env = base
        self.max_output = max_output

    def which(self, name: str) -> str | None:
        if os.path.isabs(name):
            return name if os.access(name, os.X_OK) else None
        path = self.env.get("PATH", "") + ":/usr/sbin:/usr/lib:/sbin:/usr/bin:/bin"
        return shutil.which(name, path=path)

    def run(self, argv: list[str], stdin: bytes | None = None, timeout: float = 30.0) -> CmdResult:
        try:
            proc = subprocess.Popen(
                argv,
                stdin=subprocess.PIPE if stdin is not None else subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                env=self.env,
                start_new_session=True,
            )
        except FileNotFoundError:
            return CmdResult(tuple(argv), None, b"", b"not found", missing=True)
        except PermissionError as exc:
            return CmdResult(tuple(argv), None, b"", str(exc).encode(), missing=True)
        try:
            out, err = proc.communicate(input=stdin, timeout=timeout)
            return CmdResult(tuple(argv), proc.returncode, out[: self.max_output], err[: self.max_output])
        except subprocess.TimeoutExpired:
            try:
                os.killpg(proc.pid, 9)
            except ProcessLookupError:
                pass
            out, err = proc.communicate()
            return CmdResult(tuple(argv), None, out[: self.max_output], err[: self.max_output], timed_out=True)
