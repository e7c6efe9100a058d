# Copyright: (c) 2026, opsiface.sendmail developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A helper process: the queue scan's use of a second CPU, fed only while it keeps up.

The scan's per-file work (open, fstat, read, parse) holds the GIL: two threads
took 0.94 s where one took 0.82 s on 10^5 files. So the scan forks one child
and hands it batches of names through a pipe: the parent lists each directory
once (two processes each listing it cost 0.075 s of CPU per 10^5 messages more)
and offers every batch to the child while the child has room for it (two
batches queued at most), else does it itself. A child on a CPU that other work
holds gets fewer batches, and the parent never waits on it mid-scan. The child
sends back its result marshalled and leaves with ``os._exit`` (no cleanup
handler of the parent runs twice). A child that fails, or a fork that is not
possible, costs time and never a message: :meth:`Helper.result` says so and the
caller does the whole scan again alone.
"""

from __future__ import annotations

import marshal
import os

FORK_MIN_DIR_BYTES = 256 * 1024  # directories at least this large (about 8,000 ext4 entries) get a helper
QUEUED = 2  # batches the child may have waiting: it never idles, and the pipe (64 KiB) never fills


def workers_for(directories: list[str]) -> int:
    """2 processes for a large queue on a host with 2 or more CPUs for us, else 1."""
    try:
        cpus = len(os.sched_getaffinity(0))  # type: ignore[attr-defined]
    except (AttributeError, OSError):
        cpus = os.cpu_count() or 1
    if cpus < 2 or not hasattr(os, "fork"):
        return 1
    size = 0
    for path in directories:
        try:
            size += os.stat(path).st_size
        except OSError:
            pass
    return 2 if size >= FORK_MIN_DIR_BYTES else 1


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


class Helper:
    """A forked child that runs ``worker.batch(*args)`` for each batch the parent hands it with :meth:`offer`,
    and sends back ``worker.dump()`` at the end (:meth:`result`)."""

    def __init__(self, worker) -> None:
        self.pid = None
        self.failed = False
        self.credit = QUEUED
        try:
            work_r, self.work = os.pipe()
            self.back, back_w = os.pipe()
        except OSError:
            return
        try:
            pid = os.fork()
        except OSError:
            for fd in (work_r, self.work, self.back, back_w):
                os.close(fd)
            return
        if pid == 0:  # the child: its batches, its result down the pipe, and out without cleanup handlers
            code = 1
            try:
                os.close(self.work)
                os.close(self.back)
                _serve(worker, work_r, back_w)
                code = 0
            finally:
                os._exit(code)
        self.pid = pid
        os.close(work_r)
        os.close(back_w)
        os.set_blocking(self.back, False)

    def offer(self, *batch) -> bool:
        """Hand *batch* to the child if it has room for it; False: do it yourself."""
        if self.pid is None:
            return False
        if not self.credit:
            try:
                done = os.read(self.back, 4096)  # a byte a batch the child finished
            except BlockingIOError:
                return False
            if not done:  # the child is gone
                self._lost()
                return False
            self.credit += len(done)
        data = marshal.dumps(batch)
        try:
            _write_all(self.work, len(data).to_bytes(4, "little") + data)
        except OSError:
            self._lost()
            return False
        self.credit -= 1
        return True

    def _lost(self) -> None:
        os.close(self.work)
        os.close(self.back)
        os.waitpid(self.pid, 0)
        self.pid = None
        self.failed = True

    def result(self):
        """(True, the child's dump()) when it did every batch it took; (False, None) when it failed; (True, None)
        when there was no child."""
        if self.pid is None:
            return not self.failed, None
        os.close(self.work)
        os.set_blocking(self.back, True)
        with os.fdopen(self.back, "rb") as fh:
            data = fh.read().lstrip(b"+")
        _pid, status = os.waitpid(self.pid, 0)
        self.pid = None
        if status != 0 or data[:1] != b"=":
            return False, None
        try:
            return True, marshal.loads(data[1:])
        except (EOFError, ValueError, TypeError):
            return False, None


def _serve(worker, work_r: int, back_w: int) -> None:
    with os.fdopen(work_r, "rb") as work:
        head = work.read(4)
        while head:
            size = int.from_bytes(head, "little") if len(head) == 4 else -1
            data = work.read(size) if size >= 0 else b""
            if len(data) != size:
                raise EOFError("a batch cut short")
            worker.batch(*marshal.loads(data))
            os.write(back_w, b"+")
            head = work.read(4)
    _write_all(back_w, b"=" + marshal.dumps(worker.dump()))
    os.close(back_w)
