from __future__ import annotations

import json

import pytest
from ansible_collections.opsiface.sendmail.plugins.module_utils import _process


def make_proc_tree(tmp_path, tree: dict):
    root = tmp_path / "proc"
    root.mkdir()
    (root / "stat").write_text(f"cpu 1 2 3\nbtime {tree['btime']}\nprocesses 5\n")
    for pid, files in tree["procs"].items():
        d = root / pid
        d.mkdir()
        (d / "stat").write_text(files["stat"])
        (d / "cmdline").write_bytes(files["cmdline"].encode("latin-1"))
    return root


@pytest.fixture
def trees(fixture_bytes):
    return json.loads(fixture_bytes("proc/debian12-8.17.1.9-proc-trees.json"))


def test_debian12_stopped_listener_with_zombie_child(tmp_path, trees):
    tree = trees["debian12-8.17.1.9-proc-listener-stopped-zombie-child"]
    root = make_proc_tree(tmp_path, tree)
    procs = _process.read_linux_processes(str(root), now=tree["btime"] + 2000)
    assert {p.pid for p in procs} == {71, 137}
    pid, command, problem = _process.parse_pidfile(tree["pidfile"].encode())
    report = _process.find_daemon(procs, pid, command, problem, "/var/run/sendmail/mta/sendmail.pid")
    assert report.state == "stopped" and report.running is False
    assert report.pid == 71 and report.ppid == 1
    assert report.args == "sendmail: MTA: accepting connections"
    assert report.children == 1 and report.zombie_children == 1
    assert report.pidfile_matches is True
    assert report.pidfile_command == "/usr/sbin/sendmail-mta -Am -L sm-mta -bd -q10m"
    assert report.uptime_seconds is not None and report.uptime_seconds >= 0


def test_debian12_ps_eo_running_listener(fixture_bytes):
    procs = [
        p for p in _process.parse_ps_o(fixture_bytes("debian12-procps-ps-eo.txt").decode()) if _process.is_sendmail(p)
    ]
    report = _process.find_daemon(procs, 71, None, None)
    assert report.state == "accepting" and report.running and report.pid == 71 and report.pidfile_matches


def test_solaris_88_ps_ef_finds_daemon_by_args_and_ppid(fixture_bytes):
    procs = [
        p for p in _process.parse_ps_ef(fixture_bytes("solaris-8.8-ps-ef.txt").decode()) if _process.is_sendmail(p)
    ]
    report = _process.find_daemon(procs, None, None, None)
    assert report.pid == 168 and report.ppid == 1 and report.state == "accepting"
    assert report.children == 1  # pid 4711; the <defunct> entry has no sendmail name


@pytest.mark.parametrize(
    "data,expected",
    [
        (b"71\n/usr/sbin/sendmail-mta -bd\n", (71, "/usr/sbin/sendmail-mta -bd", None)),
        (b"71\n", (71, None, None)),
        (b"", (None, None, "empty")),
        (b"garbage\x81\n", (None, None, "first line is not a pid: 'garbage\\\\x81'")),
        (b"99999999999999\n", (None, None, "first line is not a pid: '99999999999999'")),
    ],
    ids=["debian-two-lines", "pid-only", "empty", "non-utf8-garbage", "absurd-pid"],
)
def test_parse_pidfile(data, expected):
    assert _process.parse_pidfile(data) == expected


def test_absent_with_stale_pidfile():
    report = _process.find_daemon([], 4242, None, None, "/run/sendmail.pid")
    assert report.state == "absent" and not report.running
    assert report.pidfile_matches is False
    assert report.pidfile_problem == "stale: pid 4242 is not running"


def test_pidfile_pointing_at_unrelated_process():
    procs = [
        _process.Proc(pid=71, ppid=1, state="S", args="sendmail: MTA: accepting connections"),
        _process.Proc(pid=90, ppid=1, state="S", args="sendmail: running queue: /var/spool/mqueue"),
    ]
    report = _process.find_daemon(procs, 90, None, None)
    assert report.pid == 71 and report.pidfile_matches is False
    assert "not the listener" in report.pidfile_problem
    assert [o["role"] for o in report.others] == ["queue_runner"]


def test_rejecting_for_load():
    procs = [
        _process.Proc(
            pid=5, ppid=1, state="S", args="sendmail: rejecting connections on daemon MTA-v4: load average: 42"
        )
    ]
    report = _process.find_daemon(procs, 5, None, None)
    assert report.state == "rejecting_load" and report.load_average == 42.0 and report.running


