from __future__ import annotations

import json

import pytest
from ansible_collections.opsiface.sendmail.plugins.module_utils._text import clean


@pytest.mark.parametrize(
    "value,expected",
    [
        (b"plain", "plain"),
        (b"caf\xc3\xa9", "caf\u00e9"),
        (b"bad \x81 byte", "bad \\x81 byte"),
        (b"line\r\nbreak", "line\\r\\nbreak"),
        (b"nul\x00bell\x07", "nul\\x00bell\\x07"),
        (b"tab\tkept", "tab\tkept"),
        ("str \udc81 surrogate", "str \\x81 surrogate"),
        (None, ""),
    ],
    ids=["ascii", "utf8", "invalid-utf8", "crlf", "controls", "tab", "surrogateescape", "none"],
)
def test_clean_escapes_never_drops(value, expected):
    assert clean(value) == expected


def test_clean_cuts_long_values_and_says_so():
    out = clean(b"x" * 20000, limit=100)
    assert out.startswith("x" * 100) and out.endswith("more]")
    assert "19900" in out


def test_clean_output_is_valid_json_text():
    out = clean(bytes(range(256)))
    assert json.loads(json.dumps(out)) == out
    out.encode("utf-8")
