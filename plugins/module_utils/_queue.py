# Copyright: (c) 2026, opsiface.sendmail developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What is made of the mail queue: a summary, a listing, verdicts. Never changes or locks anything.

The queue's files are read by the scan (:mod:`_qscan`, which alone knows how
it is made fast), in the format of :mod:`_qf`, from the files that
:mod:`_qfiles` lets it read, with the rows of the previous scan from
:mod:`_qcache`. The names other modules use are importable from here.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field

from . import _qcache, _qscan
from ._qf import KINDS, QueueError, QueueFile, decode_queue_id, parse_qf, reason_class, recipient_domain, split_name
from ._qfiles import READ_LIMIT, expand_queue_dirs, leaf_dirs, queue_owners, read_control, read_regular
from ._qrows import NO_TIME
from ._text import clean

_leaf_dirs = leaf_dirs
__all__ = [
    "KINDS",
    "READ_LIMIT",
    "QueueError",
    "QueueFile",
    "QueueSummary",
    "_leaf_dirs",
    "decode_queue_id",
    "expand_queue_dirs",
    "list_messages",
    "parse_qf",
    "queue_ids",
    "queue_owners",
    "queue_verdict",
    "read_control",
    "read_regular",
    "reason_class",
    "recipient_domain",
    "scan_queue",
    "space_verdict",
    "split_name",
]


@dataclass
class QueueSummary:
    path: str
    readable: bool = True
    error: str | None = None
    count: int = 0
    size_bytes: int = 0
    oldest_age_seconds: int | None = None
    oldest_queue_id: str | None = None
    max_attempts: int = 0
    by_domain: dict[str, int] = field(default_factory=dict)
    by_reason: dict[str, int] = field(default_factory=dict)
    quarantined: int = 0
    anomalies: dict[str, int] = field(default_factory=dict)
    anomaly_examples: list[dict] = field(default_factory=list)
    directories: list[str] = field(default_factory=list)
    files_read: int = 0
    cache: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return asdict(self)


def scan_queue(
    queue_dirs: list[str],
    now: float,
    top: int = 10,
    example_limit: int = 20,
    stale_tf_seconds: int = 3600,
    cache_dir: str | None = None,
    cache_max_entries: int = 150000,
    write_cache: bool = True,
    owners: frozenset[int] | None = None,
    workers: int | None = None,
) -> QueueSummary:
    """Summarise one queue (its directories). Raises QueueError if no directory can be listed.

    With *cache_dir*, a qf unchanged since the last scan (same name, inode, size and mtime)
    is not read again. A queue of more than *cache_max_entries* messages is scanned without
    a cache. *owners*: the uids a queue file may belong to (default :func:`queue_owners`).
    """
    cache_file = _qcache.path_for(cache_dir, queue_dirs) if cache_dir else None
    old = _qcache.load(cache_file, queue_dirs) if cache_file else {}
    owners = owners if owners is not None else queue_owners([d for q in queue_dirs for d in leaf_dirs(q)])
    keep = cache_max_entries if cache_file else 0
    found, listed, errors = _qscan.scan(queue_dirs, now, old, keep, owners, (example_limit, stale_tf_seconds), workers)
    if not listed:
        raise QueueError("; ".join(errors) or "no queue directory given")
    leaves = found.leaves() if found.keeping else {}
    totals = found.totals
    for rows in leaves.values():
        totals.merge(rows.totals())
    s = QueueSummary(path=queue_dirs[0], directories=listed, files_read=found.reads, quarantined=found.quarantined)
    s.count = totals.count
    s.size_bytes = totals.size + found.df_total
    if totals.oldest != NO_TIME:
        s.oldest_age_seconds = int(now - totals.oldest)
        s.oldest_queue_id = totals.oldest_id
    s.max_attempts = totals.max_attempts
    s.by_domain = dict(totals.domains.most_common(top))
    s.by_reason = dict(totals.reasons.most_common(top))
    s.anomalies = dict(found.anomalies)
    s.anomaly_examples = found.examples
    s.cache = {"file": cache_file, "hits": found.hits, "written": False}
    small = sum(map(len, leaves.values())) <= cache_max_entries
    # Nothing read and nothing gone: the cache on disk is still exact; leave it.
    if cache_file and write_cache and found.keeping and small and not found.unchanged():
        problem = _qcache.save(cache_file, queue_dirs, _cacheable(leaves, found))
        s.cache["written"] = problem is None
        if problem:
            s.cache["problem"] = problem
    if errors:
        s.error = "; ".join(errors)
    return s


def _cacheable(leaves: dict, found) -> dict:
    """The rows worth keeping: complete control files, and the sizes of the dfs whose message is there."""
    out = {}
    controls = set(found.control_ids)
    for directory, rows in leaves.items():
        if 0 in rows.complete:
            rows = rows.take([i for i, done in enumerate(rows.complete) if done])
        df = found.df_sizes(directory)
        out[directory] = (rows, {n: z for n, z in df.items() if hash(n[2:]) in controls})
    return out


