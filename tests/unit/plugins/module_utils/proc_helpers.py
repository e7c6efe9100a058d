"""Helpers shared by the process tests: a /proc tree written from a captured one."""

from __future__ import annotations


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
