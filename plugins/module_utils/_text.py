# Copyright: (c) 2026, opsiface.sendmail developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Turning untrusted bytes (queue files, logs, command output) into safe text.

Everything the collection reports passes through :func:`clean`: invalid UTF-8
is escaped (``\\x81``), never dropped; control characters, CR and LF become
visible escapes; long values are cut with a marker saying how much was cut.
The result is always valid UTF-8 JSON material.
"""

from __future__ import annotations

import re

_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")
DEFAULT_LIMIT = 2048


def _escape_control(match: re.Match[str]) -> str:
    char = match.group(0)
    return {"\r": "\\r", "\n": "\\n"}.get(char, f"\\x{ord(char):02x}")


def clean(value: bytes | str | None, limit: int = DEFAULT_LIMIT) -> str:
    """Return *value* as printable, valid UTF-8 text of at most about *limit* characters."""
    if value is None:
        return ""
    if isinstance(value, bytes):
        cut = len(value) - limit * 4 if len(value) > limit * 4 else 0
        text = value[: limit * 4].decode("utf-8", "backslashreplace")
    else:
        cut = 0
        text = value.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    text = _CONTROL.sub(_escape_control, text)
    if len(text) > limit:
        extra = len(text) - limit
        return f"{text[:limit]}...[{extra + cut} more]"
    if cut:
        return f"{text}...[{cut} more bytes]"
    return text


def decode(value: bytes) -> str:
    """Decode bytes for parsing: UTF-8 where valid, invalid bytes kept as ``\\xNN`` escapes."""
    return value.decode("utf-8", "backslashreplace")
