"""The supervisor's restart backoff: prompt at first, doubling while a daemon keeps dying."""

from __future__ import annotations

from tools.supervisor import BACKOFF_FIRST, BACKOFF_MAX, backoff


def test_backoff_doubles_up_to_a_cap() -> None:
    delays = [backoff(n) for n in range(1, 12)]
    assert delays[0] == BACKOFF_FIRST
    assert delays[1] == 2 * BACKOFF_FIRST
    assert all(b >= a for a, b in zip(delays, delays[1:], strict=False))
    assert delays[-1] == BACKOFF_MAX
    assert backoff(0) == BACKOFF_FIRST
