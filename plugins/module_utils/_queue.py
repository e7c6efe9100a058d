# Copyright: (c) 2026, opsiface.sendmail developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The mail queue read straight from its directories, never changing or locking anything.

A qf file is lines of ``<code><value>`` ending with a line holding only ``.``
(sendmail writes a ``tf`` and renames it, so a qf without the ``.`` is
truncated). The scan lists each queue directory once (``qd*`` directories and
``qf/df/xf`` subdirectories included), opens only regular files, with
``O_NOFOLLOW | O_NONBLOCK``, reads at most ``read_limit`` bytes of each, and
aggregates on the fly, so memory stays flat however long the queue is.
"""

from __future__ import annotations

import bisect
import glob
import heapq
import marshal
import operator
import os
import re
import stat
import tempfile
import zlib
from array import array
from collections import Counter
from dataclasses import asdict, dataclass, field

from ._text import clean

KINDS = ("qf", "df", "tf", "xf", "hf", "Qf")
READ_LIMIT = 64 * 1024


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


def _valid_id(qid: str) -> bool:
    """8 to 20 ASCII letters and digits: a queue ID, and nothing a path or a command line could misread."""
    return (
        8 <= len(qid) <= 20 and qid.isascii() and qid.isalnum()
    )  # "no T line" in the created column (sorts after every real time)


def split_name(name: str) -> tuple[str, str] | None:
    """'qf6ARAuis9000145' -> ('qf', '6ARAuis9000145'); None if not a queue file name."""
    kind, qid = name[:2], name[2:]
    if kind in KINDS and _valid_id(qid):
        return kind, qid
    return None


def _int(value: bytes) -> int | None:
    try:
        return int(value)
    except ValueError:
        return None


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
            _scheme, _sep, addr = value.partition(b":") if b":" in value[:12] else (b"", b"", value)
            qf.recipients.append(clean(addr, 512))
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


def expand_queue_dirs(queue_directory: str, queue_groups: list[dict] | None = None) -> list[str]:
    """QueueDirectory (may end in '*': qd* directories) plus queue-group paths, deduplicated."""
    patterns = [queue_directory]
    for group in queue_groups or []:
        path = group.get("Path") or group.get("P")
        if path:
            patterns.append(path)
    dirs: list[str] = []
    for pattern in patterns:
        matches = sorted(glob.glob(pattern)) if "*" in pattern else [pattern]
        for path in matches:
            if path not in dirs:
                dirs.append(path)
    return dirs


def _leaf_dirs(qdir: str) -> list[str]:
    """A queue directory and its qf/df/xf subdirectories (real directories only, no symlinks)."""
    dirs = [qdir]
    for sub in ("qf", "df", "xf"):
        path = os.path.join(qdir, sub)
        try:
            if stat.S_ISDIR(os.lstat(path).st_mode):
                dirs.append(path)
        except OSError:
            pass
    return dirs


def read_regular(path: str, limit: int = READ_LIMIT) -> tuple[bytes | None, int, str | None]:
    """Read up to *limit* bytes of a regular file without following links or blocking.

    Returns (data, size, problem). data is None when the file is not read.
    """
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | getattr(os, "O_NOCTTY", 0))
    except FileNotFoundError:
        return None, 0, "vanished"
    except OSError as exc:
        try:
            mode = os.lstat(path).st_mode
        except OSError:
            mode = stat.S_IFREG
        if stat.S_ISLNK(mode):
            return None, 0, "symlink"
        if not stat.S_ISREG(mode):
            return None, 0, "not a regular file"  # a socket, device, ... (a FIFO opens, non-blocking)
        return None, 0, f"cannot open: {exc.strerror}"
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            return None, st.st_size, "not a regular file"
        data = os.read(fd, limit)
        return data, st.st_size, None
    except OSError as exc:
        return None, 0, f"cannot read: {exc.strerror}"
    finally:
        os.close(fd)


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


def file_key(name: str, inode: int) -> int:
    """Identity of one version of a queue file. sendmail rewrites a qf through a tf and a rename,
    so a changed message always has a new inode: (name, inode) never names two contents."""
    return ((inode & 0x7FFFFFFF) << 32) | zlib.crc32(name.encode("ascii", "replace"))


NO_TIME = 2**62
CHUNK = 20000  # names handled per bulk step: bounds the listing's memory
_VALID_NAME = re.compile(r"[qdtxhQ]f[A-Za-z0-9]{8,20}\Z").match


_QF_DF = frozenset(("qf", "df"))
_ID_OF = operator.itemgetter(slice(2, None))  # "qf6ARA..." -> "6ARA...", at C speed


class _Columns:
    """Per-message records in columns (arrays), cheap to store, load and aggregate.

    Columns: key, created, attempts, size, domain-set index, reason index, complete,
    and the queue IDs. Domain sets and reasons are interned in two tables.
    """

    def __init__(self) -> None:
        self.key = array("q")
        self.created = array("q")
        self.attempts = array("l")
        self.size = array("q")
        self.dom = array("l")
        self.reason = array("l")
        self.complete = bytearray()
        self.qid: list[str] = []
        self.dom_sets: list[tuple] = []
        self.reasons: list[str] = []
        self._dom_index: dict[tuple, int] = {}
        self._reason_index: dict[str, int] = {}

    def __len__(self) -> int:
        return len(self.key)

    def _intern(self, table: list, index: dict, value) -> int:
        found = index.get(value)
        if found is None:
            found = index[value] = len(table)
            table.append(value)
        return found

    def add(
        self,
        key: int,
        qid: str,
        created: int | None,
        attempts: int,
        size: int,
        domains: tuple,
        reason: str,
        complete: bool,
    ) -> None:
        self.key.append(key)
        self.qid.append(qid)
        self.created.append(NO_TIME if created is None else created)
        self.attempts.append(min(attempts, 2**31 - 1))
        self.size.append(size)
        self.dom.append(self._intern(self.dom_sets, self._dom_index, domains))
        self.reason.append(self._intern(self.reasons, self._reason_index, reason))
        self.complete.append(1 if complete else 0)

    def copy_row(self, other: _Columns, i: int) -> None:
        self.add(
            other.key[i],
            other.qid[i],
            None if other.created[i] == NO_TIME else other.created[i],
            other.attempts[i],
            other.size[i],
            other.dom_sets[other.dom[i]],
            other.reasons[other.reason[i]],
            bool(other.complete[i]),
        )

    def take(self, rows: array) -> _Columns:
        """A new _Columns with these rows (C-level gathers; the string tables are shared)."""
        new = _Columns()
        for name in ("key", "created", "attempts", "size", "dom", "reason"):
            column = getattr(self, name)
            setattr(new, name, array(column.typecode, map(column.__getitem__, rows)))
        new.complete = bytearray(map(self.complete.__getitem__, rows))
        new.qid = list(map(self.qid.__getitem__, rows))
        new.dom_sets, new.reasons = self.dom_sets, self.reasons
        new._dom_index, new._reason_index = self._dom_index, self._reason_index
        return new

    def dump(self) -> dict:
        return {
            "key": self.key.tobytes(),
            "created": self.created.tobytes(),
            "attempts": self.attempts.tobytes(),
            "size": self.size.tobytes(),
            "dom": self.dom.tobytes(),
            "reason": self.reason.tobytes(),
            "complete": bytes(self.complete),
            "qid": "\n".join(self.qid),
            "dom_sets": self.dom_sets,
            "reasons": self.reasons,
        }

    @classmethod
    def load(cls, data: dict) -> _Columns:
        cols = cls()
        for name in ("key", "created", "attempts", "size", "dom", "reason"):
            getattr(cols, name).frombytes(data[name])
        cols.complete = bytearray(data["complete"])
        cols.qid = data["qid"].split("\n") if data["qid"] else []
        cols.dom_sets = [tuple(d) for d in data["dom_sets"]]
        cols.reasons = list(data["reasons"])
        cols._dom_index = {d: i for i, d in enumerate(cols.dom_sets)}
        cols._reason_index = {r: i for i, r in enumerate(cols.reasons)}
        n = len(cols.key)
        if not all(
            len(getattr(cols, c)) == n for c in ("created", "attempts", "size", "dom", "reason", "complete", "qid")
        ):
            raise ValueError("cache columns differ in length")
        if (cols.dom and max(cols.dom) >= len(cols.dom_sets)) or (
            cols.reason and max(cols.reason) >= len(cols.reasons)
        ):
            raise ValueError("cache index out of range")
        return cols


class _Aggregate:
    """The same interface as _Columns, kept as running totals: flat memory for queues too large to cache."""

    def __init__(self) -> None:
        self.count = 0
        self.size = 0
        self.oldest: int | None = None
        self.oldest_qid: str | None = None
        self.max_attempts = 0
        self.domains: Counter[str] = Counter()
        self.reasons: Counter[str] = Counter()

    def __len__(self) -> int:
        return self.count

    def add(
        self,
        key: int,
        qid: str,
        created: int | None,
        attempts: int,
        size: int,
        domains: tuple,
        reason: str,
        complete: bool,
    ) -> None:
        self.count += 1
        self.size += size
        if created is not None and (self.oldest is None or created < self.oldest):
            self.oldest, self.oldest_qid = created, qid
        if attempts > self.max_attempts:
            self.max_attempts = attempts
        for domain in domains:
            self.domains[domain] += 1
        self.reasons[reason] += 1

    def copy_row(self, other: _Columns, i: int) -> None:
        _Columns.copy_row(self, other, i)  # type: ignore[arg-type]

    @classmethod
    def of(cls, cols: _Columns) -> _Aggregate:
        agg = cls()
        for i in range(len(cols)):
            agg.copy_row(cols, i)
        return agg


class _IdSet:
    """Hashes of the queue IDs that own a df: a set while the queue is small (fast), an array of
    64-bit values, sorted once and searched by bisection, when it is large (8 bytes an ID)."""

    def __init__(self, compact: bool) -> None:
        self.exact: set[int] | None = None if compact else set()
        self.packed = array("q")
        self.sorted = False

    def update(self, hashes) -> None:
        if self.exact is not None:
            self.exact.update(hashes)
        else:
            self.packed.extend(hashes)
            self.sorted = False

    def add(self, value: int) -> None:
        self.update((value,))

    def compact(self) -> None:
        if self.exact is not None:
            self.packed = array("q", self.exact)
            self.exact = None
            self.sorted = False

    def _sort(self, run: int = 100000) -> None:
        """Sort in runs of *run* values merged back into an array: never 10^6 Python ints at once."""
        if not self.sorted:
            runs = [array("q", sorted(self.packed[i : i + run])) for i in range(0, len(self.packed), run)]
            self.packed = array("q", heapq.merge(*runs))
            self.sorted = True

    def __contains__(self, value: int) -> bool:
        if self.exact is not None:
            return value in self.exact
        self._sort()
        i = bisect.bisect_left(self.packed, value)
        return i < len(self.packed) and self.packed[i] == value

    def count_in(self, values: array) -> int:
        if self.exact is not None:
            return sum(map(self.exact.__contains__, values))
        return sum(map(self.__contains__, values))


class _Scan:
    """One queue (several directories), aggregated without per-message objects.

    With the columns of an earlier scan, a qf whose (name, inode) is unchanged is
    not opened again, and a df's size is not asked for again.
    """

    def __init__(
        self,
        path: str,
        now: float,
        example_limit: int,
        stale_tf_seconds: int,
        old: _Columns | None = None,
        old_df: dict[str, int] | None = None,
        keep: int = 0,
    ) -> None:
        self.summary = QueueSummary(path=path)
        self.now = now
        self.example_limit = example_limit
        self.stale_tf_seconds = stale_tf_seconds
        self.anomalies: Counter[str] = Counter()
        self.control_ids = _IdSet(compact=not keep)
        self.data_ids = array("q")
        self.old = old or _Columns()
        self.old_index = dict(zip(self.old.key, range(len(self.old.key))))
        self.old_df = old_df or {}
        self.keep = keep
        self.kept = array("l")  # rows of the old columns still in the queue
        self.cols: _Columns | _Aggregate = _Columns() if keep else _Aggregate()  # messages read this time
        self.df: dict[str, int] | None = {} if keep else None
        self.df_total = 0
        self.reads = 0
        self.cache_hits = 0

    def anomaly(self, kind: str, path: str, detail: str | None = None) -> None:
        self.anomalies[kind] += 1
        if len(self.summary.anomaly_examples) < self.example_limit:
            example = {"kind": kind, "path": clean(path, 512)}
            if detail:
                example["detail"] = clean(detail, 256)
            self.summary.anomaly_examples.append(example)

    def directory(self, directory: str) -> None:
        """Scan one directory (raises OSError if it cannot be listed).

        The listing loop only sorts names; qf and df files are then handled in
        chunks with C-level bulk operations (maps over dict lookups, CRCs and
        hashes), which keeps a 10^5-message queue with a warm cache cheap.
        """
        q_names: list[str] = []
        q_inodes: list[int] = []
        d_names: list[str] = []
        pending = 0
        with os.scandir(directory) as entries:
            for entry in entries:
                name = entry.name
                kind = name[:2]
                if kind in _QF_DF:
                    # No is_file() here: a qf that is read is opened O_NOFOLLOW|O_NONBLOCK and
                    # fstat-checked, a df that is sized is lstat-checked; both report the rest.
                    if kind == "qf":
                        q_names.append(name)
                        q_inodes.append(entry.inode())
                    else:
                        d_names.append(name)
                    pending += 1
                    if pending >= CHUNK:
                        self.chunk(directory, q_names, q_inodes, d_names)
                        q_names, q_inodes, d_names = [], [], []
                        pending = 0
                elif kind in KINDS and _valid_id(name[2:]):
                    self.other(directory, entry, kind, name[2:])
        self.chunk(directory, q_names, q_inodes, d_names)

    def chunk(self, directory: str, q_names: list[str], q_inodes: list[int], d_names: list[str]) -> None:
        # Names are validated only where they are not cache hits (a hit was valid when it was cached).
        # qf: identities, then rows of the old columns where (name, inode) is unchanged
        self.control_ids.update(map(hash, map(_ID_OF, q_names)))
        crcs = map(zlib.crc32, map(str.encode, q_names))  # names are ASCII: validated above
        keys = [((inode & 0x7FFFFFFF) << 32) | crc for inode, crc in zip(q_inodes, crcs)]
        rows = list(map(self.old_index.get, keys))
        for name, key, row in zip(q_names, keys, rows):
            if row is None:
                if not _VALID_NAME(name):
                    continue
                if self.df is not None and len(self.kept) + len(self.cols) >= self.keep:
                    self.drop_columns()
                self.read_qf(directory, name, name[2:], key)
                continue
            self.cache_hits += 1
            if self.df is not None:
                self.kept.append(row)
            else:
                self.cols.copy_row(self.old, row)
            if not self.old.complete[row]:
                self.anomaly("truncated_qf", os.path.join(directory, name), "no terminating '.' line")
        if self.df is not None and len(self.kept) + len(self.cols) > self.keep:
            self.drop_columns()
        # df: written once and never changed, so the name alone identifies the size
        sizes = list(map(self.old_df.get, d_names))
        if None in sizes and not all(map(_VALID_NAME, (n for n, z in zip(d_names, sizes) if z is None))):
            kept = [(n, z) for n, z in zip(d_names, sizes) if z is not None or _VALID_NAME(n)]
            d_names, sizes = [n for n, _size in kept], [z for _name, z in kept]
        self.data_ids.extend(map(hash, map(_ID_OF, d_names)))
        for i, size in enumerate(sizes):
            if size is None:
                path = os.path.join(directory, d_names[i])
                sizes[i] = 0
                try:
                    st = os.lstat(path)
                except OSError:
                    continue
                if stat.S_ISREG(st.st_mode):
                    sizes[i] = st.st_size
                else:
                    self.anomaly("not_regular", path, "symlink" if stat.S_ISLNK(st.st_mode) else "not a regular file")
        self.df_total += sum(sizes)
        if self.df is not None:
            self.df.update(zip(d_names, sizes))

    def drop_columns(self) -> None:
        """Too many messages to cache: fold what was kept into running totals and go on in flat memory."""
        agg = _Aggregate.of(self.old.take(self.kept))
        for i in range(len(self.cols)):
            agg.copy_row(self.cols, i)  # type: ignore[arg-type]
        self.cols, self.df, self.kept = agg, None, array("l")
        # The old cache is no use any more either: from here on every file is read.
        self.old, self.old_index, self.old_df = _Columns(), {}, {}
        self.control_ids.compact()

    def merged(self) -> _Columns | _Aggregate:
        """All messages: the old rows still present, then the ones read this time."""
        if isinstance(self.cols, _Aggregate):
            return self.cols
        if len(self.kept) == len(self.old) and not len(self.cols):
            return self.old  # nothing changed
        cols = self.old.take(self.kept)
        for i in range(len(self.cols)):
            cols.copy_row(self.cols, i)
        return cols

    def read_qf(self, directory: str, name: str, qid: str, key: int) -> None:
        path = os.path.join(directory, name)
        data, size, problem = read_regular(path)
        self.reads += 1
        if data is None:
            if problem == "not a regular file" or problem == "symlink":
                self.anomaly("not_regular", path, problem)
            elif problem != "vanished":
                self.anomaly("unreadable", path, problem)
            return
        if not data:
            self.anomaly("zero_length_qf", path)
            return
        qf = parse_qf(data, qid)
        complete = qf.complete or size > len(data)  # not all read: the end was not seen
        if not complete:
            self.anomaly("truncated_qf", path, "; ".join(qf.problems))
        domains = tuple(recipient_domain(r) for r in qf.recipients) or ("(none)",)
        self.cols.add(key, qid, qf.created, qf.attempts, size, domains, reason_class(qf.reason), complete)

    def other(self, directory: str, entry: os.DirEntry, kind: str, qid: str) -> None:
        if kind == "xf":
            return  # a transcript does not own a df
        self.control_ids.add(hash(qid))
        path = os.path.join(directory, entry.name)
        if kind == "hf":
            self.summary.quarantined += 1
        elif kind == "Qf":
            self.anomaly("lost_qf", path, "sendmail set this control file aside as unusable")
        elif kind == "tf":
            try:
                age = self.now - entry.stat(follow_symlinks=False).st_mtime
            except OSError:
                return
            if age > self.stale_tf_seconds:
                self.anomaly("stale_tf", path, f"{int(age)} s old")

    def finish(self, top: int) -> QueueSummary:
        s = self.summary
        cols = self.cols = self.merged()
        s.count = len(cols)
        if isinstance(cols, _Aggregate):
            s.size_bytes = cols.size + self.df_total
            if cols.oldest is not None:
                s.oldest_age_seconds = int(self.now - cols.oldest)
                s.oldest_queue_id = cols.oldest_qid
            s.max_attempts = cols.max_attempts
            domains, reasons = cols.domains, cols.reasons
        else:
            s.size_bytes = sum(cols.size) + self.df_total
            if s.count:
                oldest = min(cols.created)
                if oldest != NO_TIME:
                    s.oldest_age_seconds = int(self.now - oldest)
                    s.oldest_queue_id = cols.qid[cols.created.index(oldest)]
                s.max_attempts = max(cols.attempts)
            domains = Counter()
            for index, n in Counter(cols.dom).items():
                for domain in cols.dom_sets[index]:
                    domains[domain] += n
            reasons = Counter()
            for index, n in Counter(cols.reason).items():
                reasons[cols.reasons[index]] += n
        s.by_domain = dict(domains.most_common(top))
        s.by_reason = dict(reasons.most_common(top))
        orphans = len(self.data_ids) - self.control_ids.count_in(self.data_ids)
        if orphans:
            self.anomalies["orphan_df"] += orphans
        s.anomalies = dict(self.anomalies)
        return s


CACHE_VERSION = 4


def load_cache(path: str, queue_dirs: list[str]) -> tuple[_Columns | None, dict]:
    """An earlier scan's columns and df sizes, if *path* is a root-only regular file of ours."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError:
        return None, {}
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode) or st.st_uid != os.geteuid() or st.st_mode & 0o077:
            return None, {}
        with os.fdopen(os.dup(fd), "rb") as fh:
            data = marshal.load(fh)
        if not isinstance(data, dict) or data.get("v") != CACHE_VERSION or data.get("dirs") != list(queue_dirs):
            return None, {}
        df_sizes = array("q")
        df_sizes.frombytes(data["df_size"])
        df_names = data["df_name"].split("\n") if data["df_name"] else []
        if len(df_sizes) != len(df_names):
            raise ValueError("cache df columns differ in length")
        return _Columns.load(data["qf"]), dict(zip(df_names, df_sizes))
    except (OSError, EOFError, ValueError, TypeError, KeyError):
        return None, {}
    finally:
        os.close(fd)


