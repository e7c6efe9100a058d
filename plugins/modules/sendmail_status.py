#!/usr/bin/python
# Copyright: (c) 2026, opsiface.sendmail developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: sendmail_status
short_description: The runbook's Fault status for one sendmail host, in one call
version_added: 0.1.0
description:
  - Finds the sendmail listener by its process title (V(accepting connections), V(rejecting connections ... load average))
    and PPID 1, and cross-checks it with the C(PidFile); lists the other sendmail processes (queue runners, MSP) apart.
  - Checks who listens on the daemon ports (from C(DaemonPortOptions)), and whether it is this daemon.
  - Reads the configuration, asks sendmail for its version and C($j) hostname (C(sendmail -d0.1 -bt)), and checks the
    configuration with C(sendmail -bC) (on versions without it, any C(line N:) complaint of C(-bt) is an error).
  - Scans the mail log backwards for the last O(since_minutes), counting errors and warnings by class, and reads
    rotated files only as far back as the window reaches. Uses journald when there is no log file.
  - With O(areas) it can also summarise the queues and run the SMTP self-test in the same call, so a health check
    costs one module round trip per host.
  - Read-only. Never reports C(changed).
author:
  - opsiface.sendmail developers (@opsiface)
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - opsiface.sendmail.common
attributes:
  check_mode:
    support: full
    details: Read-only; check mode runs every check.
  diff_mode:
    support: none
  platform:
    support: full
    platforms: [debian, rhel, solaris]
