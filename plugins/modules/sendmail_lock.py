#!/usr/bin/python
# Copyright: (c) 2026, opsiface.sendmail developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: sendmail_lock
short_description: Take or release a host's operation lease for an operation of several steps
version_added: 0.1.0
description:
  - Every module call that changes a sendmail host (stop, start, move aside, delete, hold, release, flush, crash
    capture, trace) holds the host's operation lock for the duration of the call. An operation of several calls, such
    as the role M(opsiface.sendmail.restart), holds the host across all of them with a lease - an owner token (its run
    id), the operation, the controller, since when and until when - that this module takes before the first step and
    releases after the last one (and in the rescue path); each step in between passes the same token as
    C(lock_owner) and renews the lease.
  - V(acquired) takes the lease when the host is free, renews it when O(owner) holds it already, and otherwise waits
    up to O(wait) seconds, then fails naming the operation that holds the host (its run, pid, controller and since when). A
    lease not renewed within its O(grace) is stale and is taken over. On the controller, the action plugin also
    takes over the lease of a run whose C(ansible-playbook) process is gone from this controller (a run killed mid-way
    leaves no lease to wait for), and records this controller's host name and process in the lease. (So the lease
    of an ad hoc C(ansible) call lasts only while that command runs, unless the call names its O(controller).)
  - V(released) drops the lease of O(owner). Another owner's lease is left alone and the result says whose it is.
    An operator may end the lease of a run that is known to be dead by naming its token (the message of a refused
    call shows it).
author:
  - opsiface.sendmail developers (@opsiface)
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
attributes:
  action:
    description: Runs on the controller first (an action plugin), then on the host.
    support: full
    details: The action plugin adds the controller's identity and detects a dead controller's lease.
  check_mode:
    support: full
    details: Check mode takes and releases nothing; it says who holds the host.
  diff_mode:
    support: none
  platform:
    support: full
    platforms: [debian, rhel, solaris]
options:
  state:
    description: Take (or renew) the lease, or release it.
    type: str
    choices: [acquired, released]
    default: acquired
  owner:
    description: The operation's token, the same for all of its steps (the restart role passes its run id).
    type: str
    required: true
  operation:
    description: What the operation is, for the message another operation gets (V(restart), V(crash_capture)...).
    type: str
    default: operation
  wait:
    description: Seconds to wait while another operation holds the host.
    type: float
    default: 30
  grace:
    description: Seconds the lease lasts after each step; a lease not renewed for that long is stale.
    type: float
    default: 600
  lock_dir:
    description: The lock's directory (root-only). Default C(/run/opsiface-sendmail), or C(/var/run/opsiface-sendmail).
    type: path
  controller:
    description: Who runs the operation (set by the action plugin; C(host), C(pid), C(start)).
    type: dict
  break_owner:
    description:
      - Take over the lease of this owner even though it has not expired (set by the action plugin when that run's
        controller process is gone).
    type: str
seealso:
  - module: opsiface.sendmail.sendmail_service
  - module: opsiface.sendmail.sendmail_queue
"""

EXAMPLES = r"""
- name: Hold the host for the whole restart
  opsiface.sendmail.sendmail_lock:
    owner: "{{ run_id }}"
    operation: restart
    wait: 120

- name: Release it (last step, and in the rescue path)
  opsiface.sendmail.sendmail_lock:
    state: released
    owner: "{{ run_id }}"
"""

RETURN = r"""
lease:
  description: The lease held (V(acquired)), or found (V(released)) - owner, operation, pid, controller, since, expires.
  returned: always
  type: dict
  sample: {owner: 20261127T110000Z-1f3a, operation: restart, since: 1795777200.0, expires: 1795777800.0}
released:
  description: For V(released), whether the lease of O(owner) was dropped.
  returned: when O(state=released)
  type: bool
busy:
  description: Another operation holds the host (the call failed after O(wait) seconds); RV(lease) is theirs.
  returned: when the lease could not be taken
  type: bool
observations:
  description: What was seen, one sentence each (a stale lease taken over, another owner's lease left alone).
  returned: always
  type: list
  elements: str
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.opsiface.sendmail.plugins.module_utils import _compileonce

_compileonce.install()  # first: under AnsiballZ the rest of module_utils then compiles once, not twice

from ansible_collections.opsiface.sendmail.plugins.module_utils import _args, _context, _oplock

SPEC = {
    "state": {"type": "str", "default": "acquired", "choices": ["acquired", "released"]},
    "owner": {"type": "str", "required": True},
    "operation": {"type": "str", "default": "operation"},
    "wait": {"type": "float", "default": _oplock.DEFAULT_WAIT},
    "grace": {"type": "float", "default": _oplock.DEFAULT_GRACE},
    "lock_dir": {"type": "path"},
    "controller": {"type": "dict"},
    "break_owner": {"type": "str"},
}


def main() -> None:
    module = AnsibleModule(argument_spec=SPEC, supports_check_mode=True)
    _context.run(module, _args.sendmail_lock, _oplock.lease)


if __name__ == "__main__":
    main()
