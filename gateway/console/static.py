"""The console's page and its files, read from gateway/console/static/ (no build step)."""

from __future__ import annotations

import hashlib
from pathlib import Path

import trio

from gateway.s3.request import Reply

ROOT = Path(__file__).resolve().parent / "static"
TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".ico": "image/x-icon",
    ".woff2": "font/woff2",
    ".map": "application/json",
    ".txt": "text/plain; charset=utf-8",
}
# The page runs only its own scripts and talks only to its own gateway.
PAGE_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; img-src 'self' data: blob:; style-src 'self' 'unsafe-inline'; "
        "object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
}
_LIMITER = trio.CapacityLimiter(4)


def resolve(name: str) -> Path | None:
    """The file a /console/static/<name> path names, never one outside ROOT."""
    if not name or "\\" in name or "\0" in name:
        return None
    path = (ROOT / name).resolve()
    if ROOT not in path.parents or path.suffix not in TYPES:
        return None
    return path


async def file_reply(path: Path | None, headers: dict[str, str], method: str) -> Reply:
    """The file (200, or 304 when the browser's copy is current), 404 when there is none.
    Files are small and read at each request, so a changed file shows at the next reload."""
    if path is None:
        return Reply(404, {"Content-Type": "text/plain"}, b"not found\n")
    try:
        data = await trio.to_thread.run_sync(path.read_bytes, limiter=_LIMITER)
    except OSError:
        return Reply(404, {"Content-Type": "text/plain"}, b"not found\n")
    etag = '"' + hashlib.sha256(data).hexdigest()[:32] + '"'
    out = {**PAGE_HEADERS, "ETag": etag, "Cache-Control": "no-cache"}
    if headers.get("if-none-match") == etag:
        return Reply(304, out, b"")
    out["Content-Type"] = TYPES[path.suffix]
    out["Content-Length"] = str(len(data))
    return Reply(200, out, b"" if method == "HEAD" else data)
