#!/usr/bin/python
# Copyright: (c) 2026, opsiface.sendmail developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: sendmail_crash
short_description: Capture a core of the sendmail listener with its backtrace and metadata
version_added: 0.1.0
description:
  - The runbook's Crash Dump step. V(gcore) (the default) writes a core of the running listener with C(gcore) and
    detaches; the daemon keeps serving and is checked to be running, with the same PID, afterwards.
  - V(abort) sends SIGABRT (C(kill -6)) so that the kernel writes a core as the daemon exits. It needs
    O(confirm_abort=true), and leaves sendmail stopped; the role M(opsiface.sendmail.crash_capture) restarts it.
  - Guards come first and touch nothing - C(gcore)/C(gdb) present, ptrace allowed (Yama C(ptrace_scope),
    C(CAP_SYS_PTRACE) for a set-id daemon), for V(abort) a core the kernel will really write (C(core_pattern),
    C(fs.suid_dumpable), the core size limit), and free space on the dump file system of at least the process's
    virtual size times O(space_margin). A soft core size limit of 0 is raised with C(prlimit) only after every guard
    has passed, right before the SIGABRT, so a refused capture changes nothing.
  - The target (the listener, or O(pid)) must be a sendmail process - its executable a sendmail binary and its title
    or name sendmail's - never PID 1 or the module's own process tree; it is checked again, with its start time
    (a reused PID is refused), right before C(gcore), the SIGABRT, or a SIGCONT after gdb.
  - Each capture is a bundle directory C(<dir>/<UTC time>-<pid>/) (0700) with the core (0600, optionally gzipped),
    C(backtrace.txt) (C(gdb -batch) with C(bt) and C(thread apply all bt)) and C(metadata.json) (pid, arguments,
    binary, version and compile options from C(-d0.1), sha256 of the binary, of sendmail.cf and of the core,
    C(/proc) maps and limits, queue counts). O(dir) is created 0700 without following symlinks and never under a
    directory someone else may write; an existing O(dir) is used only if it already is a private (0700) directory
    owned by the module's user, and is never chmod'ed. A guard or dump that fails leaves no bundle behind.
  - Retention keeps the newest O(keep) bundles.
author:
  - opsiface.sendmail developers (@opsiface)
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - opsiface.sendmail.common
  - opsiface.sendmail.lock
attributes:
  check_mode:
    support: full
    details: The guards run and the result says what would be captured; nothing is written or signalled.
  diff_mode:
    support: none
  platform:
    support: full
    platforms: [debian, rhel, solaris]
    details:
      - Linux reads /proc and uses gdb's C(gcore) and C(gdb -batch); tested live on Debian.
      - Solaris / illumos uses the proc tools (C(gcore -o), C(pargs -a), C(pmap -x), C(plimit), C(ps -o vsz)) and
        C(mdb)'s C($C) for the backtrace, gcore mode only (where an abort's core goes is C(coreadm)'s); implemented
        from the tools' documented output and unit-tested against it, not run on a live Solaris host.