def save_cache(path: str, queue_dirs: list[str], cols: _Columns, df: dict[str, int]) -> str | None:
    """Write the cache atomically, 0600, in a 0700 directory that is not a symlink. Returns a problem or None."""
    directory = os.path.dirname(path)
    try:
        os.makedirs(directory, mode=0o700, exist_ok=True)
        st = os.lstat(directory)
        if not stat.S_ISDIR(st.st_mode) or st.st_uid != os.geteuid() or st.st_mode & 0o022:
            return f"{directory} is not a private directory of ours; cache not written"
        fd, tmp = tempfile.mkstemp(dir=directory, prefix=".queue-cache-")
        try:
            with os.fdopen(fd, "wb") as fh:
                marshal.dump(
                    {
                        "v": CACHE_VERSION,
                        "dirs": list(queue_dirs),
                        "qf": cols.dump(),
                        "df_name": "\n".join(df.keys()),
                        "df_size": array("q", df.values()).tobytes(),
                    },
                    fh,
                )
            os.replace(tmp, path)
        except BaseException:
            os.unlink(tmp)
            raise
    except OSError as exc:
        return f"cache not written: {exc.strerror}"
    return None


def cache_path_for(cache_dir: str, queue_dirs: list[str]) -> str:
    return os.path.join(cache_dir, "queue-%08x.cache" % zlib.crc32("\0".join(queue_dirs).encode()))


