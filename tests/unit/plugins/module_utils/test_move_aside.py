"""Moving the queue aside: every queue directory, never a name sendmail serves, never a locked message,
never a control file without its data file (issues #13 item 2 and #17 item 1)."""

from __future__ import annotations

import fcntl
import itertools
import os
import subprocess
import sys

import pytest
from ansible_collections.opsiface.sendmail.plugins.module_utils import _queue, _queueops

QF = b"V8\nT1796139506\nK0\nN0\nP30057\nMDeferred\nFb\nS<root@hb01.lab.test>\nRPFD:someone@slow.example\n.\n"


def message(directory, qid: str, sub_qf: str = "", sub_df: str = "") -> None:
    (directory / sub_qf / f"qf{qid}").write_bytes(QF)
    (directory / sub_df / f"df{qid}").write_bytes(b"body of " + qid.encode() + b"\n")


@pytest.fixture
def spool(tmp_path):
    """/var/spool/mqueue with QueueDirectory=.../q* (q1, q2) as on a multi-queue server."""
    base = tmp_path / "mqueue"
    for name, ids in (("q1", ["6B1FaaaA000001", "6B1FaaaA000002"]), ("q2", ["6B1FbbbB000003"])):
        (base / name).mkdir(parents=True)
        os.chmod(base / name, 0o750)
        for qid in ids:
            message(base / name, qid)
    return base


@pytest.fixture
def no_proc(tmp_path):
    """A /proc stand-in with nothing in it: no process, no lock (the real one is not consulted)."""
    root = tmp_path / "proc"
    root.mkdir()
    return str(root)


# ------------------------------------------------------------------ names sendmail serves
@pytest.mark.parametrize(
    "path,pattern,served",
    [
        ("/var/spool/mqueue", "/var/spool/mqueue", True),
        ("/var/spool/mqueue/", "/var/spool/mqueue", True),
        ("/var/spool/mqueue.aside-20261201T000000Z", "/var/spool/mqueue", False),
        ("/var/spool/mqueue/q1", "/var/spool/mqueue/q*", True),
        ("/var/spool/mqueue/q1.aside-20261201T000000Z", "/var/spool/mqueue/q*", True),  # issue #13 item 2
        ("/var/spool/mqueue/q1/.aside-20261201T000000Z", "/var/spool/mqueue/q*", False),
        ("/var/spool/mqueue/.aside-x", "/var/spool/mqueue/*", True),  # sendmail's prefix match takes dot-names
        ("/var/spool/mqueue/.aside-x", "/var/spool/mqueue/q*", False),
        ("/mqueue1", "/mqueue*", True),
        ("/var/spool/mqueue-client", "/var/spool/mqueue", False),
    ],
)
def test_sendmail_serves(path, pattern, served):
    assert _queueops.sendmail_serves(path, pattern) is served


def test_aside_name_never_matches_a_pattern():
    stamp = "20261201T000000Z"
    # a single queue directory on the parent's file system: beside it, as the runbook's mv mqueue omqueue
    assert _queueops.aside_target("/var/spool/mqueue", stamp, ["/var/spool/mqueue"], beside=True) == (
        f"/var/spool/mqueue.aside-{stamp}",
        "beside",
    )
    # q* serves q1.aside-...: inside q1 instead
    assert _queueops.aside_target("/var/spool/mqueue/q1", stamp, ["/var/spool/mqueue/q*"], beside=True) == (
        f"/var/spool/mqueue/q1/.aside-{stamp}",
        "inside",
    )
    # a mount point: inside
    assert _queueops.aside_target("/var/spool/mqueue", stamp, ["/var/spool/mqueue"], beside=False)[1] == "inside"
    # a queue group serving the inside name too: refused, never a served name
    with pytest.raises(_queue.QueueError, match="would serve"):
        _queueops.aside_target(
            "/var/spool/mqueue/q1", stamp, ["/var/spool/mqueue/q*", "/var/spool/mqueue/q1/*"], beside=True
        )


