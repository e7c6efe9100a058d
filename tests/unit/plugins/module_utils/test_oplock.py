"""#13 item 9: one operation at a time per host (the lease under flock)."""

from __future__ import annotations

import json
import os
import time

import pytest
from ansible_collections.opsiface.sendmail.plugins.module_utils import _oplock


@pytest.fixture
def lockdir(tmp_path):
    return str(tmp_path / "run" / "opsiface-sendmail")


def lease_file(lockdir):
    path = os.path.join(lockdir, "lease.json")
    return json.loads(open(path).read()) if os.path.exists(path) else None


def test_a_single_call_holds_the_host_and_leaves_nothing(lockdir):
    lock = _oplock.OpLock(lockdir)
    lease = lock.acquire(_oplock.Request("queue delete", wait=0))
    assert lease["private"] and lease["pid"] == os.getpid() and lease_file(lockdir)["operation"] == "queue delete"
    assert (
        oct(os.stat(lockdir).st_mode & 0o777) == "0o700" and oct(os.stat(f"{lockdir}/lock").st_mode & 0o777) == "0o600"
    )
    other = _oplock.OpLock(lockdir)
    with pytest.raises(_oplock.LockBusy, match=r"another operation \(queue delete, run .*, pid \d+, since .*\) holds"):
        other.acquire(_oplock.Request("restart", wait=0.3))  # the flock is held: a second call waits, then refuses
    lock.release(keep=False)
    assert lease_file(lockdir) is None
    assert other.acquire(_oplock.Request("restart", wait=0)).get("operation") == "restart"
    other.release(keep=False)


def test_a_run_holds_the_host_between_its_steps_until_it_releases(lockdir):
    step = _oplock.OpLock(lockdir)
    step.acquire(
        _oplock.Request(
            "restart", owner="run-A", wait=0, grace=600, controller={"host": "ctl", "pid": 4711, "start": 9}
        )
    )
    step.release(keep=True)  # the step ends; the run goes on
    held = lease_file(lockdir)
    assert held["owner"] == "run-A" and held["pid"] is None and held["expires"] > time.time() + 500
    with pytest.raises(_oplock.LockBusy) as busy:
        _oplock.OpLock(lockdir).acquire(_oplock.Request("restart", owner="run-B", wait=0))
    msg = str(busy.value)
    assert "another operation (restart, run run-A, controller pid 4711 on ctl, since " in msg
    assert "state=released owner=run-A" in msg  # how an operator ends a dead run's lease
    with pytest.raises(_oplock.LockBusy):
        _oplock.OpLock(lockdir).acquire(_oplock.Request("queue hold", wait=0))  # a single call too
    again = _oplock.OpLock(lockdir)
    renewed = again.acquire(_oplock.Request("service stopped", owner="run-A", wait=0))  # the next step of the same run
    assert (
        renewed["operation"] == "restart" and renewed["since"] == held["since"] and renewed["step"] == "service stopped"
    )
    again.release(keep=True)
    assert _oplock.OpLock(lockdir).drop("run-B")["released"] is False  # another owner's lease is left alone
    assert _oplock.OpLock(lockdir).drop("run-A")["released"] is True
    assert lease_file(lockdir) is None


def test_stale_leftover_and_broken_leases_are_taken_over(lockdir):
    lock = _oplock.OpLock(lockdir, clock=lambda: 1000.0)
    lock.acquire(_oplock.Request("restart", owner="run-A", wait=0, grace=60))
    lock.release(keep=True)  # expires at 1060
    late = _oplock.OpLock(lockdir, clock=lambda: 1061.0)
    assert late.acquire(_oplock.Request("restart", owner="run-B", wait=0))["owner"] == "run-B"
    assert "its lease had expired" in late.observations[0]
    late.release(keep=True)
    broken = _oplock.OpLock(lockdir, clock=lambda: 1070.0)
    assert broken.acquire(_oplock.Request("restart", owner="run-C", wait=0, break_owner="run-B"))["owner"] == "run-C"
    assert "its run is gone" in broken.observations[0]
    broken.release(keep=False)
    killed = _oplock.OpLock(lockdir)  # a single call killed before it could clean up leaves a private lease
    killed.acquire(_oplock.Request("queue delete", wait=0))
    killed.close()
    assert lease_file(lockdir)["private"]
    after = _oplock.OpLock(lockdir)
    assert after.acquire(_oplock.Request("restart", owner="run-D", wait=0))["owner"] == "run-D"
    after.release(keep=False)


def test_the_lock_is_refused_where_it_is_not_private(tmp_path):
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o755)
    with pytest.raises(_oplock.LockError, match="not a private directory of ours"):
        _oplock.OpLock(str(shared)).acquire(_oplock.Request("restart", wait=0))
    private = tmp_path / "private"
    private.mkdir(0o700)
    os.symlink("/etc/passwd", private / "lock")
    with pytest.raises(_oplock.LockError, match="without following a link"):
        _oplock.OpLock(str(private)).acquire(_oplock.Request("restart", wait=0))


def test_controller_gone_only_for_this_host_and_a_dead_or_reused_pid(tmp_path):
    proc = tmp_path / "proc"
    (proc / "4711").mkdir(parents=True)
    (proc / "4711" / "stat").write_text("4711 (ansible-playboo) S 1 1 1 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 5000 1 1\n")
    me = _oplock.controller_identity(4711, str(proc))
    assert me["start"] == 5000
    host = me["host"]
    assert not _oplock.controller_gone(me, host, str(proc))  # it runs
    assert _oplock.controller_gone(dict(me, pid=4712), host, str(proc))  # gone
    assert _oplock.controller_gone(dict(me, start=4000), host, str(proc))  # the PID was reused
    assert not _oplock.controller_gone(dict(me, pid=4712), "another-controller", str(proc))
    assert not _oplock.controller_gone(dict(me, start=None), host, str(proc))
    assert not _oplock.controller_gone(None, host, str(proc))


@pytest.mark.parametrize("data", [b"", b"{", b"[]", b'{"owner": 5}', b'{"owner": "x", "expires": "soon"}', b"\xff"])
def test_garbage_lease_files_mean_no_lease(data):
    assert _oplock.parse_lease(data) is None
