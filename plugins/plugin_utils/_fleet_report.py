# Copyright: (c) 2026, opsiface.sendmail developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What the action opsiface.sendmail.fleet_report does, on the controller (documentation:
plugins/modules/fleet_report.py): check the arguments, build the fleet model (with each host's
history for a health check), write the report directory and the history files, push the metrics.

The report directory is written as _safefile allows: opened once without following links, ours and
writable by no one else, every file created exclusively under a temporary name and renamed, 0600 files
in 0700 directories it creates. The history files live in their own such directory, under a lock held
from reading them to writing them, so two health checks at once never lose each other's records.
"""

from __future__ import annotations

import contextlib
import datetime
import errno
import fcntl
import hashlib
import json
import os
import re
import time

from ansible.module_utils.common.arg_spec import ArgumentSpecValidator
from ansible_collections.opsiface.sendmail.plugins.module_utils import _args, _history, _report, _safefile
from ansible_collections.opsiface.sendmail.plugins.module_utils._text import clean
from ansible_collections.opsiface.sendmail.plugins.plugin_utils import _metrics, _render

LEVELS = ["warning", "unknown", "critical", "never"]
SPEC = {
    "hosts": {"type": "dict", "required": True},
    "run_id": {"type": "str", "required": True},
    "started": {"type": "str", "required": True},
    "report_dir": {"type": "path", "required": True},
    "latest_link": {"type": "bool", "default": False},
    "extra": {"type": "dict", "default": {}},
    "operation": {
        "type": "str",
        "default": "healthcheck",
        "choices": ["healthcheck", "restart", "crash_capture", "trace"],
    },
    "merge": {"type": "bool", "default": False},
    "all_hosts": {"type": "list", "elements": "str", "default": []},
    "escalate_on": {"type": "str", "default": "critical", "choices": LEVELS},
    "history": {"type": "dict"},
    "history_dir": {"type": "path"},
    "history_record": {"type": "bool", "default": True},
    "history_runs": {"type": "int", "default": 12},
    "history_days": {"type": "float", "default": 7.0},
    "hard_after": {"type": "int", "default": 1},
    "flap_window": {"type": "int", "default": 10},
    "flap_threshold": {"type": "float", "default": 0.3},
    "queue_horizon": {"type": "float", "default": 4.0},
    "queue_crit_count": {"type": "int", "default": 5000},
    "pushgateway_url": {"type": "str"},
    "pushgateway_job": {"type": "str", "default": "sendmail_healthcheck"},
    "pushgateway_timeout": {"type": "float", "default": 10.0},
}
SAFE_NAME = re.compile(r"[^A-Za-z0-9._-]")
LOCK_WAIT = 60.0  # seconds a health check waits for another one's history lock before it records nothing


class ReportError(Exception):
    """The report could not be written; the message says where and why."""


def check(p: dict) -> None:
    """What the argument spec cannot say; raises _args.ArgError naming the argument and value."""
    _args.fleet_report(p)
    if p["history"] is not None:
        _args.sized("history", p["history"], _args.MAX_LIST)
    for name, low, high in (
        ("history_runs", 1, _history.MAX_RUNS),
        ("history_days", 0.01, 3660),
        ("hard_after", 1, 1000),
        ("flap_window", 2, _history.MAX_RUNS),
        ("flap_threshold", 0, 1),
        ("queue_horizon", 0, 8760),
        ("queue_crit_count", 1, 10**12),
        ("pushgateway_timeout", 0.1, 600),
    ):
        _args.number(name, p[name], low, high)
    if p["history_dir"] is not None and (not p["history_dir"] or "\0" in p["history_dir"]):
        raise _args.ArgError(f"history_dir={p['history_dir']!r} is not a path")
    url = p["pushgateway_url"]
    if url:
        _args.text("pushgateway_url", url, 2048)
        if not re.match(r"^https?://[^/\s]+", url):
            raise _args.ArgError(f"pushgateway_url={clean(url, 80)!r} is not an http:// or https:// URL")
    _args.text("pushgateway_job", p["pushgateway_job"], 200)


def host_file(host: str, suffix: str = "") -> str:
    """A file name for *host*: the name itself where it is safe, else a safe form and a hash of the name
    (two hosts never share a file); never hidden, never "." or ".."."""
    safe = SAFE_NAME.sub("_", host)[:200]
    if safe != host:
        safe += "." + hashlib.sha256(host.encode("utf-8", "surrogateescape")).hexdigest()[:12]
    name = safe + suffix + ".json"
    return "_" + name if name.startswith(".") else name


def _makedirs_private(path: str) -> None:
    """Create the missing directories of *path* 0700 (existing ones are not changed)."""
    missing = []
    while path and not os.path.isdir(path):
        missing.append(path)
        path = os.path.dirname(path)
    for directory in reversed(missing):
        with contextlib.suppress(FileExistsError):
            os.mkdir(directory, 0o700)


def _previous_hosts(dir_fd: int, name: str, run_id: str) -> dict:
    """The hosts of an earlier batch of the same run, if its report is there."""
    raw = _safefile.read_file(dir_fd, name)
    try:
        data = json.loads(raw.decode("utf-8")) if raw is not None else None
    except ValueError:
        return {}
    if not isinstance(data, dict) or data.get("run_id") != run_id or not isinstance(data.get("hosts"), dict):
        return {}
    return data["hosts"]


@contextlib.contextmanager
def _locked(dir_fd: int):
    """An exclusive lock on ``.lock`` in the history directory; yields False when another run holds it longer
    than LOCK_WAIT."""
    wait = LOCK_WAIT
    fd = os.open(".lock", os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0), 0o600, dir_fd=dir_fd)
    try:
        deadline = time.monotonic() + wait
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except OSError as exc:
                if exc.errno not in (errno.EAGAIN, errno.EACCES) or time.monotonic() > deadline:
                    yield False
                    return
                time.sleep(0.05)
        yield True
    finally:
        os.close(fd)


def _read_history(dir_fd: int, host: str) -> list[dict]:
    raw = _safefile.read_file(dir_fd, host_file(host), limit=4 * 1024 * 1024)
    try:
        value = json.loads(raw.decode("utf-8")) if raw is not None else None
    except ValueError:
        return []
    if not isinstance(value, dict) or value.get("host") != host:
        return []  # another host's file under a colliding name, or not ours: ignored, then replaced
    return _history.parse(value)


def _policy(p: dict) -> _history.Policy:
    return _history.Policy(
        runs=p["history_runs"],
        days=p["history_days"],
        hard_after=p["hard_after"],
        flap_window=p["flap_window"],
        flap_threshold=p["flap_threshold"],
        queue_horizon_hours=p["queue_horizon"],
        queue_crit_count=p["queue_crit_count"],
        escalate_on=p["escalate_on"],
    )


def track(data: dict, p: dict, warnings: list[str]) -> tuple[dict, str | None]:
    """Add the history fields to a health check's model; return (host -> history to store, history dir).

    Each host's earlier runs are the union of its fact (p["history"], from the fact cache) and its file
    in the history directory; only the hosts of this run are read and written (AWX job slices). A run that
    is not recorded returns no histories (the facts stay as they are)."""
    policy = _policy(p)
    facts = {h: _history.parse(p["history"].get(h)) for h in data["hosts"]}
    record = p["history_record"]
    if not p["history_dir"]:
        keep = _report.with_history(data, facts, policy, record)
        return (_stored(keep) if record else {}), None
    history_dir = os.path.abspath(p["history_dir"])
    _makedirs_private(os.path.dirname(history_dir))
    dir_fd = _safefile.open_dir(history_dir, mode=0o700)
    try:
        with _locked(dir_fd) as held:
            if not held:
                warnings.append(f"the history in {history_dir} is locked by another run: this run is not recorded")
                record = False
            files = {h: _read_history(dir_fd, h) for h in data["hosts"]} if held else {}
            runs = {h: _history.merge(facts[h], files.get(h, [])) for h in data["hosts"]}
            keep = _report.with_history(data, runs, policy, record)
            if record:
                for host, kept in keep.items():
                    body = json.dumps(dict(_history.stored(kept), host=host), sort_keys=True).encode()
                    _safefile.write_file(dir_fd, host_file(host), body, 0o600, sync=False)  # synced together below
                _safefile.sync_dir(dir_fd)
    finally:
        os.close(dir_fd)
    return (_stored(keep) if record else {}), history_dir  # nothing new to keep: no facts to set


def _stored(keep: dict) -> dict:
    # plain JSON types: a value out of the task's arguments carries Ansible's tags (its origin), which a fact
    # cache would keep beside every value
    return json.loads(json.dumps({host: _history.stored(runs) for host, runs in keep.items()}))


def write(p: dict) -> dict:
    """Write the report of *p* (checked arguments); the action's result. Raises ReportError."""
    finished = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    op = p["operation"]
    report_dir = os.path.abspath(p["report_dir"])  # relative to the controller's working directory
    names = ("fleet", "junit.xml", "") if op == "healthcheck" else (op, f"{op}-junit.xml", f".{op}")
    files: list[str] = []
    warnings: list[str] = []
    dir_fd = hosts_fd = None
    history_out: dict = {}
    history_dir = None
    pending: list[str] = []
    try:
        # Opened once, never through a symlink, and checked to be ours and writable by no one else; every
        # file below is created relative to these descriptors (see _safefile).
        _makedirs_private(os.path.dirname(report_dir))
        dir_fd = _safefile.open_dir(report_dir, mode=0o700)
        hosts_fd = _safefile.open_dir("hosts", mode=0o700, parent_fd=dir_fd)
        hosts = {h: dict(r) for h, r in p["hosts"].items()}
        if p["merge"]:
            hosts = dict(_previous_hosts(dir_fd, names[0] + ".json", p["run_id"]), **hosts)
        data = _report.fleet(hosts, p["run_id"], p["started"], finished, p["extra"], op)
        pending = [h for h in p["all_hosts"] if h not in hosts]
        if pending:
            data["pending"] = pending
        if op == "healthcheck" and p["history"] is not None:
            history_out, history_dir = track(data, p, warnings)
            if history_dir:
                files.append(history_dir)
        for host, result in data["hosts"].items():
            name = host_file(host, names[2])
            body = json.dumps(dict(result, host=host), indent=2, sort_keys=True).encode()
            _safefile.write_file(hosts_fd, name, body, 0o600, sync=False)  # one file per host: synced together
            files.append(os.path.join(report_dir, "hosts", name))
        _safefile.sync_dir(hosts_fd)
        lines = []
        for host in sorted(p["hosts"]):
            result = data["hosts"][host]
            entry = {"run_id": p["run_id"], "operation": op, "finished": finished, "host": host}
            entry.update({k: result.get(k) for k in ("status", "escalate", "reasons", "observations", "actions")})
            lines.append(json.dumps(entry, sort_keys=True) + "\n")
        _safefile.append_file(dir_fd, "journal.jsonl", "".join(lines).encode(), 0o600)
        files.append(os.path.join(report_dir, "journal.jsonl"))
        outputs = [
            (names[0] + ".json", json.dumps(data, indent=2, sort_keys=False)),
            (names[0] + ".md", _render.render_markdown(data)),
            (names[0] + ".html", _render.render_html(data)),
            (names[1], _render.render_junit(data)),
        ]
        if op == "healthcheck":
            outputs.append(("fleet.prom", _metrics.render(data)))
        for name, text in outputs:
            _safefile.write_file(dir_fd, name, text.encode("utf-8", "surrogateescape"), 0o600)
            files.append(os.path.join(report_dir, name))
        if p["latest_link"]:
            parent_fd = os.open(os.path.dirname(report_dir), os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
            try:
                # one link per operation; "latest" only ever to a health check's (it has the fleet.md)
                _safefile.replace_symlink(parent_fd, f"latest-{op}", os.path.basename(report_dir))
                if op == "healthcheck":
                    _safefile.replace_symlink(parent_fd, "latest", os.path.basename(report_dir))
            finally:
                os.close(parent_fd)
    except _safefile.UnsafePath as exc:
        raise ReportError(f"refusing to write the report in {report_dir}: {exc}", files) from exc
    except OSError as exc:
        raise ReportError(f"cannot write the report in {report_dir}: {exc.strerror}", files) from exc
    finally:
        for fd in (hosts_fd, dir_fd):
            if fd is not None:
                os.close(fd)
    result = {
        "changed": True,
        "report_dir": report_dir,
        "files": files,
        "summary": {k: v for k, v in data["summary"].items() if k not in ("new", "recovered", "persisting")},
        "escalate": data["escalate"],
        "new": data["summary"].get("new", []),
        "recovered": data["summary"].get("recovered", []),
        "persisting": data["summary"].get("persisting", []),
        "lines": _render.summary_lines(data),
        "statuses": {
            h: {k: r[k] for k in ("status", "reasons", "escalate", "state_type") if k in r}
            for h, r in data["hosts"].items()
        },
        "pending": pending,
        "history": history_out,
        "history_dir": history_dir,
    }
    if p["pushgateway_url"] and op == "healthcheck":
        pushed = _metrics.push(p["pushgateway_url"], data, p["pushgateway_job"], p["pushgateway_timeout"])
        result["pushgateway"] = pushed
        if pushed["errors"]:
            warnings.append(
                f"the metrics were written to fleet.prom but {len(pushed['errors'])} of {pushed['groups']} group(s) "
                f"could not be pushed to {pushed['url']}: {pushed['errors'][0]}"
            )
    if warnings:
        result["warnings"] = warnings
    return result


def run(args: dict) -> dict:
    """The action's whole work for the task arguments *args*: a result dict, failed with a message on error."""
    args = dict(args)
    # The validator deep-copies what it checks; the two large dicts (every host's verdict and history, tens of
    # MB for thousands of hosts) are checked for their type here and by check(), and passed on as they are.
    large = {k: args[k] for k in ("hosts", "history") if isinstance(args.get(k), dict)}
    validated = ArgumentSpecValidator(SPEC).validate(dict(args, **{key: {} for key in large}))
    if validated.error_messages:
        return {"failed": True, "msg": "invalid argument: " + "; ".join(validated.error_messages)}
    p = dict(validated.validated_parameters, **large)
    try:
        check(p)
    except _args.ArgError as exc:
        return {"failed": True, "msg": f"invalid argument: {exc}; nothing was done"}
    try:
        return write(p)
    except ReportError as exc:
        return {"failed": True, "msg": exc.args[0], "files": exc.args[1]}
