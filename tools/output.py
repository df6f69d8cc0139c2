"""How `tessera` commands print: tables, sizes, durations and times for a person, and
indented JSON for a program (--json).

Every command in tools/ prints through these, so `tessera admin`, `credential`, `cluster`
and `bench` line up their columns and write a number the same way. Everything here is a
pure function over values except `show`, which prints. It imports nothing from tools/:
the commands import it, never the other way round.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime
from typing import Any, NamedTuple, TypeVar

T = TypeVar("T")


def table(
    headers: Sequence[str],
    rows: Iterable[Sequence[Any]],
    right: Iterable[int] = (),
    indent: str = "  ",
) -> str:
    """Columns two spaces apart after `indent`; columns in `right` aligned right, the
    others left; None shows as '-'. Lines carry no trailing spaces."""
    cells = [list(headers)] + [["-" if c is None else str(c) for c in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    align = set(right)
    lines = []
    for row in cells:
        parts = [
            c.rjust(w) if i in align else c.ljust(w)
            for i, (c, w) in enumerate(zip(row, widths, strict=True))
        ]
        lines.append((indent + "  ".join(parts)).rstrip())
    return "\n".join(lines)


class Column(NamedTuple):
    """A column of `column_table`: its header, its cell for one item, whether it is aligned
    right, and whether the brief table (detailed=False) shows it too."""

    header: str
    cell: Callable[[Any], Any]
    right: bool = False
    brief: bool = True


def column_table(columns: Sequence[Column], items: Iterable[Any], detailed: bool = True) -> str:
    """A `table` of one row per item; without `detailed`, only the brief columns."""
    shown = [c for c in columns if detailed or c.brief]
    return table(
        [c.header for c in shown],
        [[c.cell(item) for c in shown] for item in items],
        right=[i for i, c in enumerate(shown) if c.right],
    )


def format_bytes(n: int | None) -> str:
    """A measured amount, three digits at most: 1536 -> '1.5 KiB'; None -> '-'."""
    if n is None:
        return "-"
    for unit, scale in (("TiB", 1024**4), ("GiB", 1024**3), ("MiB", 1024**2), ("KiB", 1024)):
        if n >= scale:
            value = n / scale
            return f"{value:.0f} {unit}" if value >= 100 else f"{value:.1f} {unit}"
    return f"{n} B"


def format_size(n: int) -> str:
    """A size someone chose, exact when it is whole: 64 MiB, 4 KiB, 1.5 GiB, 100 B."""
    for unit, scale in (("GiB", 1024**3), ("MiB", 1024**2), ("KiB", 1024)):
        if n >= scale:
            value = n / scale
            return f"{value:.0f} {unit}" if value == int(value) else f"{value:.1f} {unit}"
    return f"{n} B"


def format_duration(seconds: float | None) -> str:
    """59 -> '59s', 3720 -> '1h 2m', 200000 -> '2d 7h'; None -> '-'."""
    if seconds is None:
        return "-"
    s = int(seconds)
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m {s % 60}s"
    if s < 86400:
        return f"{s // 3600}h {s % 3600 // 60}m"
    return f"{s // 86400}d {s % 86400 // 3600}h"


def format_count(value: int | None) -> str:
    """1234 -> '1,234'; None -> '-'."""
    return "-" if value is None else f"{value:,}"


def iso(when: Any) -> str | None:
    """Epoch seconds as 2024-06-01T12:00:00Z; None for anything else."""
    if not isinstance(when, int | float) or isinstance(when, bool) or when <= 0:
        return None
    return datetime.fromtimestamp(when, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def json_text(data: Any) -> str:
    """What --json prints: the data as JSON indented by two."""
    return json.dumps(data, indent=2)


def show(data: T, render: Callable[[T], str], as_json: bool) -> None:
    """Print data for a program (--json) or, rendered, for a person."""
    print(json_text(data) if as_json else render(data))
