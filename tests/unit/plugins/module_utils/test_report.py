from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET

import pytest
from ansible_collections.opsiface.sendmail.plugins.module_utils import _report
from ansible_collections.opsiface.sendmail.plugins.plugin_utils import _render

HEALTHY = {
    "checks": {
        "process": {"status": "ok", "reason": "listener pid 71 (PPID 1) is accepting connections, up 10 s"},
        "queue": {"status": "ok", "reason": "MTA queue empty"},
        "smtp": {"status": "ok", "reason": "220 mx01.lab.test then 221 in 4 ms"},
    },
    "daemon": {
        "state": "accepting",
        "pid": 71,
        "ppid": 1,
        "uptime_seconds": 10,
        "pidfile": "/run/sm.pid",
        "pidfile_matches": True,
        "others": [],
    },
    "queue": {
        "mta": {"present": True, "path": "/var/spool/mqueue", "count": 0, "verdict": "empty"},
        "msp": {"present": True, "path": "/var/spool/mqueue-client", "count": 0, "verdict": "empty"},
    },
    "smtp": {
        "success": True,
        "banner_code": 220,
        "hostname": "mx01.lab.test",
        "quit_code": 221,
        "timings": {"banner": 3.1, "total": 4.0},
    },
}


# A delivery check that worked: its test message arrived and was removed (smtp_probe's result, or the
# delivery area's of sendmail_status).
DELIVERED = {
    "success": True,
    "queue_id": "6ARB5A4o000106",
    "token": "opsiface-x",
    "mailbox": {"found": True, "removed": True, "path": "/var/mail/root", "message_bytes": 638, "waited_seconds": 1.2},
}


def test_healthy_host_documents_what_it_saw_and_that_it_did_nothing():
    r = _report.host_result(HEALTHY)
    assert r["status"] == "ok" and r["escalate"] is False and r["reasons"] == []
    assert any(o.startswith("process: listener accepting, pid 71, PPID 1") for o in r["observations"])
    assert r["actions"] == ["none: the health check only read; it changed nothing on the host"]
    assert r["checks"]["smtp"]["timings"]["banner"] == 3.1


def test_critical_host_escalates_with_reasons():
    status = json.loads(json.dumps(HEALTHY))
    status["checks"]["process"] = {"status": "critical", "reason": "no sendmail listener is running"}
    r = _report.host_result(status)
    assert r["status"] == "critical" and r["escalate"] is True
    assert r["reasons"] == ["process: no sendmail listener is running"]
    assert _report.host_result(status, escalate_on="never")["escalate"] is False


def test_an_unknown_area_makes_the_host_unknown_never_ok_and_delivery_actions_are_listed():
    status = json.loads(json.dumps(HEALTHY))
    status["checks"]["queue"]["status"] = "unknown"
    delivery = json.loads(json.dumps(DELIVERED))
    r = _report.host_result(status, delivery)
    assert r["status"] == "unknown" and r["escalate"] is False  # not escalated as a mail fault by default
    assert _report.host_result(status, delivery, escalate_on="unknown")["escalate"] is True
    assert r["checks"]["delivery"]["status"] == "ok"
    assert r["actions"][0].startswith("sent test message 6ARB5A4o000106")
    assert "removed that message from /var/mail/root" in r["actions"][1]
    # the recipient the check sent to (delivery_rcpt), not always root
    other = dict(delivery, rcpt_to="postmaster", mailbox=dict(delivery["mailbox"], path="/var/mail/postmaster"))
    assert _report.host_result(status, other)["actions"][0].endswith(" to postmaster")


