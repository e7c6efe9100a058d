# Copyright: (c) 2026, opsiface.sendmail developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""sendmail_lock on the controller: record who runs the operation, and take over a dead run's lease.

The module runs on the managed host and cannot tell whether the controller that holds a lease
still runs. This action can, for a run of this same controller host: the lease records the
controller's host name, the ansible-playbook process (the parent of this worker) and its start
time; when the host is busy and that process is gone from here (a run killed mid-way), the
acquire is retried with break_owner, so the operator's next run does not wait for the lease to
expire. A lease of another controller host is never broken from here."""

from __future__ import annotations

import socket

from ansible.plugins.action import ActionBase
from ansible_collections.opsiface.sendmail.plugins.module_utils import _oplock

MODULE = "opsiface.sendmail.sendmail_lock"


class ActionModule(ActionBase):
    TRANSFERS_FILES = False

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        args = dict(self._task.args)
        check_mode = bool(self._task.check_mode or getattr(self._play_context, "check_mode", False))
        if args.get("state", "acquired") != "acquired" or check_mode:
            result.update(self._execute_module(module_name=MODULE, module_args=args, task_vars=task_vars))
            return result
        args.setdefault("controller", _oplock.controller_identity())
        got = self._execute_module(module_name=MODULE, module_args=dict(args, wait=0), task_vars=task_vars)
        if got.get("busy"):
            lease = got.get("lease") or {}
            if _oplock.controller_gone(lease.get("controller"), socket.gethostname()):
                args["break_owner"] = lease.get("owner")
            if args.get("break_owner") or float(args.get("wait", _oplock.DEFAULT_WAIT)) > 0:
                got = self._execute_module(module_name=MODULE, module_args=args, task_vars=task_vars)
        result.update(got)
        return result
