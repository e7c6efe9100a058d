#!/usr/bin/python
# Copyright: (c) 2026, opsiface.sendmail developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: fleet_report
short_description: Write a run's fleet report (JSON, Markdown, HTML, JUnit, Prometheus metrics) on the controller
version_added: 0.1.0
description:
  - Writes C(fleet.json), C(hosts/<host>.json), C(fleet.md), C(fleet.html) (self-contained, no external assets)
    and C(junit.xml) into O(report_dir), and, with O(latest_link), a C(latest-<operation>) symlink next to it
    (C(latest-healthcheck), C(latest-restart), ...) and, for the health check, C(latest), so that C(latest)
    always points at a directory with a C(fleet.md). For the health check also C(fleet.prom), the Prometheus text
    exposition of every host's status and figures (docs/report-format.md, "Metrics").
  - This is an action plugin. It runs in the controller's Python as the user running Ansible, renders C(fleet.md) and
    C(fleet.html) from the collection's Jinja2 templates (C(plugins/plugin_utils/templates)), and ships no module to
    any host. The report describes the run; it is written in check mode too.
  - With O(history) (the health check), each host's earlier runs (from O(history), the hosts' facts, and from its
    file in O(history_dir)) give it C(previous), C(since), C(consecutive), C(state_type), C(flapping), C(trend)
    and C(changes), and the summary its C(new), C(recovered) and C(persisting) hosts; this run is added to each
    host's history (returned as RV(history) for the facts, and written to O(history_dir)), bounded to
    O(history_runs) runs and O(history_days) days. docs/report-format.md, "Across runs", states the rules.
  - Files are 0600 and directories it creates 0700 (the report names hosts, addresses and log lines); directories
    that exist already are left as they are.
  - For the other operations (O(operation) V(restart), V(crash_capture), V(trace)) the same JSON shape goes to
    C(<operation>.json), C(<operation>.md), C(<operation>.html), C(<operation>-junit.xml) and
    C(hosts/<host>.<operation>.json), so that every operation can report into one directory.
  - Every call appends one line per host (run, operation, status, reasons, observations, actions) to
    C(journal.jsonl) in O(report_dir), the record of all observations and actions taken.
  - With O(merge=true), hosts already in the report of the same O(run_id) are kept, because a rolling operation
    (C(serial)) writes its report after each batch.
  - Meant to run once per play (C(run_once)); the role M(opsiface.sendmail.health_check) calls it.
  - Files are written to a temporary name and renamed, so a reader never sees half a report.
  - O(report_dir) and its C(hosts/) directory must be directories of the controller user that no other user can
    write (an existing one owned by someone else, writable by group or others, or a symlink is refused, and nothing
    is written). Every file is created exclusively under an unpredictable temporary name, relative to the directory
    opened once; C(journal.jsonl) is appended without following a link and only if it is a plain file of ours; the
    C(latest) link is replaced atomically and never follows what is there.
author:
  - opsiface.sendmail developers (@opsiface)
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
attributes:
  check_mode:
    support: full
    details: The report describes the run, so it is written in check mode too; it changes no managed host.
  diff_mode:
    support: none
  platform:
    support: full
    platforms: [posix]
