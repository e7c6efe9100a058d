#!/usr/bin/python
# Copyright: (c) 2026, opsiface.sendmail developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: sendmail_trace
short_description: Bounded trace and debug of sendmail - address verification, delivery transcripts, system calls
version_added: 0.1.0
description:
  - The runbook's Trace/Debug step, as operations that always end.
  - O(addresses) - C(sendmail -bv -- ADDRESS) for each address, one process each with O(command_timeout); returns
    the verdict and the mailer, host and user sendmail would use (or its complaint).
  - O(queue_ids) - one forced delivery attempt per message with the transcript (C(sendmail -v -qI<id>)), the
    runbook's "sendmail -v -q". This is a delivery attempt, so it is skipped in check mode.
  - O(syscalls=true) - a system-call trace of the listener (C(strace -f -tt), C(truss -f -d) on Solaris) into a
    0600 file in O(dir) (created 0700 without following symlinks), stopped after O(seconds) or at O(max_bytes),
    whichever comes first. The tracer detaches; the daemon keeps serving throughout.
author:
  - opsiface.sendmail developers (@opsiface)
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - opsiface.sendmail.common
  - opsiface.sendmail.lock
attributes:
  check_mode:
    support: full
    details: Address verification runs (it changes nothing); delivery attempts and the system-call trace do not.
  diff_mode:
    support: none
  platform:
    support: full
    platforms: [debian, rhel, solaris]
