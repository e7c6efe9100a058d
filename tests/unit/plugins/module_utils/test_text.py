from __future__ import annotations

import json

import pytest
from ansible_collections.opsiface.sendmail.plugins.module_utils._text import clean, clean_lines, clean_text


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


@pytest.mark.parametrize(
    "value,expected",
    [
        (b"220 mx01\r\n250 ok\r\n", ["220 mx01", "250 ok"]),
        (b"a\nb\rc\r\nd", ["a", "b", "c", "d"]),
        (b"one line", ["one line"]),
        (b"", []),
        (None, []),
        (b"blank\n\nbetween\n", ["blank", "", "between"]),
        (b"esc \x1b[31mred\x00 \x81", ["esc \\x1b[31mred\\x00 \\x81"]),
        ("tab\tkept\n", ["tab\tkept"]),
    ],
    ids=["crlf", "mixed-breaks", "single", "empty", "none", "blank-line", "controls-escaped", "tab"],
)
def test_clean_lines_splits_on_line_breaks_and_escapes_the_rest(value, expected):
    assert clean_lines(value) == expected


def test_clean_text_keeps_real_newlines_and_no_literal_escape():
    out = clean_text(b"Running 6ARAuis9000145\nConnecting to [127.0.0.2] via relay...\n")
    assert out == "Running 6ARAuis9000145\nConnecting to [127.0.0.2] via relay..."
    assert "\\n" not in out and clean(b"a\nb") == "a\\nb"  # one-line values still never break a line


def test_clean_lines_cut_says_so_on_the_last_line():
    lines = clean_lines(b"x\n" * 5000, limit=100)
    assert len(lines) == 51 and lines[-1].endswith("more]") and lines[0] == "x"