def list_messages(
    queue_dirs: list[str],
    now: float,
    queue_ids: list[str] | None = None,
    recipient_domain_filter: str | None = None,
    sender: str | None = None,
    older_than: int | None = None,
    limit: int = 100,
    include_quarantined: bool = True,
    anomalies: list[dict] | None = None,
    owners: frozenset[int] | None = None,
) -> tuple[list[dict], int]:
    """Messages matching every given filter: (first *limit* entries, total matches).

    Control files that do not look like sendmail's are not read (see _qfiles); with *anomalies*
    (a list), each is appended to it as {kind, path, detail}."""
    wanted = set(queue_ids or [])
    domain = recipient_domain_filter.lower().lstrip("@") if recipient_domain_filter else None
    out: list[dict] = []
    total = 0
    leaves = {qdir: leaf_dirs(qdir) for qdir in queue_dirs}
    owners = owners if owners is not None else queue_owners([d for ds in leaves.values() for d in ds])
    for qdir in queue_dirs:
        for directory in leaves[qdir]:
            try:
                names = sorted(os.listdir(directory))
            except OSError as exc:
                raise QueueError(f"{directory}: {exc.strerror}") from exc
            for name in names:
                parts = split_name(name)
                if parts is None or parts[0] not in ("qf", "hf") or (parts[0] == "hf" and not include_quarantined):
                    continue
                kind, qid = parts
                if wanted and qid not in wanted:
                    continue
                path = os.path.join(directory, name)
                data, st, problem, detail = read_control(path, None, owners)
                if data is None:
                    if anomalies is not None and problem != "vanished":
                        anomalies.append({"kind": problem, "path": clean(path, 512), "detail": clean(detail, 256)})
                    continue
                size = st.st_size
                qf = parse_qf(data, qid, kind)
                if domain and not any(recipient_domain(r) == domain for r in qf.recipients):
                    continue
                if sender and (qf.sender is None or sender.lower() not in qf.sender.lower()):
                    continue
                age = int(now - qf.created) if qf.created is not None else None
                if older_than is not None and (age is None or age < older_than):
                    continue
                total += 1
                if len(out) < limit:
                    out.append(
                        {
                            "queue_id": qid,
                            "queue_dir": clean(qdir),
                            "path": clean(path),
                            "quarantined": kind == "hf",
                            "quarantine_reason": qf.quarantine,
                            "size_bytes": size,
                            "created": qf.created,
                            "age_seconds": age,
                            "attempts": qf.attempts,
                            "last_attempt": qf.last_attempt,
                            "sender": qf.sender,
                            "recipients": qf.recipients,
                            "reason": qf.reason,
                            "problems": qf.problems,
                        }
                    )
    return out, total


def queue_verdict(
    summary: dict,
    warn_count: int,
    crit_count: int,
    warn_age: int,
    crit_age: int,
    stuck_attempts: int = 0,
) -> tuple[str, str, list[str]]:
    """(verdict, status, evidence): verdict empty/draining/backlog/stuck; status ok/warning/critical.

    A non-empty queue is not a fault in itself (the runbook says so): age and
    count thresholds decide, and any anomaly makes it at least a warning.
    """
    count = summary.get("count", 0)
    age = summary.get("oldest_age_seconds") or 0
    anomalies = summary.get("anomalies") or {}
    evidence = []
    if count == 0:
        verdict, status = "empty", "ok"
    elif age >= crit_age or count >= crit_count:
        verdict, status = "stuck", "critical"
    elif age >= warn_age or count >= warn_count:
        verdict, status = "backlog", "warning"
    else:
        verdict, status = "draining", "ok"
    if count:
        evidence.append(
            f"{count} message(s), oldest {age} s old (warning at {warn_age} s / {warn_count} messages, "
            f"critical at {crit_age} s / {crit_count})"
        )
    if stuck_attempts and summary.get("max_attempts", 0) >= stuck_attempts and verdict == "draining":
        verdict, status = "backlog", "warning"
        evidence.append(f"a message has {summary['max_attempts']} delivery attempts (warning at {stuck_attempts})")
    if anomalies:
        evidence.append("anomalies: " + ", ".join(f"{k}={v}" for k, v in sorted(anomalies.items())))
        if status == "ok":
            status = "warning"
    if summary.get("error"):
        evidence.append(summary["error"])
    return verdict, status, evidence


def queue_ids(queue_dirs: list[str], kinds: tuple[str, ...] = ("qf", "hf", "Qf")) -> tuple[list[str], list[str]]:
    """The IDs of the messages in *queue_dirs* (a control file of one of *kinds*), sorted, and the
    directories that could not be read. Reads names only, never the files."""
    ids: set[str] = set()
    unreadable: list[str] = []
    for qdir in queue_dirs:
        for directory in _leaf_dirs(qdir):
            try:
                with os.scandir(directory) as entries:
                    for entry in entries:
                        parts = split_name(entry.name)
                        if parts is not None and parts[0] in kinds:
                            ids.add(parts[1])
            except OSError as exc:
                unreadable.append(f"{clean(directory)}: {exc.strerror}")
    return sorted(ids), unreadable


def space_verdict(free_blocks: int, total_blocks: int, block_size: int, min_free_blocks: int) -> tuple[str, list[str]]:
    """Free space on a queue's file system against sendmail's MinFreeBlocks (in file system blocks).

    At or below MinFreeBlocks sendmail refuses mail ("452 4.4.5 Insufficient disk space"): critical.
    Within twice that, or under 5 % free: warning.
    """
    free_mib = free_blocks * block_size // 1048576
    if free_blocks <= min_free_blocks:
        return "critical", [
            f"queue file system full: {free_blocks} blocks ({free_mib} MiB) free, at or below MinFreeBlocks="
            f"{min_free_blocks}: sendmail refuses new mail (452 Insufficient disk space) once it rechecks"
        ]
    if free_blocks <= 2 * min_free_blocks or (total_blocks and free_blocks * 20 < total_blocks):
        return "warning", [f"queue file system nearly full: {free_mib} MiB free (MinFreeBlocks={min_free_blocks})"]
    return "ok", []