@pytest.mark.parametrize(
    "delivery,status,reason",
    [
        (
            {
                "success": False,
                "failure": "delivery_late",
                "detail": "accepted by the MTA as 6B1FhwkS000163, not yet",
                "queue_id": "6B1FhwkS000163",
                "mailbox": {"arrived": False, "removed": False, "path": "/var/mail/root"},
            },
            "warning",
            "delivery check failed: delivery_late: accepted by the MTA as 6B1FhwkS000163, not yet",
        ),
        (
            {
                "success": False,
                "failure": "not_accepted",
                "detail": "RCPT answered 550",
                "queue_id": None,
                "mailbox": None,
            },
            "critical",
            "delivery check failed: not_accepted: RCPT answered 550",
        ),
        (
            {
                "success": False,
                "failure": "not_delivered",
                "detail": "neither in /var/mail/root nor in the queue",
                "queue_id": "6B1FhwkS000163",
                "mailbox": {"arrived": False, "path": "/var/mail/root"},
            },
            "critical",
            "delivery check failed: not_delivered: neither in /var/mail/root nor in the queue",
        ),
        (
            {
                "success": True,
                "detail": "the test message 6B1FhwkS000163 reached /var/mail/root but is left there: x",
                "queue_id": "6B1FhwkS000163",
                "mailbox": {"arrived": True, "found": True, "removed": False, "left_because": "x"},
            },
            "warning",
            "delivered, but the test message 6B1FhwkS000163 reached /var/mail/root but is left there: x",
        ),
    ],
    ids=["late-is-a-warning", "not-accepted-is-critical", "vanished-is-critical", "left-in-mailbox-is-a-warning"],
)
def test_delivery_classes_map_to_host_status(delivery, status, reason):
    """A late delivery under load is slow mail, not refused mail (issue #17 item 3)."""
    r = _report.host_result(json.loads(json.dumps(HEALTHY)), delivery)
    assert (r["checks"]["delivery"]["status"], r["checks"]["delivery"]["reason"]) == (status, reason)
    assert r["status"] == status


def test_late_test_messages_removed_are_listed_as_actions():
    delivery = {
        "success": True,
        "queue_id": "6B1FhwkS000170",
        "token": "opsiface-1796140000-" + "a" * 32,
        "mailbox": {
            "arrived": True,
            "found": True,
            "removed": True,
            "path": "/var/mail/root",
            "message_bytes": 600,
            "waited_seconds": 0.4,
            "earlier_removed": ["opsiface-1796139000-" + "b" * 32],
        },
    }
    r = _report.host_result(json.loads(json.dumps(HEALTHY)), delivery)
    assert r["checks"]["delivery"]["status"] == "ok"
    assert r["actions"][-1].startswith("removed 1 test message(s) of earlier checks that arrived late")


def test_fleet_renderings():
    hosts = {"mx01": _report.host_result(HEALTHY), "mx09": _report.unreachable_result("ssh: timed out <&>")}
    data = _report.fleet(hosts, "run-1", "2026-11-27T11:00:00Z", "2026-11-27T11:00:05Z")
    assert data["summary"] == {"total": 2, "ok": 1, "warning": 0, "unknown": 0, "critical": 0, "unreachable": 1}
    assert data["escalate"] == ["mx09"]
    md = _render.render_markdown(data)
    assert md.index("| mx09 |") < md.index("| mx01 |")  # worst first
    page = _render.render_html(data)
    assert "<script src" not in page and "http" not in page.split("<body>")[1]  # self-contained
    assert "&lt;&amp;&gt;" in page and 'data-host="mx01"' in page
    junit = ET.fromstring(_render.render_junit(data))
    assert junit.get("failures") == "1" and len(list(junit.iter("testcase"))) == 4
    assert _render.summary_lines(data)[1].startswith("mx09: UNREACHABLE (escalate)")


def test_filter_classifies_results():
    from ansible_collections.opsiface.sendmail.plugins.filter.health import sendmail_health

    assert sendmail_health({"unreachable": True, "msg": "ssh: no route"})["status"] == "unreachable"
    stopped = {
        "failed": True,
        "msg": "Module result deserialization failed: No start of json char found",
        "module_stdout": "",
        "module_stderr": "Error response from daemon: container abc is not running\n",
    }
    got = sendmail_health(stopped)
    assert got["status"] == "unreachable" and "is not running" in got["reasons"][0]
    crashed = dict(stopped, module_stderr="Traceback (most recent call last):\n  ...\nKeyError: 'x'\n")
    assert sendmail_health(crashed)["status"] == "critical"
    assert sendmail_health({"skipped": True}, None)["reasons"] == ["no check ran (were all areas skipped by tags?)"]


