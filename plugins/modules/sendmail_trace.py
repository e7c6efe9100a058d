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
  description:
    - Per batch of O(queue_ids) the IDs, C(rc), C(timed_out) and the C(-v) transcript, as text (C(transcript)) and as
      lines (C(transcript_lines)).
  returned: always
  type: list
  elements: dict
  sample:
    - queue_ids: [6ARDNLH6000148]
      rc: 0
      timed_out: false
      transcript: "Running /var/spool/mqueue/qf6ARDNLH6000148 (sequence 1 of 1)\nConnecting to [127.0.0.2] port 2526..."
      transcript_lines: ["Running /var/spool/mqueue/qf6ARDNLH6000148 (sequence 1 of 1)", "Connecting to [127.0.0.2] port 2526..."]
trace:
  description: The system-call trace - path, seconds, bytes, C(stopped_by) (V(seconds), V(max_bytes), V(exit)),
    truncated, the tracer's C(stderr) (and C(stderr_lines)), and a summary (lines, system calls by name, errors).
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

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.opsiface.sendmail.plugins.module_utils import _compileonce

_compileonce.install()  # first: under AnsiballZ the rest of module_utils then compiles once, not twice

from ansible_collections.opsiface.sendmail.plugins.module_utils import _args, _context, _trace

SPEC = {
    "addresses": {"type": "list", "elements": "str", "default": []},
    "queue_ids": {"type": "list", "elements": "str", "default": []},
    "queue": {"type": "str", "default": "mta", "choices": ["mta", "msp"]},
    "syscalls": {"type": "bool", "default": False},
    "seconds": {"type": "float", "default": 10},
    "max_bytes": {"type": "int", "default": 10485760},
    "dir": {"type": "path", "default": "/var/lib/opsiface-sendmail/trace"},
    "pid": {"type": "int"},
    "pidfile": {"type": "path"},
}


def main() -> None:
    module = AnsibleModule(argument_spec=_context.argument_spec(SPEC, _context.LOCK_ARGS), supports_check_mode=True)
    _context.run(module, _args.sendmail_trace, _trace.run)


if __name__ == "__main__":
    main()
