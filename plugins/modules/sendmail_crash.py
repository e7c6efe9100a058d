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

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.opsiface.sendmail.plugins.module_utils import _compileonce

_compileonce.install()  # first: under AnsiballZ the rest of module_utils then compiles once, not twice

from ansible_collections.opsiface.sendmail.plugins.module_utils import _args, _capture, _context

SPEC = {
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
}


def main() -> None:
    module = AnsibleModule(argument_spec=_context.argument_spec(SPEC, _context.LOCK_ARGS), supports_check_mode=True)
    _context.run(module, _args.sendmail_crash, _capture.run)


if __name__ == "__main__":
    main()
