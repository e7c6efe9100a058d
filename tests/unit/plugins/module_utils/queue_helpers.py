"""Helpers shared by the queue tests: a message written from a captured Debian 12 control file."""

from __future__ import annotations

NOW = 1795777500.0


def write_msg(directory, qid, template: bytes, created: int, attempts: int = 1, domain: str = "a.example"):
    data = template.replace(b"T1795759003", b"T%d" % created).replace(b"N1\n", b"N%d\n" % attempts)
    data = data.replace(b"user1@b.example", f"user@{domain}".encode())
    (directory / f"qf{qid}").write_bytes(data)
    (directory / f"df{qid}").write_bytes(b"body\n")
