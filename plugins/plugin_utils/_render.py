# Copyright: (c) 2026, opsiface.sendmail developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The fleet report's renderings (controller side): Markdown and HTML from the Jinja2 templates beside
this file, JUnit XML, and the console summary. Each takes the fleet model (module_utils/_report.fleet,
the JSON of docs/fleet.schema.json) and nothing else.

Host-provided text (banners, log lines, host names) is escaped once, at the edge: the HTML template
is autoescaped; the Markdown template escapes explicitly with the ``md`` filter, and its environment
refuses to print a value that was not escaped (a template edit that forgets ``| md`` fails the tests
instead of shipping raw HTML into fleet.md).
"""

from __future__ import annotations

import html
import json
import os
import re
from xml.sax.saxutils import escape as xml_escape
from xml.sax.saxutils import quoteattr

import jinja2
from ansible_collections.opsiface.sendmail.plugins.module_utils._report import RANK, STATUSES
from ansible_collections.opsiface.sendmail.plugins.module_utils._text import clean

TEMPLATES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "templates")
OPERATION_TITLES = {
    "healthcheck": "sendmail health check",
    "restart": "sendmail restart",
    "crash_capture": "sendmail crash capture",
    "trace": "sendmail trace",
}
COLOURS = {"ok": "#2e7d32", "warning": "#ed6c02", "unknown": "#546e7a", "critical": "#c62828", "unreachable": "#6a1b9a"}

# Markdown that a viewer would act on: inline HTML (entities), emphasis, code, links and images, table cells.
_MD_SPECIAL = re.compile(r"([\\`*_\[\]{}|~#!])")


class Md(str):
    """Text already escaped for Markdown."""


def md(value) -> Md:
    """Host-provided text as inert Markdown, escaped once at the edge.

    Raw HTML becomes entities (an SMTP banner's ``<img src=x onerror=...>`` is shown, never rendered),
    Markdown punctuation is backslash-escaped (no emphasis, links, images or code spans, and ``|`` cannot
    end a table cell), and line breaks and other control characters are made visible (a cell or list item
    stays on one line)."""
    if isinstance(value, Md):
        return value
    text = clean(str(value), 4096)
    text = html.escape(text, quote=False)
    return Md(_MD_SPECIAL.sub(r"\\\1", text))


def join_md(values, separator: str) -> Md:
    """Each value escaped, joined by our own *separator* (``<br>`` inside a table cell)."""
    return Md(separator.join(md(v) for v in values))


def _md_finalize(value):
    if isinstance(value, Md) or (isinstance(value, (int, float)) and not isinstance(value, bool)):
        return value
    raise jinja2.TemplateError(f"fleet.md.j2 prints a value that is not escaped with | md: {clean(repr(value), 80)}")


_ENVIRONMENTS: dict[str, jinja2.Environment] = {}


def _environment(kind: str) -> jinja2.Environment:
    if kind not in _ENVIRONMENTS:
        options = {
            "loader": jinja2.FileSystemLoader(TEMPLATES),
            "undefined": jinja2.StrictUndefined,
            "trim_blocks": True,
            "lstrip_blocks": True,
            "keep_trailing_newline": True,
        }
        if kind == "md":
            env = jinja2.Environment(autoescape=False, finalize=_md_finalize, **options)  # Markdown: escaped by md
            env.filters.update(md=md, join_md=join_md)
        else:
            env = jinja2.Environment(autoescape=True, **options)
        _ENVIRONMENTS[kind] = env
    return _ENVIRONMENTS[kind]


def title(data: dict) -> str:
    operation = data.get("operation", "healthcheck")
    return OPERATION_TITLES.get(operation, f"sendmail {operation}")


def counts(summary: dict) -> str:
    return f"{summary['total']} hosts: " + ", ".join(f"{summary.get(k, 0)} {k}" for k in STATUSES)


def ordered(data: dict) -> list[tuple[str, dict]]:
    """Worst first, then by name."""
    return sorted(data["hosts"].items(), key=lambda kv: (-RANK.get(kv[1]["status"], 0), kv[0]))


def pending(data: dict) -> str | None:
    """What became of the hosts of a rolling run that are not in the report (yet)."""
    if not data.get("pending"):
        return None
    hosts = ", ".join(data["pending"])
    if data.get("rollout_stopped"):
        return f"Not reached (the rollout stopped before them): {hosts}"
    return f"Not done yet (a later batch of this rollout): {hosts}"


def changed(data: dict) -> dict | None:
    """The "Changed since the last run" section: None for a report without history (operations)."""
    summary = data.get("summary") or {}
    if "new" not in summary:
        return None
    parts = [
        f"{label} ({len(summary[key])}): {', '.join(summary[key])}"
        for key, label in (("new", "New"), ("recovered", "Recovered"), ("persisting", "Persisting"))
        if summary.get(key)
    ]
    hosts = []
    for host, r in ordered(data):
        lines = r.get("changes") or []
        # a healthy host is listed when its status or a check changed, not for a queue that moved a little
        notable = [c for c in lines if not c.startswith("queue ")]
        if not lines or (r["status"] == "ok" and (r.get("previous") is None or not notable)):
            continue
        state = r.get("state_type", "hard") + (", flapping" if r.get("flapping") else "")
        state += f", since {r.get('since')}" if r.get("since") else ""
        hosts.append((host, {"status": r["status"], "state": state, "changes": lines}))
    if not parts and not hosts:
        first = all(r.get("previous") is None for r in data["hosts"].values())
        headline = "First health check with history: nothing to compare yet." if first else "Nothing changed."
    else:
        headline = ". ".join(parts) + "." if parts else "No host is new, recovered or persisting."
    return {"headline": headline, "hosts": hosts}


def _view(data: dict) -> dict:
    return {
        "data": data,
        "title": title(data),
        "counts": counts(data["summary"]),
        "hosts": ordered(data),
        "pending": pending(data),
        "changed": changed(data),
        "statuses": STATUSES,
        "colours": COLOURS,
        "rank": RANK,
    }


def render_markdown(data: dict) -> str:
    return _environment("md").get_template("fleet.md.j2").render(_view(data))


def render_html(data: dict) -> str:
    return _environment("html").get_template("fleet.html.j2").render(_view(data))


def render_junit(data: dict) -> str:
    cases = []
    failures = 0
    for host, r in sorted(data["hosts"].items()):
        checks = r["checks"] or {"reachability": {"status": r["status"], "reason": "; ".join(r["reasons"])}}
        for area, check in checks.items():
            name = quoteattr(f"{host}.{area}")
            body = ""
            status = check.get("status")
            if status not in ("ok",):
                failures += 1
                body = (
                    f"<failure type={quoteattr(str(status))} message={quoteattr(clean(check.get('reason'), 512))}>"
                    f"{xml_escape(json.dumps(check, default=str)[:4000])}</failure>"
                )
            cases.append(f"  <testcase classname={quoteattr('sendmail.' + host)} name={name}>{body}</testcase>")
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f'<testsuite name="sendmail-{data.get("operation", "healthcheck")}" tests="{len(cases)}" failures="{failures}" errors="0" '
        f"timestamp={quoteattr(data['finished'])}>\n" + "\n".join(cases) + "\n</testsuite>\n"
    )


def cut(text: str, limit: int) -> str:
    """*text*, or its start up to the last whitespace within *limit* characters (never inside a word
    or number), marked; the whole text when no whitespace allows a cut."""
    if len(text) <= limit:
        return text
    at = max(text.rfind(" ", 0, limit + 1), text.rfind("\t", 0, limit + 1))
    if at <= 0:
        return text
    return text[:at].rstrip(" ;,:") + " [...]"


def summary_lines(data: dict, limit: int = 300) -> list[str]:
    """The console summary: the counts, what changed, then one line per host that is not ok, cut at a word."""
    lines = [counts(data["summary"])]
    section = changed(data)
    if section is not None:
        lines.append("Changed since the last run: " + section["headline"])
    for host, r in ordered(data):
        if r["status"] != "ok":
            state = f" ({r['state_type']})" if r.get("state_type") == "soft" else ""
            lines.append(
                f"{host}: {r['status'].upper()}{state}{' (escalate)' if r['escalate'] else ''}: "
                + cut("; ".join(r["reasons"]) or "-", limit)
            )
    if data.get("pending"):
        lines.append(pending(data))
    return lines
