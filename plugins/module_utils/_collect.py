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

from . import _config, _crash, _mta, _platform, _process, _queue, _verdict
from ._mailq import parse_mailq
from ._platform import Layout
from ._runner import Runner, SubprocessRunner
from ._text import clean


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
    return _mta.identity(
        sendmail, binary_exists, real, binary, config_path, os.path.lexists(config_path), mta_daemons(proc_root)
    )


def mta_daemons(proc_root: str = "/proc") -> list[dict]:
    """The lowest-numbered process of each MTA found in /proc (its master or listener), with a count."""
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
    if not os.path.isdir(os.path.join(proc_root, "net")):
        return {"ports": ports, "sockets": None, "listening": None, "by_daemon": None, "reason": "no /proc/net"}
    sockets = _process.linux_listeners(proc_root, ports)
    return {
        "ports": ports,
        "sockets": sockets,
        "listening": bool(sockets),
        "by_daemon": any(s["pid"] == daemon_pid for s in sockets) if daemon_pid else False,
    }


def collect_config(
    config_path: str, sendmail: str, runner: Runner, timeout: float, check: bool = True, not_run: str | None = None
) -> dict:
    """The cf file, sendmail's identity (-d0.1) and the -bC verdict.

    *not_run*: why no sendmail command may run here (not root, or the binary is another MTA's);
    the file is still read, and the check says why it was not done. As root, sendmail runs with
    LogLevel 0, so that checking a broken cf leaves no SYSERR in the mail log.
    """
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
    quiet = ["-OLogLevel=0"]
    ident = runner.run([sendmail, *quiet, "-d0.1", mode, "-C", config_path], stdin=b"", timeout=timeout)
    if ident.missing:
        result["identity"] = None
        result["check"] = {"ok": None, "skipped": f"{sendmail} not found"}
        return result
    identity = _config.parse_d01(ident.stdout, ident.stderr)
    if check and not (identity.version and _supports_bc(identity.version)):
        # Older sendmail has no -bC: read the cf in address test mode; any 'line N:' complaint is an error.
        mode = "-bt"
        ident = runner.run([sendmail, *quiet, "-d0.1", mode, "-C", config_path], stdin=b"", timeout=timeout)
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
    from . import _syslog  # here, not at the top: the queue summary never compiles it (0.01 s a run)

    existing = [p for p in paths if os.path.lexists(p)]
    problem = access_problem(existing[0]) if existing else None
    if problem:  # not read at all: a partial scan would look like a quiet log
        result = _syslog.SyslogScan(problems=[problem]).to_dict()
        result["access"] = problem
    else:
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
    from . import _syslog

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
    not_run: str | None = None,
) -> dict:
    """Summary of one queue from its directories; from ``mailq`` output if root cannot list them.

    *cache*: {"dir": path, "max_entries": n, "write": bool} to reuse an earlier scan's records.
    *not_run*: why mailq may not run here. A queue that cannot be counted is ``unknown``, never empty.
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
    if not not_run and not is_root():
        not_run = NOT_ROOT_COMMANDS  # mailq as another user logs SYSERRs as that user
    denied = [problem for problem in (access_problem(d, directory=True) for d in dirs) if problem]
    if len(denied) == len(dirs) and not_run:
        # nothing can be listed, and mailq may not run (it logs as a user without access)
        return dict(_not_counted(name, dirs[0], denied[0]), access=denied[0])
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
        if not_run:
            return _not_counted(name, dirs[0], f"{clean(str(exc), 400)}; mailq not run: {not_run}")
        summary = _mailq_fallback(dirs, runner, sendmail, timeout, str(exc), now)
    if summary.get("failed"):
        verdict, status, evidence = "unknown", "unknown", [summary["error"]]
    else:
        verdict, status, evidence = _queue.queue_verdict(summary, **thresholds)
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
    not_run: str | None = None,
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
            not_run,
        )
        for n in names
    }
    statuses = [q["status"] for q in queues.values()]
    # the worst first: the reason a queue is not ok must not hide behind an ok one
    ordered = sorted(queues.items(), key=lambda kv: -_verdict.ORDER.get(kv[1]["status"], 2))
    reason = "; ".join(
        f"{n.upper()} queue {q['verdict']}" + "".join(f": {e}" for e in q["evidence"][:1])
        for n, q in ordered
        if q.get("present")
    )
    return queues, {"status": _verdict.worst(statuses), "reason": reason or "no queue configured"}


def _mailq_fallback(dirs: list[str], runner: Runner, sendmail: str, timeout: float, why: str, now: float) -> dict:
    """Count a queue root cannot list (an NFS root squash) with mailq; ``failed`` when mailq did not list it."""
    res = runner.run([sendmail, "-OLogLevel=0", "-bp", f"-oQ{dirs[0]}"], timeout=timeout)
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
            age = mailq_age(entry.queued, now)
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


def host_status(p: dict, check_mode: bool, runner: Runner | None = None, now: float | None = None) -> dict:
    """Everything sendmail_status returns, from its parameters *p*: collect first, then decide.

    No sendmail command runs unless the host's sendmail binary is sendmail's (another MTA's wrapper
    logs "fatal: usage" for sendmail's options) and this user is root (see NOT_ROOT_COMMANDS). What
    could not be done for lack of privilege is ``unknown`` with the privilege it needs.
    """
    from . import _smtp  # here, not at the top: the queue summary never compiles it nor ssl (0.016 s a run)

    now = time.time() if now is None else now
    layout = _platform.detect()
    runner = runner or SubprocessRunner()
    sendmail = p["sendmail_path"] or layout.sendmail
    paths = config_paths(p["config_path"], p["submit_config_path"], layout)
    areas = p["areas"]
    mta = collect_mta(sendmail, p["config_path"])
    if not mta["binary_exists"]:
        not_run = f"no {sendmail}: no sendmail command was run"
    elif mta["binary_mta"] not in (None, "sendmail"):
        not_run = f"{sendmail} is {_mta.name(mta['binary_mta'])}'s: no sendmail command was run"
    elif not is_root():
        not_run = NOT_ROOT_COMMANDS
    else:
        not_run = None
    result: dict = {"changed": False, "platform": layout.family, "checks": {}, "mta": mta, "root": is_root()}
    result["python"] = {"version": platform.python_version(), "executable": sys.executable}
    if "process" in areas:
        result["daemon"] = collect_daemon(p["pidfile"] or paths["pidfile"], now, runner)
        result["listening"] = collect_listening(p["ports"] or paths["ports"], result["daemon"].get("pid"))
    if "config" in areas:
        result["config"] = collect_config(
            p["config_path"], sendmail, runner, p["command_timeout"], p["check_config"], not_run
        )
    if "syslog" in areas:
        result["syslog"] = collect_syslog(
            p["log_paths"] or layout.logs,
            p["since_minutes"],
            p["max_lines"],
            now,
            runner,
            max_bytes=p["syslog_max_bytes"],
        )
    if "queue" in areas:
        thresholds = {
            "warn_count": p["queue_warn_count"],
            "crit_count": p["queue_crit_count"],
            "warn_age": p["queue_warn_age"],
            "crit_age": p["queue_crit_age"],
        }
        cache = {"dir": p["queue_cache_dir"] if p["queue_cache"] and is_root() else None, "write": not check_mode}
        result["queue"], queue_check = collect_queues(
            ["mta", "msp"], paths, now, runner, sendmail, thresholds, p["command_timeout"], cache, not_run
        )
    if "smtp" in areas:
        probe = _smtp.probe(
            host=p["smtp_host"],
            port=p["smtp_port"] or paths["ports"][0],
            connect_timeout=p["smtp_timeout"],
            banner_timeout=p["smtp_timeout"],
            command_timeout=p["smtp_timeout"],
            expect_hostname=(result.get("config") or {}).get("hostname"),
        )
        result["smtp"] = probe.to_dict()
    banner = (result.get("smtp") or {}).get("banner")
    checks = result["checks"]
    checks["mta"] = _verdict.mta_check(mta, banner)
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
        checks["syslog"] = _verdict.syslog_check(
            result["syslog"],
            p["syslog_warn_errors"],
            p["syslog_crit_errors"],
            p["syslog_warn_warnings"],
            p["syslog_crit_warnings"],
            p["since_minutes"],
        )
    if "queue" in areas:
        checks["queue"] = queue_check
    if "smtp" in areas:
        checks["smtp"] = _verdict.smtp_check(result["smtp"], p["smtp_warn_banner_ms"])
    result["status"] = _verdict.worst([c["status"] for c in checks.values()])
    return result


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
