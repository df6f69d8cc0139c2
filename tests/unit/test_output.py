"""tools/output.py: how every `tessera` command prints tables, sizes, durations and times,
and what --json prints."""

from __future__ import annotations

import json

import pytest

from tools import output

GiB = 1024**3


@pytest.mark.parametrize(
    ("n", "text"),
    [
        (None, "-"),
        (0, "0 B"),
        (1023, "1023 B"),
        (1536, "1.5 KiB"),
        (5 * 1024**2, "5.0 MiB"),
        (252 * GiB, "252 GiB"),
        (3 * 1024**4, "3.0 TiB"),
    ],
)
def test_format_bytes(n: int | None, text: str) -> None:
    assert output.format_bytes(n) == text


def test_format_size() -> None:
    assert output.format_size(64 * 1024**2) == "64 MiB"
    assert output.format_size(4096) == "4 KiB"
    assert output.format_size(1536) == "1.5 KiB"
    assert output.format_size(100) == "100 B"


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(None, "-"), (0.4, "0s"), (59, "59s"), (61, "1m 1s"), (3720, "1h 2m"), (200000, "2d 7h")],
)
def test_format_duration(seconds: float | None, text: str) -> None:
    assert output.format_duration(seconds) == text


def test_format_count_and_iso() -> None:
    assert output.format_count(1234567) == "1,234,567"
    assert output.format_count(None) == "-"
    assert output.iso(1700000000) == "2023-11-14T22:13:20Z"
    assert [output.iso(x) for x in (None, 0, -5, True, "1700000000")] == [None] * 5


def test_table_aligns_columns() -> None:
    text = output.table(["NAME", "COUNT"], [["a", 5], ["longer", 1234], ["n", None]], right=[1])
    assert text.splitlines() == [
        "  NAME    COUNT",
        "  a           5",
        "  longer   1234",
        "  n           -",
    ]


def test_table_without_indent_has_no_trailing_spaces() -> None:
    text = output.table(["KEY", "NOTE"], [["a", ""], ["bb", "x"]], indent="")
    assert text.splitlines() == ["KEY  NOTE", "a", "bb   x"]


def test_column_table_shows_the_brief_columns_unless_detailed() -> None:
    columns = [
        output.Column("NAME", lambda item: item["name"]),
        output.Column("NOTE", lambda item: item["note"], brief=False),
        output.Column("COUNT", lambda item: item["count"], right=True),
    ]
    items = [{"name": "a", "note": "first", "count": 5}, {"name": "bb", "count": 1234}]
    assert output.column_table(columns, items[:1]).splitlines() == [
        "  NAME  NOTE   COUNT",
        "  a     first      5",
    ]
    # The brief table never asks for a detailed cell (the second item has no note).
    assert output.column_table(columns, items, detailed=False).splitlines() == [
        "  NAME  COUNT",
        "  a         5",
        "  bb     1234",
    ]


def test_show_prints_json_or_the_rendering(capsys: pytest.CaptureFixture[str]) -> None:
    data = {"b": [1, 2], "a": None}
    output.show(data, lambda d: f"{len(d)} fields", as_json=False)
    assert capsys.readouterr().out == "2 fields\n"
    output.show(data, lambda d: f"{len(d)} fields", as_json=True)
    printed = capsys.readouterr().out
    assert printed == output.json_text(data) + "\n" and json.loads(printed) == data
    assert printed.startswith('{\n  "b": [\n    1,')  # indented by two, keys in order
