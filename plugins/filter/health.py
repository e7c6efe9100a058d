# Copyright: (c) 2026, opsiface.sendmail developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

# Documentation: sendmail_health.yml, sendmail_results.yml and sendmail_operation_results.yml beside this file.
# These filters take values, never variable names: the role that registered the results extracts them
# (docs/report-format.md, "Where the report's input comes from").
from ansible_collections.opsiface.sendmail.plugins.module_utils import _report


def _not_run(result: dict, escalate_on: str) -> dict | None:
    """The host's verdict when *result* (of sendmail_status, or of the delivery check) says its module never ran
    there: unreachable (no connection, a stopped container), or unknown (become failed); None if it ran."""
    if result.get("unreachable"):
        return _report.unreachable_result(str(result.get("msg") or "unreachable"))
    cause = _report.access_failure(str(result.get("msg") or "")) if result.get("failed") else None
    if cause and not result.get("checks"):
        return _report.access_result(cause, str(result.get("msg")), escalate_on)
    if result.get("failed") and not result.get("checks") and _report.never_ran(result):
        detail = str(result.get("module_stderr") or result.get("msg") or "").strip()
        return _report.unreachable_result(f"the check could not run on the host: {detail[:500]}")
    return None


def sendmail_health(status: dict, delivery: dict | None = None, escalate_on: str = "critical") -> dict:
    status = dict(status or {})
    if status.get("skipped"):
        status = {}
    not_run = _not_run(status, escalate_on)
    if not_run is not None:
        return not_run
    if delivery is None and isinstance(status.get("delivery"), dict):
        delivery = status["delivery"]  # sendmail_status's delivery area: the health check's one call per host
    if delivery is not None and (delivery.get("skipped") or not delivery):
        delivery = None
    # A delivery check that never reached the host (--tags delivery on a host that is down, or a host lost
    # after its status was read) is no delivery failure: the host could not be checked.
    not_run = _not_run(dict(delivery), escalate_on) if delivery is not None else None
    if not_run is not None and (not status or not_run["status"] == "unreachable"):
        return not_run
    if status.get("failed") and not status.get("checks"):
        result = _report.host_result({}, None, escalate_on)
        result.update(
            status="critical",
            escalate=_report.at_or_above("critical", escalate_on),
            reasons=[f"sendmail_status failed: {str(status.get('msg'))[:500]}"],
        )
        return result
    return _report.host_result(status, delivery, escalate_on)


def _error(message: str) -> Exception:
    from ansible.errors import AnsibleFilterError  # here: the verdict functions are unit-tested without ansible.errors

    return AnsibleFilterError(message)


def _aligned(hosts: list, values, name: str) -> list:
    values = list(values) if values is not None else [None] * len(hosts)
    if len(values) != len(hosts):
        raise _error(
            f"{name} has {len(values)} entries for {len(hosts)} hosts: pass one per host, in the hosts' order "
            "(none for a host the task did not run for)"
        )
    return values


def sendmail_results(
    hosts: list, statuses: list, deliveries: list | None = None, escalate_on: str = "critical"
) -> dict:
    """Every host of the play with its verdict, from the results registered for it (given as values, per host).

    Decided here, once, on the controller (not by a per-host task); a host with no results at all left
    the play before its check."""
    hosts = list(hosts)
    out = {}
    for host, status, delivery in zip(
        hosts, _aligned(hosts, statuses, "statuses"), _aligned(hosts, deliveries, "deliveries")
    ):
        if status is None and delivery is None:
            out[host] = _report.unreachable_result("the host left the play before its check")
        else:
            out[host] = sendmail_health(_plain(status) or {}, _plain(delivery), escalate_on)
    return out


def sendmail_operation_results(hosts: list, steps: list, escalate_on: str = "critical") -> dict:
    """Every host of *hosts* with the verdict of an operation, from its steps' results.

    *steps* is a list of [label, results], results one per host in the hosts' order (none where the step did
    not run for the host)."""
    hosts = list(hosts)
    columns = []
    for step in steps:
        if not isinstance(step, (list, tuple)) or len(step) != 2:
            raise _error(f"each step is [label, results per host], not {str(step)[:80]}")
        columns.append((str(step[0]), _aligned(hosts, step[1], f"step {step[0]}")))
    out = {}
    for i, host in enumerate(hosts):
        registered = [(label, _plain(values[i])) for label, values in columns]
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