options:
  hosts:
    description:
      - Inventory hostname to per-host object (from the P(opsiface.sendmail.sendmail_results#filter) or
        P(opsiface.sendmail.sendmail_operation_results#filter) filter).
    type: dict
    required: true
  run_id:
    description: The run's identifier.
    type: str
    required: true
  started:
    description: When the run started (ISO 8601).
    type: str
    required: true
  report_dir:
    description: The directory to write; created if missing. A relative path is taken from the working directory of
      C(ansible-playbook).
    type: path
    required: true
  latest_link:
    description:
      - Point a C(latest-<operation>) symlink beside O(report_dir) at it, and for the health check C(latest) too.
    type: bool
    default: false
  extra:
    description: More top-level keys for C(fleet.json) (for example the play's options).
    type: dict
    default: {}
  operation:
    description: What the run did.
    type: str
    choices: [healthcheck, restart, crash_capture, trace]
    default: healthcheck
  merge:
    description: Keep the hosts of an existing report of the same O(run_id) (rolling runs, one call per batch).
    type: bool
    default: false
  all_hosts:
    description: Every host of the play; those not (yet) in the report are listed as C(pending).
    type: list
    elements: str
    default: []
  escalate_on:
    description:
      - The lowest status that is escalated. With O(history), only hard states are escalated (and a host that starts
        flapping, once).
    type: str
    choices: [warning, unknown, critical, never]
    default: critical
  history:
    description:
      - Health check only. Turns on the history fields. Inventory hostname to that host's stored history (the fact
        C(health_check_past_runs), or nothing); V({}) for none. Without it the report has no history fields.
    type: dict
  history_dir:
    description:
      - Where each host's history file (C(<host>.json), 0600, in a 0700 directory) is read and written; nothing
        when unset. A host's earlier runs are the union of its fact and its file (by run id).
    type: path
  history_record:
    description: Add this run to the histories (false for a run of only some checks, which is not comparable).
    type: bool
    default: true
  history_runs:
    description: Runs kept per host.
    type: int
    default: 12
  history_days:
    description: Runs older than this many days are dropped.
    type: float
    default: 7
  hard_after:
    description: A problem becomes a hard state on this many runs in a row (1 at once); soft states neither escalate
      nor fail the host.
    type: int
    default: 1
  flap_window:
    description: The last runs (this one included) judged for flapping.
    type: int
    default: 10
  flap_threshold:
    description:
      - A host flaps when its status changed in more than this share of the O(flap_window) - 1 transitions of its
        last O(flap_window) runs, and stops when the share falls to half of it.
    type: float
    default: 0.3
  queue_horizon:
    description:
      - Hours. A queue that grows at a rate that would reach O(queue_crit_count) within this many hours warns before
        it reaches the count thresholds; V(0) turns that off.
    type: float
    default: 4
  queue_crit_count:
    description: The count at which a queue is critical (the health check's C(health_check_queue_crit_count)).
    type: int
    default: 5000
  pushgateway_url:
    description:
      - Push the health check's metrics to this Prometheus Pushgateway, for example C(http://host:9091). Each host's series go to
        the group C(job=<pushgateway_job>, host=<host>), the run's to C(job=<pushgateway_job>). A push that fails
        warns; the report is written either way.
    type: str
  pushgateway_job:
    description: The C(job) of the pushed groups.
    type: str
    default: sendmail_healthcheck
  pushgateway_timeout:
    description: Seconds each push may take.
    type: float
    default: 10
"""

EXAMPLES = r"""
- name: Write the fleet report
  opsiface.sendmail.fleet_report:
    hosts: "{{ results }}"
    run_id: "{{ run_id }}"
    started: "{{ started }}"
    report_dir: ./reports/healthcheck-20261127T110000Z
  run_once: true

- name: Write the health check's report with each host's history (beside the reports and in the fact cache)
  opsiface.sendmail.fleet_report:
    hosts: "{{ results }}"
    run_id: "{{ run_id }}"
    started: "{{ started }}"
    report_dir: ./reports/healthcheck-20261127T110000Z
    history: "{{ dict(ansible_play_hosts_all | zip(ansible_play_hosts_all | map('extract', hostvars, 'health_check_past_runs') | map('default', none))) }}"
    history_dir: ./reports/history
    hard_after: 2
  register: report
  run_once: true
"""

RETURN = r"""
report_dir:
  description: Where the report is.
  returned: always
  type: str
files:
  description: The files written.
  returned: always
  type: list
  elements: str
summary:
  description: Counts of hosts by status, and C(total) (the report's summary also lists RV(new), RV(recovered) and
    RV(persisting)).
  returned: always
  type: dict
  sample: {total: 3, ok: 1, warning: 1, critical: 1, unreachable: 0}
escalate:
  description: Hosts to escalate.
  returned: always
  type: list
  elements: str
lines:
  description: A short fleet summary, one line per non-ok host.
  returned: always
  type: list
  elements: str
pending:
  description: Hosts of O(all_hosts) that are not in the report.
  returned: always
  type: list
  elements: str
statuses:
  description: Per host, its C(status), C(reasons), C(escalate) and, with O(history), C(state_type).
  returned: always
  type: dict
  sample: {mx01: {status: ok, reasons: [], escalate: false}, mx02: {status: critical, escalate: true, reasons: ["process: no sendmail listener is running"]}}
new:
  description: With O(history), the hosts that got worse (a hard state worse than before, or a host that started flapping).
  returned: always
  type: list
  elements: str
recovered:
  description: With O(history), the hosts back to ok after a hard problem.
  returned: always
  type: list
  elements: str
persisting:
  description: With O(history), the hosts not ok now and in the run before, and not new.
  returned: always
  type: list
  elements: str
history:
  description: With O(history) and O(history_record), each host's history to keep (for the fact C(health_check_past_runs)).
  returned: always
  type: dict
history_dir:
  description: Where the history files were read and written, or null.
  returned: always
  type: str
pushgateway:
  description: With O(pushgateway_url), the push (C(url), C(groups), C(pushed), C(errors)).
  returned: when pushed
  type: dict
"""
