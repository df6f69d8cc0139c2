"""Hybrid logical clock timestamps for last-writer-wins ordering.

A timestamp is (wall-clock milliseconds << 16) | counter: it follows real
time, never goes backwards in one process, and orders writes made in the same
millisecond.
"""

from __future__ import annotations

import threading
import time

_LOGICAL_BITS = 16


class HybridClock:
    def __init__(self) -> None:
        self._last = 0
        self._lock = threading.Lock()

    def now(self) -> int:
        """A timestamp larger than every one this clock returned before."""
        physical = int(time.time() * 1000) << _LOGICAL_BITS
        with self._lock:
            self._last = max(physical, self._last + 1)
            return self._last

    def observe(self, timestamp: int) -> None:
        """Move past a timestamp seen from another process."""
        with self._lock:
            self._last = max(self._last, timestamp)


def to_seconds(timestamp: int) -> float:
    """Wall-clock seconds of a timestamp."""
    return (timestamp >> _LOGICAL_BITS) / 1000.0