def test_operation_result_restart_steps():
    steps = [
        ("preflight", {"observations": ["pre-flight passed"], "actions": [], "changed": False}),
        ("record", {"observations": ["recorded the queue IDs: 200 in the MTA queue, 0 in the MSP queue"]}),
        ("stop", {"changed": True, "actions": ["ran /etc/init.d/sendmail stop (rc 0)"], "observations": ["gone"]}),
        ("move_aside", {"skipped": True}),
        ("start", {"changed": True, "actions": ["ran /etc/init.d/sendmail start (rc 0)"], "observations": ["up"]}),
        ("new_pid", {"msg": "new listener 90 (PPID 1), was 71", "changed": False}),
        ("smtp", {"success": True, "banner_code": 220, "hostname": "mx01", "timings": {"banner": 3}, "quit_code": 221}),
        ("nothing_lost", None),
    ]
    result = _report.operation_result(steps)
    assert result["status"] == "ok" and not result["escalate"]
    assert list(result["checks"]) == ["preflight", "record", "stop", "start", "new_pid", "smtp"]
    assert "smtp: 220 mx01 in 3 ms, QUIT 221" in result["observations"]
    assert result["actions"] == ["ran /etc/init.d/sendmail stop (rc 0)", "ran /etc/init.d/sendmail start (rc 0)"]


def test_operation_result_failed_and_unreachable():
    failed = _report.operation_result(
        [("preflight", {"failed": True, "msg": "pre-flight failed: line 3", "actions": ["none: nothing stopped"]})]
    )
    assert failed["status"] == "critical" and failed["escalate"]
    assert failed["reasons"] == ["preflight: pre-flight failed: line 3"]
    probe = _report.operation_result(
        [("smtp", {"failed": True, "success": False, "failure": "timeout_banner", "detail": "no banner in 10 s"})]
    )
    assert probe["reasons"] == ["smtp: timeout_banner: no banner in 10 s"]
    lost = _report.operation_result(
        [
            ("stop", {"changed": True, "actions": ["ran stop"]}),
            ("start", {"unreachable": True, "msg": "container gone"}),
        ]
    )
    assert lost["status"] == "unreachable"
    assert lost["reasons"] == ["unreachable during start: container gone"]
    assert lost["actions"] == ["ran stop"]
    assert _report.operation_result([("x", None)])["status"] == "unreachable"


def test_fleet_of_an_operation_renders_with_its_title():
    hosts = {"mx01": _report.operation_result([("capture", {"observations": ["core written"], "actions": ["gcore"]})])}
    data = _report.fleet(hosts, "r1", "s", "f", {"mode": "gcore"}, operation="crash_capture")
    data["pending"] = ["mx02"]
    assert data["schema"] == "opsiface.sendmail/crash_capture/v1"
    assert render(data)
    assert "# sendmail crash capture r1" in _render.render_markdown(data)
    assert "not done yet (a later batch of this rollout): mx02" in _render.render_markdown(data).lower()
    assert "<h1>sendmail crash capture</h1>" in _render.render_html(data)
    assert 'name="sendmail-crash_capture"' in _render.render_junit(data)
    assert _render.summary_lines(data)[-1] == "Not done yet (a later batch of this rollout): mx02"
    data["rollout_stopped"] = True
    assert _render.summary_lines(data)[-1] == "Not reached (the rollout stopped before them): mx02"


def render(data: dict) -> bool:
    json.loads(json.dumps(data))
    ET.fromstring(_render.render_junit(data))
    return True


def test_reports_match_the_published_schema():
    import pathlib

    import jsonschema

    schema = json.loads((pathlib.Path(__file__).resolve().parents[4] / "docs" / "fleet.schema.json").read_text())
    health = _report.fleet({"mx01": _report.host_result(HEALTHY)}, "r", "2026-11-27T11:00:00Z", "2026-11-27T11:00:01Z")
    op = _report.fleet(
        {"mx01": _report.operation_result([("stop", {"actions": ["ran stop"], "observations": ["gone"]})])},
        "r",
        "2026-11-27T11:00:00Z",
        "2026-11-27T11:00:01Z",
        {"check_mode": False},
        operation="restart",
    )
    op["pending"] = ["mx02"]
    unreachable = _report.fleet({"mx03": _report.unreachable_result("gone")}, "r", "s", "f")
    for data in (health, op, unreachable):
        jsonschema.validate(json.loads(json.dumps(data)), schema)
    op["hosts"]["mx01"]["status"] = "fine"
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(op, schema)


