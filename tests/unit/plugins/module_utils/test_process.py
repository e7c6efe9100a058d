from __future__ import annotations

import base64
import errno
import json
import socket
import struct
import types

import pytest
from ansible_collections.opsiface.sendmail.plugins.module_utils import _process
from ansible_collections.opsiface.sendmail.tests.unit.plugins.module_utils.proc_helpers import make_proc_tree


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
# #15: the listeners from the kernel's socket table (netlink sock_diag), /proc/net/tcp{,6} where it cannot be asked
@pytest.fixture
def sock_diag(fixture_bytes):
    return json.loads(fixture_bytes("proc/debian12-lab-sock-diag-listen.json"))


def chunks(capture: dict, family: str) -> list[bytes]:
    return [base64.b64decode(c) for c in capture[family]]


def test_sock_diag_debian12_capture_agrees_with_proc_net_tcp(sock_diag):
    inet, done = _process.parse_inet_diag(b"".join(chunks(sock_diag, "inet")))
    assert done
    assert inet == [("0.0.0.0", 25, 3914657), ("127.0.0.1", 587, 3914658)]  # not the established connection
    inet6, done = _process.parse_inet_diag(b"".join(chunks(sock_diag, "inet6")))
    assert done
    assert inet6 == [("0:0:0:0:0:0:0:0", 2525, 3962217)]
    proc = _process.parse_proc_net_tcp(sock_diag["proc_net_tcp"]) + _process.parse_proc_net_tcp(
        sock_diag["proc_net_tcp6"]
    )
    assert sorted(inet + inet6) == sorted(proc)


def test_sock_diag_dump_incomplete_until_done(sock_diag):
    first = chunks(sock_diag, "inet")[0]
    assert _process.parse_inet_diag(first) == ([("0.0.0.0", 25, 3914657), ("127.0.0.1", 587, 3914658)], False)
    assert _process.parse_inet_diag(b"") == ([], False)
    assert _process.parse_inet_diag(first[:10]) == ([], False)  # not even a header: wait for more


def test_sock_diag_rejects_a_message_longer_than_its_datagram(sock_diag):
    first = chunks(sock_diag, "inet")[0]
    with pytest.raises(ValueError, match="netlink message of"):
        _process.parse_inet_diag(first[:-5])
    with pytest.raises(ValueError, match="netlink message of 3 bytes"):
        _process.parse_inet_diag(struct.pack("=IHHII", 3, 20, 0, 1, 0))


def test_sock_diag_error_answer_names_the_errno():
    error = struct.pack("=IHHII", 36, 2, 0, 1, 0) + struct.pack("=i", -errno.EPERM) + bytes(16)
    with pytest.raises(ValueError, match=f"netlink error {errno.EPERM} "):
        _process.parse_inet_diag(error)


@pytest.mark.parametrize("code", [-(2**31), 2**31 - 1, 5, 0, -4096])
def test_sock_diag_error_answer_with_any_code_is_a_valueerror(code, monkeypatch):
    """An error answer whose code is no errno (os.strerror raised OverflowError on -2**31): a ValueError, so
    that diag_listeners falls back to /proc/net/tcp instead of a traceback."""
    error = struct.pack("=IHHII", 36, 2, 0, 1, 0) + struct.pack("=i", code) + bytes(16)
    with pytest.raises(ValueError, match="netlink error"):
        _process.parse_inet_diag(error)
    fake_socket_module(monkeypatch, FakeNetlink({socket.AF_INET: [error]}, []))
    assert _process.diag_listeners() is None


def test_inet_diag_request_asks_for_listening_tcp_of_one_family():
    req = _process.inet_diag_request(socket.AF_INET6, 7)
    length, kind, flags, seq, port = struct.unpack_from("=IHHII", req)
    assert (length, kind, flags, seq, port) == (len(req), 20, 0x301, 7, 0)
    family, proto, _ext, _pad, states = struct.unpack_from("=BBBBI", req, 16)
    assert (family, proto, states) == (socket.AF_INET6, socket.IPPROTO_TCP, 1 << 10)
    assert len(req) == 16 + 8 + 48 and req[24:] == bytes(48)


