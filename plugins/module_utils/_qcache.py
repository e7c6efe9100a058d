# Copyright: (c) 2026, opsiface.sendmail developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The queue summary's cache: the rows of the previous scan, so that files unchanged since are not read again.

One file per queue (its directories hashed into the name), written atomically,
0600, in a directory of ours that nobody else can write; read only if it is a
regular file of ours that nobody else can read or write. Anything else in its
place (a symlink, another owner, garbage, another version) is ignored: the scan
then reads every file, as on a first run.

A row is reused only while its qf has the same name, inode, size and mtime
(ns), and was complete when read: sendmail rewrites a qf through a tf and a
rename (a new inode, which the file system may later hand out again, hence
size and mtime too), and writes a new one in place (not complete until its
'.' line), so no rewritten control file is ever served from here. A df is
written once before its qf exists: its size is kept by name, for the dfs whose
message was there.
"""

from __future__ import annotations

import marshal
import os
import stat
import zlib
from array import array

from ._qrows import Rows

VERSION = 6


class Cached:
    """One directory's rows and df sizes from the previous scan."""

    def __init__(self, rows: Rows | None = None, df: dict[str, int] | None = None, index: dict | None = None) -> None:
        self.rows = rows if rows is not None else Rows()
        self.index = index if index is not None else dict(zip(self.rows.name, range(len(self.rows.name))))
        self.df = df if df is not None else {}


def path_for(cache_dir: str, queue_dirs: list[str]) -> str:
    return os.path.join(cache_dir, "queue-%08x.cache" % zlib.crc32("\0".join(queue_dirs).encode()))


def load(path: str, queue_dirs: list[str]) -> dict[str, Cached]:
    """{leaf directory: Cached} from *path*; empty unless it is a valid, private file of ours."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError:
        return {}
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode) or st.st_uid != os.geteuid() or st.st_mode & 0o077:
            return {}
        with os.fdopen(os.dup(fd), "rb") as fh:
            data = marshal.load(fh)
        if not isinstance(data, dict) or data.get("v") != VERSION or data.get("dirs") != list(queue_dirs):
            return {}
        found = {}
        for directory, (rows, df) in data["leaves"].items():
            loaded, index = Rows.load(rows), rows["name"]
            if array("q", index.values()) != array("q", range(len(loaded))) or 0 in loaded.complete:
                raise ValueError("rows out of order, or of an incomplete control file: not a cache we wrote")
            "".join(df)  # names: TypeError if not
            array("q", df.values())  # sizes: TypeError or OverflowError if not
            found[str(directory)] = Cached(loaded, df, index)
        return found
    except (OSError, EOFError, ValueError, TypeError, KeyError, AttributeError, OverflowError):
        return {}
    finally:
        os.close(fd)


def save(path: str, queue_dirs: list[str], leaves: dict[str, tuple[Rows, dict[str, int]]]) -> str | None:
    """Write the cache atomically, 0600, in a directory of ours that nobody else can write.

    Returns a problem or None. Creates the directory (0700) if missing; never changes one that exists."""
    directory = os.path.dirname(path)
    try:
        os.makedirs(directory, mode=0o700, exist_ok=True)
        st = os.lstat(directory)
        if not stat.S_ISDIR(st.st_mode) or st.st_uid != os.geteuid() or st.st_mode & 0o022:
            return f"{directory} is not a private directory of ours; cache not written"
        data = {
            "v": VERSION,
            "dirs": list(queue_dirs),
            "leaves": {  # names as the dicts the scan looks them up in: marshal loads them in half the time
                leaf: (dict(rows.dump(), name=dict(zip(rows.name, range(len(rows))))), dict(df))
                for leaf, (rows, df) in leaves.items()
            },
        }
        import tempfile  # here: a scan that writes no cache does not pay its import (3 ms)

        fd, tmp = tempfile.mkstemp(dir=directory, prefix=".queue-cache-")
        try:
            with os.fdopen(fd, "wb") as fh:
                marshal.dump(data, fh)
            os.replace(tmp, path)
        except BaseException:
            os.unlink(tmp)
            raise
    except OSError as exc:
        return f"cache not written: {exc.strerror}"
    return None
