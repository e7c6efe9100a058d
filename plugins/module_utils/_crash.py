# Copyright: (c) 2026, opsiface.sendmail developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Crash Dump: a core of the listener, with the evidence to read it later.

The runbook's "gcore the daemon" (or "kill -6 for a core on exit"), done so
that a dump never makes things worse: every guard (tools, ptrace, space,
dump directory) is decided before anything touches the process; cores are
written root-only into a directory created without following symlinks; a
failed dump leaves no partial file; and the daemon is found running (gcore)
afterwards.

Pure decisions over /proc text first, then the few file operations.
"""

from __future__ import annotations

import errno
import fnmatch
import hashlib
import os
import re
import shutil
import stat
import time
from dataclasses import dataclass

from ._text import clean

CAP_SYS_PTRACE = 19
BUNDLE_NAME = re.compile(r"^\d{8}T\d{6}Z-\d+$")


# ----------------------------------------------------------------- /proc text
def parse_status(text: str) -> dict:
    """/proc/PID/status: uids, gids (real, effective, saved, fs), VmSize in bytes, CapEff as an int."""
    out: dict = {}
    for line in text.splitlines():
        key, _sep, value = line.partition(":")
        value = value.strip()
        # numbers longer than any real /proc value are garbage (and a 5000-digit int is no JSON):
        # found by bench/fuzz.py (fixtures/fuzz/proc_status-*.bin)
        if key in ("Uid", "Gid"):
            fields = value.split()
            if all(v.isdigit() and len(v) <= 10 for v in fields):
                out[key.lower() + "s"] = [int(v) for v in fields]
        elif key in ("VmSize", "VmRSS"):
            parts = value.split()
            if parts and parts[0].isdigit() and len(parts[0]) <= 16:
                out[key.lower() + "_bytes"] = int(parts[0]) * 1024
        elif key == "CapEff":
            if 0 < len(value) <= 16 and all(c in "0123456789abcdefABCDEF" for c in value):
                out["cap_eff"] = int(value, 16)
        elif key == "Name":
            out["name"] = clean(value, 64)
    return out


def is_setid(status: dict) -> bool:
    """The process changed identity at exec (set-uid/set-gid binary): the kernel marks it non-dumpable."""
    uids = status.get("uids") or []
    gids = status.get("gids") or []
    return len(set(uids[:3])) > 1 or len(set(gids[:3])) > 1


def has_capability(cap_eff: int | None, bit: int) -> bool:
    return cap_eff is not None and bool(cap_eff >> bit & 1)


def ptrace_problem(ptrace_scope: int | None, our_status: dict, target: dict) -> str | None:
    """Why we could not attach to the target with ptrace (gcore, gdb, strace), or None.

    Yama's ptrace_scope 3 forbids attaching at all; 1 and 2 need CAP_SYS_PTRACE
    for a process that is not our descendant. Without Yama, a non-dumpable
    (set-id) process still needs CAP_SYS_PTRACE.
    """
    cap = has_capability(our_status.get("cap_eff"), CAP_SYS_PTRACE)
    if ptrace_scope == 3:
        return "kernel.yama.ptrace_scope is 3: no process may be traced until reboot"
    if ptrace_scope in (1, 2) and not cap:
        return f"kernel.yama.ptrace_scope is {ptrace_scope} and we lack CAP_SYS_PTRACE"
    if is_setid(target) and not cap:
        return "the daemon runs from a set-id binary (not dumpable) and we lack CAP_SYS_PTRACE"
    return None


def abort_problem(
    target: dict, suid_dumpable: int | None, core_pattern: str, core_soft_limit: int | None
) -> str | None:
    """Why ``kill -6`` would kill the daemon without leaving a core we can collect, or None."""
    if core_pattern.startswith("|"):
        handler = clean(core_pattern[1:].split()[0] if core_pattern[1:].split() else "", 200)
        return f"kernel.core_pattern pipes cores to {handler}; collect it there (or use gcore mode)"
    if is_setid(target):
        if not suid_dumpable:
            return (
                "the daemon runs from a set-id binary and fs.suid_dumpable is 0: it would die without a core "
                "(use gcore mode, or set fs.suid_dumpable=2 with an absolute kernel.core_pattern)"
            )
        if suid_dumpable == 2 and not core_pattern.startswith("/"):
            return "fs.suid_dumpable is 2 but kernel.core_pattern is relative: the kernel writes no core"
    if core_soft_limit == 0:
        return "the daemon's core size limit is 0 and could not be raised"
    return None


@dataclass(frozen=True)
class CoreTarget:
    """What kernel.core_pattern's specifiers stand for, for the process about to dump."""

    pid: int
    comm: str
    uid: int
    gid: int
    hostname: str
    uses_pid: bool  # kernel.core_uses_pid
    cwd: str  # a relative pattern is relative to the process's working directory


