from __future__ import annotations

import json
import os
import socket
from pathlib import Path

import pytest
from ansible_collections.opsiface.sendmail.tests.unit.plugins.module_utils.queue_helpers import NOW, write_msg

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"


@pytest.fixture
def fixture_bytes():
    def read(name: str) -> bytes:
        return (FIXTURES / name).read_bytes()

    return read


@pytest.fixture
def trees(fixture_bytes):
    return json.loads(fixture_bytes("proc/debian12-8.17.1.9-proc-trees.json"))


@pytest.fixture
def queue_dir(tmp_path, fixture_bytes):
    """A queue directory with three good messages and one of every anomaly."""
    template = fixture_bytes("queue/debian12-8.17.1.9-qf-deferred-relay.bin")
    q = tmp_path / "mqueue"
    q.mkdir()
    write_msg(q, "6ARAaaaa000001", template, int(NOW) - 100, 1, "a.example")
    write_msg(q, "6ARAaaaa000002", template, int(NOW) - 7200, 4, "b.example")
    write_msg(q, "6ARAaaaa000003", template, int(NOW) - 50, 2, "b.example")
    (q / "hf6ARAaaaa000004").write_bytes(fixture_bytes("queue/debian12-8.17.1.9-hf-quarantined.bin"))
    (q / "df6ARAaaaa000004").write_bytes(b"held body\n")
    (q / "df6ARAorphan0005").write_bytes(b"orphan\n")
    (q / "Qf6ARAlost000006").write_bytes(template)
    stale = q / "tf6ARAstale00007"
    stale.write_bytes(b"V8\n")
    os.utime(stale, (NOW - 7200, NOW - 7200))
    (q / "qf6ARAzero000008").write_bytes(b"")
    (q / "qf6ARAtrunc00009").write_bytes(template.replace(b"T1795759003", b"T%d" % (int(NOW) - 10))[:100])
    os.mkfifo(q / "qf6ARAfifo000010")
    os.symlink("/etc/passwd", q / "qf6ARAlink000011")
    sock = socket.socket(socket.AF_UNIX)
    sock.bind(str(q / "qf6ARAsock000012"))
    sock.close()
    (q / "not-a-queue-file").write_bytes(b"ignored")
    (q / "qfjunk").write_bytes(b"ignored: too short to be a queue ID")
    (q / "dfjunk").write_bytes(b"ignored too")
    return q