def scan_queue(
    queue_dirs: list[str],
    now: float,
    top: int = 10,
    example_limit: int = 20,
    stale_tf_seconds: int = 3600,
    cache_dir: str | None = None,
    cache_max_entries: int = 150000,
    write_cache: bool = True,
) -> QueueSummary:
    """Summarise one queue (its directories). Raises QueueError if no directory can be listed.

    With *cache_dir*, files unchanged since the last scan (same name and inode) are
    not read again. A queue of more than *cache_max_entries* messages is scanned
    without a cache.
    """
    cache_file = cache_path_for(cache_dir, queue_dirs) if cache_dir else None
    old, old_df = load_cache(cache_file, queue_dirs) if cache_file else (None, {})
    scan = _Scan(
        queue_dirs[0] if queue_dirs else "",
        now,
        example_limit,
        stale_tf_seconds,
        old,
        old_df,
        keep=cache_max_entries if cache_file else 0,
    )
    del old, old_df
    listed = 0
    errors = []
    for qdir in queue_dirs:
        for directory in _leaf_dirs(qdir):
            try:
                scan.directory(directory)
                listed += 1
                scan.summary.directories.append(directory)
            except FileNotFoundError:
                errors.append(f"{directory}: does not exist")
            except NotADirectoryError:
                errors.append(f"{directory}: not a directory")
            except PermissionError:
                errors.append(f"{directory}: permission denied")
    if listed == 0:
        raise QueueError("; ".join(errors) or "no queue directory given")
    summary = scan.finish(top)
    summary.files_read = scan.reads
    summary.cache = {"file": cache_file, "hits": scan.cache_hits, "written": False}
    # Nothing read and nothing gone: the cache on disk is still exact; leave it.
    cacheable = isinstance(scan.cols, _Columns) and scan.df is not None
    unchanged = cacheable and scan.reads == 0 and len(scan.cols) == len(scan.old) and len(scan.df) == len(scan.old_df)
    if cache_file and write_cache and cacheable and not unchanged:
        problem = save_cache(cache_file, queue_dirs, scan.cols, scan.df)
        summary.cache["written"] = problem is None
        if problem:
            summary.cache["problem"] = problem
    if errors:
        summary.error = "; ".join(errors)
    if summary.anomalies.get("orphan_df"):
        _name_orphans(scan, queue_dirs)
    return summary


