#!/usr/bin/python
# Copyright: (c) 2026, opsiface.sendmail developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: sendmail_service
short_description: Pre-flight, stop and start the sendmail daemon, verified
version_added: 0.1.0
description:
  - The runbook's Start/Stop step, with the checks an operator makes by hand before and after.
  - V(preflight) changes nothing. It checks that the configuration passes C(sendmail -bC) (for versions before 8.16,
    which have no C(-bC), C(sendmail -bt -d0.1) with any C(line N:) complaint counted as an error), that each queue
    directory exists, is owned by root, C(TrustedUser) or C(RunAsUser) and is not world-writable (the MTA's not
    group-writable either), and that the binary is present. It fails when any check fails and says which.
  - V(stopped) stops the daemon through the platform's service manager (Debian C(/etc/init.d/sendmail stop), RHEL
    C(systemctl stop sendmail), Solaris C(svcadm disable -st network/smtp:sendmail)) and waits until the listener
    process is gone. Only with O(force=true) does it then send TERM and, ten seconds later, KILL, each only after
    checking, right before the signal, that the PID still is the sendmail listener seen before (same start time,
    a sendmail binary, never PID 1 or the module's own process tree).
  - V(started) starts it the same way and waits for a listener that accepts connections and whose parent is init
    (O(expected_ppids)). A listener that runs already is left alone.
  - V(restarted) is V(preflight), V(stopped) and V(started) in one call; it touches nothing when the pre-flight
    fails. The role M(opsiface.sendmail.restart) adds the queue accounting and the SMTP gate around the same steps.
  - V(stopped), V(started) and V(restarted) hold the host's operation lock (see O(lock_owner)); the role
    M(opsiface.sendmail.restart) holds one lease over all of its steps.
author:
  - opsiface.sendmail developers (@opsiface)
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - opsiface.sendmail.common
  - opsiface.sendmail.lock
attributes:
  check_mode:
    support: full
    details: V(preflight) runs; stop and start report what they would do.
  diff_mode:
    support: none
  platform:
    support: full
    platforms: [debian, rhel, solaris]
options:
  state:
    description: What to do.
    type: str
    choices: [preflight, stopped, started, restarted]
    required: true
  timeout:
    description: Seconds to wait for the listener to go away after a stop, or to appear after a start.
    type: float
    default: 60
  force:
    description: When the listener outlives the service manager's stop by O(timeout) seconds, send TERM, then KILL.
    type: bool
    default: false
  stop_command:
    description: The command that stops sendmail, as a list. Default by platform family.
    type: list
    elements: str
  start_command:
    description: The command that starts sendmail, as a list. Default by platform family.
    type: list
    elements: str
  expected_ppids:
    description: Parent PIDs a started listener may have (init is 1; a service manager's own PID where it differs).
    type: list
    elements: int
    default: [1]
  after_stop:
    description:
      - Check mode only, for V(started). A stop earlier in the same run would have ended the running listener, so
        report the start that would follow instead of "already running".
    type: bool
    default: false
  pidfile:
    description: The daemon's PidFile. Default from O(config_path).
    type: path
seealso:
  - module: opsiface.sendmail.sendmail_status
  - module: opsiface.sendmail.sendmail_queue
"""

EXAMPLES = r"""
- name: Would a restart be safe?
  opsiface.sendmail.sendmail_service:
    state: preflight

- name: Stop sendmail, TERM/KILL if the init script does not manage it within 30 s
  opsiface.sendmail.sendmail_service:
    state: stopped
    timeout: 30
    force: true

- name: Start sendmail and wait for the listener
  opsiface.sendmail.sendmail_service:
    state: started
  register: started

- name: Restart in one step (pre-flight first; nothing is stopped when it fails)
  opsiface.sendmail.sendmail_service:
    state: restarted
"""

RETURN = r"""
preflight:
  description: The pre-flight checks (V(preflight), V(restarted)).
  returned: when the pre-flight ran
  type: dict
  contains:
    ok:
      description: Every check passed.
      type: bool
    problems:
      description: One sentence per failed check, naming the file and the value.
      type: list
      elements: str
    binary:
      description: The sendmail binary, its real path and whether it is present.
      type: dict
    config:
      description: The configuration check (command, rc, errors with line numbers), version and C($j).
      type: dict
    queue_dirs:
      description: Each queue directory with owner, mode and the problem found, if any.
      type: list
      elements: dict
  sample:
    ok: false
    problems: ["configuration check failed (/usr/sbin/sendmail -d0.1 -bC): line 112: unknown configuration line"]
daemon_before:
  description: The listener before the module acted (pid, ppid, state, args).
  returned: always
  type: dict
  sample: {pid: 71, ppid: 1, state: accepting, running: true}
daemon:
  description: The listener when the module finished.
  returned: always
  type: dict
new_pid:
  description: V(started) and V(restarted) - the listener's PID is not the one from before.
  returned: when a start was verified
  type: bool
actions:
  description: What the module did, one sentence each (or what it would do, in check mode).
  returned: always
  type: list
  elements: str
  sample: ["ran /etc/init.d/sendmail stop (rc 0)"]
observations:
  description: What it saw, one sentence each.
  returned: always
  type: list
  elements: str
  sample: ["the listener 71 is gone after 1.2 s"]
commands:
  description: The service manager commands run, with rc and the tail of their output.
  returned: always
  type: list
  elements: dict
"""

import grp
import os
import pwd
import time

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.opsiface.sendmail.plugins.module_utils import (
    _args,
    _collect,
    _config,
    _oplock,
    _platform,
    _runner,
    _service,
)


def _uid(name: str | None) -> int | None:
    if not name:
        return None
    user = name.split(":", 1)[0]
    if user.isdigit():
        return int(user)
    try:
        return pwd.getpwnam(user).pw_uid
    except KeyError:
        return None


def _stat(path: str) -> os.stat_result | None:
    try:
        return os.stat(path)
    except OSError:
        return None


def _owners(cf_path: str) -> set[int]:
    data, _unused = _collect.read_file(cf_path)
    cf = _config.parse_cf(data or b"")
    return {0} | {u for u in (_uid(cf.get("TrustedUser")), _uid(cf.get("RunAsUser"))) if u is not None}


def preflight(p: dict, layout, runner, sendmail: str, paths: dict) -> dict:
    real = os.path.realpath(sendmail)
    st = _stat(real)
    binary = {"path": sendmail, "realpath": real, "present": st is not None}
    binary_problem = _service.binary_problem(sendmail, st, st is not None and os.access(real, os.X_OK))
    config = _collect.collect_config(p["config_path"], sendmail, runner, p["command_timeout"], check=True)
    queue_dirs = []
    problems = []
    for kind, cf_path, group_ok in (("mta", p["config_path"], False), ("msp", p["submit_config_path"], True)):
        owners = _owners(cf_path)
        for path in paths[f"{kind}_queue_dirs"]:
            qst = _stat(path)
            problem = _service.queue_dir_problem(path, qst, owners, group_ok)
            entry = {"queue": kind, "path": path, "problem": problem}
            if qst is not None:
                entry.update(owner=_name(qst.st_uid), group=_group(qst.st_gid), mode=f"{qst.st_mode & 0o7777:04o}")
            queue_dirs.append(entry)
            if problem:
                problems.append(problem)
    if not paths["mta_queue_dirs"]:
        problems.append(f"{p['config_path']} names no QueueDirectory")
    verdict = _service.preflight_verdict(binary_problem, config.get("check") or {}, problems)
    config_summary = {k: config.get(k) for k in ("path", "exists", "sha256", "version", "hostname", "check")}
    return dict(verdict, binary=binary, config=config_summary, queue_dirs=queue_dirs)


def _name(uid: int) -> str:
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return str(uid)


def _group(gid: int) -> str:
    try:
        return grp.getgrgid(gid).gr_name
    except KeyError:
        return str(gid)


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "state": {"type": "str", "required": True, "choices": ["preflight", "stopped", "started", "restarted"]},
            "timeout": {"type": "float", "default": 60},
            "force": {"type": "bool", "default": False},
            "stop_command": {"type": "list", "elements": "str"},
            "start_command": {"type": "list", "elements": "str"},
            "expected_ppids": {"type": "list", "elements": "int", "default": [1]},
            "pidfile": {"type": "path"},
            "after_stop": {"type": "bool", "default": False},
            "config_path": {"type": "path", "default": "/etc/mail/sendmail.cf"},
            "submit_config_path": {"type": "path", "default": "/etc/mail/submit.cf"},
            "sendmail_path": {"type": "path"},
            "command_timeout": {"type": "float", "default": 30},
            **_oplock.ARGSPEC,
        },
        supports_check_mode=True,
    )
    _args.check(module, _args.sendmail_service)
    p = module.params
    state = p["state"]
    if state != "preflight":
        _oplock.Held(module, f"service {state}").attach()  # the host's operation lock, released as the module exits
    layout = _platform.detect()
    runner = _runner.SubprocessRunner()
    sendmail = p["sendmail_path"] or layout.sendmail
    paths = _collect.config_paths(p["config_path"], p["submit_config_path"], layout)
    pidfile = p["pidfile"] or paths["pidfile"]

    def read_daemon() -> dict:
        d = _collect.collect_daemon(pidfile, time.time(), runner)
        return {k: d.get(k) for k in ("running", "state", "pid", "ppid", "args", "pidfile_pid", "pidfile_problem")}

    before = read_daemon()
    result: dict = {"changed": False, "daemon_before": before, "actions": [], "observations": [], "commands": []}
    if state in ("preflight", "restarted"):
        result["preflight"] = preflight(p, layout, runner, sendmail, paths)
        pf = result["preflight"]
        result["observations"].append(
            f"pre-flight {'passed' if pf['ok'] else 'FAILED'}: {pf['config'].get('check', {}).get('command')} "
            f"rc {pf['config'].get('check', {}).get('rc')}, sendmail {pf['config'].get('version')}, "
            + ", ".join(f"{q['path']} {q.get('owner')}:{q.get('group')} {q.get('mode')}" for q in pf["queue_dirs"])
        )
        result["observations"].append(
            f"listener before: {before.get('state')}"
            + (f", pid {before.get('pid')}, PPID {before.get('ppid')}" if before.get("pid") else "")
        )
        if not pf["ok"]:
            result["daemon"] = before
            result["actions"].append("none: the pre-flight failed, so nothing was stopped or started")
            module.fail_json(msg="pre-flight failed: " + "; ".join(pf["problems"]), **result)
        if state == "preflight":
            result["daemon"] = before
            module.exit_json(**result)
    if state in ("stopped", "restarted"):
        target = _collect.verify_sendmail(before["pid"], runner)[0] if before.get("pid") else None
        step = _service.stop(
            runner,
            p["stop_command"] or layout.service_stop,
            before,
            p["timeout"],
            p["force"],
            module.check_mode,
            verify=lambda pid: _collect.verify_sendmail(pid, runner, before=target)[1],
        )
        _merge(result, step)
        if not step.ok:
            result["daemon"] = read_daemon()
            module.fail_json(msg=step.failure, **result)
    if state in ("started", "restarted"):
        step, after = _service.start(
            runner,
            p["start_command"] or layout.service_start,
            read_daemon,
            p["timeout"],
            module.check_mode,
            p["expected_ppids"],
            after_stop=p["after_stop"] or state == "restarted",
        )
        _merge(result, step)
        result["daemon"] = after or before
        if not module.check_mode:
            result["new_pid"] = after.get("pid") is not None and after.get("pid") != before.get("pid")
        if not step.ok:
            module.fail_json(msg=step.failure, **result)
    else:
        result["daemon"] = read_daemon() if not module.check_mode else before
    module.exit_json(**result)


def _merge(result: dict, step: _service.Step) -> None:
    result["changed"] = result["changed"] or step.changed
    result["actions"] += step.actions
    result["observations"] += step.observations
    result["commands"] += step.commands


if __name__ == "__main__":
    main()
