# Copyright: (c) 2026, opsiface.sendmail developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action of opsiface.sendmail.reachable (documentation: plugins/modules/reachable.py)."""

from __future__ import annotations

from ansible.plugins.action import ActionBase

MARKER = "opsiface-sendmail-reachable"
SPEC = {"check": {"type": "bool", "default": True}, "fail_msg": {"type": "str"}}


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _requires_connection = True

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        del tmp
        _validated, args = self.validate_argument_spec(argument_spec=SPEC)
        if args["check"]:
            # A connection that cannot reach the host raises (ssh, paramiko, winrm); Ansible then counts the host
            # unreachable itself. docker exec into a stopped container returns an error instead: the same fact.
            res = self._low_level_execute_command(f"echo {MARKER}", sudoable=False)
            if not (res.get("rc") == 0 and MARKER in str(res.get("stdout") or "")):
                detail = " ".join(str(res.get("stderr") or res.get("stdout") or "no output").split())[:500]
                result.update(
                    unreachable=True, changed=False, msg=f"the connection ran nothing (rc {res.get('rc')}): {detail}"
                )
                return result
        if args["fail_msg"] is not None:
            # the host's verdict fails it: one task per host does both, so that a fleet pays one task, not two
            result.update(failed=True, changed=False, msg=args["fail_msg"])
            return result
        result.update(changed=False, msg="reachable: a command ran on the host" if args["check"] else "nothing to do")
        return result