# ------------------------------------------------------------------ move order
def test_move_steps_order_and_refusals():
    assert _queueops.move_steps(["qf", "df", "xf"]) == [
        ("link", "df"),
        ("rename", "qf"),
        ("unlink", "df"),
        ("rename", "xf"),
    ]
    assert _queueops.move_steps(["hf", "df"])[1] == ("rename", "hf")
    assert "no data file" in _queueops.move_steps(["qf"])
    assert _queueops.move_steps(["df", "xf"]) == "no control file"
    assert "several control files" in _queueops.move_steps(["qf", "hf", "df"])


@pytest.mark.parametrize("kinds", [["qf", "df"], ["qf", "df", "xf"], ["hf", "df", "xf", "tf"]])
def test_no_prefix_of_the_plan_leaves_a_control_file_without_its_data_file(kinds):
    """Stop the plan after any step: in neither directory a control file without its data file."""
    steps = _queueops.move_steps(kinds)
    for done in range(len(steps) + 1):
        src, dst = set(kinds), set()
        for action, kind in steps[:done]:
            if action == "link":
                dst.add(kind)
            elif action == "rename":
                src.discard(kind)
                dst.add(kind)
            else:
                src.discard(kind)
        for place in (src, dst):
            assert not (place & set(_queueops.CONTROL_KINDS)) or "df" in place, (done, src, dst)
    assert not src & {"qf", "hf", "Qf", "df"}


@pytest.mark.parametrize("fail_at", range(4))
def test_interrupted_move_keeps_each_message_whole(spool, no_proc, monkeypatch, fail_at):
    """The move dies at the Nth file operation (a kill, a full disk): every control file in either directory
    still has its data file beside it."""
    calls = itertools.count()
    real = {name: getattr(os, name) for name in ("link", "rename", "unlink")}

    def dying(name):
        def op(*args, **kwargs):
            if next(calls) == fail_at:
                raise KeyboardInterrupt  # like SIGINT/SIGKILL: no cleanup of the step
            return real[name](*args, **kwargs)

        return op

    for name in real:
        monkeypatch.setattr(os, name, dying(name))
    with pytest.raises(KeyboardInterrupt):
        _queueops.move_aside([str(spool / "q1")], [str(spool / "q*")], False, False, now=0, proc_root=no_proc)
    monkeypatch.undo()
    for directory in (spool / "q1", spool / "q1" / ".aside-19700101T000000Z"):
        names = set(os.listdir(directory)) if directory.exists() else set()
        for name in names:
            if name.startswith("qf"):
                assert "df" + name[2:] in names, f"{directory}: {name} without its data file ({sorted(names)})"


# ------------------------------------------------------------------ several queue directories
def test_every_queue_directory_moves_and_the_report_says_where(spool, no_proc):
    dirs = [str(spool / "q1"), str(spool / "q2")]
    result = _queueops.move_aside(dirs, [str(spool / "q*")], False, False, now=0, proc_root=no_proc)
    assert result["messages_moved"] == 3 and result["messages_locked"] == 0
    assert [d["queue_dir"] for d in result["directories"]] == dirs
    for d in result["directories"]:
        assert d["moved_to"] == d["queue_dir"] + "/.aside-19700101T000000Z" and d["created"]
        assert not any(_queueops.sendmail_serves(d["moved_to"], p) for p in [str(spool / "q*")])
        assert d["mode"] == "0o750" and oct(os.stat(d["moved_to"]).st_mode & 0o777) == "0o750"
    assert result["aside_dirs"] == [d["moved_to"] for d in result["directories"]]
    # the live queue directories hold no message any more; the aside directories hold all of them, whole
    assert _queue.queue_ids(dirs)[0] == []
    ids, _unused = _queue.queue_ids(result["aside_dirs"])
    assert ids == ["6B1FaaaA000001", "6B1FaaaA000002", "6B1FbbbB000003"]
    assert (spool / "q2" / ".aside-19700101T000000Z" / "df6B1FbbbB000003").read_bytes() == b"body of 6B1FbbbB000003\n"
    # what sendmail serves after the move: q1 and q2, nothing else (their asides are inside them)
    assert sorted(n for n in os.listdir(spool) if _queueops.sendmail_serves(str(spool / n), str(spool / "q*"))) == [
        "q1",
        "q2",
    ]