def core_glob(pattern: str, target: CoreTarget) -> str:
    """Where the kernel writes the core for *pattern*, as a glob (%t and the like become '*')."""
    pid = str(target.pid)
    known = {"p": pid, "P": pid, "i": pid, "I": pid, "u": str(target.uid), "g": str(target.gid)}
    known.update({"s": "6", "e": target.comm[:15], "h": target.hostname, "%": "%"})
    out = []
    i = 0
    while i < len(pattern):
        char = pattern[i]
        if char == "%" and i + 1 < len(pattern):
            spec = pattern[i + 1]
            value = known.get(spec)
            out.append(glob_escape(value) if value is not None else "*")
            i += 2
            continue
        out.append(glob_escape(char))
        i += 1
    path = "".join(out)
    if target.uses_pid and "%p" not in pattern:
        path += f".{pid}"
    return path if path.startswith("/") else os.path.join(glob_escape(target.cwd), path)


def glob_escape(text: str) -> str:
    return re.sub(r"([*?\[])", r"[\1]", text)


def space_problem(path: str, free_bytes: int, needed: int) -> str | None:
    if free_bytes < needed:
        return f"{clean(path)} has {free_bytes // 1048576} MiB free, the dump needs up to {needed // 1048576} MiB"
    return None


def to_delete(bundles: list[tuple[str, float]], keep: int) -> list[str]:
    """Retention: every bundle but the newest *keep* (by name, which starts with the UTC time)."""
    ordered = sorted(bundles, key=lambda b: (b[0], b[1]), reverse=True)
    return [name for name, _value in ordered[max(keep, 0) :]]


def backtrace_summary(text: str) -> dict:
    """Frames and the innermost function of gdb's ``bt`` output."""
    frames = []
    for line in text.splitlines():
        match = re.match(r"#(\d+)\s+(?:0x[0-9a-f]+ in )?(\S+)", line)
        if match:
            if frames and match.group(1) == "0":
                if len(frames) > 1:
                    break  # the first backtrace only; "thread apply all bt" repeats it per thread
                frames = []  # gdb printed the current frame on loading the core; bt starts again at #0
            frames.append((match.group(1), match.group(2)))
    return {
        "frames": len(frames),
        "top": clean(frames[0][1], 120) if frames else None,
        "functions": [clean(f, 120) for _key, f in frames[:8]],
    }


_MDB_FRAME = re.compile(r"^[0-9a-fA-F]+ (?:[^`\s]+`)?(?P<fn>[A-Za-z_.$][\w.$]*)(?:\+0x[0-9a-fA-F]+)?\(")


def mdb_backtrace_summary(text: str) -> dict:
    """Frames and the innermost function of Solaris mdb's ``$C`` output ("08047b98 libc.so.1`__pollsys+0x15(...)")."""
    frames = [m["fn"] for m in (_MDB_FRAME.match(line.strip()) for line in text.splitlines()) if m]
    return {
        "frames": len(frames),
        "top": clean(frames[0], 120) if frames else None,
        "functions": [clean(f, 120) for f in frames[:8]],
    }


def parse_pargs(text: str) -> list[str]:
    """Solaris ``pargs -a PID``: the argv[N] lines, in order."""
    args = []
    for line in text.splitlines():
        match = re.match(r"^argv\[(\d+)\]: ?(.*)$", line)
        if match:
            args.append(clean(match.group(2), 512))
    return args


