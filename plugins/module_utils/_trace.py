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

from . import _collect, _oplock, _privdir, _queueops, _service, _target
from ._context import HostContext, ModuleError
from ._text import clean, clean_lines, decode

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
    stderr_lines: list[str]

    @property
    def stderr(self) -> str:
        return "\n".join(self.stderr_lines)

    def to_dict(self) -> dict:
        return {
            "path": self.path,
            "seconds": round(self.seconds, 2),
            "bytes": self.bytes_written,
            "stopped_by": self.stopped_by,
            "truncated": self.truncated,
            "rc": self.rc,
            "stderr": self.stderr,
            "stderr_lines": self.stderr_lines,
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
        stderr_lines=clean_lines(stderr[-2000:], 2000),
    )


# ----------------------------------------------------------------- the sendmail_trace module
def run(ctx: HostContext) -> dict:
    """sendmail_trace: verify ``addresses``, attempt delivery of ``queue_ids`` with the transcript, and trace
    the listener's system calls (``syscalls``); each bounded, and the daemon's state afterwards."""
    p = ctx.params
    try:
        for address in p["addresses"]:
            check_address(address)
    except TraceError as exc:
        raise ModuleError(f"invalid argument: {exc}; nothing was done") from exc
    if p["queue_ids"] or p["syscalls"]:  # a delivery attempt, or attaching to the daemon
        _oplock.hold(ctx, "trace")  # the host's operation lock, released as the call ends
    result: dict = {"changed": False, "addresses": [], "deliveries": [], "actions": [], "observations": []}
    for address in p["addresses"]:
        _verify(ctx, address, result)
    if p["queue_ids"]:
        _deliver(ctx, result)
    if p["syscalls"]:
        _syscalls(ctx, result)
    after = _collect.collect_daemon(ctx.pidfile, time.time(), ctx.runner)
    result["daemon"] = {k: after.get(k) for k in ("running", "state", "pid", "ppid")}
    return result


def _verify(ctx: HostContext, address: str, result: dict) -> None:
    """``sendmail -bv -- ADDRESS``: the verdict and where the mail would go."""
    res = ctx.runner.run([ctx.sendmail, "-bv", "--", address], timeout=ctx.command_timeout)
    if res.missing:
        raise ModuleError(f"{ctx.sendmail} not found", **result)
    verified = parse_bv(address, res.rc, res.stdout, res.stderr)
    verified["timed_out"] = res.timed_out
    result["addresses"].append(verified)
    where = ", ".join(
        f"{t['mailer']}" + (f" via {t['host']}" if t["host"] else "") for t in verified["targets"] if t["deliverable"]
    )
    result["observations"].append(
        f"sendmail -bv {address}: {verified['verdict']}"
        + (f" ({where})" if where else f" ({'; '.join(t['message'] for t in verified['targets'])})")
    )


def _deliver(ctx: HostContext, result: dict) -> None:
    """One delivery attempt per queue ID with ``-v``; the last line of each transcript is the observation."""
    p = ctx.params
    if ctx.check_mode:
        result["actions"].append(
            f"would attempt delivery of {len(p['queue_ids'])} message(s) with -v (check mode: not attempted)"
        )
        return
    runs = _queueops.flush(ctx, p["queue"], p["queue_ids"], verbose=True)
    result["deliveries"] = runs
    result["changed"] = True
    for run in runs:
        lines = [line for line in run["transcript_lines"] if line.strip()]
        result["observations"].append(
            f"delivery attempt {', '.join(run.get('queue_ids') or [])}: rc {run.get('rc')}, "
            + (lines[-1].strip() if lines else "no transcript")
        )
    result["actions"].append(
        f"attempted delivery of {len(p['queue_ids'])} message(s) from the {p['queue'].upper()} queue with "
        "sendmail -v -qI (transcript in deliveries)"
    )


def _syscalls(ctx: HostContext, result: dict) -> None:
    """A bounded system-call trace of the listener (or ``pid``), checked to be sendmail right before."""
    p = ctx.params
    daemon = _collect.collect_daemon(ctx.pidfile, time.time(), ctx.runner)
    pid = p["pid"] or daemon.get("pid")
    if pid is None or not _service.pid_alive(pid):
        raise ModuleError(f"no sendmail listener to trace (state {daemon.get('state')})", **result)
    target, problem = _target.verify_sendmail(pid, ctx.runner)
    if problem:
        raise ModuleError(f"refusing to trace pid {pid}: {problem}; nothing was done", **result)
    tool = ctx.runner.which("strace") or ctx.runner.which("truss")
    if tool is None:
        raise ModuleError("neither strace nor truss is installed", **result)
    if ctx.check_mode:
        result["actions"].append(
            f"would trace the system calls of {pid} with {tool} for {p['seconds']:.0f} s or "
            f"{p['max_bytes']} bytes (check mode: not traced)"
        )
        return
    try:
        _privdir.safe_dir(p["dir"])
    except (_privdir.UnsafeDir, OSError) as exc:
        raise ModuleError(f"trace directory: {exc}", **result) from exc
    output = os.path.join(p["dir"], time.strftime("%Y%m%dT%H%M%SZ", time.gmtime()) + f"-{pid}.trace")
    problem = _target.verify_sendmail(pid, ctx.runner, before=target)[1]
    if problem:  # right before attaching: still the process checked above
        raise ModuleError(f"not traced: {problem}", **result)
    run = bounded_trace(tracer_argv(tool, pid, output), output, p["seconds"], p["max_bytes"])
    with open(output, "rb") as fh:
        summary = summarize_syscalls(fh.read().decode("utf-8", "replace"))
    result["trace"] = dict(run.to_dict(), summary=summary)
    result["changed"] = True
    top = ", ".join(f"{k} {v}" for k, v in list(summary["syscalls"].items())[:6]) or "none"
    result["observations"].append(
        f"system-call trace of {pid}: {summary['lines']} line(s), {summary['errors']} failed call(s); "
        f"most frequent: {top}"
    )
    result["actions"].append(
        f"traced the system calls of {pid} with {os.path.basename(tool)} for {run.seconds:.1f} s into "
        f"{output} ({run.bytes_written} bytes, stopped by {run.stopped_by})"
    )
    if run.bytes_written == 0 and run.rc not in (0, None):
        raise ModuleError(f"{tool} could not trace {pid}: {run.stderr}", **result)
