#!/usr/bin/python
# Copyright: (c) 2026, opsiface.sendmail developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: sendmail_queue
short_description: Read and act on sendmail's MTA and MSP queues without losing a message
version_added: 0.1.0
description:
  - V(summary) reads every qf file of both queues directly (C(qd*) multi-directories and C(qf/df/xf) subdirectories
    included) without taking locks, and returns counts, age, attempts, recipient domains, deferral reasons,
    quarantined messages, anomalies and a verdict. It falls back to C(mailq) output if a directory cannot be read.
  - V(list) returns the messages that match the selection filters.
  - V(flush) makes one delivery attempt for the selection with sendmail's own C(-qI) (the runbook's
    C(sendmail -v -M) / "force a delivery attempt").
  - V(hold) and V(release) quarantine and release the selection with C(-Q).
  - V(delete) removes only messages that sendmail does not hold locked (it takes the same lock), moving their files
    to a dated root-only trash directory unless O(purge=true).
  - V(move_aside) is the runbook's "moved out of the way while sendmail is stopped". It refuses while a daemon
    runs, and takes every queue directory of the queue out of service (all of C(QueueDirectory=.../q*) and the queue
    groups' directories). Each one's messages move into C(<dir>.aside-<time>) beside it, or C(<dir>/.aside-<time>)
    inside it when it is a mount point or when sendmail would serve the name beside it, with the queue directory's
    owner, group, mode and C(qf/df/xf) subdirectories, so C(sendmail -oQ<aside dir> -q) can run them later.
  - V(move_aside) moves each message under sendmail's own lock on its control file. A message another process holds
    locked (a queue runner delivering it) stays in the queue and is named with that process; moving it would have
    it delivered twice. The data file is linked into the aside directory before the control file is renamed and
    only then removed from the queue, so an interruption at any point never leaves a control file without its data
    file in either directory.
  - V(ids) returns the queue IDs of both queues (names only, no file is read), which is what a restart records
    before it stops anything.
  - V(account) is the restart's "nothing lost" gate. Each ID of O(expected_ids) must be in a queue again, in one of
    O(aside_dirs), or logged in the mail log since O(since) as sent or bounced; the module fails and names the others.
  - Every mutating operation plans first; in check mode it returns the same result shape and changes nothing.
  - V(flush), V(hold), V(release), V(delete) and V(move_aside) hold the host's operation lock (see O(lock_owner)); they
    wait for, or refuse beside, another operation on the host such as a restart.
author:
  - opsiface.sendmail developers (@opsiface)
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - opsiface.sendmail.common
  - opsiface.sendmail.lock
attributes:
  check_mode:
    support: full
  diff_mode:
    support: full
    details: The queue IDs of the selection before and after.
  platform:
    support: full
    platforms: [debian, rhel, solaris]
options:
  operation:
    description: What to do.
    type: str
    choices: [summary, list, flush, hold, release, delete, move_aside, ids, account]
    default: summary
  queue:
    description:
      - Which queue. V(both) is allowed for V(summary) and V(list) only.
    type: str
    choices: [mta, msp, both]
    default: both
  queue_ids:
    description: Select these queue IDs (8 to 20 letters and digits each).
    type: list
    elements: str
  recipient_domain:
    description: Select messages with a recipient in this domain.
    type: str
  sender:
    description: Select messages whose envelope sender contains this text.
    type: str
  older_than:
    description: Select messages queued at least this many seconds ago (from the qf C(T) line); 1 or more.
    type: int
  limit:
    description:
      - V(list) returns at most this many messages; the mutating operations refuse a larger selection. 1 to 1000000.
    type: int
    default: 1000
  verbose:
    description: V(flush) returns sendmail's delivery transcript (C(-v)).
    type: bool
    default: false
  reason:
    description: The quarantine reason for V(hold); at most 512 characters, no control characters.
    type: str
    default: held by opsiface.sendmail
  purge:
    description: V(delete) unlinks the files instead of moving them to O(trash_dir).
    type: bool
    default: false
  trash_dir:
    description:
      - Where V(delete) moves messages (a dated 0700 subdirectory per run). Created 0700 if missing; an existing one is
        used only if it already is private (0700, owned by the module's user, not a symlink) and is never chmod'ed.
    type: path
    default: /var/spool/opsiface-sendmail/trash
  warn_count:
    description: V(summary) messages from which a queue is a backlog (warning).
    type: int
    default: 500
  crit_count:
    description: V(summary) messages from which a queue is stuck (critical).
    type: int
    default: 5000
  warn_age:
    description: V(summary) age in seconds of the oldest message from which a queue warns.
    type: int
    default: 14400
  crit_age:
    description: V(summary) age in seconds of the oldest message from which a queue is critical.
    type: int
    default: 172800
  pidfile:
    description: The daemon's PidFile, for V(move_aside)'s is-it-running check. Default from O(config_path).
    type: path
  cache:
    description:
      - V(summary) keeps what each complete qf file said, keyed by its name, inode, size and mtime, in O(cache_dir), so
        the next summary reads only files that changed (sendmail rewrites a qf through a new file and writes a new one
        in place). Not written in check mode. Queues over 150,000 messages are scanned without it, in flat memory.
    type: bool
    default: true
  after_stop:
    description:
      - Check mode only, for V(move_aside). A stop earlier in the same run would have ended the daemon, so plan the
        move instead of refusing because the daemon runs now.
    type: bool
    default: false
  expected_ids:
    description:
      - For V(account), the IDs recorded before, per queue (the RV(ids) of an earlier V(ids) call).
    type: dict
  aside_dirs:
    description: For V(account), queue directories moved aside since (RV(moved) C(aside_dirs)).
    type: list
    elements: path
    default: []
  since:
    description: For V(account), the Unix time the IDs were recorded; mail log lines from then on are read.
    type: float
  moved_at:
    description:
      - For V(account), when the queue was moved aside (RV(moved) C(started_at)); default O(since). A message moved
        aside that the mail log shows as sent from then on, or that is also still queued, was taken from a process
        still working on it (running the aside directory would deliver it twice). The module fails and names it.
    type: float
  log_paths:
    description: For V(account), the mail logs to read, first existing one wins. Default by platform family.
    type: list
    elements: path
  cache_dir:
    description:
      - Where the summary cache lives (created 0700, files 0600). An existing directory that is not private (a symlink,
        another owner, group or other access) disables the cache and is left as it is.
    type: path
    default: /var/cache/opsiface-sendmail
seealso:
  - module: opsiface.sendmail.sendmail_status
"""

EXAMPLES = r"""
- name: How are the queues?
  opsiface.sendmail.sendmail_queue:
  register: q

- name: What is stuck for example.org for more than a day?
  opsiface.sendmail.sendmail_queue:
    operation: list
    recipient_domain: example.org
    older_than: 86400

- name: Force a delivery attempt for two messages, with the transcript
  opsiface.sendmail.sendmail_queue:
    operation: flush
    queue: mta
    queue_ids: [6ARAq0Rk000143, 6ARAq0Rl000143]
    verbose: true

- name: Quarantine everything for a domain that is being abused
  opsiface.sendmail.sendmail_queue:
    operation: hold
    queue: mta
    recipient_domain: spam.example
    reason: abuse ticket 4711

- name: Record the queue IDs before a restart
  opsiface.sendmail.sendmail_queue:
    operation: ids
  register: before

- name: Afterwards, every message is still there, moved aside or delivered
  opsiface.sendmail.sendmail_queue:
    operation: account
    expected_ids: "{{ before.ids }}"
    since: "{{ before.recorded_at }}"

- name: Move the queue aside (sendmail must be stopped)
  opsiface.sendmail.sendmail_queue:
    operation: move_aside
    queue: mta
"""

RETURN = r"""
queues:
  description: For V(summary), per queue (C(mta), C(msp)) the summary.
  returned: when O(operation=summary)
  type: dict
  contains:
    count: {description: "Messages (qf files).", type: int}
    size_bytes: {description: "Bytes of control and data files.", type: int}
    oldest_age_seconds: {description: "Age of the oldest message from its qf C(T) line.", type: int}
    max_attempts: {description: "Most delivery attempts of any message.", type: int}
    by_domain: {description: "Recipient domain to count (top 10).", type: dict}
    by_reason: {description: "Deferral reason (numbers and addresses folded) to count (top 10).", type: dict}
    quarantined: {description: "Quarantined messages (hf files).", type: int}
    anomalies: {description: "Kind to count: orphan_df, stale_tf, lost_qf, zero_length_qf, truncated_qf,
                 not_regular, unreadable, foreign_qf (named like a control file but not one sendmail wrote: a hard
                 link, another user's, world-writable or oversized; never read).", type: dict}
    anomaly_examples: {description: "A few anomalies with their paths.", type: list, elements: dict}
    verdict: {description: "V(empty), V(draining), V(backlog) or V(stuck).", type: str}
    status: {description: "V(ok), V(warning) or V(critical).", type: str}
    evidence: {description: "Why.", type: list, elements: str}
    source: {description: "V(directory) or V(mailq).", type: str}
  sample:
    mta: {count: 3, oldest_age_seconds: 18382, by_domain: {b.example: 2, a.example: 1}, verdict: backlog, status: warning}
    msp: {count: 0, verdict: empty, status: ok}
status:
  description: For V(summary), the worst status of the queues.
  returned: when O(operation=summary)
  type: str
reason:
  description: For V(summary), one sentence per queue with its verdict and the first piece of evidence.
  returned: when O(operation=summary)
  type: str
messages:
  description: The selected messages (queue_id, queue_dir, size_bytes, created, age_seconds, attempts, sender,
    recipients, reason, quarantined, quarantine_reason).
  returned: when O(operation) is not V(summary) or V(move_aside)
  type: list
  elements: dict
selected:
  description: How many messages matched the selection (may exceed the length of RV(messages)).
  returned: when O(operation) is not V(summary) or V(move_aside)
  type: int
not_read:
  description: >-
    Files named like control files that were not read because they do not look like ones sendmail wrote (a hard
    link, another user's file, a world-writable or oversized file, a symlink, a FIFO), each with its kind
    (V(foreign_qf), V(not_regular), V(unreadable)), path and why; their contents are never shown.
  returned: when O(operation) is V(list)
  type: list
  elements: dict
  sample: [{"kind": "foreign_qf", "path": "/var/spool/mqueue/qf6ARAleak000002", "detail": "2 hard links"}]
runs:
  description:
    - The sendmail commands run for V(flush), V(hold), V(release), per batch of IDs, with C(rc), C(timed_out) and the
      output as lines - C(transcript) and C(transcript_lines) for V(flush) (with O(verbose)), C(output) and
      C(output_lines) for V(hold) and V(release).
  returned: when O(operation) is V(flush), V(hold) or V(release)
  type: list
  elements: dict
  sample:
    - queue_ids: [6ARAq0Rk000143]
      rc: 0
      timed_out: false
      transcript: "Running /var/spool/mqueue/qf6ARAq0Rk000143 (sequence 1 of 1)\nConnecting to [127.0.0.2] port 2526..."
      transcript_lines: ["Running /var/spool/mqueue/qf6ARAq0Rk000143 (sequence 1 of 1)", "Connecting to [127.0.0.2] port 2526..."]
deleted:
  description: For V(delete), IDs removed (or that would be), C(locked) ones skipped, C(not_found), and C(trash_dir).
  returned: when O(operation=delete)
  type: dict
moved:
  description:
    - For V(move_aside), per queue directory (C(directories)) its C(queue_dir), C(moved_to), C(method), C(created),
      C(owner), C(group), C(mode), C(subdirectories), the IDs C(moved), the C(locked) ones left in the queue (with
      C(held_by), the PIDs and titles holding the lock), other messages C(left) (with C(why)), C(orphan_files)
      and C(errors).
    - C(aside_dirs) (the directories made), C(messages_moved), C(messages_locked), C(messages_left),
      C(processes) (sendmail processes working in the queue directory, null without /proc) and C(started_at).
  returned: when O(operation=move_aside)
  type: dict
  sample:
    directories:
      - {queue_dir: /var/spool/mqueue/q1, moved_to: /var/spool/mqueue/q1/.aside-20261201T153836Z,
         method: inside the queue directory, created: true, moved: [6B1FcVYs000398], locked: [], left: []}
    aside_dirs: [/var/spool/mqueue/q1/.aside-20261201T153836Z]
    messages_moved: 1
    messages_locked: 0
    processes: []
ids:
  description: For V(ids), the sorted queue IDs per queue.
  returned: when O(operation=ids)
  type: dict
  sample: {mta: [6ARDQ2Tq000082, 6ARDQ2Tr000082], msp: []}
recorded_at:
  description: For V(ids), the Unix time the names were read.
  returned: when O(operation=ids)
  type: float
accounting:
  description:
    - For V(account), how many of the expected messages are C(present), C(moved_aside), C(finished) (with
      C(finished_by_outcome) V(sent) / V(bounced) from the mail log), the C(lost) IDs, and the C(duplicate_risk) IDs
      (moved aside but also still queued, or logged as sent after the move).
  returned: when O(operation=account)
  type: dict
  sample: {expected: 200, present: 200, moved_aside: 0, finished: 0, finished_by_outcome: {}, lost: [], duplicate_risk: [],
           ok: true}
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.opsiface.sendmail.plugins.module_utils import _compileonce

_compileonce.install()  # first: under AnsiballZ the rest of module_utils then compiles once, not twice

from ansible_collections.opsiface.sendmail.plugins.module_utils import _args, _context, _queuetasks

OPERATIONS = ["summary", "list", "flush", "hold", "release", "delete", "move_aside", "ids", "account"]
SPEC = {
    "operation": {"type": "str", "default": "summary", "choices": OPERATIONS},
    "queue": {"type": "str", "default": "both", "choices": ["mta", "msp", "both"]},
    "queue_ids": {"type": "list", "elements": "str"},
    "recipient_domain": {"type": "str"},
    "sender": {"type": "str"},
    "older_than": {"type": "int"},
    "limit": {"type": "int", "default": 1000},
    "verbose": {"type": "bool", "default": False},
    "reason": {"type": "str", "default": "held by opsiface.sendmail"},
    "purge": {"type": "bool", "default": False},
    "trash_dir": {"type": "path", "default": "/var/spool/opsiface-sendmail/trash"},
    "warn_count": {"type": "int", "default": 500},
    "crit_count": {"type": "int", "default": 5000},
    "warn_age": {"type": "int", "default": 14400},
    "crit_age": {"type": "int", "default": 172800},
    "pidfile": {"type": "path"},
    "cache": {"type": "bool", "default": True},
    "cache_dir": {"type": "path", "default": "/var/cache/opsiface-sendmail"},
    "after_stop": {"type": "bool", "default": False},
    "expected_ids": {"type": "dict"},
    "aside_dirs": {"type": "list", "elements": "path", "default": []},
    "since": {"type": "float"},
    "moved_at": {"type": "float"},
    "log_paths": {"type": "list", "elements": "path"},
}


def main() -> None:
    module = AnsibleModule(
        argument_spec=_context.argument_spec(SPEC, _context.LOCK_ARGS),
        required_if=[("operation", "account", ("expected_ids", "since"))],
        supports_check_mode=True,
    )
    _context.run(module, _args.sendmail_queue, _queuetasks.run)


if __name__ == "__main__":
    main()
