# Copyright: (c) 2026, opsiface.sendmail developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Gathering one host's observations: the I/O around the pure parsers.

Shared by the modules so that one module call can do what several do (the
health check's single round trip). Each function returns plain dicts and
never raises for anything the host can throw at it.
"""

from __future__ import annotations

import hashlib
import os
import platform

from . import _config, _crash, _process, _queue, _syslog, _verdict
from ._mailq import parse_mailq
from ._platform import Layout
from ._runner import Runner
from ._text import clean


def read_file(path: str, limit: int = 4 * 1024 * 1024) -> tuple[bytes | None, str | None]:
    data, _size, problem = _queue.read_regular(path, limit)
    return data, problem


def config_paths(config_path: str, submit_path: str, layout: Layout) -> dict:
    """What the cf files say: queue directories, PidFile, ports (layout defaults where they are silent)."""
    data, _unused = read_file(config_path)
    cf = _config.parse_cf(data or b"")
    submit_data, _unused = read_file(submit_path)
    submit = _config.parse_cf(submit_data or b"")
    mta_qdir = cf.get("QueueDirectory", _config.DEFAULTS["QueueDirectory"])
    msp_qdir = submit.get("QueueDirectory")
    return {
        "mta_queue_dirs": _queue.expand_queue_dirs(mta_qdir, cf.queue_groups),
        # a submit.cf without a QueueDirectory line (or a file that is no cf at all) names no MSP queue
        "msp_queue_dirs": _queue.expand_queue_dirs(submit.get("QueueDirectory") or "") if msp_qdir else [],
        "pidfile": cf.get("PidFile", layout.pidfile),
        "ports": _config.mta_ports(cf),
        "min_free_blocks": _min_free_blocks(cf.get("MinFreeBlocks")),
        "cf_found": data is not None,
    }


def _min_free_blocks(value: str | None) -> int:
    """sendmail.cf's MinFreeBlocks (sendmail's default is 100)."""
    text = (value or "").strip()
    return int(text) if text.isdigit() and len(text) < 12 else 100


def collect_daemon(pidfile: str, now: float, runner: Runner, proc_root: str = "/proc") -> dict:
    data, problem = read_file(pidfile, 4096)
    if data is None:
        pid, command, pid_problem = None, None, "missing" if problem == "vanished" else problem
    else:
        pid, command, pid_problem = _process.parse_pidfile(data)
    if platform.system() == "Linux" and os.path.isdir(proc_root):
        procs = _process.read_linux_processes(proc_root, now)
        source = "proc"
    else:
        res = runner.run(["ps", "-eo", "pid,ppid,s,etime,args"], timeout=15)
        procs = [p for p in _process.parse_ps_o(res.stdout.decode("utf-8", "replace")) if _process.is_sendmail(p)]
        source = "ps"
    report = _process.find_daemon(procs, pid, command, pid_problem, pidfile).to_dict()
    report["source"] = source
    problem = report.get("pidfile_problem") or ""
    if pid is not None and problem.startswith("stale") and os.path.isdir(os.path.join(proc_root, str(pid))):
        # the PidFile's PID runs, but is no sendmail process at all (PID reuse after a crash)
        args = _process.read_proc_comm_args(proc_root, pid) or "unknown"
        report["pidfile_problem"] = f"pid {pid} is not the listener but another process ({clean(args, 80)})"
    return report


def collect_listening(ports: list[int], daemon_pid: int | None, proc_root: str = "/proc") -> dict:
    if not os.path.isdir(os.path.join(proc_root, "net")):
        return {"ports": ports, "sockets": None, "listening": None, "by_daemon": None, "reason": "no /proc/net"}
    sockets = _process.linux_listeners(proc_root, ports)
    return {
        "ports": ports,
        "sockets": sockets,
        "listening": bool(sockets),
        "by_daemon": any(s["pid"] == daemon_pid for s in sockets) if daemon_pid else False,
    }


def collect_config(config_path: str, sendmail: str, runner: Runner, timeout: float, check: bool = True) -> dict:
    result: dict = {"path": config_path, "exists": os.path.lexists(config_path)}
    if result["exists"]:
        data, problem = read_file(config_path, 16 * 1024 * 1024)
        result["readable"] = data is not None
        if data is not None:
            st = os.stat(config_path)
            result.update(mtime=int(st.st_mtime), size=st.st_size, sha256=hashlib.sha256(data).hexdigest())
        else:
            result["problem"] = problem
    # One process when it can: `-d0.1 -bC` prints the identity and then checks the cf (8.16+).
    mode = "-bC" if check else "-bt"
    ident = runner.run([sendmail, "-d0.1", mode, "-C", config_path], stdin=b"", timeout=timeout)
    if ident.missing:
        result["identity"] = None
        result["check"] = {"ok": None, "skipped": f"{sendmail} not found"}
        return result
    identity = _config.parse_d01(ident.stdout, ident.stderr)
    if check and not (identity.version and _supports_bc(identity.version)):
        # Older sendmail has no -bC: read the cf in address test mode; any 'line N:' complaint is an error.
        mode = "-bt"
        ident = runner.run([sendmail, "-d0.1", mode, "-C", config_path], stdin=b"", timeout=timeout)
        identity = _config.parse_d01(ident.stdout, ident.stderr)
    result["identity"] = identity.to_dict()
    result["version"] = identity.version
    result["hostname"] = identity.hostname
    if not check:
        result["check"] = {"ok": None, "skipped": "check: false"}
        return result
    stdout = ident.stdout if mode == "-bC" else b""
    verdict = _config.parse_check(ident.rc, stdout, ident.stderr)
    verdict.update(command=f"{sendmail} -d0.1 {mode}", timed_out=ident.timed_out)
    result["check"] = verdict
    return result


def _supports_bc(version: str) -> bool:
    try:
        parts = [int(x) for x in version.split(".")[:2]]
    except ValueError:
        return False
    return parts >= [8, 16]


SYSLOG_DAEMONS = ("rsyslogd", "syslogd", "syslog-ng", "systemd-journal")


def syslog_daemon(proc_root: str = "/proc") -> dict:
    """Whether a syslog daemon runs (Linux /proc); running None where that cannot be told."""
    if not os.path.isdir(proc_root) or platform.system() != "Linux":
        return {"running": None, "names": []}
    names = set()
    for pid in os.listdir(proc_root):
        if not pid.isdigit():
            continue
        try:
            with open(os.path.join(proc_root, pid, "comm"), encoding="utf-8", errors="replace") as fh:
                comm = fh.read().strip()
        except OSError:
            continue
        if comm in SYSLOG_DAEMONS:
            names.add(comm)
    return {"running": bool(names), "names": sorted(names)}


def collect_syslog(
    paths: list[str],
    since_minutes: int,
    max_lines: int,
    now: float,
    runner: Runner,
    use_journal: bool = True,
    max_bytes: int = 512 * 1024 * 1024,
) -> dict:
    result = _scan_syslog(paths, since_minutes, max_lines, now, runner, use_journal, max_bytes)
    result["daemon"] = syslog_daemon()
    return result


def _scan_syslog(
    paths: list[str],
    since_minutes: int,
    max_lines: int,
    now: float,
    runner: Runner,
    use_journal: bool,
    max_bytes: int = 512 * 1024 * 1024,
) -> dict:
    if any(os.path.lexists(p) for p in paths) or not use_journal:
        scan = _syslog.scan_files(
            paths, now, since_minutes, max_lines, utc_offset=_syslog.local_utc_offset(now), max_bytes=max_bytes
        )
        return scan.to_dict()
    journalctl = runner.which("journalctl")
    if journalctl:
        res = runner.run(
            [journalctl, "--no-pager", "-q", "-o", "short-iso", "--since", f"-{since_minutes}min", "SYSLOG_FACILITY=2"],
            timeout=30,
        )
        if res.ok:
            return _syslog.scan_journal_output(res.stdout, now, since_minutes, max_lines).to_dict()
    return _syslog.scan_files(paths, now, since_minutes, max_lines, max_bytes=max_bytes).to_dict()


def collect_queue(
    name: str,
    dirs: list[str],
    now: float,
    runner: Runner,
    sendmail: str,
    thresholds: dict,
    timeout: float,
    cache: dict | None = None,
    min_free_blocks: int = 100,
) -> dict:
    """Summary of one queue from its directories; from ``mailq`` output if they cannot be listed.

    *cache*: {"dir": path, "max_entries": n, "write": bool} to reuse an earlier scan's records.
    """
    if not dirs:
        return {
            "name": name,
            "present": False,
            "count": 0,
            "verdict": "empty",
            "status": "ok",
            "evidence": ["no queue directory configured"],
        }
    cache = cache or {}
    cache_dir, cache_problem = private_cache_dir(cache.get("dir"), cache.get("write", False))
    try:
        summary = _queue.scan_queue(
            dirs,
            now,
            cache_dir=cache_dir,
            cache_max_entries=cache.get("max_entries", 150000),
            write_cache=cache.get("write", False),
        ).to_dict()
        summary["source"] = "directory"
        if cache_problem:
            summary["cache"] = dict(summary.get("cache") or {}, problem=cache_problem)
    except _queue.QueueError as exc:
        summary = _mailq_fallback(dirs, runner, sendmail, timeout, str(exc))
    verdict, status, evidence = _queue.queue_verdict(summary, **thresholds)
    try:
        fs = os.statvfs(dirs[0])
        space_status, space_evidence = _queue.space_verdict(fs.f_bavail, fs.f_blocks, fs.f_frsize, min_free_blocks)
        summary["space"] = {
            "free_bytes": fs.f_bavail * fs.f_frsize,
            "free_blocks": fs.f_bavail,
            "min_free_blocks": min_free_blocks,
            "status": space_status,
        }
        status = _verdict.worst([status, space_status])
        evidence = space_evidence + evidence
    except OSError:
        summary["space"] = None
    summary.update(name=name, present=True, verdict=verdict, status=status, evidence=evidence)
    return summary


def private_cache_dir(path: str | None, create: bool) -> tuple[str | None, str | None]:
    """The queue cache directory if it is (or, when *create*, was made) a private directory of ours.

    A cache in a directory someone else can write could be planted to feed a forged summary, and the
    directory is user-supplied: it is checked like a dump directory, never chmod'ed. Returns
    (directory or None, why the cache is off)."""
    if not path:
        return None, None
    try:
        _crash.safe_dir(path, create=create)
    except (_crash.CrashError, OSError) as exc:
        return None, f"queue cache disabled: {clean(str(exc), 400)}"
    return path, None


def collect_queues(
    names: list[str],
    paths: dict,
    now: float,
    runner: Runner,
    sendmail: str,
    thresholds: dict,
    timeout: float,
    cache: dict | None = None,
) -> tuple[dict, dict]:
    """Summaries of the named queues ("mta", "msp") and the queue area's check."""
    queues = {
        n: collect_queue(
            n,
            paths[f"{n}_queue_dirs"],
            now,
            runner,
            sendmail,
            thresholds,
            timeout,
            cache,
            paths.get("min_free_blocks", 100),
        )
        for n in names
    }
    statuses = [q["status"] for q in queues.values()]
    reason = "; ".join(
        f"{n.upper()} queue {q['verdict']}" + "".join(f": {e}" for e in q["evidence"][:1])
        for n, q in queues.items()
        if q.get("present")
    )
    return queues, {"status": _verdict.worst(statuses), "reason": reason or "no queue configured"}


