# Copyright: (c) 2026, opsiface.sendmail developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Crash Dump, done: the sendmail_crash module's capture around the decisions of ``_crash``.

Order matters and is the whole point: the operation lock; the target (the listener, or ``pid``)
checked to be a sendmail process; every guard decided (tools, ptrace, for an abort a core the kernel
will write, the dump directory and its free space) while nothing is touched; check mode stops there
with the plan; then, right before gcore, a SIGABRT or a SIGCONT, the target checked again (a reused
PID is refused); the bundle written root-only; retention; the daemon's state afterwards. A guard or
dump that fails leaves no bundle behind. Linux reads /proc and uses gdb; Solaris the proc tools.
"""

from __future__ import annotations

import json
import os
import platform
import resource
import signal
import socket
import time

from . import _collect, _crash, _oplock, _privdir, _queue, _service, _target
from ._context import HostContext, ModuleError


def run(ctx: HostContext) -> dict:
    """sendmail_crash: one capture (``mode`` gcore or abort) into a new bundle under ``dir``."""
    _oplock.hold(ctx, f"crash capture ({ctx.params['mode']})")  # released as the call ends
    capture = Capture(ctx)
    if platform.system() == "SunOS":
        return capture.solaris()
    if platform.system() != "Linux":
        raise ModuleError(
            f"crash capture knows Linux and Solaris; on {platform.system()} run gcore by hand (nothing was done)",
            actions=["none: unsupported platform"],
        )
    return capture.linux()


class Capture:
    """One capture: the result so far, the bundle being written (removed again on failure), the target."""

    def __init__(self, ctx: HostContext) -> None:
        self.ctx = ctx
        self.p = ctx.params
        self.result: dict = {"changed": False, "actions": [], "observations": [], "guards": {}, "removed": []}
        self.bundle: str | None = None
        self.target: dict | None = None
        self.core_owners: set[int] | None = None

    # -- state and failure
    def daemon(self) -> dict:
        d = _collect.collect_daemon(self.ctx.pidfile, time.time(), self.ctx.runner)
        return {k: d.get(k) for k in ("running", "state", "pid", "ppid", "args")}

    def fail(self, msg: str) -> ModuleError:
        """The error to raise: the incomplete bundle removed, the daemon's state added to the result."""
        if self.bundle:
            _crash.remove_quietly(self.bundle)
            self.result["actions"].append(f"removed the incomplete bundle {self.bundle}")
            self.bundle = None
        self.result.setdefault("daemon", self.daemon())
        return ModuleError(msg, **self.result)

    def guard(self, name: str, value, problem: str | None) -> None:
        self.result["guards"][name] = {"value": value, "problem": problem}

    # -- Linux
    def linux(self) -> dict:
        p = self.p
        before, pid = self.listener()
        target = _crash.parse_status(_target.read_proc_text(f"/proc/{pid}/status"))
        self.core_owners = set((target.get("uids") or [0])[:2]) | {0}  # who the kernel writes the core as
        size = target.get("vmsize_bytes") or 0
        self.result["observations"].append(
            f"listener {pid} ({before.get('state')}), VmSize {size // 1048576} MiB, "
            f"{'set-id' if _crash.is_setid(target) else 'not set-id'}"
        )
        gdb, gcore = self.ctx.runner.which("gdb"), self.ctx.runner.which("gcore")
        tools_problem = None
        if p["mode"] == "gcore" and not (gcore and gdb):
            tools_problem = "gcore/gdb not installed (Debian/RHEL package gdb)"
        self.guard("tools", {"gcore": gcore, "gdb": gdb}, tools_problem)
        if p["mode"] == "gcore" or (p["backtrace"] and gdb):
            scope = _target.read_proc_int("/proc/sys/kernel/yama/ptrace_scope")
            ours = _crash.parse_status(_target.read_proc_text("/proc/self/status"))
            self.guard("ptrace", {"ptrace_scope": scope}, _crash.ptrace_problem(scope, ours, target))
        core_glob = self.abort_guards(pid, target, size) if p["mode"] == "abort" else None
        self.dump_dir_guards(size)
        verb = "gcore" if p["mode"] == "gcore" else "send SIGABRT to"
        plan = (
            f"would {verb} the listener {pid} into a bundle under {p['dir']} (check mode: nothing written or signalled)"
        )
        if self.refuse_or_plan(before, plan):
            return self.result
        try:
            return self.capture(pid, before, core_glob)
        except OSError as exc:
            self.after_gdb(pid, before)
            raise self.fail(f"the capture failed writing {exc.filename or self.bundle}: {exc.strerror}") from exc

    def listener(self) -> tuple[dict, int]:
        """The listener before anything is done (or ``pid``); fails when there is none to capture."""
        before = self.daemon()
        self.result["daemon_before"] = before
        pid = self.p["pid"] or before.get("pid")
        if pid is None or not _service.pid_alive(pid):
            self.result["actions"].append("none: there is no listener to capture")
            raise self.fail(f"no sendmail listener is running (state {before.get('state')}); nothing to capture")
        self.target, problem = _target.verify_sendmail(pid, self.ctx.runner)
        if problem:
            self.result["actions"].append("none: the target is not a sendmail process")
            raise self.fail(f"refusing to capture pid {pid}: {problem}; nothing was done")
        return before, pid

    def abort_guards(self, pid: int, target: dict, size: int) -> str | None:
        """mode=abort: confirmed, and a core the kernel will really write where we will find it (its glob)."""
        p = self.p
        self.guard(
            "confirm_abort", p["confirm_abort"], None if p["confirm_abort"] else "mode=abort needs confirm_abort=true"
        )
        pattern = _target.read_proc_text("/proc/sys/kernel/core_pattern", 4096).strip() or "core"
        suid = _target.read_proc_int("/proc/sys/fs/suid_dumpable")
        soft, hard = read_core_limit(pid)
        # the limit in effect once raised (after every guard passed: nothing changes while guards run)
        effective = hard if soft == 0 and hard is not None else soft
        problem = _crash.abort_problem(target, suid, pattern, effective)
        value = {"core_pattern": pattern, "suid_dumpable": suid, "core_limit": soft, "core_limit_hard": hard}
        self.guard("core", value, problem)
        if problem:
            return None
        dumped = _crash.CoreTarget(
            pid=pid,
            comm=target.get("name") or "sendmail",
            uid=(target.get("uids") or [0])[0],
            gid=(target.get("gids") or [0])[0],
            hostname=socket.gethostname(),
            uses_pid=_target.read_proc_int("/proc/sys/kernel/core_uses_pid") == 1,
            cwd=_target.read_link(f"/proc/{pid}/cwd") or "/",  # gone meanwhile: the capture fails later, cleanly
        )
        core_glob = _crash.core_glob(pattern, dumped)
        where = os.path.dirname(core_glob).replace("[*]", "*")
        need = int(size * p["space_margin"])
        self.guard("core_space", {"path": where, "needed": need}, space(where, need))
        return core_glob

    def dump_dir_guards(self, size: int) -> None:
        """The dump directory (made safely, or only checked in check mode) and the free space in it."""
        p = self.p
        try:
            _privdir.safe_dir(p["dir"], create=not self.ctx.check_mode)
            dir_problem = None
        except (_privdir.UnsafeDir, OSError) as exc:
            dir_problem = str(exc)
        self.guard("dir", p["dir"], dir_problem)
        if not dir_problem:
            need = int(size * p["space_margin"]) * (2 if p["compress"] else 1)
            self.guard("space", {"path": p["dir"], "needed": need}, space(p["dir"], need))

    def refuse_or_plan(self, before: dict, plan: str) -> bool:
        """Fail when any guard failed (the daemon untouched); in check mode, say what would be done: True."""
        problems = [f"{k}: {g['problem']}" for k, g in self.result["guards"].items() if g["problem"]]
        if problems:
            self.result["actions"].append("none: a guard failed, so the daemon was not touched")
            raise self.fail("crash capture refused: " + "; ".join(problems))
        if self.ctx.check_mode:
            self.result["changed"] = True
            self.result["actions"].append(plan)
            self.result["daemon"] = before
        return self.ctx.check_mode

    def recheck(self, pid: int, what: str) -> str | None:
        """Right before acting on *pid*: still the sendmail process the guards saw (not a reused PID)."""
        _ident, problem = _target.verify_sendmail(pid, self.ctx.runner, before=self.target)
        if problem:
            self.result["observations"].append(f"did not {what}: {problem}")
        return problem

    def capture(self, pid: int, before: dict, core_glob: str | None) -> dict:
        p = self.p
        started = time.time()
        self.bundle = _crash.new_bundle(p["dir"], pid, started)
        self.result["changed"] = True
        core = os.path.join(self.bundle, f"core.{pid}")
        exe = _target.read_link(f"/proc/{pid}/exe") or self.ctx.sendmail
        proc = {
            "maps": _target.read_proc_text(f"/proc/{pid}/maps", 256 * 1024),
            "limits": _target.read_proc_text(f"/proc/{pid}/limits"),
        }
        cmdline = _target.read_proc_text(f"/proc/{pid}/cmdline", 4096).replace("\0", " ").strip()
        if p["mode"] == "gcore":
            self.gcore(pid, before, core)
        else:
            self.abort(pid, core, core_glob, started)
        if os.path.getsize(core) == 0:
            raise self.fail(f"the core {core} is empty")
        self.result["core"] = {"path": core, "size_bytes": os.path.getsize(core), "sha256": _crash.sha256_file(core)}
        if p["backtrace"] and self.ctx.runner.which("gdb"):
            self.write_backtrace(exe, core)
        meta = metadata(self.ctx, self.result.get("core"), (pid, before, exe, cmdline), proc, started)
        _crash.write_private(os.path.join(self.bundle, "metadata.json"), json.dumps(meta, indent=2).encode())
        if p["compress"]:
            try:
                gz = _crash.compress(core)
            except OSError as exc:
                raise self.fail(f"could not compress {core}: {exc.strerror}") from exc
            self.result["core"].update(path=gz, compressed_bytes=os.path.getsize(gz))
        return self.finish(pid)

    def gcore(self, pid: int, before: dict, core: str) -> None:
        """gcore writes the core while the daemon keeps running (gdb detaches)."""
        if self.recheck(pid, "run gcore"):
            raise self.fail(f"pid {pid} is no longer the listener the guards checked; nothing was dumped")
        argv = [self.ctx.runner.which("gcore"), "-o", os.path.join(self.bundle, "core"), str(pid)]
        res = self.ctx.runner.run(argv, timeout=self.p["timeout"])
        self.after_gdb(pid, before)
        if not res.ok or not os.path.isfile(core):
            detail = _service.command_record(res)
            self.result["gcore"] = detail
            raise self.fail(
                f"gcore of {pid} failed (rc {res.rc}{', timed out' if res.timed_out else ''}): "
                f"{detail['stderr'][-400:] or detail['stdout'][-400:]}"
            )
        os.chmod(core, 0o600)
        self.result["actions"].append(f"wrote a core of the listener {pid} with gcore (it kept running)")

    def abort(self, pid: int, core: str, core_glob: str | None, started: float) -> None:
        """SIGABRT (confirmed): the kernel writes the core as the daemon exits; it is moved into the bundle."""
        if self.recheck(pid, "send SIGABRT"):
            raise self.fail(f"pid {pid} is no longer the listener the guards checked; it was not signalled")
        self.raise_core_limit(pid)
        os.kill(pid, signal.SIGABRT)
        self.result["actions"].append(f"sent SIGABRT to the listener {pid} (confirmed abort)")
        gone = _service.wait_until(lambda: not _service.pid_alive(pid), self.p["timeout"])
        if gone is None:
            raise self.fail(f"the listener {pid} still runs {self.p['timeout']:.0f} s after SIGABRT")
        found = self.wait_core(core_glob, started)
        if found is None:
            raise self.fail(f"the listener {pid} exited but no core matching {core_glob} appeared")
        try:
            _crash.move_private(found, core)
        except OSError as exc:
            raise self.fail(f"could not move the core {found} into {self.bundle}: {exc.strerror}") from exc
        self.result["actions"].append(f"moved the kernel's core {found} into the bundle")

    def raise_core_limit(self, pid: int) -> None:
        """Raise a soft core limit of 0 to the hard limit: only once every guard has passed."""
        soft, hard = read_core_limit(pid)
        if soft != 0 or hard is None:
            return
        if self.recheck(pid, "raise the core size limit"):
            raise self.fail(f"pid {pid} is no longer the listener the guards checked; nothing was done")
        try:
            resource.prlimit(pid, resource.RLIMIT_CORE, (hard, hard))
        except OSError as exc:
            raise self.fail(f"could not raise the core size limit of {pid}: {exc.strerror}; nothing was done") from exc
        self.result["actions"].append(f"raised the core size limit of {pid} to {'unlimited' if hard < 0 else hard}")

    def after_gdb(self, pid: int, before: dict) -> None:
        """gdb detaches on exit; a listener left stopped (a killed gdb) is continued, and said so."""
        now = self.daemon()
        if now.get("pid") == pid and now.get("state") == "stopped" and before.get("state") != "stopped":
            if self.recheck(pid, "send SIGCONT"):
                return
            os.kill(pid, signal.SIGCONT)
            self.result["actions"].append(f"sent SIGCONT to the listener {pid}, left stopped by the debugger")

    def wait_core(self, glob: str | None, started: float) -> str | None:
        """The kernel's core once it matches *glob* and its size stopped growing, or None after the timeout."""
        if glob is None:
            return None
        found: list[str] = []
        last: dict = {}

        def stable() -> bool:
            found[:] = _crash.matching_cores(glob, started, self.core_owners)
            if not found:
                return False
            size = os.path.getsize(found[0])
            done = last.get(found[0]) == size and size > 0
            last[found[0]] = size
            return done

        if _service.wait_until(stable, self.p["timeout"], sleep=lambda _d: time.sleep(0.5)) is None:
            return None
        return found[0]

    def write_backtrace(self, exe: str, core: str) -> None:
        gdb = self.ctx.runner.which("gdb")
        argv = [gdb, "-batch", "-nx", "-ex", "set pagination off", "-ex", "bt", "-ex", "thread apply all bt", exe, core]
        res = self.ctx.runner.run(argv, timeout=self.p["timeout"])
        text = res.stdout.decode("utf-8", "replace") + res.stderr.decode("utf-8", "replace")
        _crash.write_private(os.path.join(self.bundle, "backtrace.txt"), text.encode())
        self.result["backtrace"] = _crash.backtrace_summary(res.stdout.decode("utf-8", "replace"))
        self.result["observations"].append(
            f"backtrace: {self.result['backtrace']['frames']} frame(s), innermost {self.result['backtrace']['top']}"
        )

    # -- Solaris / illumos
    def solaris(self) -> dict:
        """The proc tools (gcore -o, pargs, pmap, plimit) and mdb's $C for the backtrace.

        Only gcore mode: where an abort's core goes, and what it holds, is coreadm's configuration.
        """
        p, runner = self.p, self.ctx.runner
        before, pid = self.listener()
        if p["mode"] == "abort":
            self.guard("mode", "abort", "abort on Solaris: coreadm decides where the core goes; use gcore mode")
        missing = [t for t in ("/usr/bin/gcore", "/usr/bin/mdb") if runner.which(t) is None]
        self.guard("tools", {"missing": missing}, f"not installed: {', '.join(missing)}" if missing else None)
        res = runner.run(_crash.solaris_argv("vsz", pid, ""), timeout=15)
        self.dump_dir_guards(_crash.parse_vsz_kb(res.stdout.decode("utf-8", "replace")) or 0)
        if self.refuse_or_plan(before, f"would gcore the listener {pid} into {p['dir']} (check mode)"):
            return self.result
        started = time.time()
        try:
            self.bundle = _crash.new_bundle(p["dir"], pid, started)
            self.result["changed"] = True
            self.solaris_bundle(pid, before, started)
        except OSError as exc:
            raise self.fail(f"the capture failed writing {exc.filename or self.bundle}: {exc.strerror}") from exc
        return self.finish(pid)

    def solaris_bundle(self, pid: int, before: dict, started: float) -> None:
        p, runner = self.p, self.ctx.runner

        def tool(name: str, timeout: float = 15) -> str:
            return runner.run(_crash.solaris_argv(name, pid, ""), timeout=timeout).stdout.decode("utf-8", "replace")

        args = _crash.parse_pargs(tool("pargs"))
        proc = {"maps": tool("pmap", 30), "limits": tool("plimit")}
        res = runner.run(_crash.solaris_argv("gcore", pid, self.bundle), timeout=p["timeout"])
        core = os.path.join(self.bundle, f"core.{pid}")
        if not res.ok or not os.path.isfile(core):
            raise self.fail(f"gcore of {pid} failed (rc {res.rc}): {_service.command_record(res)['stderr'][-400:]}")
        os.chmod(core, 0o600)
        self.result["actions"].append(f"wrote a core of the listener {pid} with gcore (it kept running)")
        self.result["core"] = {"path": core, "size_bytes": os.path.getsize(core), "sha256": _crash.sha256_file(core)}
        exe = args[0] if args else self.ctx.sendmail
        if p["backtrace"]:
            bt = runner.run(["/usr/bin/mdb", exe, core], stdin=b"$C\n::quit\n", timeout=p["timeout"])
            text = bt.stdout.decode("utf-8", "replace") + bt.stderr.decode("utf-8", "replace")
            _crash.write_private(os.path.join(self.bundle, "backtrace.txt"), text.encode())
            self.result["backtrace"] = _crash.mdb_backtrace_summary(text)
        meta = metadata(self.ctx, self.result.get("core"), (pid, before, exe, " ".join(args)), proc, started)
        _crash.write_private(os.path.join(self.bundle, "metadata.json"), json.dumps(meta, indent=2).encode())
        if p["compress"]:
            gz = _crash.compress(core)
            self.result["core"].update(path=gz, compressed_bytes=os.path.getsize(gz))

    # -- both
    def finish(self, pid: int) -> dict:
        """List the bundle, apply retention, check the daemon afterwards: the result."""
        bundle = self.bundle
        self.result["bundle"] = bundle
        self.result["files"] = [
            {"path": os.path.join(bundle, n), "size_bytes": st.st_size, "mode": f"{st.st_mode & 0o7777:04o}"}
            for n in sorted(os.listdir(bundle))
            for st in [os.lstat(os.path.join(bundle, n))]
        ]
        self.result["actions"].append(f"wrote the bundle {bundle} ({len(self.result['files'])} files)")
        self.bundle = None
        self.retention()
        after = self.daemon()
        self.result["daemon"] = after
        if self.p["mode"] == "gcore" and not (after.get("running") and after.get("pid") == pid):
            raise ModuleError(
                f"after gcore the listener is {after.get('state')} (pid {after.get('pid')}), expected {pid} running",
                **self.result,
            )
        self.result["observations"].append(
            f"listener afterwards: {after.get('state')}" + (f", pid {after.get('pid')}" if after.get("pid") else "")
        )
        return self.result

    def retention(self) -> None:
        base = self.p["dir"]
        bundles = []
        for name in os.listdir(base):
            path = os.path.join(base, name)
            if _crash.BUNDLE_NAME.match(name) and os.path.isdir(path) and not os.path.islink(path):
                bundles.append((name, os.lstat(path).st_mtime))
        for name in _crash.to_delete(bundles, self.p["keep"]):
            _crash.remove_quietly(os.path.join(base, name))
            self.result["removed"].append(os.path.join(base, name))
        if self.result["removed"]:
            self.result["actions"].append(
                f"removed {len(self.result['removed'])} old bundle(s) (keep {self.p['keep']})"
            )