class FakeNetlink:
    """A netlink socket that answers each family's dump with the captured datagrams (or fails as told)."""

    def __init__(self, answers: dict, sent: list, fail: Exception | None = None):
        self.answers, self.sent, self.fail, self.queue = answers, sent, fail, []

    def __call__(self, family, kind, proto):
        self.sent.append(("socket", family, kind, proto))
        if self.fail is not None:
            raise self.fail
        return self

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def settimeout(self, value):
        self.sent.append(("timeout", value))

    def send(self, data):
        self.sent.append(("send", data[16]))
        self.queue = list(self.answers[data[16]])
        return len(data)

    def recv(self, size):
        return self.queue.pop(0) if self.queue else b""


def fake_socket_module(monkeypatch, fake, netlink=True):
    names = ("AF_INET", "AF_INET6", "SOCK_DGRAM", "IPPROTO_TCP") + (("AF_NETLINK",) if netlink else ())
    mod = types.SimpleNamespace(socket=fake, **{name: getattr(socket, name) for name in names})
    monkeypatch.setattr(_process, "socket", mod)


def test_diag_listeners_reads_both_families(monkeypatch, sock_diag):
    sent = []
    answers = {socket.AF_INET: chunks(sock_diag, "inet"), socket.AF_INET6: chunks(sock_diag, "inet6")}
    fake_socket_module(monkeypatch, FakeNetlink(answers, sent))
    assert _process.diag_listeners(timeout=2.0) == [
        ("0.0.0.0", 25, 3914657),
        ("127.0.0.1", 587, 3914658),
        ("0:0:0:0:0:0:0:0", 2525, 3962217),
    ]
    assert ("send", socket.AF_INET) in sent and ("send", socket.AF_INET6) in sent and ("timeout", 2.0) in sent


@pytest.mark.parametrize(
    "answers, fail, netlink",
    [
        (None, PermissionError(errno.EACCES, "denied"), True),  # refused
        (None, OSError(errno.EPROTONOSUPPORT, "no inet_diag"), True),  # kernel without sock_diag
        (None, None, False),  # a system without AF_NETLINK
        ("cut", None, True),  # the answer ends before NLMSG_DONE
        ("error", None, True),  # an error answer
    ],
)
def test_diag_listeners_none_when_the_kernel_cannot_answer(monkeypatch, sock_diag, answers, fail, netlink):
    inet = chunks(sock_diag, "inet")
    table = {
        None: {},
        "cut": {socket.AF_INET: inet[:1], socket.AF_INET6: inet[:1]},
        "error": {socket.AF_INET: [struct.pack("=IHHII", 20, 2, 0, 1, 0) + struct.pack("=i", -errno.ENOENT)]},
    }
    fake_socket_module(monkeypatch, FakeNetlink(table[answers], [], fail), netlink=netlink)
    assert _process.diag_listeners() is None


def fake_proc_net(tmp_path, sock_diag):
    root = tmp_path / "proc"
    (root / "net").mkdir(parents=True)
    (root / "net" / "tcp").write_text(sock_diag["proc_net_tcp"])
    (root / "net" / "tcp6").write_text(sock_diag["proc_net_tcp6"])
    return str(root)


def test_linux_listeners_falls_back_to_proc_net_tcp(monkeypatch, tmp_path, sock_diag):
    root = fake_proc_net(tmp_path, sock_diag)
    monkeypatch.setattr(_process, "diag_listeners", lambda: None)
    assert _process.linux_listeners(root, [25, 2525], netlink=True) == [
        {"address": "0.0.0.0", "port": 25, "pid": None, "args": None},
        {"address": "0:0:0:0:0:0:0:0", "port": 2525, "pid": None, "args": None},
    ]


def test_linux_listeners_prefers_the_kernel_socket_table(monkeypatch, tmp_path, sock_diag):
    root = fake_proc_net(tmp_path, sock_diag)
    monkeypatch.setattr(_process, "diag_listeners", lambda: [("10.0.0.1", 25, 99)])
    assert _process.linux_listeners(root, [25], netlink=True) == [
        {"address": "10.0.0.1", "port": 25, "pid": None, "args": None}
    ]


def test_linux_listeners_reads_files_of_another_proc_root(monkeypatch, tmp_path, sock_diag):
    def refuse():
        raise AssertionError("sock_diag asked for a /proc that is not this system's")

    root = fake_proc_net(tmp_path, sock_diag)
    monkeypatch.setattr(_process, "diag_listeners", refuse)
    assert [r["port"] for r in _process.linux_listeners(root, [25, 587])] == [25, 587]
