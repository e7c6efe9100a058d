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
  description:
    - The service manager commands run, with C(argv), C(rc), C(timed_out) and the tail of their output as text
      (C(stdout), C(stderr)) and as lines (C(stdout_lines), C(stderr_lines)).
  returned: always
  type: list
  elements: dict
  sample:
    - argv: [/etc/init.d/sendmail, stop]
      rc: 0
      timed_out: false
      stdout: "Stopping Mail Transport Agent (MTA): sendmail."
      stdout_lines: ["Stopping Mail Transport Agent (MTA): sendmail."]
      stderr: ""
      stderr_lines: []
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.opsiface.sendmail.plugins.module_utils import _compileonce

_compileonce.install()  # first: under AnsiballZ the rest of module_utils then compiles once, not twice

from ansible_collections.opsiface.sendmail.plugins.module_utils import _args, _context, _service

SPEC = {
    "state": {"type": "str", "required": True, "choices": ["preflight", "stopped", "started", "restarted"]},
    "timeout": {"type": "float", "default": 60},
    "force": {"type": "bool", "default": False},
    "stop_command": {"type": "list", "elements": "str"},
    "start_command": {"type": "list", "elements": "str"},
    "expected_ppids": {"type": "list", "elements": "int", "default": [1]},
    "pidfile": {"type": "path"},
    "after_stop": {"type": "bool", "default": False},
}


def main() -> None:
    module = AnsibleModule(argument_spec=_context.argument_spec(SPEC, _context.LOCK_ARGS), supports_check_mode=True)
    _context.run(module, _args.sendmail_service, _service.service)


if __name__ == "__main__":
    main()