def _name_orphans(scan: _Scan, queue_dirs: list[str]) -> None:
    """Second, rare pass: give the orphan df files names for the report."""
    for qdir in queue_dirs:
        for directory in _leaf_dirs(qdir):
            try:
                names = os.listdir(directory)
            except OSError:
                continue
            for name in names:
                parts = split_name(name)
                if parts and parts[0] == "df" and hash(parts[1]) not in scan.control_ids:
                    if len(scan.summary.anomaly_examples) >= scan.example_limit:
                        return
                    scan.summary.anomaly_examples.append(
                        {"kind": "orphan_df", "path": clean(os.path.join(directory, name), 512)}
                    )


def list_messages(
    queue_dirs: list[str],
    now: float,
    queue_ids: list[str] | None = None,
    recipient_domain_filter: str | None = None,
    sender: str | None = None,
    older_than: int | None = None,
    limit: int = 100,
    include_quarantined: bool = True,
) -> tuple[list[dict], int]:
    """Messages matching every given filter: (first *limit* entries, total matches)."""
    wanted = set(queue_ids or [])
    domain = recipient_domain_filter.lower().lstrip("@") if recipient_domain_filter else None
    out: list[dict] = []
    total = 0
    for qdir in queue_dirs:
        for directory in _leaf_dirs(qdir):
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
                data, size, _problem = read_regular(path)
                if data is None:
                    continue
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


def decode_queue_id(value: str) -> str:
    """Validate a user-supplied queue ID (pattern, no path separators, no leading '-')."""
    if not _valid_id(value):
        raise QueueError(f"not a queue ID: {clean(value, 64)!r} (expected 8-20 letters and digits)")
    return value


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