# --------------------------------------------------------------- unknown, access failures, the console summary
@pytest.mark.parametrize(
    "msg,cause",
    [
        ("Task failed: Missing sudo password", "sudo needs a password and none was given"),
        ("Incorrect sudo password", "the sudo password given is wrong"),
        ("Timeout (12s) waiting for privilege escalation prompt: ", "become timed out waiting for its password prompt"),
        ("sudo: a password is required", "sudo needs a password and none was given"),
        ("ops is not in the sudoers file.  This incident will be reported.", "the user may not use sudo"),
    ],
    ids=["missing", "wrong", "timeout", "sudo-n", "not-sudoer"],
)
def test_become_failures_are_unknown_not_mail_faults(msg, cause):
    from ansible_collections.opsiface.sendmail.plugins.filter.health import sendmail_health

    got = sendmail_health({"failed": True, "msg": msg})
    assert got["status"] == "unknown" and got["escalate"] is False
    assert cause in got["reasons"][0] and "--ask-become-pass" in got["reasons"][0]
    assert sendmail_health({"failed": True, "msg": msg}, None, "unknown")["escalate"] is True
    op = _report.operation_result([("preflight", {"failed": True, "msg": msg}), ("stop", None)])
    assert op["status"] == "unknown" and cause in op["reasons"][0]


def test_a_module_failure_that_is_no_become_failure_stays_critical():
    from ansible_collections.opsiface.sendmail.plugins.filter.health import sendmail_health

    got = sendmail_health({"failed": True, "msg": "MODULE FAILURE", "module_stderr": "Traceback ...\nKeyError"})
    assert got["status"] == "critical"


def test_unknown_is_counted_rendered_and_valid_against_the_schema():
    import pathlib

    import jsonschema

    unknown = _report.host_result(
        {
            "checks": {"syslog": {"status": "unknown", "reason": "the mail log was not read: not root"}},
            "syslog": {"source": "none", "access": "cannot read /var/log/mail.log (0640 root:adm): not root"},
        }
    )
    data = _report.fleet({"mx01": _report.host_result(HEALTHY), "mx02": unknown}, "r", "s", "f")
    assert data["summary"]["unknown"] == 1 and data["escalate"] == []
    assert "1 unknown" in _render.render_markdown(data) and "1 unknown" in _render.summary_lines(data)[0]
    assert "<br>unknown</div>" in _render.render_html(data)
    junit = ET.fromstring(_render.render_junit(data))
    assert [f.get("type") for f in junit.iter("failure")] == ["unknown"]
    schema = json.loads((pathlib.Path(__file__).resolve().parents[4] / "docs" / "fleet.schema.json").read_text())
    jsonschema.validate(json.loads(json.dumps(data)), schema)


def test_summary_is_cut_at_a_word_never_inside_a_number():
    evidence = "12 message(s), oldest 21619 s old (warning at 14400 s / 500 messages, critical at 172800 s / 5000)"
    reasons = [f"queue: MTA queue backlog: {evidence}", f"syslog: {'x ' * 80}", "smtp: 220 then 221"]
    status = {"checks": {"queue": {"status": "warning", "reason": reasons[0][7:]}}}
    result = _report.host_result(status)
    result["reasons"] = reasons
    data = _report.fleet({"mx01": result}, "r", "s", "f")
    for limit in range(40, 330, 7):
        line = _render.summary_lines(data, limit)[1]
        text = line.split(": ", 2)[2]
        assert text.endswith(" [...]") or text == "; ".join(reasons), line
        kept = text.removesuffix(" [...]")
        assert "; ".join(reasons).startswith(kept)
        cut_at = len(kept)
        rest = "; ".join(reasons)[cut_at:]
        assert not rest or rest[0] in " ;,:", (limit, kept[-20:], rest[:20])  # the next character starts a word
        assert len(kept) <= limit
    assert _render.cut("14400" * 100, 300) == "14400" * 100  # no place to cut: whole


HOSTILE = [
    "<img src=x onerror=alert(1)>",
    "220 mx01 ESMTP <script>alert(document.cookie)</script>",
    "a | b | c",
    "[click](javascript:alert(1)) ![x](http://evil.example/t.png)",
    "**bold** _em_ `code` ~~gone~~ <https://evil.example>",
    "line one\nline two\r| injected | row |",
    "&lt;already&gt; &amp; \\| escaped",
]