options:
  areas:
    description:
      - What to look at. V(queue) adds the O(opsiface.sendmail.sendmail_queue#module:operation=summary) result of both
        queues; V(smtp) adds the local SMTP self-test of M(opsiface.sendmail.smtp_probe).
    type: list
    elements: str
    choices: [process, config, syslog, queue, smtp]
    default: [process, config, syslog]
  pidfile:
    description: The daemon's PidFile. Default from C(O PidFile=) in O(config_path), else the platform's.
    type: path
  ports:
    description: Daemon ports to check. Default from C(DaemonPortOptions) in O(config_path) (MSA ports left out), else 25.
    type: list
    elements: int
  log_paths:
    description:
      - Mail logs to scan; the first that exists is read, with its rotations. Default by platform family
        (Debian C(/var/log/mail.log), RHEL C(/var/log/maillog), Solaris C(/var/log/syslog)).
    type: list
    elements: path
  since_minutes:
    description: How far back the log scan reaches.
    type: int
    default: 60
  syslog_max_bytes:
    description:
      - The most the log scan reads, newest first, across the log and its rotations. A log larger than that within
        the window is reported incomplete (C(complete=false), with a problem saying where it stopped), so the scan's
        time and memory stay bounded whatever the log's size.
    type: int
    default: 536870912
  max_lines:
    description: How many of the latest offending log lines to return (sanitised).
    type: int
    default: 10
  check_config:
    description: Run C(sendmail -bC) on the configuration.
    type: bool
    default: true
  max_zombie_children:
    description: Defunct children of the listener above this number make the process check a warning.
    type: int
    default: 5
  syslog_warn_errors:
    description: Error lines (SYSERR, disk, queue, config) in the window from which the syslog check warns.
    type: int
    default: 1
  syslog_crit_errors:
    description: Error lines in the window from which the syslog check is critical.
    type: int
    default: 10
  syslog_warn_warnings:
    description: Warning lines (deferred, bounced, timeouts, load) in the window from which the syslog check warns.
    type: int
    default: 50
  syslog_crit_warnings:
    description: Warning lines in the window from which the syslog check is critical.
    type: int
    default: 500
  queue_warn_count:
    description: With V(queue) in O(areas), messages in a queue from which it is a backlog (warning).
    type: int
    default: 500
  queue_crit_count:
    description: With V(queue) in O(areas), messages from which a queue is stuck (critical).
    type: int
    default: 5000
  queue_warn_age:
    description: With V(queue) in O(areas), age in seconds of the oldest message from which the queue warns.
    type: int
    default: 14400
  queue_crit_age:
    description: With V(queue) in O(areas), age in seconds of the oldest message from which the queue is critical.
    type: int
    default: 172800
  queue_cache:
    description:
      - With V(queue) in O(areas), keep what each complete qf file said, keyed by its name, inode, size and mtime, in
        O(queue_cache_dir), so the next run reads only files that changed (sendmail rewrites a qf through a new file and
        writes a new one in place). Not written in check mode. Queues over 150,000 messages are scanned without it, in
        flat memory.
    type: bool
    default: true
  queue_cache_dir:
    description: Where the queue cache lives (created 0700; files 0600; a symlink or foreign owner disables it).
    type: path
    default: /var/cache/opsiface-sendmail
  smtp_host:
    description: With V(smtp) in O(areas), where to connect.
    type: str
    default: 127.0.0.1
  smtp_port:
    description: With V(smtp) in O(areas), the port; default the first daemon port.
    type: int
  smtp_timeout:
    description: With V(smtp) in O(areas), the connect, banner and command timeout in seconds.
    type: float
    default: 10
  smtp_warn_banner_ms:
    description: With V(smtp) in O(areas), a banner slower than this many milliseconds is a warning.
    type: float
    default: 2000
seealso:
  - module: opsiface.sendmail.sendmail_queue
  - module: opsiface.sendmail.smtp_probe
"""

EXAMPLES = r"""
- name: Fault status of every mail host
  opsiface.sendmail.sendmail_status:
  register: status

- name: Escalate when the daemon is not accepting mail
  ansible.builtin.fail:
    msg: "{{ status.checks.process.reason }}"
  when: status.checks.process.status == 'critical'

- name: Everything the health check needs, in one round trip
  opsiface.sendmail.sendmail_status:
    areas: [process, config, syslog, queue, smtp]
    since_minutes: 30

- name: A Solaris host with its log in /var/adm/messages
  opsiface.sendmail.sendmail_status:
    sendmail_path: /usr/lib/sendmail
    log_paths: [/var/adm/messages]
"""

RETURN = r"""
status:
  description: The worst status of O(areas).
  returned: always
  type: str
  sample: ok
checks:
  description: Per area, C(status) (V(ok), V(warning), V(critical), V(unknown)) and a human C(reason).
  returned: always
  type: dict
  sample:
    process: {status: ok, reason: "listener pid 71 (PPID 1) is accepting connections, up 3600 s"}
    config: {status: ok, reason: "/etc/mail/sendmail.cf passes /usr/sbin/sendmail -bC"}
    syslog: {status: ok, reason: "0 error(s), 0 warning(s) in the last 60 min"}
daemon:
  description: The listener and the other sendmail processes.
  returned: when V(process) is in O(areas)
  type: dict
  contains:
    running: {description: "Whether a listener is accepting or load-rejecting connections.", type: bool}
    state: {description: "V(accepting), V(rejecting_load), V(stopped) (state T), V(zombie) or V(absent).", type: str}
    pid: {description: "The listener's pid.", type: int}
    ppid: {description: "Its parent (1 when started as the runbook says).", type: int}
    args: {description: "Its process title.", type: str}
    started: {description: "Start time, epoch seconds.", type: float}
    uptime_seconds: {description: "Seconds since it started.", type: int}
    children: {description: "Processes whose parent is the listener.", type: int}
    zombie_children: {description: "Of those, defunct ones.", type: int}
    pidfile: {description: "The PidFile read.", type: str}
    pidfile_pid: {description: "Line 1 of the PidFile.", type: int}
    pidfile_command: {description: "Line 2 of the PidFile.", type: str}
    pidfile_matches: {description: "Whether the PidFile names the listener.", type: bool}
    pidfile_problem: {description: "What is wrong with the PidFile (stale, missing, garbage).", type: str}
    listeners: {description: "Every process that looks like a listener.", type: list, elements: dict}
    others: {description: "Other sendmail processes with a C(role) (queue_runner, msp_queue_runner, zombie, other).", type: list, elements: dict}
  sample:
    running: true
    state: accepting
    pid: 71
    ppid: 1
    args: "sendmail: MTA: accepting connections"
    pidfile: /var/run/sendmail/mta/sendmail.pid
    pidfile_pid: 71
    pidfile_matches: true
listening:
  description: Who listens on the daemon ports.
  returned: when V(process) is in O(areas)
  type: dict
  sample: {ports: [25], listening: true, by_daemon: true, sockets: [{address: 0.0.0.0, port: 25, pid: 71, args: "sendmail: MTA: accepting connections"}]}
config:
  description: The configuration file, sendmail's identity and the C(-bC) verdict.
  returned: when V(config) is in O(areas)
  type: dict
  sample:
    path: /etc/mail/sendmail.cf
    exists: true
    sha256: 0f3c...
    version: 8.17.1.9
    hostname: mx01.lab.test
    check: {ok: true, rc: 0, errors: [], command: /usr/sbin/sendmail -bC}
syslog:
  description: The log scan. C(counts) by class, C(errors), C(warnings), C(syserr), C(offending) (latest lines, sanitised),
    C(last_activity) (epoch of the latest normal activity line), C(files) read and how much.
  returned: when V(syslog) is in O(areas)
  type: dict
  sample: {source: file, errors: 0, warnings: 2, counts: {deferred: 2, activity: 14}, probe_lines_ignored: 3}
queue:
  description: With V(queue) in O(areas), C(mta) and C(msp) summaries as returned by M(opsiface.sendmail.sendmail_queue).
  returned: when V(queue) is in O(areas)
  type: dict
smtp:
  description: With V(smtp) in O(areas), the probe result as returned by M(opsiface.sendmail.smtp_probe).
  returned: when V(smtp) is in O(areas)
  type: dict
platform:
  description: The platform family whose defaults were used.
  returned: always
  type: str
  sample: Debian
"""

import time

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.opsiface.sendmail.plugins.module_utils import _collect, _platform, _runner, _smtp, _verdict


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "areas": {
                "type": "list",
                "elements": "str",
                "default": ["process", "config", "syslog"],
                "choices": ["process", "config", "syslog", "queue", "smtp"],
            },
            "config_path": {"type": "path", "default": "/etc/mail/sendmail.cf"},
            "submit_config_path": {"type": "path", "default": "/etc/mail/submit.cf"},
            "sendmail_path": {"type": "path"},
            "command_timeout": {"type": "float", "default": 30},
            "pidfile": {"type": "path"},
            "ports": {"type": "list", "elements": "int"},
            "log_paths": {"type": "list", "elements": "path"},
            "since_minutes": {"type": "int", "default": 60},
            "syslog_max_bytes": {"type": "int", "default": 536870912},
            "max_lines": {"type": "int", "default": 10},
            "check_config": {"type": "bool", "default": True},
            "max_zombie_children": {"type": "int", "default": 5},
            "syslog_warn_errors": {"type": "int", "default": 1},
            "syslog_crit_errors": {"type": "int", "default": 10},
            "syslog_warn_warnings": {"type": "int", "default": 50},
            "syslog_crit_warnings": {"type": "int", "default": 500},
            "queue_warn_count": {"type": "int", "default": 500},
            "queue_crit_count": {"type": "int", "default": 5000},
            "queue_warn_age": {"type": "int", "default": 14400},
            "queue_crit_age": {"type": "int", "default": 172800},
            "queue_cache": {"type": "bool", "default": True},
            "queue_cache_dir": {"type": "path", "default": "/var/cache/opsiface-sendmail"},
            "smtp_host": {"type": "str", "default": "127.0.0.1"},
            "smtp_port": {"type": "int"},
            "smtp_timeout": {"type": "float", "default": 10},
            "smtp_warn_banner_ms": {"type": "float", "default": 2000},
        },
        supports_check_mode=True,
    )
    p = module.params
    now = time.time()
    layout = _platform.detect()
    runner = _runner.SubprocessRunner()
    sendmail = p["sendmail_path"] or layout.sendmail
    paths = _collect.config_paths(p["config_path"], p["submit_config_path"], layout)
    areas = p["areas"]
    result: dict = {"changed": False, "platform": layout.family, "checks": {}}

    if "process" in areas:
        daemon = _collect.collect_daemon(p["pidfile"] or paths["pidfile"], now, runner)
        listening = _collect.collect_listening(p["ports"] or paths["ports"], daemon.get("pid"))
        result["daemon"] = daemon
        result["listening"] = listening
        result["checks"]["process"] = _verdict.process_check(daemon, listening["sockets"], p["max_zombie_children"])
    if "config" in areas:
        result["config"] = _collect.collect_config(
            p["config_path"], sendmail, runner, p["command_timeout"], p["check_config"]
        )
        result["checks"]["config"] = _verdict.config_check(result["config"])
    if "syslog" in areas:
        result["syslog"] = _collect.collect_syslog(
            p["log_paths"] or layout.logs,
            p["since_minutes"],
            p["max_lines"],
            now,
            runner,
            max_bytes=p["syslog_max_bytes"],
        )
        result["checks"]["syslog"] = _verdict.syslog_check(
            result["syslog"],
            p["syslog_warn_errors"],
            p["syslog_crit_errors"],
            p["syslog_warn_warnings"],
            p["syslog_crit_warnings"],
            p["since_minutes"],
        )
    if "queue" in areas:
        thresholds = {
            "warn_count": p["queue_warn_count"],
            "crit_count": p["queue_crit_count"],
            "warn_age": p["queue_warn_age"],
            "crit_age": p["queue_crit_age"],
        }
        cache = {"dir": p["queue_cache_dir"] if p["queue_cache"] else None, "write": not module.check_mode}
        result["queue"], result["checks"]["queue"] = _collect.collect_queues(
            ["mta", "msp"], paths, now, runner, sendmail, thresholds, p["command_timeout"], cache
        )
    if "smtp" in areas:
        expect = (result.get("config") or {}).get("hostname")
        probe = _smtp.probe(
            host=p["smtp_host"],
            port=p["smtp_port"] or paths["ports"][0],
            connect_timeout=p["smtp_timeout"],
            banner_timeout=p["smtp_timeout"],
            command_timeout=p["smtp_timeout"],
            expect_hostname=expect,
        )
        result["smtp"] = probe.to_dict()
        result["checks"]["smtp"] = _verdict.smtp_check(result["smtp"], p["smtp_warn_banner_ms"])
    result["status"] = _verdict.worst([c["status"] for c in result["checks"].values()])
    module.exit_json(**result)


if __name__ == "__main__":
    main()
