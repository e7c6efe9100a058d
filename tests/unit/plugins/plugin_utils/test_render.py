"""#16 item 5: the report model is rendered by Jinja2 templates shipped in the collection: HTML autoescaped,
Markdown escaped explicitly (its environment refuses a value that was not); both lead with what changed."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import jinja2
import pytest
from ansible_collections.opsiface.sendmail.plugins.filter.health import sendmail_health
from ansible_collections.opsiface.sendmail.plugins.module_utils import _history, _report
from ansible_collections.opsiface.sendmail.plugins.plugin_utils import _render

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "report"
HEALTHY = json.loads((FIXTURES / "debian12-8.17.1.9-sendmail_status-healthy.json").read_text())
KILLED = json.loads((FIXTURES / "debian12-8.17.1.9-sendmail_status-killed.json").read_text())
EVIL = '<script>alert("x")</script> **b** | c'


def two_runs(host: str = "mx01") -> dict:
    history: dict = {}
    for n, status in enumerate((HEALTHY, KILLED)):
        finished = f"2026-12-01T10:{10 * n:02d}:00Z"
        data = _report.fleet(
            {host: sendmail_health(copy.deepcopy(status)), "mx09": sendmail_health(copy.deepcopy(HEALTHY))},
            f"r{n}",
            finished,
            finished,
        )
        history = _report.with_history(data, history, _history.Policy())
    return data


def test_templates_are_files_of_the_collection():
    assert sorted(p.name for p in Path(_render.TEMPLATES).glob("*.j2")) == ["fleet.html.j2", "fleet.md.j2"]


def test_markdown_environment_refuses_a_value_not_escaped():
    env = _render._environment("md")
    assert env.from_string("{{ x | md }} {{ n }}").render(x="<b>", n=3) == "&lt;b&gt; 3"
    with pytest.raises(jinja2.TemplateError, match="not escaped with"):
        env.from_string("{{ x }}").render(x="<b>")


def test_both_renderings_lead_with_what_changed():
    data = two_runs()
    md = _render.render_markdown(data)
    assert md.index("## Changed since the last run") < md.index("| host | status |")
    assert "New (1): mx01." in md
    assert (
        "- **mx01** critical (hard, since 2026-12-01T10:10:00Z): status ok \u2192 critical (hard); new: process critical"
        in md
    )
    page = _render.render_html(data)
    assert page.index("Changed since the last run") < page.index('<table id="hosts">')
    assert '<li class="change" data-host="mx01"><b>mx01</b> critical' in page
    assert (
        "mx09" not in page.split('<section id="changed">')[1].split("</section>")[0]
    )  # unchanged hosts are not listed


def test_an_operation_report_has_no_changed_section():
    data = _report.fleet(
        {"mx01": _report.operation_result([("stop", {"observations": ["gone"]})])}, "r", "s", "f", operation="restart"
    )
    assert "Changed since" not in _render.render_markdown(data) and "Changed since" not in _render.render_html(data)


def test_host_text_in_the_changed_section_is_escaped_in_both():
    data = two_runs(host=EVIL)
    page = _render.render_html(data)
    assert "<script>alert" not in page and "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in page
    assert page.count("<script>") == 1  # our table sorter, nothing else
    md = _render.render_markdown(data)
    assert "<script" not in md and "\\*\\*b\\*\\*" in md and "\\| c" in md


def test_summary_lines_say_what_changed_and_mark_soft_states():
    history: dict = {}
    for n in range(2):
        data = _report.fleet(
            {"mx01": sendmail_health(copy.deepcopy(KILLED))},
            f"r{n}",
            f"2026-12-01T10:0{n}:00Z",
            f"2026-12-01T10:0{n}:00Z",
        )
        history = _report.with_history(data, history, _history.Policy(hard_after=3))
    lines = _render.summary_lines(data)
    assert lines[1] == "Changed since the last run: Persisting (1): mx01."
    assert lines[2].startswith("mx01: CRITICAL (soft): process: no sendmail listener is running")