def test_markdown_carries_no_raw_html_and_no_markdown_from_hosts():
    """#13 item 8: host-provided text (SMTP banner, log lines) reached fleet.md raw; many viewers render it."""
    result = _report.host_result(HEALTHY)
    result.update(status="critical", reasons=list(HOSTILE), observations=list(HOSTILE), actions=list(HOSTILE))
    data = _report.fleet({"mx01|<b>x</b>": result}, "run-<i>1</i>", "2026-11-27T11:00:00Z", "2026-11-27T11:00:05Z")
    data["pending"] = ["mx02*_"]
    md = _render.render_markdown(data)
    assert "<img" not in md and "<script" not in md and "<b>" not in md and "<i>" not in md and "<https" not in md
    assert md.count("<") == md.count("<br>")  # our own line breaks in the reasons cell, nothing else
    table = [line for line in md.splitlines() if line.startswith("| mx01")]
    assert len(table) == 1  # the CR/LF and the '|' stayed inside one row
    assert len(re.split(r"(?<!\\)\|", table[0])) == 6  # 4 cells, unescaped pipes only ours
    for special in ("[click]", "![x]", "**bold**", "_em_", "`code`", "~~gone~~"):
        assert special not in md
    assert "\\[click\\]" in md and "\\*\\*bold\\*\\*" in md and "\\`code\\`" in md
    assert "&amp;lt;already&amp;gt;" in md  # shown as typed, not as the character it names
    assert "mx02\\*\\_" in md


@pytest.mark.parametrize(
    "delivery",
    [
        {"unreachable": True, "msg": "ssh: connect to host mx01 port 22: No route to host"},
        {
            "failed": True,
            "msg": "Module result deserialization failed: No start of json char found",
            "module_stdout": "",
            "module_stderr": "Error response from daemon: Container 7346a8f7 is not running",
        },
    ],
    ids=["unreachable", "container-stopped"],
)
def test_a_delivery_check_that_never_reached_the_host_is_unreachable_not_a_delivery_failure(delivery):
    """--tags delivery (the status task skipped) on a host that is down: reproduced in the lab, the report
    said critical 'delivery check failed: None: None' and the PLAY RECAP failed, not unreachable."""
    from ansible_collections.opsiface.sendmail.plugins.filter.health import sendmail_health

    for status in ({"skipped": True}, {}):
        got = sendmail_health(status, delivery)
        assert got["status"] == "unreachable" and "None: None" not in " ".join(got["reasons"])
    got = sendmail_health(HEALTHY, delivery)  # the host went away between the two tasks
    assert got["status"] == "unreachable"


def test_a_delivery_check_whose_become_failed_is_unknown_not_a_delivery_failure():
    from ansible_collections.opsiface.sendmail.plugins.filter.health import sendmail_health

    got = sendmail_health({"skipped": True}, {"failed": True, "msg": "Missing sudo password"})
    assert got["status"] == "unknown" and "--ask-become-pass" in got["reasons"][0]


def test_the_delivery_area_of_sendmail_status_reaches_the_report_as_the_delivery_task_did():
    """The health check's delivery check runs in its one sendmail_status call (no per-host task of its own):
    the filter reads it from the status result, with the same verdict, reasons and actions as a separate result."""
    from ansible_collections.opsiface.sendmail.plugins.filter.health import sendmail_health, sendmail_results

    delivery = dict(json.loads(json.dumps(DELIVERED)), changed=True)
    status = json.loads(json.dumps(HEALTHY))
    status["delivery"] = delivery
    status["checks"]["delivery"] = {"status": "ok", "reason": "as the module decided"}
    embedded, separate = sendmail_health(status), sendmail_health(HEALTHY, delivery)
    assert embedded["checks"]["delivery"] == separate["checks"]["delivery"]
    assert embedded["checks"]["delivery"]["status"] == "ok" and embedded["actions"] == separate["actions"]
    assert embedded["actions"][0].startswith("sent test message 6ARB5A4o000106")
    late = dict(status, delivery=dict(delivery, success=False, failure="delivery_late", detail="queued", mailbox={}))
    got = sendmail_results(["mx01", "mx02"], [status, late])
    assert got["mx01"]["checks"]["delivery"]["status"] == "ok"
    assert got["mx02"]["checks"]["delivery"]["status"] == "warning" and got["mx02"]["status"] == "warning"
