# Copyright: (c) 2026, opsiface.sendmail developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""``mailq`` output, for when the queue directory cannot be read directly.

Formats: sendmail 8.12+ (``<qdir> is empty`` / ``\\t\\t<qdir> (N requests)``
and ``-----Q-ID-----`` columns), Debian's wrapper (``MSP Queue status...`` /
``MTA Queue status...`` around two listings), and the 8.8 era of the runbook
(``Mail queue is empty`` / ``\\t\\tMail Queue (N requests)``, ``--Q-ID--``).
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field

from ._text import clean, decode

_EMPTY = re.compile(r"^\s*(?P<qdir>\S.*?) is empty\s*$")
_EMPTY_88 = re.compile(r"^\s*Mail queue is empty\s*$", re.I)
_HEADER = re.compile(r"^\s*(?P<qdir>\S.*?) \((?P<n>\d+) requests?(?:, only (?P<printed>\d+) printed)?\)\s*$")
_ENTRY = re.compile(
    r"^(?P<qid>[A-Za-z0-9]{8,20})(?P<status>[*X?\- ]?)\s+(?P<size>\d+)\s+"
    r"(?P<qtime>[A-Z][a-z]{2} [A-Z][a-z]{2} [ \d]\d \d\d:\d\d)\s+(?P<sender>.*)$"
)
_TOTAL = re.compile(r"^\s*Total requests: (\d+)\s*$")


@dataclass
class MailqEntry:
    queue_id: str
    status: str
    size: int
    queued: str
    sender: str
    quarantine: str | None = None
    reason: str | None = None
    recipients: list[str] = field(default_factory=list)


@dataclass
class MailqSection:
    queue_dir: str
    label: str | None = None
    count: int = 0
    printed: int | None = None
    entries: list[MailqEntry] = field(default_factory=list)


@dataclass
class Mailq:
    sections: list[MailqSection] = field(default_factory=list)
    total: int | None = None
    unparsed: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return asdict(self)


def parse_mailq(data: bytes, max_unparsed: int = 20) -> Mailq:
    """Parse mailq output of any of the formats above. Never raises; odd lines go to ``unparsed``."""
    result = Mailq()
    label: str | None = None
    section: MailqSection | None = None
    entry: MailqEntry | None = None
    for raw in data.splitlines():
        line = decode(raw).rstrip("\r")
        if not line.strip():
            continue
        if line.endswith("Queue status..."):
            label = line.split()[0]
            continue
        if line.lstrip().startswith(("-----Q-ID-----", "--Q-ID--")):
            continue
        match = _TOTAL.match(line)
        if match:
            result.total = int(match.group(1))
            continue
        match = _EMPTY_88.match(line)
        if match:
            result.sections.append(MailqSection(queue_dir="(default)", label=label))
            section = entry = None
            continue
        match = _HEADER.match(line)
        if match:
            qdir = match.group("qdir").strip()
            section = MailqSection(
                queue_dir="(default)" if qdir.lower() == "mail queue" else clean(qdir),
                label=label,
                count=int(match.group("n")),
                printed=int(match.group("printed")) if match.group("printed") else None,
            )
            result.sections.append(section)
            entry = None
            continue
        match = _EMPTY.match(line)
        if match:
            result.sections.append(MailqSection(queue_dir=clean(match.group("qdir").strip()), label=label))
            section = entry = None
            continue
        match = _ENTRY.match(line)
        if match and section is not None:
            entry = MailqEntry(
                queue_id=match.group("qid"),
                status=match.group("status").strip(),
                size=int(match.group("size")),
                queued=match.group("qtime"),
                sender=clean(match.group("sender").strip(), 512),
            )
            section.entries.append(entry)
            continue
        stripped = line.strip()
        if entry is not None and stripped.startswith("QUARANTINE:"):
            entry.quarantine = clean(stripped.split(":", 1)[1].strip(), 512)
        elif entry is not None and stripped.startswith("(") and stripped.endswith(")") and entry.reason is None:
            entry.reason = clean(stripped[1:-1], 512)
        elif entry is not None and line.startswith(("\t", " ")):
            entry.recipients.append(clean(stripped, 512))
        elif len(result.unparsed) < max_unparsed:
            result.unparsed.append(clean(line, 256))
    return result
