# Copyright: (c) 2026, opsiface.sendmail developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Gathering one host's observations: the I/O around the pure parsers.

Shared by the modules so that one module call can do what several do (the
health check's single round trip). Each function returns plain dicts and
never raises for anything the host can throw at it.
"""

from __future__ import annotations

import grp
import hashlib
import os
import platform
import pwd
import stat
import sys
import time
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING

# _process is imported by the functions that read processes, not here: the queue summary (sendmail_queue)
# never runs them, and compiling it is 0.004 s a run in the host
from . import _config, _mta, _privdir, _queue, _verdict
from ._platform import Layout
from ._runner import Runner
from ._text import clean

if TYPE_CHECKING:  # the context is built from this module's config_paths; only its type is needed here
    from ._context import HostContext


def read_file(path: str, limit: int = 4 * 1024 * 1024) -> tuple[bytes | None, str | None]:
    data, _size, problem = _queue.read_regular(path, limit)
    return data, problem


def is_root() -> bool:
    return os.geteuid() == 0


# Why the health check runs no sendmail command as a user other than root.
NOT_ROOT_COMMANDS = (
    "not root: sendmail -bC and mailq run only as root (as another user sendmail writes its complaints, "
    "and privilege warnings for -C or -oQ, into the mail log as that user); " + _verdict.BECOME_FIX
)


def _owner(st: os.stat_result) -> str:
    try:
        user = pwd.getpwuid(st.st_uid).pw_name
    except KeyError:
        user = str(st.st_uid)
    try:
        group = grp.getgrgid(st.st_gid).gr_name
    except KeyError:
        group = str(st.st_gid)
    return f"{user}:{group}"


def access_problem(path: str, directory: bool = False) -> str | None:
    """Why this user cannot read *path* (list it, for a *directory*), naming its mode, owner and the
    fix; None when it can, or when the path is not there (that is another check's finding)."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    wanted = os.R_OK | os.X_OK if directory else os.R_OK
    if os.access(path, wanted):
        return None
    mode = f"{stat.S_IMODE(st.st_mode):04o}"
    owner = _owner(st)
    group = owner.split(":", 1)[1]
    what = f"cannot {'list' if directory else 'read'} {path} ({mode} {owner})"
    if is_root():
        return f"{what} even as root (a file system that maps root to nobody?)"
    return (
        f"{what}: not root, and not in group {group}; run with become (root), "
        f"or add the user to group {group} if the mode lets the group read it (docs/security.md)"
    )


def collect_mta(sendmail: str, config_path: str, proc_root: str = "/proc") -> dict:
    """Which MTA the host runs (see _mta), read without running any of its commands."""
    exists = os.path.lexists(sendmail)
    real = os.path.realpath(sendmail) if exists else None
    binary_exists = bool(real) and os.path.isfile(real)
    data = None
    if binary_exists:
        data, _problem = read_file(real, 16 * 1024 * 1024)
    binary = _mta.binary_mta(real or sendmail, data) if binary_exists else None
    config_exists = os.path.lexists(config_path)
    return _mta.identity(
        _mta.Found(sendmail, binary_exists, real, binary, config_path, config_exists, mta_daemons(proc_root))
    )


def mta_daemons(proc_root: str = "/proc") -> list[dict]:
    """The lowest-numbered process of each MTA found in /proc (its master or listener), with a count."""
    from . import _process

    found: dict[str, dict] = {}
    if not os.path.isdir(proc_root) or platform.system() != "Linux":
        return []
    for name in os.listdir(proc_root):
        if not name.isdigit():
            continue
        args = _process.read_proc_comm_args(proc_root, int(name))
        mta = _mta.process_mta(args)
        if mta is None:
            continue
        entry = found.setdefault(mta, {"mta": mta, "pid": int(name), "args": clean(args, 200), "processes": 0})
        entry["processes"] += 1
        if int(name) < entry["pid"]:
            entry.update(pid=int(name), args=clean(args, 200))
    return [found[k] for k in sorted(found)]


def config_paths(config_path: str, submit_path: str, layout: Layout) -> dict:
    """What the cf files say: queue directories, PidFile, ports (layout defaults where they are silent)."""
    data, _unused = read_file(config_path)
    cf = _config.parse_cf(data or b"")
    submit_data, _unused = read_file(submit_path)
    submit = _config.parse_cf(submit_data or b"")
    mta_qdir = cf.get("QueueDirectory", _config.DEFAULTS["QueueDirectory"])
    msp_qdir = submit.get("QueueDirectory") if submit_data else None
    return {
        "mta_queue_dirs": _queue.expand_queue_dirs(mta_qdir, cf.queue_groups),
        "msp_queue_dirs": _queue.expand_queue_dirs(msp_qdir) if msp_qdir else [],
        # as written in the cf files (a '*' stands for many directories): what sendmail serves
        "queue_patterns": [mta_qdir]
        + [g.get("Path") or g.get("P") for g in cf.queue_groups if g.get("Path") or g.get("P")]
        + ([msp_qdir] if msp_qdir else []),
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
    from . import _process

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
    if data is None and problem != "vanished":
        report["pidfile_access"] = access_problem(pidfile)
    problem = report.get("pidfile_problem") or ""
    if pid is not None and problem.startswith("stale") and os.path.isdir(os.path.join(proc_root, str(pid))):
        # the PidFile's PID runs, but is no sendmail process at all (PID reuse after a crash)
        args = _process.read_proc_comm_args(proc_root, pid) or "unknown"
        report["pidfile_problem"] = f"pid {pid} is not the listener but another process ({clean(args, 80)})"
    return report


def collect_listening(ports: list[int], daemon_pid: int | None, proc_root: str = "/proc") -> dict:
    from . import _process

    if not os.path.isdir(os.path.join(proc_root, "net")):
        return {"ports": ports, "sockets": None, "listening": None, "by_daemon": None, "reason": "no /proc/net"}
    sockets = _process.linux_listeners(proc_root, ports)
    return {
        "ports": ports,
        "sockets": sockets,
        "listening": bool(sockets),
        "by_daemon": any(s["pid"] == daemon_pid for s in sockets) if daemon_pid else False,
    }


def collect_config(ctx: HostContext, check: bool = True, not_run: str | None = None) -> dict:
    """The cf file (the context's config_path), sendmail's identity (-d0.1) and the -bC verdict.

    *not_run*: why no sendmail command may run here (not root, or the binary is another MTA's);
    the file is still read, and the check says why it was not done. As root, sendmail runs with
    LogLevel 0, so that checking a broken cf leaves no SYSERR in the mail log.
    """
    config_path = ctx.params["config_path"]
    result: dict = {"path": config_path, "exists": os.path.lexists(config_path)}
    if result["exists"]:
        data, problem = read_file(config_path, 16 * 1024 * 1024)
        result["readable"] = data is not None
        if data is not None:
            st = os.stat(config_path)
            result.update(mtime=int(st.st_mtime), size=st.st_size, sha256=hashlib.sha256(data).hexdigest())
        else:
            result["problem"] = problem
            result["access"] = access_problem(config_path)
    if not_run:
        result.update(identity=None, version=None, hostname=None)
        result["check"] = {"ok": None, "skipped": not_run, "access": not_run}
        return result
    # One process when it can: `-d0.1 -bC` prints the identity and then checks the cf (8.16+).
    mode = "-bC" if check else "-bt"
    ident = _identity_run(ctx, mode)
    if ident.missing:
        result["identity"] = None
        result["check"] = {"ok": None, "skipped": f"{ctx.sendmail} not found"}
        return result
    identity = _config.parse_d01(ident.stdout, ident.stderr)
    if check and not (identity.version and _supports_bc(identity.version)):
        # Older sendmail has no -bC: read the cf in address test mode; any 'line N:' complaint is an error.
        mode = "-bt"
        ident = _identity_run(ctx, mode)
        identity = _config.parse_d01(ident.stdout, ident.stderr)
    result["identity"] = identity.to_dict()
    result["version"] = identity.version
    result["hostname"] = identity.hostname
    if not check:
        result["check"] = {"ok": None, "skipped": "check: false"}
        return result
    stdout = ident.stdout if mode == "-bC" else b""
    verdict = _config.parse_check(ident.rc, stdout, ident.stderr)
    verdict.update(command=f"{ctx.sendmail} -d0.1 {mode}", timed_out=ident.timed_out)
    result["check"] = verdict
    return result


def _identity_run(ctx: HostContext, mode: str):
    argv = [ctx.sendmail, "-OLogLevel=0", "-d0.1", mode, "-C", ctx.params["config_path"]]
    return ctx.runner.run(argv, stdin=b"", timeout=ctx.command_timeout)


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


@dataclass(frozen=True)
class SyslogOptions:
    """How much of the mail log one scan reads."""

    since_minutes: int = 60
    max_lines: int = 10
    max_bytes: int = 512 * 1024 * 1024
    use_journal: bool = True


def collect_syslog(ctx: HostContext, paths: list[str], options: SyslogOptions) -> dict:
    from . import _syslog  # here, not at the top: the queue summary never compiles it (0.01 s a run)

    existing = [p for p in paths if os.path.lexists(p)]
    problem = access_problem(existing[0]) if existing else None
    if problem:  # not read at all: a partial scan would look like a quiet log
        result = _syslog.SyslogScan(problems=[problem]).to_dict()
        result["access"] = problem
    else:
        result = _scan_syslog(ctx, paths, options)
    result["daemon"] = syslog_daemon()
    return result


def _scan_syslog(ctx: HostContext, paths: list[str], options: SyslogOptions) -> dict:
    from . import _syslog

    since, most, now = options.since_minutes, options.max_lines, ctx.now
    if any(os.path.lexists(p) for p in paths) or not options.use_journal:
        window = _syslog.LogWindow(since, most, _syslog.local_utc_offset(now), options.max_bytes)
        return _syslog.scan_files(paths, now, window).to_dict()
    journalctl = ctx.runner.which("journalctl")
    if journalctl:
        res = ctx.runner.run(
            [journalctl, "--no-pager", "-q", "-o", "short-iso", "--since", f"-{since}min", "SYSLOG_FACILITY=2"],
            timeout=30,
        )
        if res.ok:
            return _syslog.scan_journal_output(res.stdout, now, since, most).to_dict()
    return _syslog.scan_files(paths, now, _syslog.LogWindow(since, most, max_bytes=options.max_bytes)).to_dict()


@dataclass(frozen=True)
class QueueThresholds:
    """Count and age (seconds of the oldest message) from which a queue warns, and is critical."""

    warn_count: int = 500
    crit_count: int = 5000
    warn_age: int = 14400
    crit_age: int = 172800


@dataclass(frozen=True)
class QueueCache:
    """Where an earlier scan's qf records are kept (None: no cache), and whether this call may write it."""

    dir: str | None = None
    write: bool = False
    max_entries: int = 150000


@dataclass(frozen=True)
class QueueOptions:
    """How one queue is summarised: thresholds, cache, the cf's MinFreeBlocks, and why mailq may not run."""

    thresholds: QueueThresholds = field(default_factory=QueueThresholds)
    cache: QueueCache = field(default_factory=QueueCache)
    min_free_blocks: int = 100
    not_run: str | None = None


def collect_queue(ctx: HostContext, name: str, dirs: list[str], options: QueueOptions) -> dict:
    """Summary of one queue from its directories; from ``mailq`` output if root cannot list them.

    A queue that cannot be counted is ``unknown``, never empty (*options.not_run*: why mailq may not run).
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
    not_run = options.not_run
    if not not_run and not is_root():
        not_run = NOT_ROOT_COMMANDS  # mailq as another user logs SYSERRs as that user
    denied = [problem for problem in (access_problem(d, directory=True) for d in dirs) if problem]
    if len(denied) == len(dirs) and not_run:
        # nothing can be listed, and mailq may not run (it logs as a user without access)
        return dict(_not_counted(name, dirs[0], denied[0]), access=denied[0])
    try:
        summary = _scan_directories(ctx, dirs, options.cache)
    except _queue.QueueError as exc:
        if not_run:
            return _not_counted(name, dirs[0], f"{clean(str(exc), 400)}; mailq not run: {not_run}")
        summary = _mailq_fallback(ctx, dirs, str(exc))
    if summary.get("failed"):
        verdict, status, evidence = "unknown", "unknown", [summary["error"]]
    else:
        verdict, status, evidence = _queue.queue_verdict(summary, **asdict(options.thresholds))
    status = _not_all_seen(summary, denied, status, evidence)
    status, evidence = _space(summary, dirs[0], options.min_free_blocks, status, evidence)
    summary.update(name=name, present=True, verdict=verdict, status=status, evidence=evidence)
    return summary


def _scan_directories(ctx: HostContext, dirs: list[str], cache: QueueCache) -> dict:
    """The queue read from its directories (QueueError when they cannot be), with the cache's problem."""
    cache_dir, cache_problem = private_cache_dir(cache.dir, cache.write)
    summary = _queue.scan_queue(
        dirs, ctx.now, cache_dir=cache_dir, cache_max_entries=cache.max_entries, write_cache=cache.write
    ).to_dict()
    summary["source"] = "directory"
    if cache_problem:
        summary["cache"] = dict(summary.get("cache") or {}, problem=cache_problem)
    return summary


def _not_all_seen(summary: dict, denied: list[str], status: str, evidence: list[str]) -> str:
    """unknown (at least) for what this user could not read, and for ages mailq did not give; says why."""
    unreadable = (summary.get("anomalies") or {}).get("unreadable", 0)
    if unreadable and not is_root():
        status = _verdict.worst([status, "unknown"])
        evidence.insert(0, f"{unreadable} queue file(s) cannot be read: not root; {_verdict.BECOME_FIX}")
    if denied and not is_root() and summary.get("source") == "directory":
        status = _verdict.worst([status, "unknown"])
        evidence.insert(0, f"counted only in part: {denied[0]}")
    if summary.get("source") == "mailq" and summary.get("count") and summary.get("oldest_age_seconds") is None:
        status = _verdict.worst([status, "unknown"])
        evidence.insert(0, "the age of the queued messages is not known (mailq's dates could not be read)")
    return status


def _space(summary: dict, path: str, min_free_blocks: int, status: str, evidence: list[str]) -> tuple[str, list[str]]:
    """The free space of the queue's file system against sendmail's MinFreeBlocks (in summary["space"])."""
    try:
        fs = os.statvfs(path)
    except OSError:
        summary["space"] = None
        return status, evidence
    space_status, space_evidence = _queue.space_verdict(fs.f_bavail, fs.f_blocks, fs.f_frsize, min_free_blocks)
    summary["space"] = {
        "free_bytes": fs.f_bavail * fs.f_frsize,
        "free_blocks": fs.f_bavail,
        "min_free_blocks": min_free_blocks,
        "status": space_status,
    }
    return _verdict.worst([status, space_status]), space_evidence + evidence


def _not_counted(name: str, path: str, why: str) -> dict:
    """A queue that could not be counted: unknown, never empty."""
    return {
        "name": name,
        "present": True,
        "path": path,
        "count": None,
        "verdict": "unknown",
        "status": "unknown",
        "evidence": [f"not counted: {why}"],
    }


def private_cache_dir(path: str | None, create: bool) -> tuple[str | None, str | None]:
    """The queue cache directory if it is (or, when *create*, was made) a private directory of ours.

    A cache in a directory someone else can write could be planted to feed a forged summary, and the
    directory is user-supplied: it is checked like a dump directory, never chmod'ed. Returns
    (directory or None, why the cache is off)."""
    if not path:
        return None, None
    try:
        _privdir.safe_dir(path, create=create)
    except (_privdir.UnsafeDir, OSError) as exc:
        return None, f"queue cache disabled: {clean(str(exc), 400)}"
    return path, None


def collect_queues(ctx: HostContext, names: list[str], options: QueueOptions) -> tuple[dict, dict]:
    """Summaries of the named queues ("mta", "msp") of the context's cf files, and the queue area's check."""
    options = QueueOptions(options.thresholds, options.cache, ctx.paths.get("min_free_blocks", 100), options.not_run)
    queues = {n: collect_queue(ctx, n, ctx.paths[f"{n}_queue_dirs"], options) for n in names}
    statuses = [q["status"] for q in queues.values()]
    # the worst first: the reason a queue is not ok must not hide behind an ok one
    ordered = sorted(queues.items(), key=lambda kv: -_verdict.ORDER.get(kv[1]["status"], 2))
    reason = "; ".join(
        f"{n.upper()} queue {q['verdict']}" + "".join(f": {e}" for e in q["evidence"][:1])
        for n, q in ordered
        if q.get("present")
    )
    return queues, {"status": _verdict.worst(statuses), "reason": reason or "no queue configured"}


def _mailq_fallback(ctx: HostContext, dirs: list[str], why: str) -> dict:
    """Count a queue root cannot list (an NFS root squash) with mailq; ``failed`` when mailq did not list it."""
    from ._mailq import parse_mailq  # a fallback: not imported by every health check

    res = ctx.runner.run([ctx.sendmail, "-OLogLevel=0", "-bp", f"-oQ{dirs[0]}"], timeout=ctx.command_timeout)
    parsed = parse_mailq(res.stdout)
    count = sum(s.count for s in parsed.sections)
    by_domain: dict[str, int] = {}
    by_reason: dict[str, int] = {}
    ages = []
    for section in parsed.sections:
        for entry in section.entries:
            for rcpt in entry.recipients:
                dom = _queue.recipient_domain(rcpt)
                by_domain[dom] = by_domain.get(dom, 0) + 1
            key = _queue.reason_class(entry.reason)
            by_reason[key] = by_reason.get(key, 0) + 1
            age = mailq_age(entry.queued, ctx.now)
            if age is not None:
                ages.append(age)
    failed = res.rc != 0 or not parsed.sections
    printed = sum(len(s.entries) for s in parsed.sections)
    return {
        "path": dirs[0],
        "source": "mailq",
        "readable": False,
        "failed": failed,
        "error": clean(
            f"{why}; mailq failed (rc {res.rc}): {res.stderr.decode('utf-8', 'replace').strip() or 'no listing'}"
            if failed
            else f"{why}; counted from mailq"
        ),
        "count": None if failed else count,
        "size_bytes": sum(e.size for s in parsed.sections for e in s.entries),
        # the oldest is known only when every message was printed with a date that could be read
        "oldest_age_seconds": max(ages) if ages and len(ages) == count == printed else None,
        "max_attempts": 0,
        "by_domain": by_domain,
        "by_reason": by_reason,
        "quarantined": 0,
        "anomalies": {},
        "anomaly_examples": [],
    }


def mailq_age(queued: str, now: float) -> int | None:
    """Seconds since mailq's date (``Tue Dec  1 15:38``: local time, no year: the latest such date not after now)."""
    parts = (queued or "").split()
    if len(parts) != 4:
        return None
    this_year = time.localtime(now).tm_year
    for year in (this_year, this_year - 1):
        try:
            stamp = time.mktime(time.strptime(f"{year} {' '.join(parts[1:])}", "%Y %b %d %H:%M"))
        except (ValueError, OverflowError):
            return None
        if stamp <= now + 60:
            return max(0, int(now - stamp))
    return None


def host_status(ctx: HostContext) -> dict:
    """Everything sendmail_status returns, from the context's parameters: collect first, then decide.

    No sendmail command runs unless the host's sendmail binary is sendmail's (another MTA's wrapper
    logs "fatal: usage" for sendmail's options) and this user is root (see NOT_ROOT_COMMANDS). What
    could not be done for lack of privilege is ``unknown`` with the privilege it needs.
    """
    mta = collect_mta(ctx.sendmail, ctx.params["config_path"])
    result: dict = {"changed": False, "platform": ctx.layout.family, "checks": {}, "mta": mta, "root": is_root()}
    result["python"] = {"version": platform.python_version(), "executable": sys.executable}
    queue_check = _observe(ctx, result, _why_not_run(ctx.sendmail, mta))
    result["checks"] = _decide(ctx.params, result, queue_check)
    result["status"] = _verdict.worst([c["status"] for c in result["checks"].values()])
    return result


def _why_not_run(sendmail: str, mta: dict) -> str | None:
    """Why no sendmail command may run on this host, or None."""
    if not mta["binary_exists"]:
        return f"no {sendmail}: no sendmail command was run"
    if mta["binary_mta"] not in (None, "sendmail"):
        return f"{sendmail} is {_mta.name(mta['binary_mta'])}'s: no sendmail command was run"
    if not is_root():
        return NOT_ROOT_COMMANDS
    return None


def _observe(ctx: HostContext, result: dict, not_run: str | None) -> dict | None:
    """Collect each area of the context's ``areas`` into *result*; returns the queue area's check."""
    p, areas = ctx.params, ctx.params["areas"]
    if "process" in areas:
        result["daemon"] = collect_daemon(ctx.pidfile, ctx.now, ctx.runner)
        result["listening"] = collect_listening(p["ports"] or ctx.paths["ports"], result["daemon"].get("pid"))
    if "config" in areas:
        result["config"] = collect_config(ctx, p["check_config"], not_run)
    if "syslog" in areas:
        options = SyslogOptions(p["since_minutes"], p["max_lines"], p["syslog_max_bytes"])
        result["syslog"] = collect_syslog(ctx, p["log_paths"] or ctx.layout.logs, options)
    queue_check = None
    if "queue" in areas:
        thresholds = QueueThresholds(*(p[f"queue_{k}"] for k in ("warn_count", "crit_count", "warn_age", "crit_age")))
        cache = QueueCache(p["queue_cache_dir"] if p["queue_cache"] and is_root() else None, not ctx.check_mode)
        result["queue"], queue_check = collect_queues(
            ctx, ["mta", "msp"], QueueOptions(thresholds, cache, 100, not_run)
        )
    if "smtp" in areas or "tls" in areas:
        from . import _smtp  # here, not at the top: the queue summary never compiles it nor ssl (0.016 s a run)

        # one probe for both areas: with tls it also says STARTTLS and reads the certificate
        probe = _smtp.probe(
            _smtp.ProbeOptions(
                host=p["smtp_host"],
                port=p["smtp_port"] or ctx.paths["ports"][0],
                connect_timeout=p["smtp_timeout"],
                banner_timeout=p["smtp_timeout"],
                command_timeout=p["smtp_timeout"],
                expect_hostname=(result.get("config") or {}).get("hostname"),
                tls="tls" in areas,
            )
        ).to_dict()
        if "smtp" in areas:
            result["smtp"] = probe
        if "tls" in areas:
            result["tls"] = _verdict.tls_observation(probe)
    if "delivery" in areas:
        from ._selftest import delivery_check  # here: only a check with the delivery area compiles the mailbox code

        result["delivery"] = delivery_check(ctx, (result.get("config") or {}).get("hostname"), not_run is None)
        result["changed"] = bool(result["delivery"].get("changed"))
    return queue_check


def _decide(p: dict, result: dict, queue_check: dict | None) -> dict:
    """The status and reason of each area collected (and of the MTA, always), from *result* and the thresholds."""
    areas = p["areas"]
    banner = (result.get("smtp") or {}).get("banner")
    checks = {"mta": _verdict.mta_check(result["mta"], banner)}
    if "process" in areas:
        checks["process"] = _verdict.process_check(
            result["daemon"],
            result["listening"]["sockets"],
            p["max_zombie_children"],
            banner_mta=_mta.banner_mta(banner) if banner else None,
        )
    if "config" in areas:
        checks["config"] = _verdict.config_check(result["config"])
    if "syslog" in areas:
        thresholds = _verdict.SyslogThresholds(
            *(p[f"syslog_{k}"] for k in ("warn_errors", "crit_errors", "warn_warnings", "crit_warnings"))
        )
        checks["syslog"] = _verdict.syslog_check(result["syslog"], thresholds, p["since_minutes"])
    if "queue" in areas:
        checks["queue"] = queue_check
    if "smtp" in areas:
        checks["smtp"] = _verdict.smtp_check(result["smtp"], p["smtp_warn_banner_ms"])
    if "tls" in areas:
        thresholds = _verdict.TlsThresholds(p["tls_warn_days"], p["tls_crit_days"], p["tls_required"])
        checks["tls"] = _verdict.tls_check(result["tls"], thresholds)
    if "delivery" in areas:
        checks["delivery"] = _verdict.delivery_check(result["delivery"])
    return checks