def parse_vsz_kb(text: str) -> int | None:
    """``ps -o vsz= -p PID``: the virtual size in KiB, as bytes."""
    value = text.strip().split()[0] if text.strip() else ""
    return int(value) * 1024 if value.isdigit() and len(value) <= 12 else None


def solaris_argv(tool: str, pid: int, bundle: str) -> list[str]:
    """The Solaris proc tools for one capture: gcore -o PREFIX PID writes PREFIX.PID."""
    return {
        "gcore": ["/usr/bin/gcore", "-o", f"{bundle}/core", str(pid)],
        "pargs": ["/usr/bin/pargs", "-a", str(pid)],
        "pmap": ["/usr/bin/pmap", "-x", str(pid)],
        "plimit": ["/usr/bin/plimit", str(pid)],
        "vsz": ["/usr/bin/ps", "-o", "vsz=", "-p", str(pid)],
    }[tool]


# ----------------------------------------------------------------- files
def new_bundle(base: str, pid: int, now: float) -> str:
    name = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(now)) + f"-{pid}"
    path = os.path.join(base, name)
    os.mkdir(path, 0o700)  # fails if it exists: never reuse or follow
    return path


def write_private(path: str, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)


def free_bytes(path: str) -> int:
    st = os.statvfs(path)
    return st.f_bavail * st.f_frsize


def sha256_file(path: str, limit: int | None = None) -> str | None:
    digest = hashlib.sha256()
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError:
        return None
    with os.fdopen(fd, "rb") as fh:
        if not stat.S_ISREG(os.fstat(fh.fileno()).st_mode):
            return None
        read = 0
        while True:
            block = fh.read(1 << 20)
            if not block:
                break
            digest.update(block)
            read += len(block)
            if limit is not None and read >= limit:
                return None
    return digest.hexdigest()


def move_private(src: str, dst: str) -> None:
    """Move a core into the bundle as 0600: rename on one file system, else copy, fsync, unlink.
    A failed copy removes the partial destination and keeps the source."""
    try:
        os.rename(src, dst)
        os.chmod(dst, 0o600)
        return
    except OSError as exc:
        if exc.errno != errno.EXDEV:
            raise
    try:
        fd = os.open(dst, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
        with open(src, "rb") as fin, os.fdopen(fd, "wb") as fout:
            shutil.copyfileobj(fin, fout, 1 << 20)
            fout.flush()
            os.fsync(fout.fileno())
    except OSError:
        remove_quietly(dst)
        raise
    os.unlink(src)


def compress(path: str) -> str:
    """gzip *path* to *path*.gz (0600) and remove the original; a failure keeps the original only."""
    import gzip

    target = path + ".gz"
    try:
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
        with open(path, "rb") as fin, os.fdopen(fd, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb") as gz:
            shutil.copyfileobj(fin, gz, 1 << 20)
    except OSError:
        remove_quietly(target)
        raise
    os.unlink(path)
    return target


def remove_quietly(path: str) -> None:
    try:
        if os.path.isdir(path) and not os.path.islink(path):
            shutil.rmtree(path)
        else:
            os.unlink(path)
    except FileNotFoundError:
        pass


def matching_cores(glob: str, after: float, owners: set[int] | None = None) -> list[str]:
    """Regular files matching *glob* modified at or after *after*, newest first.

    Only a file the kernel could have written is taken (it is then moved into the bundle and made 0600):
    one link (a hard link planted in a shared core directory would make us move and chmod another
    file), owned by one of *owners* when given (the dumped process's uids)."""
    directory, pattern = os.path.split(glob)
    found = []
    try:
        names = os.listdir(directory.replace("[*]", "*").replace("[?]", "?").replace("[[]", "["))
    except OSError:
        return []
    for name in names:
        if not fnmatch.fnmatchcase(name, pattern):
            continue
        path = os.path.join(directory, name)
        try:
            st = os.lstat(path)
        except OSError:
            continue
        if not stat.S_ISREG(st.st_mode) or st.st_nlink != 1 or (owners is not None and st.st_uid not in owners):
            continue
        if st.st_mtime >= after - 1:
            found.append((st.st_mtime, path))
    return [p for _key, p in sorted(found, reverse=True)]
