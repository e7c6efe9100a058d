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
options: {}
seealso:
  - module: ansible.builtin.ping
"""

EXAMPLES = r"""
- name: Count the hosts the report calls unreachable as unreachable in Ansible's stats too
  opsiface.sendmail.reachable:
  when: report.statuses[inventory_hostname].status == 'unreachable'
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
"""