options:
  addresses:
    description: Addresses to verify (no leading C(-), no whitespace or control characters). At most 100.
    type: list
    elements: str
    default: []
  queue_ids:
    description: Messages to attempt delivery of, with the transcript. At most 100.
    type: list
    elements: str
    default: []
  queue:
    description: The queue of O(queue_ids).
    type: str
    choices: [mta, msp]
    default: mta
  syscalls:
    description: Trace the listener's system calls.
    type: bool
    default: false
  seconds:
    description: How long the system-call trace runs at most (1 to 600).
    type: float
    default: 10
  max_bytes:
    description: How large the trace file may grow; the trace stops there and the file is cut to this size.
    type: int
    default: 10485760
  dir:
    description:
      - Where trace files go. Created 0700 if missing; an existing directory is used only if it already is private
        (0700, owned by the module's user, not a symlink) and is never chmod'ed. Nothing is written outside it.
    type: path
    default: /var/lib/opsiface-sendmail/trace
  pid:
    description:
      - The process to trace. Default the listener.
      - It must be a sendmail process (its executable a sendmail binary, its title or name sendmail's), not PID 1 and
        not the module's own process tree, or the call is refused; it is checked again right before the tracer attaches.
    type: int
  pidfile:
    description: The daemon's PidFile. Default from O(config_path).
    type: path
seealso:
  - module: opsiface.sendmail.sendmail_queue
"""

EXAMPLES = r"""
- name: Where would mail for these addresses go?
  opsiface.sendmail.sendmail_trace:
    addresses: [root, postmaster, someone@example.org]
  register: verified

- name: Try one stuck message again and keep the SMTP transcript
  opsiface.sendmail.sendmail_trace:
    queue_ids: [6ARDNLH6000148]

- name: Five seconds of the listener's system calls, at most 1 MB
  opsiface.sendmail.sendmail_trace:
    syscalls: true
    seconds: 5
    max_bytes: 1048576
"""

RETURN = r"""
addresses:
  description: Per address the verdict (V(deliverable), V(undeliverable), V(error)) and targets with mailer, host, user.
  returned: always
  type: list
  elements: dict
  sample:
    - address: nobody@remote.example
      verdict: deliverable
      targets: [{mailer: relay, host: "[127.0.0.2]", user: nobody@remote.example, deliverable: true}]
deliveries:
  description: Per batch of O(queue_ids) the command, rc and the C(-v) transcript.
  returned: always
  type: list
  elements: dict
trace:
  description: The system-call trace - path, seconds, bytes, C(stopped_by) (V(seconds), V(max_bytes), V(exit)),
    truncated, and a summary (lines, system calls by name, errors).
  returned: when O(syscalls=true)
  type: dict
daemon:
  description: The listener after the trace (it keeps running).
  returned: always
  type: dict
actions:
  description: What was done, one sentence each.
  returned: always
  type: list
  elements: str
observations:
  description: What was seen, one sentence each.
  returned: always
  type: list
  elements: str
"""

import os
import time

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.opsiface.sendmail.plugins.module_utils import (
    _args,
    _collect,
    _crash,
    _oplock,
    _platform,
    _queueops,
    _runner,
    _service,
    _trace,
)


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "addresses": {"type": "list", "elements": "str", "default": []},
            "queue_ids": {"type": "list", "elements": "str", "default": []},
            "queue": {"type": "str", "default": "mta", "choices": ["mta", "msp"]},
            "syscalls": {"type": "bool", "default": False},
            "seconds": {"type": "float", "default": 10},
            "max_bytes": {"type": "int", "default": 10485760},
            "dir": {"type": "path", "default": "/var/lib/opsiface-sendmail/trace"},
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
    _args.check(module, _args.sendmail_trace)
    p = module.params
    result: dict = {"changed": False, "addresses": [], "deliveries": [], "actions": [], "observations": []}
    try:
        for address in p["addresses"]:
            _trace.check_address(address)
    except _trace.TraceError as exc:
        module.fail_json(msg=f"invalid argument: {exc}; nothing was done")
    if p["queue_ids"] or p["syscalls"]:  # a delivery attempt, or attaching to the daemon
        _oplock.Held(module, "trace").attach()  # the host's operation lock, released as the module exits
    layout = _platform.detect()
    runner = _runner.SubprocessRunner()
    sendmail = p["sendmail_path"] or layout.sendmail
    paths = _collect.config_paths(p["config_path"], p["submit_config_path"], layout)
    pidfile = p["pidfile"] or paths["pidfile"]

    for address in p["addresses"]:
        res = runner.run([sendmail, "-bv", "--", address], timeout=p["command_timeout"])
        if res.missing:
            module.fail_json(msg=f"{sendmail} not found", **result)
        verified = _trace.parse_bv(address, res.rc, res.stdout, res.stderr)
        verified["timed_out"] = res.timed_out
        result["addresses"].append(verified)
        where = ", ".join(
            f"{t['mailer']}" + (f" via {t['host']}" if t["host"] else "")
            for t in verified["targets"]
            if t["deliverable"]
        )
        result["observations"].append(
            f"sendmail -bv {address}: {verified['verdict']}"
            + (f" ({where})" if where else f" ({'; '.join(t['message'] for t in verified['targets'])})")
        )
    if p["queue_ids"]:
        if module.check_mode:
            result["actions"].append(
                f"would attempt delivery of {len(p['queue_ids'])} message(s) with -v (check mode: not attempted)"
            )
        else:
            runs = _queueops.flush(
                runner, sendmail, p["queue"], p["queue_ids"], True, p["command_timeout"], p["submit_config_path"]
            )
            result["deliveries"] = runs
            result["changed"] = True
            for run in runs:
                lines = [ln for ln in str(run.get("transcript") or "").split("\\n") if ln.strip()]
                result["observations"].append(
                    f"delivery attempt {', '.join(run.get('queue_ids') or [])}: rc {run.get('rc')}, "
                    + (lines[-1].strip() if lines else "no transcript")
                )
            result["actions"].append(
                f"attempted delivery of {len(p['queue_ids'])} message(s) from the {p['queue'].upper()} queue with "
                "sendmail -v -qI (transcript in deliveries)"
            )
    if p["syscalls"]:
        daemon = _collect.collect_daemon(pidfile, time.time(), runner)
        pid = p["pid"] or daemon.get("pid")
        if pid is None or not _service.pid_alive(pid):
            module.fail_json(msg=f"no sendmail listener to trace (state {daemon.get('state')})", **result)
        target, problem = _collect.verify_sendmail(pid, runner)
        if problem:
            module.fail_json(msg=f"refusing to trace pid {pid}: {problem}; nothing was done", **result)
        tool = runner.which("strace") or runner.which("truss")
        if tool is None:
            module.fail_json(msg="neither strace nor truss is installed", **result)
        if module.check_mode:
            result["actions"].append(
                f"would trace the system calls of {pid} with {tool} for {p['seconds']:.0f} s or "
                f"{p['max_bytes']} bytes (check mode: not traced)"
            )
        else:
            try:
                _crash.safe_dir(p["dir"])
            except (_crash.CrashError, OSError) as exc:
                module.fail_json(msg=f"trace directory: {exc}", **result)
            output = os.path.join(p["dir"], time.strftime("%Y%m%dT%H%M%SZ", time.gmtime()) + f"-{pid}.trace")
            problem = _collect.verify_sendmail(pid, runner, before=target)[1]
            if problem:  # right before attaching: still the process checked above
                module.fail_json(msg=f"not traced: {problem}", **result)
            run = _trace.bounded_trace(_trace.tracer_argv(tool, pid, output), output, p["seconds"], p["max_bytes"])
            with open(output, "rb") as fh:
                summary = _trace.summarize_syscalls(fh.read().decode("utf-8", "replace"))
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
                module.fail_json(msg=f"{tool} could not trace {pid}: {run.stderr}", **result)
    after = _collect.collect_daemon(pidfile, time.time(), runner)
    result["daemon"] = {k: after.get(k) for k in ("running", "state", "pid", "ppid")}
    module.exit_json(**result)


if __name__ == "__main__":
    main()
