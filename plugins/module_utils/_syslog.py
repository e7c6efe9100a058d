# Copyright: (c) 2026, opsiface.sendmail developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Fault status, step 2: sendmail's recent syslog lines, classified and counted.

The log is read backwards from its end in fixed blocks and reading stops at
the first line older than the window, so a 1 GB log costs what its last hour
costs. Rotated files (``mail.log.1``, ``mail.log.2.gz``, ``maillog-20261127``)
are opened only while the window reaches back into them. Memory is bounded by
the block size, the counters and the last ``max_lines`` offending lines.
"""

from __future__ import annotations

import calendar
import os
import re
import stat
import time
from collections import Counter, deque
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field

from ._text import clean, decode

SENDMAIL_PROGRAMS = re.compile(r"^(sendmail|sm-mta|sm-msp-queue|sm-msp|sendmail-mta|sm-[\w-]+)$")
PROBE_TAG = "opsiface-probe"

_RFC3339 = re.compile(
    r"^(?P<y>\d{4})-(?P<mo>\d\d)-(?P<d>\d\d)T(?P<h>\d\d):(?P<mi>\d\d):(?P<s>\d\d)(?:\.\d+)?"
    r"(?P<tz>Z|[+-]\d\d:?\d\d)?\s+(?P<rest>.*)$"
)
_BSD = re.compile(r"^(?P<mon>[A-Z][a-z]{2}) +(?P<d>\d{1,2}) (?P<h>\d\d):(?P<mi>\d\d):(?P<s>\d\d)\s+(?P<rest>.*)$")
_TAG = re.compile(r"^(?P<host>\S+)\s+(?P<prog>[^\s\[:]+)(?:\[(?P<pid>\d+)\])?:\s?(?P<msg>.*)$")
_SOLARIS_ID = re.compile(r"^\[ID \d+ [\w.]+\]\s*")
_QID = re.compile(r"^(?P<qid>[A-Za-z0-9]{8,20}|NOQUEUE): ")
MONTHS = {
    m: i for i, m in enumerate(("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"), 1)
}

# (class, severity, pattern): the first match wins.
CLASSES: list[tuple[str, str, re.Pattern[str]]] = [
    ("syserr", "error", re.compile(r"SYSERR")),
    ("disk", "error", re.compile(r"No space left|low on space|Insufficient disk space", re.I)),
    ("queue_error", "error", re.compile(r"Losing \S*qf|bogus queue file|queue file.*(corrupt|lost)", re.I)),
    ("config", "error", re.compile(r"unknown configuration line|config error|cannot open .*\.cf", re.I)),
    ("load", "warning", re.compile(r"rejecting connections on daemon|refusing connections|delaying connections", re.I)),
    ("deferred", "warning", re.compile(r"stat=Deferred")),
    ("bounced", "warning", re.compile(r"\bDSN: |dsn=5\.\d+\.\d+")),
    ("timeout", "warning", re.compile(r"timeout waiting for input|Timeout|timed out", re.I)),
    ("lost_input", "warning", re.compile(r"lost input channel", re.I)),
    ("tls", "warning", re.compile(r"STARTTLS.*(error|fail)|TLS handshake", re.I)),
    ("auth", "warning", re.compile(r"AUTH failure|authentication fail", re.I)),
    ("rejected", "notice", re.compile(r"reject=")),
    ("null_connection", "notice", re.compile(r"did not issue MAIL/EXPN/VRFY/ETRN")),
    ("activity", "info", re.compile(r"(from=|stat=Sent|starting daemon|Message accepted)")),
]


@dataclass
class LogLine:
    timestamp: float | None
    host: str
    program: str
    pid: int | None
    queue_id: str | None
    message: str


def parse_line(raw: bytes, now: float, utc_offset: int = 0) -> LogLine | None:
    """One syslog line (RFC 3339, journalctl short-iso, or BSD ``Mon dd hh:mm:ss``).

    BSD stamps have no year or zone: *utc_offset* (seconds east of UTC) is the
    host's local offset, and a date more than a day ahead of *now* is last year's.
    Returns None for lines that are not syslog lines.
    """
    text = decode(raw).rstrip("\r\n")
    match = _RFC3339.match(text)
    if match:
        fields = (
            int(match["y"]),
            int(match["mo"]),
            int(match["d"]),
            int(match["h"]),
            int(match["mi"]),
            int(match["s"]),
        )
        if not _valid_time(*fields[1:]):
            return None
        ts = calendar.timegm(fields)
        tz = match["tz"]
        if tz and tz != "Z":
            sign = 1 if tz[0] == "+" else -1
            digits = tz[1:].replace(":", "")
            ts -= sign * (int(digits[:2]) * 3600 + int(digits[2:]) * 60)
        elif tz is None:
            ts -= utc_offset
        rest = match["rest"]
    else:
        match = _BSD.match(text)
        if not match or match["mon"] not in MONTHS:
            return None
        year = time.gmtime(now + utc_offset).tm_year
        fields = (MONTHS[match["mon"]], int(match["d"]), int(match["h"]), int(match["mi"]), int(match["s"]))
        if not _valid_time(*fields):
            return None
        try:
            ts = calendar.timegm((year, *fields)) - utc_offset
            if ts > now + 86400:
                ts = calendar.timegm((year - 1, *fields)) - utc_offset
        except (ValueError, OverflowError):
            return None
        rest = match["rest"]
    tag = _TAG.match(rest)
    if not tag:
        return None
    message = _SOLARIS_ID.sub("", tag["msg"])
    qid_match = _QID.match(message)
    return LogLine(
        timestamp=float(ts),
        host=tag["host"],
        program=tag["prog"],
        pid=int(tag["pid"]) if tag["pid"] else None,
        queue_id=qid_match["qid"] if qid_match else None,
        message=message,
    )


def _valid_time(month: int, day: int, hour: int, minute: int, second: int) -> bool:
    return 1 <= month <= 12 and 1 <= day <= 31 and hour < 24 and minute < 60 and second < 61


def classify(message: str) -> tuple[str, str]:
    """(class, severity) of a sendmail log message; ('other', 'info') when nothing matches."""
    for name, severity, pattern in CLASSES:
        if pattern.search(message):
            return name, severity
    return "other", "info"


_NULS = re.compile(b"\\x00+")
# Where a syslog line can start inside binary garbage (salvage): RFC 3339 / short-iso or a BSD stamp.
_STAMP_ANYWHERE = re.compile(
    rb"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d|(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) [ \d]\d \d\d:\d\d:\d\d"
)


def reverse_lines(
    fh, block_size: int = 65536, max_line: int = 65536, max_bytes: int | None = None, stats: dict | None = None
) -> Iterator[bytes]:
    """Lines of a seekable binary file from last to first, in bounded memory.

    NUL bytes never occur in a syslog line (rsyslog writes them as ``#000``); a run of them (a crash, a
    file-system hole after a power loss) is read as a line break, so the line written right after the
    run is its own line, not glued to the garbage. A line longer than *max_line* is yielded cut to its
    last (newest) *max_line* bytes. Reading stops after *max_bytes* bytes (None: no limit); when that
    happens inside a line, its newest part read so far is yielded last.

    *stats*, when given, is filled with what happened: ``bytes_read`` (bytes really read from the file),
    ``budget_hit`` (stopped by *max_bytes* before the start of the file), ``run_bytes`` (how long the
    unterminated line was that the budget stopped in), ``cut_lines`` and ``cut_bytes`` (over-long lines
    and the bytes of them that were not yielded).
    """
    st = stats if stats is not None else {}
    st.update(bytes_read=0, budget_hit=False, run_bytes=0, cut_lines=0, cut_bytes=0, nul_bytes=0, in_nul_run=False)
    fh.seek(0, os.SEEK_END)
    pos = fh.tell()
    tail = b""
    dropped = 0  # bytes of the (unterminated) tail line cut off so far
    nul_block = False  # the block read last holds NUL bytes and no newline: inside a crash's garbage

    def finish_tail() -> None:
        if dropped:
            st["cut_lines"] += 1
            st["cut_bytes"] += dropped

    while pos > 0:
        if max_bytes is not None and st["bytes_read"] >= max_bytes:
            st["budget_hit"] = True
            st["run_bytes"] = len(tail) + dropped
            st["in_nul_run"] = nul_block
            finish_tail()
            if tail:
                yield tail
            return
        size = min(block_size, pos)
        if max_bytes is not None:
            size = min(size, max_bytes - st["bytes_read"])
        pos -= size
        fh.seek(pos)
        chunk = fh.read(size)
        if not chunk:
            break
        st["bytes_read"] += len(chunk)
        nul_block = b"\0" in chunk and b"\n" not in chunk
        if b"\0" in chunk:
            st["nul_bytes"] += chunk.count(b"\0")
            chunk = _NULS.sub(b"\n", chunk)
        lines = (chunk + tail).split(b"\n")
        head = lines.pop(0)
        if lines:  # the old tail is complete now: it ends lines[-1]
            finish_tail()
            dropped = 0
        tail = head
        if len(tail) > max_line:
            dropped += len(tail) - max_line
            tail = tail[-max_line:]
        for line in reversed(lines):
            if line:
                yield line
    finish_tail()
    if tail:
        yield tail


def salvage(raw: bytes, now: float, utc_offset: int = 0) -> list[tuple[LogLine, bytes]]:
    """Syslog lines glued after binary data (a crash's garbage without a newline, a partial write): every
    place a timestamp starts whose rest parses as a syslog line, oldest first, with its bytes."""
    found: list[tuple[LogLine, bytes]] = []
    end = len(raw)
    starts = [m.start() for m in _STAMP_ANYWHERE.finditer(raw)]
    for start in reversed(starts):
        segment = raw[start:end]
        line = parse_line(segment, now, utc_offset)
        if line is not None and line.timestamp is not None:
            found.append((line, segment))
            end = start
    found.reverse()
    return found


def parse_lines(raw: bytes, now: float, utc_offset: int = 0) -> list[tuple[LogLine, bytes]]:
    """The syslog line(s) in one raw line: itself when it parses, else what :func:`salvage` recovers."""
    if len(raw) < 20:  # shorter than any syslog line ("Jan  1 00:00:00 h p: "): garbage between NUL bytes
        return []
    line = parse_line(raw, now, utc_offset)
    if line is not None and line.timestamp is not None:
        return [(line, raw)]
    return salvage(raw, now, utc_offset)


def rotated_files(path: str) -> list[str]:
    """*path* and its rotations, newest first (by modification time)."""
    directory, base = os.path.split(path)
    try:
        names = os.listdir(directory or ".")
    except OSError:
        return [path] if os.path.lexists(path) else []
    pattern = re.compile(r"^" + re.escape(base) + r"(?:[.-]\d+(?:\.gz)?|[.-]\d{8}(?:\.gz)?)$")
    found = [os.path.join(directory, n) for n in names if n == base or pattern.match(n)]

    def mtime(p: str) -> float:
        try:
            return os.stat(p).st_mtime
        except OSError:
            return 0.0

    return sorted(found, key=lambda p: (p != path, -mtime(p)))


@dataclass
class SyslogScan:
    source: str = "none"
    files: list[dict] = field(default_factory=list)
    window_start: float = 0.0
    lines_in_window: int = 0
    counts: dict[str, int] = field(default_factory=dict)
    syserr: int = 0
    errors: int = 0
    warnings: int = 0
    probe_lines_ignored: int = 0
    last_activity: float | None = None
    last_activity_age_seconds: int | None = None
    last_line: float | None = None
    offending: list[dict] = field(default_factory=list)
    complete: bool = True
    problems: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return asdict(self)


class _Counter:
    def __init__(self, since: float, now: float, max_lines: int, probe_tag: str) -> None:
        self.since = since
        self.now = now
        self.max_lines = max_lines
        self.probe_tag = probe_tag
        self.classes: Counter[str] = Counter()
        self.severity: Counter[str] = Counter()
        self.offending: deque[dict] = deque()
        self.lines = 0
        self.probe = 0
        self.last_activity: float | None = None
        self.last_line: float | None = None

    def add(self, line: LogLine, raw: bytes, newest_first: bool) -> None:
        if not SENDMAIL_PROGRAMS.match(line.program):
            return
        self.lines += 1
        if self.last_line is None or (line.timestamp or 0) > self.last_line:
            self.last_line = line.timestamp
        if self.probe_tag and self.probe_tag in line.message:
            self.probe += 1
            return
        name, severity = classify(line.message)
        if name == "null_connection" and ("[127.0.0.1]" in line.message or "[IPv6:::1]" in line.message):
            # Banner-only connections from this host: the collection's own probes
            # (sendmail logs the client address here, not the HELO name).
            self.probe += 1
            return
        self.classes[name] += 1
        self.severity[severity] += 1
        if name == "syserr":
            self.severity["syserr"] += 1
        if severity == "info" and name == "activity":
            if self.last_activity is None or (line.timestamp or 0) > self.last_activity:
                self.last_activity = line.timestamp
        if severity in ("error", "warning"):
            item = {"time": line.timestamp, "class": name, "severity": severity, "line": clean(raw, 1024)}
            if newest_first:
                if len(self.offending) < self.max_lines:
                    self.offending.append(item)
            else:
                self.offending.appendleft(item)
                while len(self.offending) > self.max_lines:
                    self.offending.pop()


def _open_regular(path: str):
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    st = os.fstat(fd)
    if not stat.S_ISREG(st.st_mode):
        os.close(fd)
        raise OSError(0, "not a regular file")
    return os.fdopen(fd, "rb")


@dataclass(frozen=True)
class LogWindow:
    """What one scan of the mail log reads and keeps: the last *since_minutes* before now, the newest
    *max_lines* offending lines, at most *max_bytes* in all; *utc_offset* (seconds east) places BSD stamps,
    which carry no zone; lines up to *skew_seconds* older than the window may still follow newer ones."""

    since_minutes: int = 60
    max_lines: int = 10
    utc_offset: int = 0
    max_bytes: int = 512 * 1024 * 1024
    probe_tag: str = PROBE_TAG
    skew_seconds: int = 300


@dataclass
class _Pass:
    """One file of a scan: where its lines are counted, what is said about it, and what bounds it."""

    counter: _Counter
    result: SyslogScan
    info: dict
    now: float
    since: float
    window: LogWindow
    budget: int


def scan_files(paths: list[str], now: float, window: LogWindow | None = None) -> SyslogScan:
    """Scan the first existing log of *paths* (and its rotations) for the window before *now*."""
    w = window or LogWindow()
    since = now - w.since_minutes * 60
    result = SyslogScan(window_start=since)
    counter = _Counter(since, now, w.max_lines, w.probe_tag)
    chosen = next((p for p in paths if os.path.lexists(p)), None)
    if chosen is None:
        result.problems.append("no mail log found: " + ", ".join(paths))
        result.complete = False
        return _finish(result, counter, now)
    result.source = "file"
    budget = w.max_bytes
    for path in rotated_files(chosen):
        info = {"path": clean(path), "bytes_read": 0, "lines": 0}
        result.files.append(info)
        try:
            fh = _open_regular(path)
        except OSError as exc:
            result.problems.append(f"{clean(path)}: {exc.strerror or 'cannot open'}")
            result.complete = False
            continue
        one = _Pass(counter, result, info, now, since, w, budget)
        with fh:
            reached_older = _scan_gzip(fh, one) if path.endswith(".gz") else _scan_backwards(fh, path, one)
        budget -= info["bytes_read"]
        if reached_older or budget <= 0:
            break
    return _finish(result, counter, now)


def _count_salvaged(info: dict, parsed: list, raw: bytes) -> None:
    if len(parsed) > 1 or (parsed and parsed[0][1] is not raw):
        info["salvaged"] = info.get("salvaged", 0) + len(parsed)


def _scan_backwards(fh, path: str, one: _Pass) -> bool:
    """An uncompressed log, newest line first; True when it reached lines older than the window (or the
    budget ran out), so that older rotations need not be read."""
    reached_older = False
    stats: dict = {}
    for raw in reverse_lines(fh, max_bytes=one.budget, stats=stats):
        one.info["lines"] += 1
        parsed = parse_lines(raw, one.now, one.window.utc_offset)
        _count_salvaged(one.info, parsed, raw)
        for line, text in reversed(parsed):  # newest first, like the file
            if line.timestamp < one.since:
                if line.timestamp < one.since - one.window.skew_seconds:
                    reached_older = True
                continue
            one.counter.add(line, text, newest_first=True)
        if reached_older:
            break
    one.info["bytes_read"] = stats.get("bytes_read", 0)
    _note_reverse_stats(path, stats, one.budget, one.info, one.result)
    return reached_older or bool(stats.get("budget_hit"))


def _note_reverse_stats(path: str, stats: dict, budget: int, info: dict, result: SyslogScan) -> None:
    """Say when the scan of one file was not whole: the budget ran out, or over-long lines were cut."""
    if stats.get("nul_bytes"):
        info["nul_bytes"] = stats["nul_bytes"]
    if stats.get("budget_hit"):
        where = ""
        if stats.get("in_nul_run"):
            where = (
                " inside a run of NUL bytes and binary data without a newline (left by a crash or a file-system "
                "hole); the lines before it were not read"
            )
        elif stats.get("run_bytes", 0) > 4096:
            where = (
                f" inside a run of at least {stats['run_bytes']} bytes without a newline (binary data); "
                "the lines before it were not read"
            )
        result.problems.append(f"{clean(path)}: stopped after {budget} bytes (max_bytes){where}")
        result.complete = False
    if stats.get("cut_bytes"):
        info["cut_bytes"] = stats["cut_bytes"]
        result.problems.append(
            f"{clean(path)}: {stats['cut_bytes']} bytes of {stats['cut_lines']} line(s) longer than 64 KiB without a "
            "newline (binary data?) were not parsed"
        )
        result.complete = False


def _scan_gzip(fh, one: _Pass, max_line: int = 65536) -> bool:
    """A rotated, compressed log can only be read forwards: stream it in blocks (a line without a newline
    is never held whole), keep the newest offenders. NUL runs separate lines as in :func:`reverse_lines`."""
    import gzip  # only for rotated, compressed logs: not imported by every scan

    oldest_seen = None
    stats = {"cut_lines": 0, "cut_bytes": 0, "budget_hit": False}
    try:
        with gzip.GzipFile(fileobj=fh) as gz:
            for raw in _forward_lines(gz, one.budget, one.info, stats, max_line):
                one.info["lines"] += 1
                parsed = parse_lines(raw, one.now, one.window.utc_offset)
                _count_salvaged(one.info, parsed, raw)
                for line, text in parsed:
                    if oldest_seen is None:
                        oldest_seen = line.timestamp
                    if line.timestamp >= one.since:
                        one.counter.add(line, text, newest_first=False)
    except (OSError, EOFError, gzip.BadGzipFile) as exc:
        one.result.problems.append(f"{one.info['path']}: {clean(str(exc), 200)}")
        one.result.complete = False
    if stats["budget_hit"]:
        one.result.problems.append(f"{one.info['path']}: stopped after {one.budget} bytes (max_bytes)")
        one.result.complete = False
        return True
    if stats["cut_bytes"]:
        cut = {"cut_bytes": stats["cut_bytes"], "cut_lines": stats["cut_lines"]}
        _note_reverse_stats(one.info["path"], cut, one.budget, one.info, one.result)
    return oldest_seen is not None and oldest_seen < one.since


def _forward_lines(stream, budget: int, info: dict, stats: dict, max_line: int = 65536) -> Iterator[bytes]:
    """The lines of *stream* read forwards in blocks, at most *budget* bytes (``info["bytes_read"]``), each
    cut to its last *max_line* bytes (counted in *stats*: cut_lines, cut_bytes; budget_hit)."""
    carry = b""
    dropped = 0
    while True:
        if info["bytes_read"] >= budget:
            stats["budget_hit"] = True
            break
        block = stream.read(min(65536, budget - info["bytes_read"]))
        if not block:
            break
        info["bytes_read"] += len(block)
        if b"\0" in block:
            block = _NULS.sub(b"\n", block)
        lines = (carry + block).split(b"\n")
        carry = lines.pop()
        if lines and dropped:
            stats["cut_lines"] += 1
            stats["cut_bytes"] += dropped
            dropped = 0
        for raw in lines:
            if raw:
                yield raw[-max_line:]
                if len(raw) > max_line:
                    stats["cut_lines"] += 1
                    stats["cut_bytes"] += len(raw) - max_line
        if len(carry) > max_line:
            dropped += len(carry) - max_line
            carry = carry[-max_line:]
    if carry:
        yield carry
    if dropped:
        stats["cut_lines"] += 1
        stats["cut_bytes"] += dropped


def scan_journal_output(
    data: bytes, now: float, since_minutes: int = 60, max_lines: int = 10, probe_tag: str = PROBE_TAG
) -> SyslogScan:
    """Classify ``journalctl -o short-iso`` output (already limited to the window by --since)."""
    since = now - since_minutes * 60
    result = SyslogScan(source="journald", window_start=since)
    counter = _Counter(since, now, max_lines, probe_tag)
    for raw in reversed(data.splitlines()):
        line = parse_line(raw, now)
        if line is not None and line.timestamp is not None and line.timestamp >= since:
            counter.add(line, raw, newest_first=True)
    return _finish(result, counter, now)


def _finish(result: SyslogScan, counter: _Counter, now: float) -> SyslogScan:
    result.lines_in_window = counter.lines
    result.counts = dict(counter.classes)
    result.syserr = counter.severity.get("syserr", 0)
    result.errors = counter.severity.get("error", 0)
    result.warnings = counter.severity.get("warning", 0)
    result.probe_lines_ignored = counter.probe
    result.last_activity = counter.last_activity
    result.last_line = counter.last_line
    if counter.last_activity is not None:
        result.last_activity_age_seconds = max(0, int(now - counter.last_activity))
    result.offending = list(counter.offending)
    return result


_STAT = re.compile(r"\bstat=(?P<stat>[A-Za-z]+)")
_DSN = re.compile(r"\bdsn=(?P<dsn>[245])\.")


OUTCOMES_MAX_BYTES = 256 * 1024 * 1024  # the most find_outcomes reads, newest first


def find_outcomes(
    paths: list[str], queue_ids: set[str], now: float, since: float, after: float | None = None
) -> dict[str, str]:
    """What the mail log says finished each of *queue_ids* since *since*: "sent" or "bounced".

    Reads the first existing log of *paths* and its uncompressed rotations
    backwards, newest first, and stops when every ID has an outcome, when the
    lines are older than *since*, or after *max_bytes*. A deferral is not an
    outcome: the message is still the queue's. With *after*, only lines
    stamped at or after it count.
    """
    outcomes: dict[str, str] = {}
    chosen = next((p for p in paths if os.path.lexists(p)), None)
    if chosen is None or not queue_ids:
        return outcomes
    budget = OUTCOMES_MAX_BYTES
    offset = local_utc_offset(now)
    for path in rotated_files(chosen):
        if path.endswith(".gz") or budget <= 0:
            break
        try:
            fh = _open_regular(path)
        except OSError:
            continue
        older = False
        stats: dict = {}
        with fh:
            for raw in reverse_lines(fh, max_bytes=budget, stats=stats):
                if b"stat=" not in raw and b"dsn=" not in raw:
                    continue
                for line, _text in reversed(parse_lines(raw, now, offset)):
                    if line.timestamp < since - 300:
                        older = True
                        continue
                    if line.queue_id not in queue_ids or line.queue_id in outcomes:
                        continue
                    if after is not None and line.timestamp < after:
                        continue
                    stat_match = _STAT.search(line.message)
                    dsn = _DSN.search(line.message)
                    if stat_match and stat_match["stat"] == "Sent":
                        outcomes[line.queue_id] = "sent"
                    elif dsn and dsn["dsn"] == "5":
                        outcomes[line.queue_id] = "bounced"
                    if len(outcomes) == len(queue_ids):
                        return outcomes
                if older:
                    break
        budget -= stats.get("bytes_read", 0)
        if older:
            break
    return outcomes


def local_utc_offset(now: float) -> int:
    """The host's offset from UTC at *now*, in seconds east (for BSD syslog stamps, which carry no zone)."""
    local = time.localtime(now)
    return local.tm_gmtoff if hasattr(local, "tm_gmtoff") else -time.timezone
