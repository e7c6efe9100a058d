# Copyright: (c) 2026, opsiface.sendmail developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Turning untrusted bytes (queue files, logs, command output) into safe text.

Two shapes, both always valid UTF-8 JSON material, invalid UTF-8 escaped (``\\x81``), never dropped,
and long values cut with a marker saying how much was cut:

- :func:`clean` is for one-line values (a title, a reason, a log line, a path): control characters,
  CR and LF included, become visible escapes, so a value can never start a line of its own in a
  report or a terminal.
- :func:`clean_lines` is for output that has lines (a delivery transcript, a command's stdout, a
  tracer's stderr): a list of lines, like Ansible's ``stdout_lines``, each cleaned as above but for
  the line breaks, which it splits on instead of escaping. :func:`clean_text` joins them with real
  newlines. Escaping for a format (HTML, Markdown) happens where that format is written, once.
"""

from __future__ import annotations

import re

_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")
_BREAK = re.compile(r"\r\n|\r|\n")
DEFAULT_LIMIT = 2048


def _escape_control(match: re.Match[str]) -> str:
    char = match.group(0)
    return {"\r": "\\r", "\n": "\\n"}.get(char, f"\\x{ord(char):02x}")


def _bounded(value: bytes | str, limit: int) -> tuple[str, str]:
    """*value* as text of at most *limit* characters, and the marker saying what was cut ("" when nothing)."""
    if isinstance(value, bytes):
        cut = len(value) - limit * 4 if len(value) > limit * 4 else 0
        text = value[: limit * 4].decode("utf-8", "backslashreplace")
    else:
        cut = 0
        text = value.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    if len(text) > limit:
        return text[:limit], f"...[{len(text) - limit + cut} more]"
    return text, f"...[{cut} more bytes]" if cut else ""


def clean(value: bytes | str | None, limit: int = DEFAULT_LIMIT) -> str:
    """Return *value* as one line of printable, valid UTF-8 text of at most about *limit* characters."""
    if value is None:
        return ""
    text, marker = _bounded(value, limit)
    return _CONTROL.sub(_escape_control, text) + marker


def clean_lines(value: bytes | str | None, limit: int = DEFAULT_LIMIT) -> list[str]:
    """*value* (output with lines) as a list of cleaned lines, at most about *limit* characters in all.

    CRLF, CR and LF end a line; other control characters are escaped as :func:`clean` does. A final
    line break ends the last line (it does not add an empty one), as ``str.splitlines`` does."""
    if value is None:
        return []
    text, marker = _bounded(value, limit)
    lines = _BREAK.split(text)
    if lines and lines[-1] == "" and not marker:
        lines.pop()
    if marker:
        lines[-1] += marker
    return [_CONTROL.sub(_escape_control, line) for line in lines]


def clean_text(value: bytes | str | None, limit: int = DEFAULT_LIMIT) -> str:
    """:func:`clean_lines` joined with real newlines: multi-line output as one string."""
    return "\n".join(clean_lines(value, limit))


def decode(value: bytes) -> str:
    """Decode bytes for parsing: UTF-8 where valid, invalid bytes kept as ``\\xNN`` escapes."""
    return value.decode("utf-8", "backslashreplace")
