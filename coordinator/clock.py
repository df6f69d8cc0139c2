"""Hybrid logical clock timestamps for last-writer-wins ordering.

A timestamp is (wall-clock milliseconds << 16) | counter: it follows real
time, never goes backwards in one process, and orders writes made in the same
millisecond. A clock that observed a later timestamp from elsewhere (a storage
node's reply) stays past it, so a host whose wall clock is behind still stamps
its next write after everything it has seen.
"""

from __future__ import annotations

import os
import threading
import time

_LOGICAL_BITS = 16

# Test-only: seconds added to this process's wall clock, to show that a host with a
# wrong clock cannot make an older write win (tests/integration/test_clock_skew.py).
SKEW_ENV = "TESSERA_CLOCK_SKEW"


class HybridClock:
    def __init__(self, skew: float = 0.0) -> None:
        self._last = 0
        self._skew = skew
        self._lock = threading.Lock()

    @classmethod
    def from_env(cls) -> HybridClock:
        """This process's clock, with the test-only skew of TESSERA_CLOCK_SKEW."""
        return cls(float(os.environ.get(SKEW_ENV) or 0.0))

    def now(self) -> int:
        """A timestamp larger than every one this clock returned or observed before."""
        physical = int((time.time() + self._skew) * 1000) << _LOGICAL_BITS
        with self._lock:
            self._last = max(physical, self._last + 1)
            return self._last

    def observe(self, timestamp: int) -> None:
        """Move past a timestamp seen from another process: now() returns more."""
        with self._lock:
            self._last = max(self._last, timestamp)


def to_seconds(timestamp: int) -> float:
    """Wall-clock seconds of a timestamp."""
    return (timestamp >> _LOGICAL_BITS) / 1000.0