def read_core_limit(pid: int) -> tuple[int | None, int | None]:
    """The daemon's core size limit (soft, hard), read only: a guard changes nothing."""
    try:
        soft, hard = resource.prlimit(pid, resource.RLIMIT_CORE)
    except (OSError, AttributeError):
        return None, None
    return soft, hard


def space(path: str, needed: int) -> str | None:
    """Why *path*'s file system cannot take *needed* bytes (check mode: its nearest existing parent's), or None."""
    existing = path
    while not os.path.isdir(existing) and existing not in ("/", ""):
        existing = os.path.dirname(existing)  # check mode: the directory is not created yet
    try:
        return _crash.space_problem(path, _crash.free_bytes(existing), needed)
    except OSError as exc:
        return f"{path}: {exc.strerror}"


def metadata(ctx: HostContext, core: dict | None, process: tuple, proc: dict, started: float) -> dict:
    """metadata.json: the process (*process*: pid, the listener seen before, binary, command line), the binary's
    and the cf's identity and checksums, /proc maps and limits (*proc*), and the queue counts."""
    pid, before, exe, cmdline = process
    config = _collect.collect_config(ctx, check=False)
    queues = {}
    for kind in ("mta", "msp"):
        ids, problems = _queue.queue_ids(ctx.paths[f"{kind}_queue_dirs"])
        queues[kind] = {"count": len(ids), "problems": problems}
    return {
        "schema": "opsiface.sendmail/crash/v1",
        "mode": ctx.params["mode"],
        "captured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(started)),
        "hostname": socket.gethostname(),
        "pid": pid,
        "ppid": before.get("ppid"),
        "title": before.get("args"),
        "cmdline": cmdline,
        "binary": exe,
        "binary_sha256": _crash.sha256_file(exe),
        "version": config.get("version"),
        "compile_options": (config.get("identity") or {}).get("compile_options"),
        "config": ctx.params["config_path"],
        "config_sha256": config.get("sha256"),
        "core": core,
        "proc_maps": proc["maps"],
        "proc_limits": proc["limits"],
        "queues": queues,
    }
