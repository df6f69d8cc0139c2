"""Range header parsing (RFC 7233 as S3 applies it)."""

from __future__ import annotations

import pytest

from gateway.s3.ranges import content_range, parse_range


@pytest.mark.parametrize(
    ("header", "size", "expected"),
    [
        (None, 10, None),
        ("bytes=0-0", 10, (0, 0)),
        ("bytes=0-9", 10, (0, 9)),
        ("bytes=2-5", 10, (2, 5)),
        ("bytes=5-100", 10, (5, 9)),  # end clamped
        ("bytes=9-9", 10, (9, 9)),
        ("bytes=3-", 10, (3, 9)),
        ("bytes=0-", 10, (0, 9)),
        ("bytes=-1", 10, (9, 9)),
        ("bytes=-4", 10, (6, 9)),
        ("bytes=-10", 10, (0, 9)),
        ("bytes=-1000", 10, (0, 9)),  # suffix longer than the object: whole object
        ("BYTES=1-2", 10, (1, 2)),  # the unit is case-insensitive
        (" bytes = 1 - 2 ", 10, (1, 2)),
        ("bytes=007-008", 10, (7, 8)),
        (f"bytes=0-{10**30}", 10, (0, 9)),
        # Ignored: whole object.
        ("bytes=0-1,3-4", 10, None),  # multiple ranges
        ("bytes=0-1, 3-4", 10, None),
        ("bytes=5-2", 10, None),  # last < first is invalid syntax
        ("bytes=-", 10, None),
        ("bytes=", 10, None),
        ("bytes=a-b", 10, None),
        ("bytes=1-2-3", 10, None),
        ("bytes=--1", 10, None),
        ("bytes=+1-2", 10, None),
        ("bytes=1.5-2", 10, None),
        ("items=0-1", 10, None),
        ("0-1", 10, None),
        ("", 10, None),
        ("bytes=\u0661-\u0662", 10, None),  # Arabic-Indic digits are not DIGIT
        ("bytes=5-2", 0, None),
    ],
)
def test_parse_range(header, size, expected):
    assert parse_range(header, size) == expected


@pytest.mark.parametrize(
    ("header", "size"),
    [
        ("bytes=10-", 10),
        ("bytes=10-20", 10),
        ("bytes=100-200", 10),
        ("bytes=0-", 0),
        ("bytes=0-0", 0),
        ("bytes=-5", 0),
        ("bytes=-0", 10),  # an empty suffix selects nothing
    ],
)
def test_unsatisfiable(header, size):
    from gateway.s3.errors import S3Error

    with pytest.raises(S3Error) as exc:
        parse_range(header, size)
    err = exc.value
    assert err.code == "InvalidRange"
    assert err.status == 416
    assert err.extra == {"RangeRequested": header, "ActualObjectSize": str(size)}
    assert err.headers == {"Content-Range": f"bytes */{size}"}


def test_content_range():
    assert content_range(0, 0, 1) == "bytes 0-0/1"
    assert content_range(6, 9, 10) == "bytes 6-9/10"
