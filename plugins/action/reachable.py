# Copyright: (c) 2026, opsiface.sendmail developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action of opsiface.sendmail.reachable (documentation: plugins/modules/reachable.py)."""

from __future__ import annotations

from ansible.plugins.action import ActionBase

MARKER = "opsiface-sendmail-reachable"


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _requires_connection = True

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        del tmp
        # A connection that cannot reach the host raises (ssh, paramiko, winrm); Ansible then counts the host
        # unreachable itself. docker exec into a stopped container returns an error instead: the same fact.
        res = self._low_level_execute_command(f"echo {MARKER}", sudoable=False)
        if res.get("rc") == 0 and MARKER in str(res.get("stdout") or ""):
            result.update(changed=False, msg="reachable: a command ran on the host")
            return result
        detail = " ".join(str(res.get("stderr") or res.get("stdout") or "no output").split())[:500]
        result.update(unreachable=True, changed=False, msg=f"the connection ran nothing (rc {res.get('rc')}): {detail}")
        return result