options:
  mode:
    description: V(gcore) keeps the daemon running; V(abort) kills it with SIGABRT for a kernel core.
    type: str
    choices: [gcore, abort]
    default: gcore
  confirm_abort:
    description: Must be V(true) for O(mode=abort).
    type: bool
    default: false
  dir:
    description: Where the bundles go.
    type: path
    default: /var/crash/sendmail
  keep:
    description: How many bundles to keep (the newest, 1 to 1000); older ones are removed after a successful capture.
    type: int
    default: 5
  compress:
    description: gzip the core inside the bundle.
    type: bool
    default: false
  space_margin:
    description: Free space needed on the dump file system, as a multiple of the process's virtual size (VmSize,
      an upper bound of the core).
    type: float
    default: 1.2
  backtrace:
    description: Write C(backtrace.txt) with gdb.
    type: bool
    default: true
  timeout:
    description: Seconds C(gcore), C(gdb), or the kernel writing an abort core may take.
    type: float
    default: 300
  pid:
    description:
      - The process to capture. Default the listener found through the PidFile and its process title.
      - It must be a sendmail process (not PID 1, not the module's own process tree), or the call is refused.
    type: int
  pidfile:
    description: The daemon's PidFile. Default from O(config_path).
    type: path
seealso:
  - module: opsiface.sendmail.sendmail_service
"""

EXAMPLES = r"""
- name: Core of the running listener, daemon keeps serving
  opsiface.sendmail.sendmail_crash:
  register: crash

- name: Core on exit, compressed, keep three bundles
  opsiface.sendmail.sendmail_crash:
    mode: abort
    confirm_abort: true
    compress: true
    keep: 3
"""

RETURN = r"""
bundle:
  description: The bundle directory on the host.
  returned: when a capture was made
  type: str
  sample: /var/crash/sendmail/20261127T134501Z-287
files:
  description: The files of the bundle, with size and mode.
  returned: when a capture was made
  type: list
  elements: dict
core:
  description: Path, size and sha256 of the core in the bundle.
  returned: when a capture was made
  type: dict
backtrace:
  description: Frames and the innermost functions of the listener's backtrace.
  returned: when O(backtrace=true) and a capture was made
  type: dict
  sample: {frames: 4, top: select, functions: [select, getrequests, main]}
guards:
  description: Each guard with its value and problem (none when it passed).
  returned: always
  type: dict
daemon_before:
  description: The listener before (pid, state).
  returned: always
  type: dict
daemon:
  description: The listener afterwards; for V(gcore) the same PID, running.
  returned: always
  type: dict
removed:
  description: Old bundles removed by retention.
  returned: always
  type: list
  elements: str
actions:
  description: What was done (or would be, in check mode), one sentence each.
  returned: always
  type: list
  elements: str
observations:
  description: What was seen, one sentence each.
  returned: always
  type: list
  elements: str
"""

import json
import os
import platform
import resource
import signal
import socket
import time

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.opsiface.sendmail.plugins.module_utils import (
    _args,
    _collect,
    _crash,
    _oplock,
    _platform,
    _queue,
    _runner,
    _service,
)


def _read(path: str, limit: int = 1 << 20) -> str:
    try:
        with open(path, "rb") as fh:
            return fh.read(limit).decode("utf-8", "replace")
    except OSError:
        return ""


def _int_file(path: str) -> int | None:
    text = _read(path, 64).strip()
    return int(text) if text.lstrip("-").isdigit() else None


class Capture:
    def __init__(self, module: AnsibleModule) -> None:
        self.module = module
        self.p = module.params
        self.layout = _platform.detect()
        self.runner = _runner.SubprocessRunner()
        self.sendmail = self.p["sendmail_path"] or self.layout.sendmail
        self.paths = _collect.config_paths(self.p["config_path"], self.p["submit_config_path"], self.layout)
        self.pidfile = self.p["pidfile"] or self.paths["pidfile"]
        self.result: dict = {"changed": False, "actions": [], "observations": [], "guards": {}, "removed": []}
        self.bundle: str | None = None
        self.target: dict | None = None
        self.core_owners: set[int] | None = None

    def daemon(self) -> dict:
        d = _collect.collect_daemon(self.pidfile, time.time(), self.runner)
        return {k: d.get(k) for k in ("running", "state", "pid", "ppid", "args")}

    def fail(self, msg: str) -> None:
        if self.bundle:
            _crash.remove_quietly(self.bundle)
            self.result["actions"].append(f"removed the incomplete bundle {self.bundle}")
            self.bundle = None
        self.result.setdefault("daemon", self.daemon())
        self.module.fail_json(msg=msg, **self.result)

    def guard(self, name: str, value, problem: str | None) -> None:
        self.result["guards"][name] = {"value": value, "problem": problem}

    def run(self) -> None:
        p = self.p
        _oplock.Held(self.module, f"crash capture ({p['mode']})").attach()  # held until the module exits
        if platform.system() == "SunOS":
            self.run_solaris()
        if platform.system() != "Linux":
            self.module.fail_json(
                msg=f"crash capture knows Linux and Solaris; on {platform.system()} run gcore by hand (nothing was done)",
                actions=["none: unsupported platform"],
            )
        before, pid = self.listener()
        target = _crash.parse_status(_read(f"/proc/{pid}/status"))
        self.core_owners = set((target.get("uids") or [0])[:2]) | {0}  # who the kernel writes the core as
        ours = _crash.parse_status(_read("/proc/self/status"))
        size = target.get("vmsize_bytes") or 0
        self.result["observations"].append(
            f"listener {pid} ({before.get('state')}), VmSize {size // 1048576} MiB, "
            f"{'set-id' if _crash.is_setid(target) else 'not set-id'}"
        )
        gdb = self.runner.which("gdb")
        gcore = self.runner.which("gcore")
        tools_problem = None
        if p["mode"] == "gcore" and not (gcore and gdb):
            tools_problem = "gcore/gdb not installed (Debian/RHEL package gdb)"
        self.guard("tools", {"gcore": gcore, "gdb": gdb}, tools_problem)
        if p["mode"] == "gcore" or (p["backtrace"] and gdb):
            scope = _int_file("/proc/sys/kernel/yama/ptrace_scope")
            self.guard("ptrace", {"ptrace_scope": scope}, _crash.ptrace_problem(scope, ours, target))
        core_glob = None
        if p["mode"] == "abort":
            self.guard(
                "confirm_abort",
                p["confirm_abort"],
                None if p["confirm_abort"] else "mode=abort needs confirm_abort=true",
            )
            pattern = _read("/proc/sys/kernel/core_pattern", 4096).strip() or "core"
            suid = _int_file("/proc/sys/fs/suid_dumpable")
            soft, hard = self.read_core_limit(pid)
            # the limit in effect once raised (after every guard passed: nothing changes while guards run)
            effective = hard if soft == 0 and hard is not None else soft
            problem = _crash.abort_problem(target, suid, pattern, effective)
            value = {"core_pattern": pattern, "suid_dumpable": suid, "core_limit": soft, "core_limit_hard": hard}
            self.guard("core", value, problem)
            if not problem:
                cwd = _safe_readlink(f"/proc/{pid}/cwd") or "/"  # gone meanwhile: the capture fails later, cleanly
                core_glob = _crash.core_glob(
                    pattern,
                    pid,
                    target.get("name") or "sendmail",
                    (target.get("uids") or [0])[0],
                    (target.get("gids") or [0])[0],
                    socket.gethostname(),
                    _int_file("/proc/sys/kernel/core_uses_pid") == 1,
                    cwd,
                )
                where = os.path.dirname(core_glob).replace("[*]", "*")
                need = int(size * p["space_margin"])
                self.guard("core_space", {"path": where, "needed": need}, self.space(where, need))
        self.dump_dir_guards(size)
        self.refuse_or_plan(
            before,
            f"would {'gcore' if p['mode'] == 'gcore' else 'send SIGABRT to'} the listener {pid} into a bundle under "
            f"{p['dir']} (check mode: nothing written or signalled)",
        )
        try:
            self.capture(pid, before, core_glob)
        except OSError as exc:
            self.after_gdb(pid, before)
            self.fail(f"the capture failed writing {exc.filename or self.bundle}: {exc.strerror}")

    def listener(self) -> tuple[dict, int]:
        """The listener before anything is done (or O(pid)); fails when there is none to capture."""
        before = self.daemon()
        self.result["daemon_before"] = before
        pid = self.p["pid"] or before.get("pid")
        if pid is None or not _service.pid_alive(pid):
            self.result["actions"].append("none: there is no listener to capture")
            self.fail(f"no sendmail listener is running (state {before.get('state')}); nothing to capture")
        self.target, problem = _collect.verify_sendmail(pid, self.runner)
        if problem:
            self.result["actions"].append("none: the target is not a sendmail process")
            self.fail(f"refusing to capture pid {pid}: {problem}; nothing was done")
        return before, pid

    def recheck(self, pid: int, what: str) -> str | None:
        """Right before acting on *pid*: still the sendmail process the guards saw (not a reused PID)."""
        _ident, problem = _collect.verify_sendmail(pid, self.runner, before=self.target)
        if problem:
            self.result["observations"].append(f"did not {what}: {problem}")
        return problem

    def dump_dir_guards(self, size: int) -> None:
        """The dump directory (made safely, or only checked in check mode) and the free space in it."""
        p = self.p
        try:
            _crash.safe_dir(p["dir"], create=not self.module.check_mode)
            dir_problem = None
        except (_crash.CrashError, OSError) as exc:
            dir_problem = str(exc)
        self.guard("dir", p["dir"], dir_problem)
        if not dir_problem:
            need = int(size * p["space_margin"]) * (2 if p["compress"] else 1)
            self.guard("space", {"path": p["dir"], "needed": need}, self.space(p["dir"], need))

    def refuse_or_plan(self, before: dict, plan: str) -> None:
        """Fail when any guard failed (the daemon untouched); in check mode, say what would be done and exit."""
        problems = [f"{k}: {g['problem']}" for k, g in self.result["guards"].items() if g["problem"]]
        if problems:
            self.result["actions"].append("none: a guard failed, so the daemon was not touched")
            self.fail("crash capture refused: " + "; ".join(problems))
        if self.module.check_mode:
            self.result["changed"] = True
            self.result["actions"].append(plan)
            self.result["daemon"] = before
            self.module.exit_json(**self.result)

    def run_solaris(self) -> None:
        """Solaris / illumos: the proc tools (gcore -o, pargs, pmap, plimit) and mdb's $C for the backtrace.

        Only gcore mode: where an abort's core goes, and what it holds, is coreadm's configuration.
        """
        p = self.p
        before, pid = self.listener()
        if p["mode"] == "abort":
            self.guard("mode", "abort", "abort on Solaris: coreadm decides where the core goes; use gcore mode")
        missing = [t for t in ("/usr/bin/gcore", "/usr/bin/mdb") if self.runner.which(t) is None]
        self.guard("tools", {"missing": missing}, f"not installed: {', '.join(missing)}" if missing else None)
        res = self.runner.run(_crash.solaris_argv("vsz", pid, ""), timeout=15)
        size = _crash.parse_vsz_kb(res.stdout.decode("utf-8", "replace")) or 0
        self.dump_dir_guards(size)
        self.refuse_or_plan(before, f"would gcore the listener {pid} into {p['dir']} (check mode)")
        started = time.time()
        try:
            self.bundle = _crash.new_bundle(p["dir"], pid, started)
            self.result["changed"] = True
            pargs = self.runner.run(_crash.solaris_argv("pargs", pid, ""), timeout=15)
            args = _crash.parse_pargs(pargs.stdout.decode("utf-8", "replace"))
            proc = {
                "maps": self.runner.run(_crash.solaris_argv("pmap", pid, ""), timeout=30).stdout.decode(
                    "utf-8", "replace"
                ),
                "limits": self.runner.run(_crash.solaris_argv("plimit", pid, ""), timeout=15).stdout.decode(
                    "utf-8", "replace"
                ),
            }
            res = self.runner.run(_crash.solaris_argv("gcore", pid, self.bundle), timeout=p["timeout"])
            core = os.path.join(self.bundle, f"core.{pid}")
            if not res.ok or not os.path.isfile(core):
                self.fail(f"gcore of {pid} failed (rc {res.rc}): {_service.command_record(res)['stderr'][-400:]}")
            os.chmod(core, 0o600)
            self.result["actions"].append(f"wrote a core of the listener {pid} with gcore (it kept running)")
            self.result["core"] = {
                "path": core,
                "size_bytes": os.path.getsize(core),
                "sha256": _crash.sha256_file(core),
            }
            exe = args[0] if args else self.sendmail
            if p["backtrace"]:
                bt = self.runner.run(["/usr/bin/mdb", exe, core], stdin=b"$C\n::quit\n", timeout=p["timeout"])
                text = bt.stdout.decode("utf-8", "replace") + bt.stderr.decode("utf-8", "replace")
                _crash.write_private(os.path.join(self.bundle, "backtrace.txt"), text.encode())
                self.result["backtrace"] = _crash.mdb_backtrace_summary(text)
            meta = self.metadata(pid, before, exe, " ".join(args), proc, started)
            _crash.write_private(os.path.join(self.bundle, "metadata.json"), json.dumps(meta, indent=2).encode())
            if p["compress"]:
                gz = _crash.compress(core)
                self.result["core"].update(path=gz, compressed_bytes=os.path.getsize(gz))
        except OSError as exc:
            self.fail(f"the capture failed writing {exc.filename or self.bundle}: {exc.strerror}")
        self.finish(pid, p["mode"])

    def finish(self, pid: int, mode: str) -> None:
        """List the bundle, apply retention, check the daemon afterwards, and exit."""
        self.result["bundle"] = self.bundle
        self.result["files"] = [
            {"path": os.path.join(self.bundle, n), "size_bytes": st.st_size, "mode": f"{st.st_mode & 0o7777:04o}"}
            for n in sorted(os.listdir(self.bundle))
            for st in [os.lstat(os.path.join(self.bundle, n))]
        ]
        self.result["actions"].append(f"wrote the bundle {self.bundle} ({len(self.result['files'])} files)")
        self.bundle = None
        self.retention()
        after = self.daemon()
        self.result["daemon"] = after
        if mode == "gcore" and not (after.get("running") and after.get("pid") == pid):
            self.module.fail_json(
                msg=f"after gcore the listener is {after.get('state')} (pid {after.get('pid')}), expected {pid} running",
                **self.result,
            )
        self.result["observations"].append(
            f"listener afterwards: {after.get('state')}" + (f", pid {after.get('pid')}" if after.get("pid") else "")
        )
        self.module.exit_json(**self.result)

    def read_core_limit(self, pid: int) -> tuple[int | None, int | None]:
        """The daemon's core size limit (soft, hard), read only: a guard changes nothing."""
        try:
            soft, hard = resource.prlimit(pid, resource.RLIMIT_CORE)
        except (OSError, AttributeError):
            return None, None
        return soft, hard

    def raise_core_limit(self, pid: int) -> None:
        """Raise a soft core limit of 0 to the hard limit: only once every guard has passed."""
        soft, hard = self.read_core_limit(pid)
        if soft != 0 or hard is None:
            return
        if self.recheck(pid, "raise the core size limit"):
            self.fail(f"pid {pid} is no longer the listener the guards checked; nothing was done")
        try:
            resource.prlimit(pid, resource.RLIMIT_CORE, (hard, hard))
        except OSError as exc:
            self.fail(f"could not raise the core size limit of {pid}: {exc.strerror}; nothing was done")
        self.result["actions"].append(f"raised the core size limit of {pid} to {'unlimited' if hard < 0 else hard}")

    def space(self, path: str, needed: int) -> str | None:
        existing = path
        while not os.path.isdir(existing) and existing not in ("/", ""):
            existing = os.path.dirname(existing)  # check mode: the directory is not created yet
        try:
            return _crash.space_problem(path, _crash.free_bytes(existing), needed)
        except OSError as exc:
            return f"{path}: {exc.strerror}"

    def capture(self, pid: int, before: dict, core_glob: str | None) -> None:
        p = self.p
        started = time.time()
        self.bundle = _crash.new_bundle(p["dir"], pid, started)
        self.result["changed"] = True
        core = os.path.join(self.bundle, f"core.{pid}")
        exe = _safe_readlink(f"/proc/{pid}/exe") or self.sendmail
        meta_proc = {"maps": _read(f"/proc/{pid}/maps", 256 * 1024), "limits": _read(f"/proc/{pid}/limits")}
        cmdline = _read(f"/proc/{pid}/cmdline", 4096).replace("\0", " ").strip()
        if p["mode"] == "gcore":
            if self.recheck(pid, "run gcore"):
                self.fail(f"pid {pid} is no longer the listener the guards checked; nothing was dumped")
            res = self.runner.run(
                [self.runner.which("gcore"), "-o", os.path.join(self.bundle, "core"), str(pid)], timeout=p["timeout"]
            )
            self.after_gdb(pid, before)
            if not res.ok or not os.path.isfile(core):
                detail = _service.command_record(res)
                self.result["gcore"] = detail
                self.fail(
                    f"gcore of {pid} failed (rc {res.rc}{', timed out' if res.timed_out else ''}): "
                    f"{detail['stderr'][-400:] or detail['stdout'][-400:]}"
                )
            os.chmod(core, 0o600)
            self.result["actions"].append(f"wrote a core of the listener {pid} with gcore (it kept running)")
        else:
            if self.recheck(pid, "send SIGABRT"):
                self.fail(f"pid {pid} is no longer the listener the guards checked; it was not signalled")
            self.raise_core_limit(pid)
            os.kill(pid, signal.SIGABRT)
            self.result["actions"].append(f"sent SIGABRT to the listener {pid} (confirmed abort)")
            gone = _service.wait_until(lambda: not _service.pid_alive(pid), p["timeout"])
            if gone is None:
                self.fail(f"the listener {pid} still runs {p['timeout']:.0f} s after SIGABRT")
            found = self.wait_core(core_glob, started)
            if found is None:
                self.fail(f"the listener {pid} exited but no core matching {core_glob} appeared")
            try:
                _crash.move_private(found, core)
            except OSError as exc:
                self.fail(f"could not move the core {found} into {self.bundle}: {exc.strerror}")
            self.result["actions"].append(f"moved the kernel's core {found} into the bundle")
        if os.path.getsize(core) == 0:
            self.fail(f"the core {core} is empty")
        self.result["core"] = {"path": core, "size_bytes": os.path.getsize(core), "sha256": _crash.sha256_file(core)}
        if p["backtrace"] and self.runner.which("gdb"):
            self.write_backtrace(exe, core)
        meta = self.metadata(pid, before, exe, cmdline, meta_proc, started)
        _crash.write_private(os.path.join(self.bundle, "metadata.json"), json.dumps(meta, indent=2).encode())
        if p["compress"]:
            try:
                gz = _crash.compress(core)
            except OSError as exc:
                self.fail(f"could not compress {core}: {exc.strerror}")
            self.result["core"].update(path=gz, compressed_bytes=os.path.getsize(gz))
        self.finish(pid, p["mode"])

    def after_gdb(self, pid: int, before: dict) -> None:
        """gdb detaches on exit; a listener left stopped (a killed gdb) is continued, and said so."""
        now = self.daemon()
        if now.get("pid") == pid and now.get("state") == "stopped" and before.get("state") != "stopped":
            if self.recheck(pid, "send SIGCONT"):
                return
            os.kill(pid, signal.SIGCONT)
            self.result["actions"].append(f"sent SIGCONT to the listener {pid}, left stopped by the debugger")

    def wait_core(self, glob: str | None, started: float) -> str | None:
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
        gdb = self.runner.which("gdb")
        argv = [gdb, "-batch", "-nx", "-ex", "set pagination off", "-ex", "bt", "-ex", "thread apply all bt", exe, core]
        res = self.runner.run(argv, timeout=self.p["timeout"])
        text = res.stdout.decode("utf-8", "replace") + res.stderr.decode("utf-8", "replace")
        _crash.write_private(os.path.join(self.bundle, "backtrace.txt"), text.encode())
        self.result["backtrace"] = _crash.backtrace_summary(res.stdout.decode("utf-8", "replace"))
        self.result["observations"].append(
            f"backtrace: {self.result['backtrace']['frames']} frame(s), innermost {self.result['backtrace']['top']}"
        )

    def metadata(self, pid: int, before: dict, exe: str, cmdline: str, proc: dict, started: float) -> dict:
        config = _collect.collect_config(
            self.p["config_path"], self.sendmail, self.runner, self.p["command_timeout"], False
        )
        queues = {}
        for kind in ("mta", "msp"):
            ids, problems = _queue.queue_ids(self.paths[f"{kind}_queue_dirs"])
            queues[kind] = {"count": len(ids), "problems": problems}
        return {
            "schema": "opsiface.sendmail/crash/v1",
            "mode": self.p["mode"],
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
            "config": self.p["config_path"],
            "config_sha256": config.get("sha256"),
            "core": self.result.get("core"),
            "proc_maps": proc["maps"],
            "proc_limits": proc["limits"],
            "queues": queues,
        }

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


def _safe_readlink(path: str) -> str | None:
    try:
        return os.readlink(path)
    except OSError:
        return None


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "mode": {"type": "str", "default": "gcore", "choices": ["gcore", "abort"]},
            "confirm_abort": {"type": "bool", "default": False},
            "dir": {"type": "path", "default": "/var/crash/sendmail"},
            "keep": {"type": "int", "default": 5},
            "compress": {"type": "bool", "default": False},
            "space_margin": {"type": "float", "default": 1.2},
            "backtrace": {"type": "bool", "default": True},
            "timeout": {"type": "float", "default": 300},
            "pid": {"type": "int"},
            "pidfile": {"type": "path"},
            "config_path": {"type": "path", "default": "/etc/mail/sendmail.cf"},
            "submit_config_path": {"type": "path", "default": "/etc/mail/submit.cf"},
            "sendmail_path": {"type": "path"},
            "command_timeout": {"type": "float", "default": 30},
            **_oplock.ARGSPEC,
        },
        supports_check_mode=True,
    )
    _args.check(module, _args.sendmail_crash)
    Capture(module).run()


if __name__ == "__main__":
    main()