def test_single_directory_goes_beside_it_with_subdirectories(tmp_path, no_proc):
    qdir = tmp_path / "mqueue"
    for sub in ("qf", "df", "xf"):
        (qdir / sub).mkdir(parents=True)
    message(qdir, "6B1FccccC00004", "qf", "df")
    (qdir / "xf" / "xf6B1FccccC00004").write_bytes(b"transcript")
    (qdir / "df" / "df6B1FoRphan005").write_bytes(b"orphan")
    check = _queueops.move_aside([str(qdir)], [str(qdir)], False, True, now=0, proc_root=no_proc)
    assert check["directories"][0]["moved"] == ["6B1FccccC00004"] and not check["aside_dirs"]
    assert not (tmp_path / "mqueue.aside-19700101T000000Z").exists()
    done = _queueops.move_aside([str(qdir)], [str(qdir)], False, False, now=0, proc_root=no_proc)
    aside = tmp_path / "mqueue.aside-19700101T000000Z"
    assert done["aside_dirs"] == [str(aside)] and done["directories"][0]["method"] == "beside the queue directory"
    assert os.listdir(aside / "qf") == ["qf6B1FccccC00004"] and os.listdir(aside / "xf") == ["xf6B1FccccC00004"]
    assert os.listdir(aside / "df") == ["df6B1FccccC00004"] and os.stat(aside / "df" / "df6B1FccccC00004").st_nlink == 1
    assert os.listdir(qdir / "df") == ["df6B1FoRphan005"] and done["directories"][0]["orphan_files"] == 1


def test_refuses_while_the_daemon_runs_and_changes_nothing(spool, no_proc):
    before = sorted(os.listdir(spool / "q1"))
    with pytest.raises(_queue.QueueError, match="while the sendmail daemon runs"):
        _queueops.move_aside([str(spool / "q1")], [str(spool / "q*")], True, False, proc_root=no_proc)
    assert sorted(os.listdir(spool / "q1")) == before


# ------------------------------------------------------------------ sendmail's locks
def test_a_message_locked_by_another_process_stays_and_is_named(spool, tmp_path):
    """flock (Debian's sendmail) from another open file, and a POSIX lock from another process."""
    q1 = spool / "q1"
    flocked = os.open(q1 / "qf6B1FaaaA000001", os.O_RDWR)
    fcntl.flock(flocked, fcntl.LOCK_EX)
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import fcntl, os, sys, time; fd = os.open(sys.argv[1], os.O_RDWR); fcntl.lockf(fd, fcntl.LOCK_EX); "
            "print('locked', flush=True); time.sleep(60)",
            str(spool / "q2" / "qf6B1FbbbB000003"),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "locked"
        st = os.stat(q1 / "qf6B1FaaaA000001")
        proc = tmp_path / "proc"
        (proc / "4242").mkdir(parents=True)
        (proc / "4242" / "cmdline").write_bytes(b"sendmail: MTA: ./6B1FaaaA000001 [127.0.0.2]: client DATA status\0")
        (proc / "locks").write_text(
            f"8: FLOCK  ADVISORY  WRITE 4242 {os.major(st.st_dev):02x}:{os.minor(st.st_dev):02x}:{st.st_ino} 0 EOF\n"
        )
        result = _queueops.move_aside(
            [str(q1), str(spool / "q2")], [str(spool / "q*")], False, False, now=0, proc_root=str(proc)
        )
    finally:
        os.close(flocked)
        holder.kill()
        holder.wait()
    q1_result, q2_result = result["directories"]
    assert q1_result["moved"] == ["6B1FaaaA000002"]
    assert q1_result["locked"] == [
        {
            "queue_id": "6B1FaaaA000001",
            "held_by": [{"pid": 4242, "title": "sendmail: MTA: ./6B1FaaaA000001 [127.0.0.2]: client DATA status"}],
        }
    ]
    assert q2_result["moved"] == [] and [e["queue_id"] for e in q2_result["locked"]] == ["6B1FbbbB000003"]
    assert not q2_result["created"] and result["aside_dirs"] == [q1_result["moved_to"]]
    # the locked messages are still whole in the live queue
    assert {"qf6B1FaaaA000001", "df6B1FaaaA000001"} <= set(os.listdir(q1))
    assert {"qf6B1FbbbB000003", "df6B1FbbbB000003"} <= set(os.listdir(spool / "q2"))
    actions, warnings, observation = _queueops.describe_move(result, check_mode=False)
    assert observation == (
        "2 queue directories: 1 message(s) moved aside, 2 left in the queue because a process holds them locked, "
        "0 left otherwise"
    )
    assert any("pid 4242 (sendmail: MTA: ./6B1FaaaA000001" in w for w in warnings)
    assert any(a.startswith("moved 1 message(s) from ") for a in actions)


