"""Data values never style or control the terminal."""

from __future__ import annotations

from io import StringIO

import pytest
from rich.console import Console

from careops.cliutil import plain, rich_table, safe


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        ("[/bold]", "[/bold]"),
        ("[link=http://evil.example]点我[/link]", "[link=http://evil.example]点我[/link]"),
        ("red\x1b[31mtext\x1b[0m", "redtext"),
        ("title\x1b]0;pwned\x07", "title"),
        ("a\x00b\x07c", "a\\x00b\\x07c"),
        ("abc\u202edcba", "abc\\u202edcba"),
        ("正常 中文 value", "正常 中文 value"),
        (None, ""),
    ],
)
def test_hostile_values_print_as_written(value, shown):
    buf = StringIO()
    console = Console(file=buf, width=200, color_system=None)
    console.print(rich_table("t", ["c"], [[value]]))
    printed = buf.getvalue()
    if shown:
        assert shown in printed
    assert "\x1b" not in printed and "\x00" not in printed


def test_safe_is_plain_plus_markup_escape():
    assert plain("[b]x\x1b[1m") == "[b]x"
    assert safe("[b]x") == "\\[b]x"
