# Copyright: (c) 2026, opsiface.sendmail developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Trace/Debug: address verification, delivery transcripts, a bounded system-call trace.

The runbook's "sendmail -bv", "sendmail -v -q" and "truss/strace the daemon",
as operations that always end: each address is checked by its own process
with a timeout, and the system-call trace stops at *seconds* or *max_bytes*,
whichever comes first, detaching from the daemon (which keeps serving).
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
from collections import Counter
from dataclasses import dataclass

from ._text import clean, decode

_BV_LINE = re.compile(r"^(?P<addr>.*?)\.\.\. (?P<text>.*)$")
_BV_DELIVERABLE = re.compile(
    r"deliverable: mailer (?P<mailer>[^,\s]+)(?:, host (?P<host>[^,]+))?(?:, user (?P<user>.+))?$"
)
# strace -f -tt: "701   13:34:13.905444 accept(...)"; truss -f -d: "1234/1:   5.0015 accept(...)"
_SYSCALL = re.compile(
    r"^(?:\[pid\s+\d+\]\s+|\d+(?:/\d+)?:?\s+)?(?:\d{2}:\d{2}:\d{2}(?:\.\d+)?\s+|\d+\.\d+\s+)?"
    r"(?P<name>[a-z_][a-z0-9_]*)\("
)


class TraceError(ValueError):
    """An address or option that must not reach a command line; the message names it."""


def check_address(value: str) -> str:
    """An address for ``sendmail -bv``: no leading '-', no whitespace or control characters, not empty."""
    if not value or len(value) > 512:
        raise TraceError(f"address {clean(value, 64)!r} is empty or longer than 512 characters")
    if value.startswith("-"):
        raise TraceError(f"address {clean(value, 64)!r} starts with '-' and would be read as an option")
    if any(c.isspace() or ord(c) < 32 or ord(c) == 127 for c in value):
        raise TraceError(f"address {clean(value, 64)!r} contains whitespace or control characters")
    return value


def parse_bv(address: str, rc: int | None, stdout: bytes, stderr: bytes = b"") -> dict:
    """One ``sendmail -bv -- ADDRESS`` run: deliverable or not, mailer, host, user, or sendmail's complaint.

    An address can expand (an alias, a list) into several lines; each becomes a target.
    """
    targets = []
    problems = []
    for raw in (stdout + b"\n" + stderr).splitlines():
        line = decode(raw).strip()
        match = _BV_LINE.match(line)
        if not match:
            if line:
                problems.append(clean(line, 300))
            continue
        text = match["text"]
        ok = _BV_DELIVERABLE.search(text)
        targets.append(
            {
                "address": clean(match["addr"], 300),
                "deliverable": bool(ok),
                "mailer": ok["mailer"] if ok else None,
                "host": clean(ok["host"], 200) if ok and ok["host"] else None,
                "user": clean(ok["user"], 300) if ok and ok["user"] else None,
                "message": clean(text, 300),
            }
        )
    deliverable = bool(targets) and all(t["deliverable"] for t in targets)
    verdict = "deliverable" if deliverable else ("undeliverable" if targets else "error")
    return {
        "address": clean(address, 300),
        "verdict": verdict,
        "rc": rc,
        "targets": targets,
        "problems": problems[:5],
    }


def summarize_syscalls(text: str, top: int = 15) -> dict:
    """strace/truss output: lines, system calls by name (most frequent first), errors."""
    names: Counter[str] = Counter()
    errors = 0
    lines = 0
    for line in text.splitlines():
        lines += 1
        match = _SYSCALL.match(line)
        if match:
            names[match["name"]] += 1
        if re.search(r"= -1 E[A-Z]+|Err#\d+", line):
            errors += 1
    return {"lines": lines, "syscalls": dict(names.most_common(top)), "errors": errors}


def tracer_argv(tool: str, pid: int, output: str) -> list[str]:
    """strace (Linux) or truss (Solaris): follow children, timestamps, into *output*."""
    if os.path.basename(tool) == "truss":
        return [tool, "-f", "-d", "-o", output, "-p", str(pid)]
    return [tool, "-f", "-tt", "-s", "128", "-o", output, "-p", str(pid)]


@dataclass
class TraceRun:
    path: str
    seconds: float
    bytes_written: int
    stopped_by: str
    truncated: bool
    rc: int | None
    stderr: str

    def to_dict(self) -> dict:
        return {
            "path": self.path,
            "seconds": round(self.seconds, 2),
            "bytes": self.bytes_written,
            "stopped_by": self.stopped_by,
            "truncated": self.truncated,
            "rc": self.rc,
            "stderr": self.stderr,
        }


def bounded_trace(argv: list[str], output: str, seconds: float, max_bytes: int, poll: float = 0.1) -> TraceRun:
    """Run a tracer until *seconds* pass or *output* reaches *max_bytes*, then stop it with SIGINT
    (strace and truss detach and exit), SIGKILL five seconds later. The file is cut to *max_bytes*."""
    fd = os.open(output, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    os.close(fd)
    started = time.monotonic()
    proc = subprocess.Popen(
        argv,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    stopped_by = "exit"
    while proc.poll() is None:
        elapsed = time.monotonic() - started
        size = os.path.getsize(output)
        if size >= max_bytes:
            stopped_by = "max_bytes"
            break
        if elapsed >= seconds:
            stopped_by = "seconds"
            break
        time.sleep(poll)
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    stderr = proc.stderr.read(64 * 1024) if proc.stderr else b""
    if proc.stderr:
        proc.stderr.close()
    size = os.path.getsize(output)
    truncated = size > max_bytes
    if truncated:
        os.truncate(output, max_bytes)
        size = max_bytes
    os.chmod(output, 0o600)
    return TraceRun(
        path=output,
        seconds=time.monotonic() - started,
        bytes_written=size,
        stopped_by=stopped_by,
        truncated=truncated,
        rc=proc.returncode,
        stderr=clean(stderr[-2000:], 2000),
    )
