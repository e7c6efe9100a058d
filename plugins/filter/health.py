# Copyright: (c) 2026, opsiface.sendmail developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

# Documentation: sendmail_health.yml and sendmail_results.yml beside this file.
from ansible_collections.opsiface.sendmail.plugins.module_utils import _report


def sendmail_health(status: dict, delivery: dict | None = None, escalate_on: str = "critical") -> dict:
    status = dict(status or {})
    if status.get("skipped"):
        status = {}
    if status.get("unreachable"):
        return _report.unreachable_result(str(status.get("msg") or "unreachable"))
    cause = _report.access_failure(str(status.get("msg") or "")) if status.get("failed") else None
    if cause and not status.get("checks"):
        return _report.access_result(cause, str(status.get("msg")), escalate_on)
    if status.get("failed") and not status.get("checks") and _report.never_ran(status):
        detail = str(status.get("module_stderr") or status.get("msg") or "").strip()
        return _report.unreachable_result(f"the check could not run on the host: {detail[:500]}")
    if status.get("failed") and not status.get("checks"):
        result = _report.host_result({}, None, escalate_on)
        result.update(
            status="critical",
            escalate=_report.at_or_above("critical", escalate_on),
            reasons=[f"sendmail_status failed: {str(status.get('msg'))[:500]}"],
        )
        return result
    if delivery is not None and (delivery.get("skipped") or not delivery):
        delivery = None
    return _report.host_result(status, delivery, escalate_on)


def sendmail_results(hosts: list, hostvars, escalate_on: str = "critical") -> dict:
    """Every host of the play with its verdict, from its registered check results.

    Decided here, once, on the controller (not by a per-host task); a host with
    no results at all left the play before its check.
    """
    out = {}
    for host in hosts:
        facts = hostvars[host] if host in hostvars else {}
        status = facts.get("__health_check_status")
        delivery = facts.get("__health_check_delivery")
        if status is None and delivery is None:
            out[host] = _report.unreachable_result("the host left the play before its check")
        else:
            out[host] = sendmail_health(status or {}, delivery, escalate_on)
    return out


def sendmail_operation_results(hosts: list, hostvars, steps: list, escalate_on: str = "critical") -> dict:
    """Every host of *hosts* with the verdict of an operation, from its registered steps.

    *steps* is a list of [label, variable name]; a variable a host does not have is a step that did not run.
    """
    pairs = [(str(step[0]), str(step[1])) for step in steps]
    out = {}
    for host in hosts:
        facts = hostvars[host] if host in hostvars else {}
        registered = [(label, _plain(facts.get(var))) for label, var in pairs]
        if all(result is None for _key, result in registered):
            out[host] = _report.unreachable_result("the host left the play before its first step")
        else:
            out[host] = _report.operation_result(registered, escalate_on)
    return out


def _plain(value):
    return dict(value) if isinstance(value, dict) or hasattr(value, "keys") else None


class FilterModule:
    def filters(self):
        return {
            "sendmail_health": sendmail_health,
            "sendmail_results": sendmail_results,
            "sendmail_operation_results": sendmail_operation_results,
        }
