#!/usr/bin/python
# Copyright: (c) 2026, opsiface.sendmail developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: fleet_report
short_description: Write a run's fleet report (JSON, Markdown, HTML, JUnit) on the controller
version_added: 0.1.0
description:
  - Writes C(fleet.json), C(hosts/<host>.json), C(fleet.md), C(fleet.html) (self-contained, no external assets)
    and C(junit.xml) into O(report_dir), and, with O(latest_link), a C(latest-<operation>) symlink next to it
    (C(latest-healthcheck), C(latest-restart), ...) and, for the health check, C(latest), so that C(latest)
    always points at a directory with a C(fleet.md).
  - Files are 0600 and directories it creates 0700 (the report names hosts, addresses and log lines); directories
    that exist already are left as they are.
  - For the other operations (O(operation) V(restart), V(crash_capture), V(trace)) the same JSON shape goes to
    C(<operation>.json), C(<operation>.md), C(<operation>.html), C(<operation>-junit.xml) and
    C(hosts/<host>.<operation>.json), so that every operation can report into one directory.
  - Every call appends one line per host (run, operation, status, reasons, observations, actions) to
    C(journal.jsonl) in O(report_dir), the record of all observations and actions taken.
  - With O(merge=true), hosts already in the report of the same O(run_id) are kept, because a rolling operation
    (C(serial)) writes its report after each batch.
  - Meant to run once per play on the controller (C(run_once), C(delegate_to=localhost)); the role
    M(opsiface.sendmail.health_check) calls it.
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
    description: Inventory hostname to per-host object (from the P(opsiface.sendmail.sendmail_results#filter) filter).
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
      C(ansible-playbook) (the module runs on the controller).
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
"""

EXAMPLES = r"""
- name: Write the fleet report
  opsiface.sendmail.fleet_report:
    hosts: "{{ results }}"
    run_id: "{{ run_id }}"
    started: "{{ started }}"
    report_dir: ./reports/healthcheck-20261127T110000Z
  run_once: true
  delegate_to: localhost
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
  description: Counts of hosts by status, and C(total).
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
  description: Per host, its C(status) and C(reasons).
  returned: always
  type: dict
  sample: {mx01: {status: ok, reasons: []}, mx02: {status: critical, reasons: ["process: no sendmail listener is running"]}}
"""

import datetime
import json
import os
import re

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.opsiface.sendmail.plugins.module_utils import _args, _report, _safefile

SAFE_NAME = re.compile(r"[^A-Za-z0-9._-]")


def _makedirs_private(path: str) -> None:
    """Create the missing directories of *path* 0700 (existing ones are not changed)."""
    missing = []
    while path and not os.path.isdir(path):
        missing.append(path)
        path = os.path.dirname(path)
    for directory in reversed(missing):
        try:
            os.mkdir(directory, 0o700)
        except FileExistsError:
            pass


def _previous_hosts(dir_fd: int, name: str, run_id: str) -> dict:
    """The hosts of an earlier batch of the same run, if its report is there."""
    raw = _safefile.read_file(dir_fd, name)
    try:
        data = json.loads(raw.decode("utf-8")) if raw is not None else None
    except ValueError:
        return {}
    if not isinstance(data, dict) or data.get("run_id") != run_id or not isinstance(data.get("hosts"), dict):
        return {}
    return data["hosts"]


def _host_file(host: str, suffix: str) -> str:
    name = SAFE_NAME.sub("_", host)[:200] + suffix + ".json"
    return "_" + name if name.startswith(".") else name  # never hidden, never "." or ".."


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "hosts": {"type": "dict", "required": True},
            "run_id": {"type": "str", "required": True},
            "started": {"type": "str", "required": True},
            "report_dir": {"type": "path", "required": True},
            "latest_link": {"type": "bool", "default": False},
            "extra": {"type": "dict", "default": {}},
            "operation": {
                "type": "str",
                "default": "healthcheck",
                "choices": ["healthcheck", "restart", "crash_capture", "trace"],
            },
            "merge": {"type": "bool", "default": False},
            "all_hosts": {"type": "list", "elements": "str", "default": []},
        },
        supports_check_mode=True,
    )
    _args.check(module, _args.fleet_report)
    p = module.params
    finished = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    op = p["operation"]
    report_dir = os.path.abspath(p["report_dir"])  # relative to the controller's working directory
    names = ("fleet", "junit.xml", "") if op == "healthcheck" else (op, f"{op}-junit.xml", f".{op}")
    files = []
    dir_fd = hosts_fd = None
    try:
        # Opened once, never through a symlink, and checked to be ours and writable by no one else; every
        # file below is created relative to these descriptors (see _safefile).
        _makedirs_private(os.path.dirname(report_dir))
        dir_fd = _safefile.open_dir(report_dir, mode=0o700)
        hosts_fd = _safefile.open_dir("hosts", mode=0o700, parent_fd=dir_fd)
        hosts = dict(p["hosts"])
        if p["merge"]:
            hosts = dict(_previous_hosts(dir_fd, names[0] + ".json", p["run_id"]), **hosts)
        data = _report.fleet(hosts, p["run_id"], p["started"], finished, p["extra"], op)
        pending = [h for h in p["all_hosts"] if h not in hosts]
        if pending:
            data["pending"] = pending
        for host, result in data["hosts"].items():
            name = _host_file(host, names[2])
            _safefile.write_file(
                hosts_fd, name, json.dumps(dict(result, host=host), indent=2, sort_keys=True).encode(), 0o600
            )
            files.append(os.path.join(report_dir, "hosts", name))
        lines = []
        for host, result in sorted(p["hosts"].items()):
            entry = {"run_id": p["run_id"], "operation": op, "finished": finished, "host": host}
            entry.update({k: result.get(k) for k in ("status", "escalate", "reasons", "observations", "actions")})
            lines.append(json.dumps(entry, sort_keys=True) + "\n")
        _safefile.append_file(dir_fd, "journal.jsonl", "".join(lines).encode(), 0o600)
        files.append(os.path.join(report_dir, "journal.jsonl"))
        for name, text in (
            (names[0] + ".json", json.dumps(data, indent=2, sort_keys=False)),
            (names[0] + ".md", _report.render_markdown(data)),
            (names[0] + ".html", _report.render_html(data)),
            (names[1], _report.render_junit(data)),
        ):
            _safefile.write_file(dir_fd, name, text.encode(), 0o600)
            files.append(os.path.join(report_dir, name))
        if p["latest_link"]:
            parent_fd = os.open(os.path.dirname(report_dir), os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
            try:
                # one link per operation; "latest" only ever to a health check's (it has the fleet.md)
                _safefile.replace_symlink(parent_fd, f"latest-{op}", os.path.basename(report_dir))
                if op == "healthcheck":
                    _safefile.replace_symlink(parent_fd, "latest", os.path.basename(report_dir))
            finally:
                os.close(parent_fd)
    except _safefile.UnsafePath as exc:
        module.fail_json(msg=f"refusing to write the report in {report_dir}: {exc}", files=files)
    except OSError as exc:
        module.fail_json(msg=f"cannot write the report in {report_dir}: {exc.strerror}", files=files)
    finally:
        for fd in (hosts_fd, dir_fd):
            if fd is not None:
                os.close(fd)
    module.exit_json(
        changed=True,
        report_dir=os.path.abspath(report_dir),
        files=files,
        summary=data["summary"],
        escalate=data["escalate"],
        lines=_report.summary_lines(data),
        statuses={h: {"status": r["status"], "reasons": r["reasons"]} for h, r in data["hosts"].items()},
        pending=pending,
    )


if __name__ == "__main__":
    main()
