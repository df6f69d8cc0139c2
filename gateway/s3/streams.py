"""Small helpers for async byte streams moved between storage nodes."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any


async def hashed(stream: AsyncIterator[bytes], digest: Any) -> AsyncIterator[bytes]:
    """Pass stream through, feeding every chunk to digest (e.g. hashlib.md5())."""
    async for chunk in stream:
        digest.update(chunk)
        yield chunk


async def empty() -> AsyncIterator[bytes]:
    """A stream of no bytes (copying an empty object)."""
    return
    yield b""
