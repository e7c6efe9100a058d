# Copyright: (c) 2026, opsiface.sendmail developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""sendmail.cf and what sendmail says about it (``-d0.1 -bt``, ``-bC``).

Paths the other areas need (QueueDirectory, PidFile, DaemonPortOptions) come
from the cf itself, so Debian, RHEL and Solaris layouts work without options.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field

from ._text import clean, decode

# Single-character options of pre-8.7 style cf files ("OQ/var/spool/mqueue").
SHORT_OPTIONS = {"Q": "QueueDirectory", "O": "DaemonPortOptions", "L": "LogLevel", "H": "HelpFile"}
PORT_NAMES = {"smtp": 25, "submission": 587, "smtps": 465}
DEFAULTS = {"QueueDirectory": "/var/spool/mqueue", "PidFile": "/var/run/sendmail.pid"}


@dataclass
class CfOptions:
    options: dict[str, list[str]] = field(default_factory=dict)
    queue_groups: list[dict[str, str]] = field(default_factory=list)

    def get(self, name: str, default: str | None = None) -> str | None:
        values = self.options.get(name)
        return values[-1] if values else default


def parse_cf(data: bytes) -> CfOptions:
    """Options (``O Name=value`` and old ``OXvalue``) and queue groups (``Q`` lines) of a cf file."""
    result = CfOptions()
    for raw in data.splitlines():
        line = decode(raw).rstrip()
        if line.startswith("O ") or line.startswith("O\t"):
            name, sep, value = line[2:].strip().partition("=")
            if sep:
                result.options.setdefault(name.strip(), []).append(value.strip())
        elif len(line) > 1 and line[0] == "O" and line[1] in SHORT_OPTIONS:
            result.options.setdefault(SHORT_OPTIONS[line[1]], []).append(line[2:].strip())
        elif line.startswith("Q") and len(line) > 1 and not line.startswith("Q "):
            name, _sep, rest = line[1:].partition(",")
            group = {"name": name.strip()}
            for part in rest.split(","):
                key, sep, value = part.strip().partition("=")
                if sep:
                    group[key.strip()] = value.strip()
            result.queue_groups.append(group)
    return result


def daemon_ports(cf: CfOptions) -> list[dict]:
    """The MTA's listening ports from DaemonPortOptions (25 when none is set)."""
    ports = []
    for value in cf.options.get("DaemonPortOptions", []):
        fields = {}
        for part in value.split(","):
            key, sep, val = part.strip().partition("=")
            if sep:
                fields[key.strip()] = val.strip()
        port_name = fields.get("Port", "smtp")
        port = PORT_NAMES.get(port_name, int(port_name) if port_name.isdigit() else None)
        ports.append(
            {"name": fields.get("Name"), "port": port, "address": fields.get("Addr"), "modifiers": fields.get("M")}
        )
    return ports or [{"name": None, "port": 25, "address": None, "modifiers": None}]


def mta_ports(cf: CfOptions) -> list[int]:
    """Ports that accept mail from the network: MSA (submission, M=E) entries are left out."""
    ports = [p["port"] for p in daemon_ports(cf) if p["port"] is not None and "E" not in (p["modifiers"] or "")]
    return sorted(set(ports)) or [25]


@dataclass
class Identity:
    version: str | None = None
    compile_options: list[str] = field(default_factory=list)
    macros: dict[str, str] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)

    @property
    def hostname(self) -> str | None:
        return self.macros.get("j")

    def to_dict(self) -> dict:
        data = asdict(self)
        data["hostname"] = self.hostname
        return data


_MACRO = re.compile(r"^\s*\(([^)]*)\)\s*\$(\w|\{\w+\})\s*=\s*(.*)$")
_LINE_COMPLAINT = re.compile(r"line (\d+): (.*)")


def parse_d01(stdout: bytes, stderr: bytes = b"") -> Identity:
    """``sendmail -d0.1 -bt < /dev/null``: version, compile options, identity macros ($w $j $m $k)."""
    ident = Identity()
    in_options = False
    for raw in stdout.splitlines():
        line = decode(raw)
        if line.startswith("Version "):
            parts = line.split(None, 1)
            if len(parts) == 2:  # "Version " and nothing: found by bench/fuzz.py (fixtures/fuzz/d01-0.bin)
                ident.version = clean(parts[1].strip(), 64)
            continue
        if line.strip().startswith("Compiled with:"):
            in_options = True
            ident.compile_options.extend(line.split(":", 1)[1].split())
            continue
        if in_options:
            if raw[:1] in (b"\t", b" ") and line.strip() and not line.strip().startswith("("):
                ident.compile_options.extend(line.split())
                continue
            in_options = False
        match = _MACRO.match(line)
        if match:
            ident.macros[match.group(2).strip("{}")] = clean(match.group(3).strip(), 256)
    for raw in stderr.splitlines():
        if _LINE_COMPLAINT.search(decode(raw)) or b"SYSERR" in raw:
            ident.errors.append(clean(raw, 512))
    return ident


def parse_check(rc: int | None, stdout: bytes, stderr: bytes) -> dict:
    """The verdict of ``sendmail -bC`` (or of the -bt fallback): ok, rc, and the complaints."""
    complaints = []
    for raw in (stderr + b"\n" + stdout).splitlines():
        text = decode(raw).strip()
        if not text:
            continue
        match = _LINE_COMPLAINT.search(text)
        if match or "SYSERR" in text or "can not" in text or "cannot" in text:
            complaints.append(
                {
                    "line": int(match.group(1)) if match else None,
                    "message": clean(match.group(2) if match else text, 512),
                }
            )
    return {"ok": rc == 0 and not complaints, "rc": rc, "errors": complaints}