def test_zombie_listener_named_by_pidfile():
    procs = [_process.Proc(pid=7, ppid=1, state="Z", args="[sendmail-mta]", comm="sendmail-mta")]
    report = _process.find_daemon(procs, 7, None, None)
    assert report.state == "zombie" and not report.running


def test_two_listeners_prefers_pidfile():
    procs = [
        _process.Proc(pid=10, ppid=1, state="S", args="sendmail: MTA: accepting connections"),
        _process.Proc(pid=20, ppid=1, state="S", args="sendmail: MTA: accepting connections"),
    ]
    report = _process.find_daemon(procs, 20, None, None)
    assert report.pid == 20 and len(report.listeners) == 2


@pytest.mark.parametrize("data", [b"", b"12 no parens", b"1 (x) S", b"\xff\xfe(", b"1 (a) S 1 " + b"x " * 30])
def test_parse_proc_stat_rejects_garbage_with_valueerror(data):
    with pytest.raises(ValueError):
        _process.parse_proc_stat(data)


def test_parse_proc_stat_comm_with_spaces_and_parens():
    line = b"5 (we (ird) name) S 1 5 5 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 777 0 0 0\n"
    assert _process.parse_proc_stat(line) == ("we (ird) name", "S", 1, 777)


@pytest.mark.parametrize("value,seconds", [("01:02", 62), ("03:00:00", 10800), ("2-00:00:01", 172801), ("x", None)])
def test_parse_etime(value, seconds):
    assert _process.parse_etime(value) == seconds


def test_proc_net_tcp_listeners_debian12_capture():
    text = (
        "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n"
        "   0: 00000000:0019 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 62485 1\n"
        "   1: 0100007F:024B 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 62486 1\n"
        "   2: 0100007F:E984 0100007F:0019 06 00000000:00000000 03:000011F4 00000000     0        0 0 3\n"
    )
    assert _process.parse_proc_net_tcp(text) == [("0.0.0.0", 25, 62485), ("127.0.0.1", 587, 62486)]


# #13 item 3: a PID is acted on only when it is a sendmail process (its executable, title or name)
EXES = {"1": "/usr/bin/tini", "10": "/usr/sbin/rsyslogd", "71": "/usr/libexec/sendmail/sendmail", "137": None}


@pytest.fixture
def lab_tree(tmp_path, trees):
    """The captured Debian 12 lab tree, with the exe links /proc shows there (137 is a zombie: none)."""
    root = make_proc_tree(tmp_path, trees["debian12-8.17.1.9-proc-listener-stopped-zombie-child"])
    for pid, exe in EXES.items():
        if exe:
            (root / pid / "exe").symlink_to(exe)
    forged = root / "4242"  # a python process that set its title to the listener's
    forged.mkdir()
    (forged / "stat").write_text("4242 (python3) S 1 4242 4242 0 -1 4194560 1 0 0 0 0 0 0 0 20 0 1 0 99999 1 1\n")
    (forged / "cmdline").write_bytes(b"sendmail: MTA: accepting connections\0")
    (forged / "exe").symlink_to("/usr/bin/python3.11")
    return str(root)


@pytest.mark.parametrize(
    ("pid", "problem"),
    [
        (1, "pid 1 is init"),
        (10, "runs /usr/sbin/rsyslogd, not a sendmail binary"),
        (137, "has exited (zombie)"),
        (4242, "runs /usr/bin/python3.11, not a sendmail binary"),
        (999, "there is no process 999"),
        (0, "0 is not a process ID"),
        (-1, "-1 is not a process ID"),
        (71, None),
    ],
    ids=["init", "rsyslogd", "zombie", "forged-title", "gone", "zero", "minus-one", "the-listener"],
)
def test_target_problem_over_the_debian12_tree(lab_tree, pid, problem):
    got = _process.target_problem(_process.read_identity(pid, lab_tree), pid, {1})
    assert got == problem if problem is None else problem in got


def test_own_process_tree_and_reused_pids_are_refused(lab_tree):
    assert _process.protected_pids(lab_tree, pid=137) == {1, 71, 137}
    listener = _process.read_identity(71, lab_tree)
    assert "own process" in _process.target_problem(listener, 71, {1, 71, 137})
    reused = dict(listener, start=listener["start"] + 500)
    assert _process.same_process(listener, listener) and not _process.same_process(listener, reused)
    assert not _process.same_process(listener, None)
    deleted = dict(listener, exe="/usr/libexec/sendmail/sendmail (deleted)")  # upgraded under a running daemon
    assert _process.target_problem(deleted, 71, {1}) is None