def _mailq_fallback(dirs: list[str], runner: Runner, sendmail: str, timeout: float, why: str) -> dict:
    res = runner.run([sendmail, "-bp", f"-oQ{dirs[0]}"], timeout=timeout)
    parsed = parse_mailq(res.stdout)
    count = sum(s.count for s in parsed.sections)
    by_domain: dict[str, int] = {}
    by_reason: dict[str, int] = {}
    for section in parsed.sections:
        for entry in section.entries:
            for rcpt in entry.recipients:
                dom = _queue.recipient_domain(rcpt)
                by_domain[dom] = by_domain.get(dom, 0) + 1
            key = _queue.reason_class(entry.reason)
            by_reason[key] = by_reason.get(key, 0) + 1
    return {
        "path": dirs[0],
        "source": "mailq",
        "readable": False,
        "error": clean(f"{why}; counted from mailq (rc {res.rc})"),
        "count": count,
        "size_bytes": sum(e.size for s in parsed.sections for e in s.entries),
        "oldest_age_seconds": None,
        "max_attempts": 0,
        "by_domain": by_domain,
        "by_reason": by_reason,
        "quarantined": 0,
        "anomalies": {},
        "anomaly_examples": [],
    }


def sendmail_identity(pid: int, runner: Runner, proc_root: str = "/proc") -> dict | None:
    """What runs as *pid*: /proc on Linux; elsewhere ``ps`` (no executable, no start time)."""
    if platform.system() == "Linux" and os.path.isdir(proc_root):
        return _process.read_identity(pid, proc_root)
    res = runner.run(["ps", "-o", "pid,ppid,s,etime,args", "-p", str(int(pid))], timeout=15)
    for proc in _process.parse_ps_o(res.stdout.decode("utf-8", "replace")):
        if proc.pid == pid:
            return {
                "pid": pid,
                "ppid": proc.ppid,
                "state": proc.state,
                "start": None,
                "comm": "",
                "args": proc.args,
                "exe": None,
                "source": "ps",
            }
    return None


def verify_sendmail(
    pid: int, runner: Runner, before: dict | None = None, proc_root: str = "/proc"
) -> tuple[dict | None, str | None]:
    """(identity, problem): whether *pid* may be signalled, dumped or traced as sendmail right now.

    With *before* (an identity read earlier), the process must also still be that one (same start
    time): a PID that was reused by another process in between is refused."""
    ident = sendmail_identity(pid, runner, proc_root)
    problem = _process.target_problem(ident, pid, _process.protected_pids(proc_root))
    if problem is None and before is not None and not _process.same_process(before, ident):
        problem = f"pid {pid} is no longer the process seen before (it exited and the PID was reused)"
    return ident, problem
