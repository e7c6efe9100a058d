# Copyright: (c) 2026, opsiface.sendmail developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action of opsiface.sendmail.fleet_report (documentation: plugins/modules/fleet_report.py).

Runs on the controller, in the controller's Python, as the user running Ansible: the report is the
controller's own file, rendered from the collection's Jinja2 templates (plugin_utils/templates), with no
module shipped anywhere. The work is plugin_utils/_fleet_report.run()."""

from __future__ import annotations

from ansible.plugins.action import ActionBase
from ansible_collections.opsiface.sendmail.plugins.plugin_utils import _fleet_report


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _requires_connection = False

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        del tmp
        result.update(_fleet_report.run(self._task.args))
        return result
