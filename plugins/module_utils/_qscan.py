# Copyright: (c) 2026, opsiface.sendmail developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The queue scan: queue directories -> rows of messages (or their totals) and anomalies.

Never changes or locks anything. Lists each directory once (``qd*`` directories
and ``qf/df/xf`` subdirectories included) and reads only the control files that
:mod:`_qfiles` says sendmail wrote; the others are reported by name, never read.
Memory stays flat however long the queue is: the listing is handled in chunks.

The only entry point is :func:`scan`; how it is made fast stays in this file
(each trick with the figure that justifies it, measured on a 10^5-message queue
in a lab host of this project's 2-core machine, CPU time):

- names relative to an open directory (``dir_fd``): 0.56 s against 1.0 s for
  opening 10^5 files by full path;
- each directory listed once, in chunks of 1024 names, and each chunk done by a
  helper process whenever it has room for one (:mod:`_qfork`), else here: the
  second CPU without a second listing (0.075 s of 10^5 messages' 0.4 s warm);
- a chunk's names joined in one string, from which one regex each picks the
  control and the data files' names, checked (24 ms for 200,000 names, against
  34 ms for a dict of lists and a check of each name);
- one ``read`` of exactly the size ``fstat`` gave: no 64 KiB buffer to shrink;
  ``O_NOATIME`` where the kernel allows it (below, ``_NOATIME``);
- control files read and parsed in batches of 256 (:func:`_qf.parse_many`):
  their bytes are still in the CPU cache (1.3 us a file against 2.1 us);
- with the previous scan's rows (:mod:`_qcache`), one ``lstat`` per qf instead
  of open/fstat/read/close and a parse, the keys compared as whole columns;
- every step that needs no decision per name at C speed (``map``, ``compress``,
  ``zip``): a Python statement per name costs 0.05 to 0.1 us, a system call 1.7.
"""

from __future__ import annotations

import errno
import operator
import os
import re
from array import array
from functools import partial
from itertools import compress, islice, repeat

from ._qcache import Cached
from ._qf import VALID_NAME, parse_many
from ._qfiles import _RFLAGS, QF_MAX_BYTES, READ_LIMIT, REG, leaf_dirs, read_control
from ._qfork import Helper, workers_for
from ._qfound import EMPTY, Found, pick
from ._qrows import Rows, missing
from ._text import clean

CHUNK = 1024  # names listed, then done together, here or by the helper: bounds the listing's memory
BATCH = 256  # control files read, then parsed together (see parse_many)
# The names of queue files in a chunk, one a line, picked and checked by one regex each (VALID_NAME's test)
_CONTROL = re.compile(r"\n(qf[A-Za-z0-9]{8,20})(?=\n)").findall
_DATA = re.compile(r"\n(df[A-Za-z0-9]{8,20})(?=\n)").findall
_OTHER = re.compile(r"\n((?:tf|xf|hf|Qf)[A-Za-z0-9]{8,20})(?=\n)").findall
_DFLAGS = os.O_RDONLY | getattr(os, "O_DIRECTORY", 0)
# Reading a qf updates its atime (relatime: once after each write): a journalled inode change that cost a first
# look at 30,000 fresh files 0.21 s of CPU against 0.15 s with O_NOATIME, and changed every file's metadata.
_NOATIME = getattr(os, "O_NOATIME", 0)
_ID_OF = operator.itemgetter(slice(2, None))  # "qf6ARA..." -> "6ARA...", at C speed
_NAME = operator.attrgetter("name")
_KEY = operator.attrgetter("st_ino", "st_size", "st_mtime_ns")
_SAFE = operator.attrgetter("st_mode", "st_nlink", "st_uid")
_SIZE, _MODE = operator.attrgetter("st_size"), operator.attrgetter("st_mode")
_AT = os.open in os.supports_dir_fd and os.stat in os.supports_dir_fd and os.scandir in os.supports_fd


def _stats(dfd, refs: list[str]) -> tuple[list, bool]:
    """(lstat() of each name, True), at C speed; (results with None for a name gone and the OSError for one that
    failed, False) if any failed."""
    try:
        return list(map(partial(os.stat, dir_fd=dfd, follow_symlinks=False), refs)), True
    except OSError:
        out: list = []
        for ref in refs:
            try:
                out.append(os.stat(ref, dir_fd=dfd, follow_symlinks=False))
            except FileNotFoundError:
                out.append(None)
            except OSError as exc:
                out.append(exc)
        return out, False


class Part(Found):
    """What one process found: the parent lists the directories (see :meth:`directory`), the helper child
    does the chunks it takes (:meth:`batch`)."""

    def __init__(self, fds: dict, owners, old: dict[str, Cached], keep: int, now: float, opts) -> None:
        super().__init__(old, keep, opts[0])
        self.fds, self.owners, self.now, self.stale_tf_seconds = fds, owners, now, opts[1]
        self.flags = _RFLAGS | _NOATIME

    def directory(self, directory: str, helper: Helper | None) -> None:
        """List one directory, and see that each chunk of its names is done, by *helper* if it has room, else
        here (raises OSError if it cannot be listed)."""
        with os.scandir(self.fds[directory] if _AT else directory) as entries:
            names = map(_NAME, entries)
            chunk = list(islice(names, CHUNK))
            while chunk:
                text = "\n".join(chunk)
                if text.count("\n") != len(chunk) - 1:  # a name with a newline is no queue file's: drop it
                    text = "\n".join(name for name in chunk if "\n" not in name)
                if helper is None or not helper.offer(directory, text):
                    self.batch(directory, text)
                chunk = list(islice(names, CHUNK))

    def batch(self, directory: str, text: str) -> None:
        """The files of *directory* named in *text* (names, one a line)."""
        text = "\n" + text + "\n"
        q, d = _CONTROL(text), _DATA(text)
        self.control_ids.extend(map(hash, map(_ID_OF, q)))
        self.data_ids.extend(map(hash, map(_ID_OF, d)))
        for name in _OTHER(text):
            self.other(directory, name)
        dfd, prefix = (self.fds[directory], "") if _AT else (None, directory + os.sep)
        old = self.old.get(directory) or EMPTY
        kept = self.kept.setdefault(directory, array("l")) if self.keeping else array("l")
        new = self.new.setdefault(directory, Rows()) if self.keeping else Rows()
        before, hits = len(kept) + len(new), len(kept)
        unread = self.reuse(dfd, prefix, old, q, kept) if len(old.rows) else q
        self.read(directory, dfd, prefix, unread, new)
        self.hits += len(kept) - hits
        self.size_dfs(directory, dfd, prefix, d, old.df)
        if self.keeping:
            self.held += len(kept) + len(new) - before
            if self.held > self.keep:
                self.fold()
        elif kept:
            self.totals.merge(old.rows.take(kept).totals())

    def reuse(self, dfd, prefix: str, old: Cached, names: list[str], kept: array) -> list[str]:
        """Add to *kept* the rows of the files unchanged since *old* (same inode, size and mtime, and still
        sendmail's); return the names to read."""
        idx = list(map(old.index.get, names))
        unread = [] if None not in idx else [n for n, i in zip(names, idx) if i is None]
        if unread:
            names, idx = [n for n, i in zip(names, idx) if i is not None], [i for i in idx if i is not None]
        stats, ok = _stats(dfd, [prefix + n for n in names] if prefix else names)
        if not ok:  # gone: not counted; failing: read, so that the read says why
            unread += [n for n, st in zip(names, stats) if isinstance(st, OSError)]
            found = list(map(isinstance, stats, repeat(os.stat_result)))
            names, idx, stats = (list(compress(x, found)) for x in (names, idx, stats))
        rows = old.rows
        was = zip(map(rows.ino.__getitem__, idx), map(rows.size.__getitem__, idx), map(rows.mtime.__getitem__, idx))
        same = list(map(operator.eq, map(_KEY, stats), was))
        owners = self.owners
        bad = {s for s in set(map(_SAFE, stats)) if s[0] & 0o170002 != REG or s[1] != 1 or s[2] not in owners}
        if bad:  # not (or no longer) a file sendmail wrote: read it, so that it is reported
            same = list(map(operator.and_, same, map(operator.not_, map(bad.__contains__, map(_SAFE, stats)))))
        kept.extend(compress(idx, same))
        if False in same:
            unread += compress(names, map(operator.not_, same))
        return unread

    def read(self, directory: str, dfd, prefix: str, names: list[str], new: Rows) -> None:
        """Read and parse control files, checked as read_control() does, inline: 10^5 calls of it cost 0.1 s."""
        owners, flags = self.owners, self.flags
        open_, fstat, read, close = os.open, os.fstat, os.read, os.close
        self.reads += len(names)
        for start in range(0, len(names), BATCH):
            good, stats, datas = [], [], []
            for name in names[start : start + BATCH]:
                try:
                    fd = open_(prefix + name, flags, dir_fd=dfd)
                except OSError as exc:
                    fd, flags = self.reopen(exc, prefix + name, dfd), self.flags
                    if fd < 0:
                        self.refused(directory, dfd, prefix, name)
                        continue
                try:
                    st = fstat(fd)
                    size = st.st_size
                    if (
                        st.st_mode & 0o170002 != REG
                        or st.st_nlink != 1
                        or st.st_uid not in owners
                        or not 0 < size <= QF_MAX_BYTES
                    ):
                        self.refused(directory, dfd, prefix, name)
                        continue
                    datas.append(read(fd, size if size < READ_LIMIT else READ_LIMIT))
                except OSError:
                    self.refused(directory, dfd, prefix, name)
                    continue
                finally:
                    close(fd)
                good.append(name)
                stats.append(st)
            columns = parse_many(datas)
            if False in columns[4]:
                self.incomplete(directory, good, stats, datas, columns)
            if self.keeping:
                new.add_many(good, stats, *columns)
            else:
                self.totals.add(good, sum(map(_SIZE, stats)), *columns[:4])

    def reopen(self, exc: OSError, ref: str, dfd) -> int:
        """Open *ref* again without O_NOATIME if that is what was refused (EPERM: it is for the file's owner or
        root only), and go on without it; -1 if not."""
        if exc.errno != errno.EPERM or self.flags == _RFLAGS:
            return -1
        self.flags = _RFLAGS
        try:
            return os.open(ref, _RFLAGS, dir_fd=dfd)
        except OSError:
            return -1

    def incomplete(self, directory: str, names: list[str], stats: list, datas: list[bytes], columns: tuple) -> None:
        created, complete = columns[0], columns[4]
        for i, done in enumerate(complete):
            if done:
                continue
            if stats[i].st_size > len(datas[i]):
                complete[i] = True  # not all read: the end was not seen
            else:
                why = "truncated (no terminating '.' line)" + (
                    "; no creation time (T line)" if created[i] is None else ""
                )
                self.anomaly("truncated_qf", os.path.join(directory, names[i]), why)

    def refused(self, directory: str, dfd, prefix: str, name: str) -> None:
        """The slow, exact path for a control file the fast loop did not read: say why, or nothing if it is gone."""
        data, _st, kind, detail = read_control(prefix + name, dfd, self.owners, 0)
        path = os.path.join(directory, name)
        if data == b"" and _st is not None and not _st.st_size:
            self.anomaly("zero_length_qf", path)
        elif data is None and kind != "vanished":
            self.anomaly(kind, path, detail)

    def size_dfs(self, directory: str, dfd, prefix: str, names: list[str], cached: dict[str, int]) -> None:
        """df sizes: a df is written once, before its qf exists, so a size kept by name stays true."""
        if self.keeping:
            self.df_seen.setdefault(directory, []).extend(names)
        if cached:
            sizes = list(map(cached.get, names))
            if None not in sizes:
                self.df_total += sum(sizes)
                return
            unknown = list(map(operator.is_, sizes, repeat(None)))
            self.df_total += sum(compress(sizes, map(operator.not_, unknown)))
            names = list(compress(names, unknown))
        stats, ok = _stats(dfd, [prefix + n for n in names] if prefix else names)
        if not ok or set(map(operator.and_, map(_MODE, stats), repeat(0o170000))) - {REG}:
            pairs = []
            for name, st in zip(names, stats):
                if not isinstance(st, os.stat_result):
                    continue  # gone, or cannot be seen: no size
                if st.st_mode & 0o170000 == REG:
                    pairs.append((name, st.st_size))
                else:
                    kind = "symlink" if st.st_mode & 0o170000 == 0o120000 else "not a regular file"
                    self.anomaly("not_regular", os.path.join(directory, name), kind)
            names, sizes = [p[0] for p in pairs], [p[1] for p in pairs]
        else:
            sizes = list(map(_SIZE, stats))
        self.df_total += sum(sizes)
        if self.keeping:
            self.df_new.setdefault(directory, {}).update(zip(names, sizes))

    def other(self, directory: str, name: str) -> None:
        kind = name[:2]
        if kind == "xf":
            return  # a transcript does not own a df
        self.control_ids.append(hash(name[2:]))
        path = os.path.join(directory, name)
        if kind == "hf":
            self.quarantined += 1
        elif kind == "Qf":
            self.anomaly("lost_qf", path, "sendmail set this control file aside as unusable")
        elif kind == "tf":
            try:
                st = os.stat(name, dir_fd=self.fds[directory], follow_symlinks=False) if _AT else os.lstat(path)
            except OSError:
                return
            if self.now - st.st_mtime > self.stale_tf_seconds:
                self.anomaly("stale_tf", path, f"{int(self.now - st.st_mtime)} s old")


def scan(queue_dirs: list[str], now: float, old: dict[str, Cached], keep: int, owners, opts, workers=None):
    """Scan a queue's directories: (the merged Part, directories listed, errors).

    *old*: the previous scan's rows by directory; *keep*: keep rows for up to this many messages
    (0: totals only); *opts*: (example_limit, stale_tf_seconds); *workers*: processes (None: decide)."""
    leaves = [leaf for qdir in queue_dirs for leaf in leaf_dirs(qdir)]
    fds: dict[str, int | None] = {}
    unopened: list[str] = []
    for directory in leaves:
        try:  # opened once, before the fork: the helper works in the very same directories
            fds[directory] = os.open(directory, _DFLAGS) if _AT else None
        except OSError as exc:
            unopened.append(_unlisted(directory, exc))
    forked = (workers or workers_for(leaves)) > 1
    try:
        while True:
            found, listed, errors = Part(fds, owners, old, keep, now, opts), [], list(unopened)
            helper = Helper(Part(fds, owners, old, keep, now, opts)) if forked else None
            try:
                for directory in fds:
                    try:
                        found.directory(directory, helper)
                        listed.append(directory)
                    except OSError as exc:
                        errors.append(_unlisted(directory, exc))
            finally:
                done, other = helper.result() if helper else (True, None)
            if done:
                break
            forked = False  # the helper failed: its batches are lost, so the whole scan once more, alone
        if other is not None:
            found.absorb(other)
    finally:
        for fd in fds.values():
            if fd is not None:
                os.close(fd)
    orphans, sample = missing(found.data_ids, found.control_ids, opts[0])
    if orphans:
        found.anomalies["orphan_df"] += orphans
        _name_orphans(found, listed, sample)
    found.examples = pick(found.examples, found.example_limit)  # the same ones however the work was split
    return found, listed, errors


def _unlisted(directory: str, exc: OSError) -> str:
    reason = {errno.ENOENT: "does not exist", errno.ENOTDIR: "not a directory", errno.EACCES: "permission denied"}
    return f"{directory}: {reason.get(exc.errno) or exc.strerror or 'cannot be listed'}"


def _name_orphans(found: Part, directories: list[str], sample: set[int]) -> None:
    """Second, rare pass: the orphan df files' names for the report."""
    named = 0
    for directory in directories:
        try:
            with os.scandir(directory) as entries:
                for entry in entries:
                    name = entry.name
                    if name[:2] == "df" and VALID_NAME(name) and hash(name[2:]) in sample:
                        if named >= found.example_limit:
                            return
                        named += 1
                        found.examples.append({"kind": "orphan_df", "path": clean(os.path.join(directory, name), 512)})
        except OSError:
            continue