@pytest.mark.parametrize(
    "fixture,expected",
    [
        (
            "proc/debian12-8.17.1.9-proc-locks-queue-runner.txt",
            {(os.makedev(0xFE, 0), 1646643): [493]},
        ),
        (
            "proc/debian12-proc-locks-posix-flock-waiter.txt",
            {
                (os.makedev(0, 0x33), 1646785): [580],
                (os.makedev(0, 0x33), 1646770): [580],
                (os.makedev(0, 0x33), 1646737): [566],
                (os.makedev(0xFE, 0), 1646643): [493],
            },
        ),
    ],
    ids=["debian12-queue-runner", "debian12-posix-flock-waiter"],
)
def test_parse_proc_locks(fixture_bytes, fixture, expected):
    assert _queueops.parse_proc_locks(fixture_bytes(fixture).decode()) == expected


def test_parse_proc_locks_survives_garbage():
    text = "1: FLOCK ADVISORY WRITE x fe:00:1\n2: POSIX ADVISORY WRITE 7 zz:00:1 0 EOF\n3: FLOCK A W 9 ffffffffffffffffff:0:1\n"
    assert _queueops.parse_proc_locks(text) == {}


def test_queue_processes_finds_runners_by_working_directory_and_title(tmp_path):
    """Titles as the lab's sendmail shows them; the listener is the daemon check's business, not this one's."""
    qdir = tmp_path / "mqueue"
    qdir.mkdir()
    root = tmp_path / "proc"
    (root / "self").mkdir(parents=True)
    procs = {
        "101": ("sendmail: MTA: ./6B1FcVYs000398 [127.0.0.2]: client DATA status", str(qdir)),
        "102": ("sendmail: MTA: accepting connections", str(qdir)),
        "103": (f"sendmail: running queue: {qdir}", "/"),
        "104": ("sendmail: MTA: ./6B1FxxxX000001 from queue", str(tmp_path)),
        "105": ("/usr/sbin/rsyslogd", str(qdir)),
    }
    for pid, (title, cwd) in procs.items():
        (root / pid).mkdir()
        comm = "rsyslogd" if "rsyslogd" in title else "sendmail"
        (root / pid / "stat").write_text(f"{pid} ({comm}) S 1 {pid} {pid} 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 100 0 0\n")
        (root / pid / "cmdline").write_bytes(title.encode() + b"\0")
        os.symlink(cwd, root / pid / "cwd")
    found = _queueops.queue_processes([str(qdir)], str(root))
    assert [(p["pid"], p["title"]) for p in sorted(found, key=lambda p: p["pid"])] == [
        (101, procs["101"][0]),
        (103, procs["103"][0]),
    ]
    assert _queueops.queue_processes([str(qdir)], str(tmp_path / "no-proc")) is None
