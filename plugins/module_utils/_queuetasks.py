# Copyright: (c) 2026, opsiface.sendmail developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The sendmail_queue module's operations, one function each, over one host context.

``run(ctx)`` checks what the argument spec cannot (one queue for the operations that act, a
configured queue directory), takes the host's operation lock for those that change the queue, and
calls the operation. Reading the queue is ``_queue`` (scan, list, IDs); acting on it is
``_queueops`` (flush, quarantine, delete, move aside); the restart's accounting is ``_service``.
Every function returns the module's result or raises ModuleError; none exits.
"""

from __future__ import annotations

import time

# _oplock, _queueops, _service and _syslog are imported by the operations that use them: compiling them is
# 0.02 s of every summary run (the AnsiballZ zip still carries them: the module_utils finder reads every import)
from . import _collect, _queue
from ._context import HostContext, ModuleError

READS = ("summary", "list", "ids", "account")
LOCKED = ("flush", "hold", "release", "delete", "move_aside")


def run(ctx: HostContext) -> dict:
    """The operation of ``ctx.params["operation"]`` on the queue(s) of ``ctx.params["queue"]``."""
    p = ctx.params
    op = p["operation"]
    if op not in READS and p["queue"] == "both":
        raise ModuleError(f"operation={op} acts on one queue: set queue to mta or msp")
    if op in LOCKED:
        from . import _oplock

        _oplock.hold(ctx, f"queue {op}")  # the host's operation lock, released as the call ends
    ctx.now = time.time()
    names = queue_names(ctx)
    if op not in READS and not ctx.paths[f"{names[0]}_queue_dirs"]:
        raise ModuleError(f"no {names[0].upper()} queue directory is configured; nothing was done")
    operation = {"summary": summary, "ids": ids, "account": account, "move_aside": move_aside, "list": listing}
    return operation.get(op, act)(ctx)


def queue_names(ctx: HostContext) -> list[str]:
    return ["mta", "msp"] if ctx.params["queue"] == "both" else [ctx.params["queue"]]


def summary(ctx: HostContext) -> dict:
    """Counts, ages, domains, reasons, anomalies and a verdict per queue, from the queue directories."""
    p = ctx.params
    thresholds = _collect.QueueThresholds(*(p[k] for k in ("warn_count", "crit_count", "warn_age", "crit_age")))
    cache = _collect.QueueCache(p["cache_dir"] if p["cache"] else None, not ctx.check_mode)
    queues, check = _collect.collect_queues(ctx, queue_names(ctx), _collect.QueueOptions(thresholds, cache))
    return {"changed": False, "queues": queues, "status": check["status"], "reason": check["reason"]}


def ids(ctx: HostContext) -> dict:
    """The queue IDs of the queue(s), names only: what a restart records before it stops anything."""
    found, unreadable = {}, []
    for name in queue_names(ctx):
        found[name], problems = _queue.queue_ids(ctx.paths[f"{name}_queue_dirs"])
        unreadable += problems
    if unreadable:
        raise ModuleError("cannot read the queue: " + "; ".join(unreadable))
    counts = ", ".join(f"{len(v)} in the {n.upper()} queue" for n, v in found.items())
    return {
        "changed": False,
        "ids": found,
        "recorded_at": ctx.now,
        "counts": {n: len(v) for n, v in found.items()},
        "observations": [f"recorded the queue IDs: {counts}"],
    }


def account(ctx: HostContext) -> dict:
    """The restart's "nothing lost" gate: every ID recorded before is queued, moved aside or logged as finished."""
    from . import _service, _syslog

    p = ctx.params
    present: set[str] = set()
    for name in ("mta", "msp"):
        found, unreadable = _queue.queue_ids(ctx.paths[f"{name}_queue_dirs"])
        if unreadable:
            raise ModuleError("cannot read the queue: " + "; ".join(unreadable))
        present.update(found)
    aside, unreadable = _queue.queue_ids(p["aside_dirs"])
    if unreadable:
        raise ModuleError("cannot read a moved-aside queue: " + "; ".join(unreadable))
    expected = {str(k): [str(i) for i in v or []] for k, v in p["expected_ids"].items()}
    missing = {i for v in expected.values() for i in v} - present - set(aside)
    logs = p["log_paths"] or ctx.layout.logs
    outcomes = _syslog.find_outcomes(logs, missing, ctx.now, p["since"])
    moved_at = p["moved_at"] if p["moved_at"] is not None else p["since"]
    sent_after = _syslog.find_outcomes(logs, set(aside), ctx.now, moved_at, after=int(moved_at)) if aside else {}
    delivered_after_move = {i for i, outcome in sent_after.items() if outcome == "sent"}
    accounting = _service.account(expected, present, set(aside), outcomes, delivered_after_move)
    if accounting["duplicate_risk"]:
        raise ModuleError(
            f"{len(accounting['duplicate_risk'])} message(s) moved aside are also still queued or were "
            "delivered after the move (another process was working on them): running the moved-aside "
            "directory would deliver them twice: " + ", ".join(accounting["duplicate_risk"][:20]),
            accounting=accounting,
        )
    if not accounting["ok"]:
        raise ModuleError(
            f"{len(accounting['lost'])} of {accounting['expected']} message(s) recorded before are not in "
            "the queues, not moved aside and not logged as delivered: " + ", ".join(accounting["lost"][:20]),
            accounting=accounting,
        )
    outcomes_text = ", ".join(f"{v} {k}" for k, v in sorted(accounting["finished_by_outcome"].items()))
    observation = (
        f"all {accounting['expected']} message(s) recorded before are accounted for: "
        f"{accounting['present']} still queued, {accounting['moved_aside']} moved aside, "
        f"{accounting['finished']} finished" + (f" ({outcomes_text})" if outcomes_text else "")
    )
    return {"changed": False, "accounting": accounting, "observations": [observation]}


