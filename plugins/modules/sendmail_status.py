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
  - V(tls) in O(areas) has the same SMTP probe say STARTTLS when the server offers it, and checks the handshake and
    the days until the server certificate expires (O(tls_warn_days), O(tls_crit_days)). A server that does not offer
    STARTTLS is V(ok) with "does not offer STARTTLS" in the reason, or V(critical) with O(tls_required=true); when the
    probe fails before EHLO, whether STARTTLS is offered is not known (V(unknown)). With V(tls), a STARTTLS that fails
    loses the session, so the V(smtp) self-test of the same probe fails too.
  - Always names the host's MTA first (check C(mta)), from where the sendmail path resolves to, the strings in that
    binary, the daemon processes and the banner, without running anything; V(critical) when sendmail is not installed
    or the MTA is Postfix, Exim or OpenSMTPD. Another MTA's C(/usr/sbin/sendmail) is never run (Postfix's logs
    a fatal usage error for sendmail's options), and its 220 never passes the self-test.
  - As root, sendmail runs with C(-OLogLevel=0), so the checks leave nothing in the mail log. As another user no
    sendmail command runs (sendmail logs complaints and privilege warnings as that user). What cannot be done for
    lack of privilege (the configuration check, a queue or log the user may not read, who owns the port) is
    V(unknown) with a reason naming the file, its mode and owner, and the fix.
  - V(delivery) in O(areas) adds the runbook's Verify/Request in the same call, as
    M(opsiface.sendmail.smtp_probe) runs it with O(opsiface.sendmail.smtp_probe#module:send=true) and
    O(opsiface.sendmail.smtp_probe#module:verify_mailbox=true) - a tokened test message to O(delivery_rcpt), waited
    for in O(delivery_mailbox) for up to O(delivery_timeout) seconds and removed (exactly its bytes); test messages of
    earlier checks that arrived late are removed too. Without V(delivery) the module only reads.
  - Reports C(changed) only when the delivery check sent a test message or removed one from the mailbox.
author:
  - opsiface.sendmail developers (@opsiface)
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - opsiface.sendmail.common
attributes:
  check_mode:
    support: full
    details: Check mode runs every read-only check; the delivery check says what it would send and sends nothing.
  diff_mode:
    support: none
  platform:
    support: full
    platforms: [debian, rhel, solaris]
options:
  areas:
    description:
      - What to look at. V(queue) adds the O(opsiface.sendmail.sendmail_queue#module:operation=summary) result of both
        queues; V(smtp) adds the local SMTP self-test of M(opsiface.sendmail.smtp_probe); V(tls) adds STARTTLS and the
        certificate's days to expiry, from the same probe; V(delivery) sends a test message and waits for it (see the
        description).
    type: list
    elements: str
    choices: [process, config, syslog, queue, smtp, tls, delivery]
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
        time and memory stay bounded whatever the log's size. When the budget runs out inside a long run without
        newlines (a burst of NUL bytes after a crash, a binary write) the problem says so; NUL runs separate lines,
        and a line glued after binary garbage is still read (C(salvaged) in C(files)).
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
    description:
      - Where the queue cache lives (created 0700; files 0600). An existing directory that is not private (a symlink,
        another owner, group or other access) disables the cache and is left as it is.
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
  tls_warn_days:
    description: With V(tls) in O(areas), a server certificate that expires within this many days is a warning.
    type: int
    default: 30
  tls_crit_days:
    description: With V(tls) in O(areas), a server certificate that expires within this many days (or has) is critical.
    type: int
    default: 7
  tls_required:
    description: With V(tls) in O(areas), a server that does not offer STARTTLS is critical (else ok, and said so).
    type: bool
    default: false
  delivery_rcpt:
    description: With V(delivery) in O(areas), the local recipient of the test message (refused if not on this host).
    type: str
    default: root
  delivery_mailbox:
    description:
      - With V(delivery) in O(areas), the mbox the test message is delivered to, waited for and removed from.
      - One that is not a regular file this user may read and rewrite (a symlink, a directory, root's mbox without
        become) makes the delivery check V(unknown) before anything is sent.
    type: path
    default: /var/mail/root
  delivery_timeout:
    description:
      - With V(delivery) in O(areas), seconds to wait for the test message. Accepted and still queued after that is
        C(delivery_late) (slow mail); the next check removes it once it arrives.
    type: float
    default: 30
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

- name: STARTTLS and the certificate, critical without STARTTLS or within 14 days of expiry
  opsiface.sendmail.sendmail_status:
    areas: [tls]
    tls_required: true
    tls_crit_days: 14

- name: The health check and the runbook's Verify/Request (a test message to root, removed), in one round trip
  opsiface.sendmail.sendmail_status:
    areas: [process, config, syslog, queue, smtp, delivery]
    delivery_timeout: 60

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
  description:
    - Per area, C(status) (V(ok), V(warning), V(unknown), V(critical)) and a human C(reason); always C(mta).
    - V(unknown) is a check that could not be done (no privilege, a file that cannot be read, a command that timed out).
  returned: always
  type: dict
  sample:
    mta: {status: ok, reason: "/usr/sbin/sendmail (/usr/libexec/sendmail/sendmail) is sendmail", mta: sendmail}
    process: {status: ok, reason: "listener pid 71 (PPID 1) is accepting connections, up 3600 s"}
    config: {status: ok, reason: "/etc/mail/sendmail.cf passes /usr/sbin/sendmail -bC"}
    syslog: {status: ok, reason: "0 error(s), 0 warning(s) in the last 60 min"}
mta:
  description: Which MTA the host runs, and the evidence.
  returned: always
  type: dict
  contains:
    mta: {description: "V(sendmail), V(postfix), V(exim), V(opensmtpd), or null when none is found.", type: str}
    installed: {description: "Whether sendmail's binary (and configuration) are there.", type: bool}
    binary: {description: "The sendmail path looked at.", type: str}
    real_path: {description: "Where it resolves to (symlinks, alternatives).", type: str}
    binary_mta: {description: "The MTA that binary belongs to, from its name and strings.", type: str}
    daemons: {description: "The MTA daemons found in the process table (C(mta), C(pid), C(args)).", type: list, elements: dict}
    evidence: {description: "What was found, one sentence each.", type: list, elements: str}
  sample:
    mta: postfix
    installed: false
    binary: /usr/sbin/sendmail
    real_path: /usr/sbin/sendmail
    binary_mta: postfix
    evidence: ["/usr/sbin/sendmail is Postfix's", "/etc/mail/sendmail.cf exists"]
root:
  description: Whether the checks ran as root.
  returned: always
  type: bool
  sample: true
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
delivery:
  description:
    - With V(delivery) in O(areas), the delivery check's result as M(opsiface.sendmail.smtp_probe) returns it with
      O(opsiface.sendmail.smtp_probe#module:verify_mailbox=true) (C(success), C(failure), C(detail), C(queue_id),
      C(token), C(rcpt_to), C(mailbox), C(queue_entry), C(timings), C(changed)); when the check could not start (a
      recipient not on this host, a mailbox it could not read and rewrite), C(success=false), C(failure=error) and
      C(detail) saying why.
  returned: when V(delivery) is in O(areas)
  type: dict
  sample: {success: true, failure: null, queue_id: 6B1FhwkS000163, mailbox: {arrived: true, removed: true, waited_seconds: 0.4}}
tls:
  description:
    - With V(tls) in O(areas), what the probe saw of STARTTLS - C(offered) (null when the probe failed before EHLO),
      C(handshake), C(version), C(cipher), C(certificate) (C(subject), C(issuer), C(not_after), C(days_to_expiry);
      reported, not verified) or C(error), the C(port), and C(probe_failure) / C(probe_detail) when it is not known.
  returned: when V(tls) is in O(areas)
  type: dict
  sample: {offered: false, port: 25, probe_failure: null, probe_detail: null}
platform:
  description: The platform family whose defaults were used.
  returned: always
  type: str
  sample: Debian
python:
  description:
    - The managed host's Python that ran this module (C(ansible_python_interpreter) or the one Ansible discovered),
      as it reports itself. The modules run on Python 3.8 and newer.
  returned: always
  type: dict
  contains:
    version: {description: "As the function C(platform.python_version) gives it.", type: str}
    executable: {description: "C(sys.executable).", type: str}
  sample: {version: 3.9.18, executable: /usr/bin/python3}
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.opsiface.sendmail.plugins.module_utils import _compileonce

_compileonce.install()  # first: under AnsiballZ the rest of module_utils then compiles once, not twice

from ansible_collections.opsiface.sendmail.plugins.module_utils import _args, _collect, _context

AREAS = ["process", "config", "syslog", "queue", "smtp", "tls", "delivery"]
SPEC = {
    "areas": {"type": "list", "elements": "str", "default": ["process", "config", "syslog"], "choices": AREAS},
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
    "tls_warn_days": {"type": "int", "default": 30},
    "tls_crit_days": {"type": "int", "default": 7},
    "tls_required": {"type": "bool", "default": False},
    "delivery_rcpt": {"type": "str", "default": "root"},
    "delivery_mailbox": {"type": "path", "default": "/var/mail/root"},
    "delivery_timeout": {"type": "float", "default": 30},
}


def main() -> None:
    module = AnsibleModule(argument_spec=_context.argument_spec(SPEC), supports_check_mode=True)
    _context.run(module, _args.sendmail_status, _collect.host_status)


if __name__ == "__main__":
    main()
