"""_target: whether a PID may be signalled, dumped or traced as sendmail (over the captured Debian 12 /proc tree)."""

from __future__ import annotations

import pytest
from ansible_collections.opsiface.sendmail.plugins.module_utils import _target
from ansible_collections.opsiface.sendmail.tests.unit.plugins.module_utils.proc_helpers import make_proc_tree

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
    got = _target.target_problem(_target.read_identity(pid, lab_tree), pid, {1})
    assert got == problem if problem is None else problem in got


def test_own_process_tree_and_reused_pids_are_refused(lab_tree):
    assert _target.protected_pids(lab_tree, pid=137) == {1, 71, 137}
    listener = _target.read_identity(71, lab_tree)
    assert "own process" in _target.target_problem(listener, 71, {1, 71, 137})
    reused = dict(listener, start=listener["start"] + 500)
    assert _target.same_process(listener, listener) and not _target.same_process(listener, reused)
    assert not _target.same_process(listener, None)
    deleted = dict(listener, exe="/usr/libexec/sendmail/sendmail (deleted)")  # upgraded under a running daemon
    assert _target.target_problem(deleted, 71, {1}) is None