def move_aside(ctx: HostContext) -> dict:
    """Every queue directory of the queue out of service, while the daemon is stopped (see _queueops)."""
    from . import _queueops

    p = ctx.params
    daemon = _collect.collect_daemon(ctx.pidfile, ctx.now, ctx.runner)
    running = daemon["running"] or daemon["state"] == "stopped"
    try:
        moved = _queueops.move_aside(
            ctx.paths[f"{p['queue']}_queue_dirs"],
            ctx.paths["queue_patterns"],
            running and not (ctx.check_mode and p["after_stop"]),
            ctx.check_mode,
            ctx.now,
        )
    except (_queue.QueueError, OSError) as exc:
        raise ModuleError(str(exc), daemon_state=daemon["state"]) from exc
    actions, warnings, observation = _queueops.describe_move(moved, ctx.check_mode)
    for warning in warnings:
        ctx.warn(warning)
    errors = [f"{d['queue_dir']}: {e}" for d in moved["directories"] for e in d["errors"]]
    if errors:
        raise ModuleError("some messages could not be moved: " + "; ".join(errors[:20]), moved=moved, actions=actions)
    return {"changed": moved["messages_moved"] > 0, "moved": moved, "actions": actions, "observations": [observation]}


def select(
    ctx: HostContext, include_quarantined: bool = True, not_read: list[dict] | None = None
) -> tuple[list[dict], int]:
    """The messages the selection options match in the queue(s) (at most ``limit``), and how many matched.
    Files named like control files that do not look like sendmail's are not read; with *not_read*, they
    are listed there (kind, path, why; never their contents)."""
    p = ctx.params
    messages: list[dict] = []
    selected = 0
    try:
        for name in queue_names(ctx):
            found, total = _queue.list_messages(
                ctx.paths[f"{name}_queue_dirs"],
                ctx.now,
                p["queue_ids"],
                p["recipient_domain"],
                p["sender"],
                p["older_than"],
                p["limit"],
                include_quarantined=include_quarantined,
                anomalies=not_read,
            )
            messages += [dict(m, queue=name) for m in found]
            selected += total
    except _queue.QueueError as exc:
        raise ModuleError(str(exc)) from exc
    return messages, selected


def listing(ctx: HostContext) -> dict:
    not_read: list[dict] = []
    messages, selected = select(ctx, not_read=not_read)
    return {"changed": False, "messages": messages, "selected": selected, "not_read": not_read}


def act(ctx: HostContext) -> dict:
    """flush, hold, release or delete the selection: planned first (the result of check mode), then done."""
    from . import _queueops

    p = ctx.params
    op = p["operation"]
    messages, selected = select(ctx, include_quarantined=op != "flush")
    if selected > p["limit"]:
        raise ModuleError(
            f"{selected} messages match, more than limit={p['limit']}: narrow the selection or raise the limit",
            selected=selected,
        )
    if op in ("hold", "release") and not any([p["queue_ids"], p["recipient_domain"], p["sender"], p["older_than"]]):
        raise ModuleError(f"operation={op} needs a selection (queue_ids, recipient_domain, sender or older_than)")
    if op == "delete" and not p["queue_ids"]:
        raise ModuleError("operation=delete needs explicit queue_ids (list them first with operation=list)")
    chosen = [m["queue_id"] for m in messages]
    if op == "release":
        chosen = [m["queue_id"] for m in messages if m["quarantined"]]
    elif op == "hold":
        chosen = [m["queue_id"] for m in messages if not m["quarantined"]]
    result = {"messages": messages, "selected": selected, "queue_ids": chosen, "changed": bool(chosen)}
    if ctx.diff:
        result["diff"] = {"before": {"queue_ids": sorted(m["queue_id"] for m in messages)}}
    if op == "delete":
        delete(ctx, result)
    elif not ctx.check_mode and chosen:
        if op == "flush":
            result["runs"] = _queueops.flush(ctx, p["queue"], chosen, p["verbose"])
        else:
            result["runs"] = _queueops.quarantine(ctx, p["queue"], chosen, p["reason"] if op == "hold" else None)
    if ctx.diff:
        after, _unused = _queue.list_messages(
            ctx.paths[f"{p['queue']}_queue_dirs"],
            time.time(),
            p["queue_ids"],
            p["recipient_domain"],
            p["sender"],
            p["older_than"],
            p["limit"],
        )
        result["diff"]["after"] = {"queue_ids": sorted(m["queue_id"] for m in after)}
    failed_runs = [r for r in result.get("runs", []) if r["rc"] not in (0, None) or r["timed_out"]]
    if failed_runs:
        raise ModuleError(f"sendmail failed for {len(failed_runs)} batch(es)", **result)
    return result


def delete(ctx: HostContext, result: dict) -> None:
    """The selected IDs removed (to the trash directory unless purge) unless sendmail holds them locked."""
    from . import _queueops

    p = ctx.params
    trash = None if p["purge"] else p["trash_dir"]
    try:
        result["deleted"] = _queueops.delete(
            ctx.paths[f"{p['queue']}_queue_dirs"], p["queue_ids"], trash, ctx.check_mode
        )
    except (_queue.QueueError, OSError) as exc:
        raise ModuleError(str(exc)) from exc
    result["changed"] = bool(result["deleted"]["deleted"])
    if result["deleted"]["errors"]:
        raise ModuleError("some messages could not be deleted: " + "; ".join(result["deleted"]["errors"]), **result)
