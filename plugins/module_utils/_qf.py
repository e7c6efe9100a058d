# Copyright: (c) 2026, opsiface.sendmail developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The queue's file format: names, IDs, and what one control file says. Pure functions, no I/O.

A qf file is lines of ``<code><value>`` ending with a line holding only ``.``
(sendmail writes a ``tf`` and renames it, so a qf without the ``.`` is
truncated, or still being written). Bytes are not guaranteed UTF-8.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field

from ._text import clean

KINDS = ("qf", "df", "tf", "xf", "hf", "Qf")


class QueueError(Exception):
    """A queue directory or file that cannot be used; the message names it."""


@dataclass
class QueueFile:
    queue_id: str = ""
    kind: str = "qf"
    version: int | None = None
    created: int | None = None
    last_attempt: int | None = None
    attempts: int = 0
    priority: int | None = None
    reason: str | None = None
    quarantine: str | None = None
    flags: str = ""
    sender: str | None = None
    recipients: list[str] = field(default_factory=list)
    complete: bool = False
    problems: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return asdict(self)


def valid_id(qid: str) -> bool:
    """8 to 20 ASCII letters and digits: a queue ID, and nothing a path or a command line could misread."""
    return 8 <= len(qid) <= 20 and qid.isascii() and qid.isalnum()


# The same test on a whole file name, at C speed, for bulk filtering of a listing.
VALID_NAME = re.compile(r"[qdtxhQ]f[A-Za-z0-9]{8,20}\Z").match


def split_name(name: str) -> tuple[str, str] | None:
    """'qf6ARAuis9000145' -> ('qf', '6ARAuis9000145'); None if not a queue file name."""
    kind, qid = name[:2], name[2:]
    if kind in KINDS and valid_id(qid):
        return kind, qid
    return None


def decode_queue_id(value: str) -> str:
    """Validate a user-supplied queue ID (pattern, no path separators, no leading '-')."""
    if not valid_id(value):
        raise QueueError(f"not a queue ID: {clean(value, 64)!r} (expected 8-20 letters and digits)")
    return value


def _int(value: bytes) -> int | None:
    try:
        return int(value)
    except ValueError:
        return None


def _recipient(value: bytes) -> bytes:
    """An R line's address: 'PFD:<user@dom>' -> '<user@dom>' (flags before a colon in the first 12 bytes)."""
    return value.partition(b":")[2] if b":" in value[:12] else value


def parse_qf(data: bytes, queue_id: str = "", kind: str = "qf") -> QueueFile:
    """Parse a control file (8.8 through 8.17). Never raises: problems are listed in ``problems``."""
    qf = QueueFile(queue_id=queue_id, kind=kind)
    if not data:
        qf.problems.append("zero-length")
        return qf
    lines = data.split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()
    for raw in lines:
        if raw == b".":
            qf.complete = True
            break
        if not raw:
            continue
        code, value = raw[:1], raw[1:]
        if code in (b" ", b"\t"):
            continue  # header continuation
        if code == b"V":
            qf.version = _int(value)
        elif code == b"T":
            qf.created = _int(value)
        elif code == b"K":
            qf.last_attempt = _int(value)
        elif code == b"N":
            qf.attempts = _int(value) or 0
        elif code == b"P":
            qf.priority = _int(value)
        elif code == b"M":
            qf.reason = clean(value, 512)
        elif code == b"q":
            qf.quarantine = clean(value, 512)
        elif code == b"F":
            qf.flags = clean(value, 64)
        elif code == b"S":
            qf.sender = clean(value, 512)
        elif code == b"R":
            qf.recipients.append(clean(_recipient(value), 512))
    if not qf.complete:
        qf.problems.append("truncated (no terminating '.' line)")
    if qf.created is None:
        qf.problems.append("no creation time (T line)")
    return qf


def recipient_domain(addr: str) -> str:
    """'<user@Example.COM>' -> 'example.com'; local recipients -> '(local)'."""
    addr = addr.strip().strip("<>")
    if "@" not in addr:
        return "(local)"
    return addr.rsplit("@", 1)[1].rstrip(".>").lower() or "(local)"


def reason_class(reason: str | None) -> str:
    """A deferral reason with the variable parts (hosts, addresses, numbers) folded."""
    if not reason:
        return "(none)"
    text = re.sub(r"\[[0-9A-Fa-f:.]+\]", "[ADDR]", reason)
    text = re.sub(r"\b\d+\b", "N", text)
    return text[:160]


# --- what the summary needs of one control file, fast -------------------------------------------
# A summary of 10^5 messages parses 10^5 files: one regex pass picks the four codes it uses
# (parse_qf walks ~20 lines in Python: 7.9 us a file; this, 2.7 us), and reasons and domains,
# which repeat across a queue, are computed once each, inline (helper calls cost 15 %).
# test_qf.py holds summary_facts equal to parse_qf on random and mutated files.
_SUMMARY_LINE = re.compile(rb"\n([TNMR][^\n]*)")  # one group, no tuple a match: 0.9 us a file against 1.6 us
_T, _N, _R = ord("T"), ord("N"), ord("R")
_MEMO_MAX = 4096
_reasons: dict[bytes, str] = {}
_domains: dict[bytes, str] = {}

Facts = tuple  # (created: int | None, attempts: int, reason class: str, domains: tuple[str, ...], complete: bool)


def _reason(value: bytes) -> str:
    found = _reasons.get(value)
    if found is None:
        if len(_reasons) >= _MEMO_MAX:
            _reasons.clear()
        found = _reasons[value] = reason_class(clean(value, 512))
    return found


