"""What a gateway answers under /console: the page, its JSON API, and S3 for the page.

- ``/console``, ``/console/static/*``: the page and its files (static.py).
- ``/console/api/*``: JSON for the page (api.py), signed in by a session cookie (session.py).
- ``/console/s3/*``: the S3 API itself, path-style, signed in by that cookie instead of a
  signature and then routed, authorized and handled exactly like any S3 request, so the
  page can do nothing its key could not do with an S3 client.

A request with S3 credentials (a signature header or query, a POST form upload) is S3,
never the console, so a bucket named "console" stays reachable by every signed S3 client;
only anonymous path-style requests to such a bucket are the console's. The console shares
its origin with plain S3, hence `user_content_headers` for objects served beside it.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping

from gateway.console import api, session, static
from gateway.http.connection import HttpRequest
from gateway.s3 import router
from gateway.s3.auth import STREAMING_UNSIGNED_TRAILER, UNSIGNED_PAYLOAD, AuthResult
from gateway.s3.errors import S3Error
from gateway.s3.request import Reply
from gateway.state import Gateway

PREFIX = "/console"
S3_PREFIX = "/console/s3"
# What a user's object served to the console's origin may do: nothing (no script runs in
# the console's origin, so an uploaded HTML file cannot act as the signed-in user).
SANDBOX = "sandbox; default-src 'none'"
S3_HEADERS = {"Content-Security-Policy": SANDBOX}
# Media types a browser shows without running anything in the page's origin.
_PASSIVE_TYPES = frozenset(
    {
        "application/octet-stream",
        "binary/octet-stream",
        "application/pdf",
        "application/json",
        "application/zip",
        "application/gzip",
        "text/plain",
        "text/csv",
        "image/png",
        "image/jpeg",
        "image/gif",
        "image/webp",
        "image/avif",
    }
)
_S3_SIGNATURE_PARAMS = ("X-Amz-Signature=", "Signature=", "X-Amz-Credential=", "AWSAccessKeyId=")


# The two answers of user_content_headers, made once: it runs for every GET and HEAD.
_PASSIVE_HEADERS = {"X-Content-Type-Options": "nosniff"}
_SANDBOXED_HEADERS = {**_PASSIVE_HEADERS, "Content-Security-Policy": SANDBOX}


def user_content_headers(content_type: str) -> Mapping[str, str]:
    """Headers for an object served by plain S3 on a gateway that serves the console: it
    shares the console's origin, so a page of the user's (HTML, SVG, XML) opened from a
    presigned link or a public bucket would otherwise run script with the console's
    cookie. Such types are sandboxed (an opaque origin, no script); images, PDFs, text,
    audio, video and the like are left to display as usual, never sniffed into HTML."""
    media = content_type.split(";", 1)[0].strip().lower()
    if media in _PASSIVE_TYPES or media.startswith(("audio/", "video/")):
        return _PASSIVE_HEADERS
    return _SANDBOXED_HEADERS


def claims(gateway: Gateway, http: HttpRequest) -> bool:
    """Whether the console answers this request rather than S3."""
    path = http.raw_path
    if path != PREFIX and not path.startswith(PREFIX + "/"):
        return False
    if "authorization" in http.headers or any(p in http.raw_query for p in _S3_SIGNATURE_PARAMS):
        return False
    if http.method == "POST" and http.headers.get("content-type", "").startswith(
        "multipart/form-data"
    ):
        return False  # a browser form upload (PostObject) signs in its body
    host = router.request_host(http.headers, trust_proxy=gateway.trust_proxy)
    return router.bucket_from_host(host, gateway.domains) is None


def is_s3(path: str) -> bool:
    return path == S3_PREFIX or path.startswith(S3_PREFIX + "/")


def s3_request(http: HttpRequest) -> HttpRequest:
    """The S3 request a /console/s3/... request carries."""
    return HttpRequest(
        http.method, http.raw_path[len(S3_PREFIX) :] or "/", http.raw_query, http.headers, http.body
    )


def s3_signer(gateway: Gateway, http: HttpRequest) -> Callable[[], AuthResult]:
    """What stands in for signature checking of a /console/s3 request: the session's key,
    with the CSRF token on anything that changes state (S3 AccessDenied otherwise)."""

    def signed_in() -> AuthResult:
        found = api.signed_in(gateway, http.headers, time.time())
        if found is None:
            raise S3Error("AccessDenied", "Sign in to the console first.")
        if http.method not in api.SAFE_METHODS and not session.csrf_ok(
            found.session, http.headers.get(session.CSRF_HEADER)
        ):
            raise S3Error("AccessDenied", "Missing or wrong X-Tessera-CSRF header.")
        claimed = http.headers.get("x-amz-content-sha256", UNSIGNED_PAYLOAD)
        if claimed.startswith("STREAMING-") and claimed != STREAMING_UNSIGNED_TRAILER:
            raise S3Error(
                "InvalidRequest", "A signed aws-chunked body needs a signature: send it plain."
            )
        return api.session_auth(found.session.access_key, claimed)

    return signed_in


def error_reply(status: int, code: str, message: str) -> Reply:
    """A console failure the API did not answer itself, as the API's JSON errors."""
    return api.json_reply(status, {"error": code, "message": message})


async def answer(gateway: Gateway, http: HttpRequest, request_id: str) -> tuple[str, str, Reply]:
    """(operation name for logs and metrics, signed-in access key or "-", reply) of a
    console page or API request."""
    path = http.raw_path
    if path.startswith(api.PREFIX):
        return await api.answer(gateway, http, request_id)
    operation, reply = await _page(http)
    return operation, "-", reply


async def _page(http: HttpRequest) -> tuple[str, Reply]:
    path = http.raw_path
    if http.method not in ("GET", "HEAD"):
        return "ConsolePage", Reply(405, {"Allow": "GET, HEAD"}, b"")
    if path in (PREFIX, PREFIX + "/"):
        return "ConsolePage", await static.file_reply(
            static.ROOT / "index.html", http.headers, http.method
        )
    if path.startswith(PREFIX + "/static/"):
        name = path[len(PREFIX + "/static/") :]
        return "ConsolePage", await static.file_reply(
            static.resolve(name), http.headers, http.method
        )
    return "ConsolePage", Reply(404, {"Content-Type": "text/plain"}, b"not found\n")
