#!/usr/bin/python
# Copyright: (c) 2026, opsiface.sendmail developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: reachable
short_description: Whether a command can run on the host at all; unreachable in Ansible's stats when not
version_added: 0.1.0
description:
  - Runs C(echo) through the host's connection, without become and without Python. When that fails the task
    result is unreachable, so that the PLAY RECAP, C(ansible-runner)'s stats (C(dark)) and AWX count the host
    as unreachable, whatever the connection plugin. An SSH connection that cannot connect raises, and Ansible
    marks the host unreachable itself; C(docker exec) into a stopped container returns an error, which
    this action turns into the same result.
  - The roles of this collection keep a host that cannot be reached in the play (C(ignore_unreachable)) so that
    the report names it, which counts it as ok in Ansible's stats. They end with this task on the hosts the
    report calls unreachable, so that Ansible's stats say the same as the report.
  - With O(fail_msg), a host that is reachable (or not checked, O(check=false)) fails with that message; the health
    check's last task both counts its unreachable hosts and fails the hosts whose verdict fails the run, one task
    per host instead of two.
  - An action plugin that runs on the controller; the host needs no Python for it.
author:
  - opsiface.sendmail developers (@opsiface)
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
attributes:
  check_mode:
    support: full
    details: Changes nothing; runs the same in check mode.
  diff_mode:
    support: none
  platform:
    support: full
    platforms: [posix]
options:
  check:
    description: Try the connection. V(false) skips it (a host the report saw answer, that only O(fail_msg) fails).
    type: bool
    default: true
  fail_msg:
    description: When the host is reachable (or not checked), fail the task with this message.
    type: str
seealso:
  - module: ansible.builtin.ping
"""

EXAMPLES = r"""
- name: Count the hosts the report calls unreachable as unreachable in Ansible's stats too
  opsiface.sendmail.reachable:
  when: report.statuses[inventory_hostname].status == 'unreachable'

- name: The same, and fail the hosts that are critical
  opsiface.sendmail.reachable:
    check: "{{ report.statuses[inventory_hostname].status == 'unreachable' }}"
    fail_msg: "{{ 'CRITICAL' if report.statuses[inventory_hostname].status == 'critical' else omit }}"
  when: report.statuses[inventory_hostname].status in ['unreachable', 'critical']
"""

RETURN = r"""
msg:
  description: What was found.
  returned: always
  type: str
  sample: "reachable: a command ran on the host"
unreachable:
  description: True when no command could run on the host.
  returned: when the host could not be reached
  type: bool
failed:
  description: True when O(fail_msg) was given and the host is reachable (or was not checked).
  returned: with O(fail_msg)
  type: bool
"""