def _domain(value: bytes) -> str:
    addr = _recipient(value)
    if len(addr) > 128:  # clean() may cut it (4 characters a byte at most): the slow, exact way
        return recipient_domain(clean(addr, 512))
    at = addr.rfind(b"@")
    if at < 0:
        return "(local)"
    return _tail_domain(addr[at + 1 :])  # the domain depends on the text after the last '@' alone


def _tail_domain(tail: bytes) -> str:
    found = _domains.get(tail)
    if found is None:
        if len(_domains) >= _MEMO_MAX:
            _domains.clear()
        found = _domains[tail] = recipient_domain("@" + clean(tail, 512))
    return found


def summary_facts(data: bytes) -> Facts:
    """(created, attempts, reason class, recipient domains, complete) of a control file: the same as
    parse_qf's T, N, reason_class(M), recipient_domain of each R (or ('(none)',)), complete."""
    buf = b"\n" + data + b"\n"
    end = buf.find(b"\n.\n")
    complete = end >= 0
    created = None
    attempts = 0
    reason = b""
    domains = []
    for line in _SUMMARY_LINE.findall(buf, 0, end if complete else len(buf)):
        code = line[0]
        if code == _R:
            at = line.rfind(b"@")
            # '@' past the flags ("PFD:") and an address clean() will not cut: its domain is memoised by the tail
            found = _domains.get(line[at + 1 :]) if 13 < at and len(line) <= 129 else None
            domains.append(found or _domain(line[1:]))
        elif code == _T:
            try:
                created = int(line[1:])
            except ValueError:
                created = None
        elif code == _N:
            try:
                attempts = int(line[1:])
            except ValueError:
                attempts = 0
        else:
            reason = line[1:]
    return created, attempts, _reason(reason) if reason else "(none)", tuple(domains) or ("(none)",), complete


# --- many control files at once -----------------------------------------------------------------
# The cold scan parses every qf: per file, a Python loop over its lines costs more than the four
# system calls that read it. Here one regex pass over a chunk's files joined keeps the lines the
# summary uses, and a second matches each file's lines in the order sendmail writes them (T, N,
# M?, R..., '.'), captured at C speed: 1.3 us a file against 2.1 us for summary_facts (10^5 files
# in a lab host). A file in any other shape (no N, a second T, no '.', a local first recipient...)
# is read by summary_facts, so the result is the same for any bytes (test_qf.py holds it).
_SEP = b"\n\x00\n"  # between files; a file with a line "\x00" sends all the files the slow way
_KEEP = re.compile(rb"\n([TNMR.\x00][^\n]*)").findall
_FILE = re.compile(
    rb"\n\x00(?:\nT(\d{1,18})\nN(\d{1,9})(?:\nM([^\n]*))?"  # T, N, M: int() and _reason() of the same bytes
    rb"(?:\nR[^\n:]{0,11}:(?=[^\n]{0,128}\n)[^\n]*(@[^\n@]*))?"  # 1st R: its last '@' and what _domain reads
    rb"((?:\nR[^\n]*)*)\n\.)?(?=\n)"  # the other R lines, and the '.' that ends the file
).findall
_ones: dict[bytes, tuple] = {b"": ()}  # (b"": no first R line in that shape)
_NONE = ("(none)",)


def _first_domain(at_tail: bytes) -> tuple:
    """('domain',) of a first R line whose address ends in *at_tail* ('@' and the rest); () if none matched."""
    found = _ones.get(at_tail)
    if found is None:
        if len(_ones) >= _MEMO_MAX:
            _ones.clear()
            _ones[b""] = ()
        found = _ones[at_tail] = (_tail_domain(at_tail[1:]),) if at_tail else ()
    return found


def _domain_of(value: bytes) -> str:
    at = value.rfind(b"@")
    found = _domains.get(value[at + 1 :]) if 12 < at and len(value) <= 128 else None
    return found or _domain(value)


def parse_many(datas: list[bytes]) -> tuple[list, list, list, list, list]:
    """summary_facts() of each of *datas*, as columns: (created, attempts, reason classes, domain tuples, complete)."""
    n = len(datas)
    lines = _KEEP(_SEP.join([b"", *datas])) if n else []  # (one copy of the bytes: 0.1 us a file less than +)
    files = _FILE(b"\n".join([b"", *lines, b""]))  # one tuple a "\x00" line: n of them, unless a file has one
    if len(files) != n or not n:
        facts = list(map(summary_facts, datas))
        return tuple(list(column) for column in zip(*facts)) if n else ([], [], [], [], [])  # type: ignore[return-value]
    ts, ns, ms, ats, more = zip(*files)
    slow = [i for i, t in enumerate(ts) if not t] if b"" in ts else []  # no T: the file is not in sendmail's shape
    if slow:
        ts, ns = list(ts), list(ns)
        for i in slow:
            ts[i] = ns[i] = b"0"
    created, attempts = list(map(int, ts)), list(map(int, ns))
    reasons = list(map(_reasons.get, ms))
    if None in reasons:
        reasons = [r if r is not None else _reason(m) for r, m in zip(reasons, ms)]
    doms = list(map(_ones.get, ats))
    if None in doms:
        doms = [d if d is not None else _first_domain(a) for d, a in zip(doms, ats)]
    if any(more):
        for i, block in enumerate(more):
            if block:
                doms[i] = doms[i] + tuple(map(_domain_of, block[2:].split(b"\nR")))
    if () in doms:
        doms = [d or _NONE for d in doms]
    complete = [True] * n
    for i in slow:
        created[i], attempts[i], reasons[i], doms[i], complete[i] = summary_facts(datas[i])
    return created, attempts, reasons, doms, complete
