"""The S3 HTTP front: what a gateway answers to each HTTP request.

Every request reads top to bottom: route → authenticate → handler → reply.
S3 errors become XML error bodies; nothing else escapes as a stack trace.
"""

from __future__ import annotations

import json
import logging
import secrets
import time
from collections.abc import Callable
from datetime import UTC, datetime
from urllib.parse import unquote

from gateway.cluster.store import StoreUnavailable
from gateway.console import routes as console
from gateway.http.connection import App, HttpRequest, RequestBody, note_request
from gateway.metrics import CONTENT_TYPE as METRICS_CONTENT_TYPE
from gateway.metrics import METRICS
from gateway.s3 import acl, router
from gateway.s3.auth import AuthError, AuthResult, RequestView, authenticate
from gateway.s3.errors import S3Error, error_xml
from gateway.s3.handlers import HANDLERS
from gateway.s3.handlers.access import authorize
from gateway.s3.handlers.bucket_config import cors_response_headers
from gateway.s3.request import Reply, RequestContext
from gateway.state import Gateway

log = logging.getLogger("tessera.gateway")

# Operations that may arrive unsigned: a POST form carries its signature in
# the form, and what an ACL can grant AllUsers needs none (authorize and the
# handlers check the grants; see gateway/s3/acl.py).
ANONYMOUS_OPERATIONS = frozenset({"PostObject"}) | acl.GRANTABLE_OPERATIONS


def _query(raw_query: str) -> dict[str, str]:
    """Decoded query parameters; the first value wins for repeated names."""
    params: dict[str, str] = {}
    for part in raw_query.split("&"):
        if not part:
            continue
        name, _, value = part.partition("=")
        params.setdefault(unquote(name), unquote(value))
    return params


# An unread request body this small is drained so the connection can be
# reused; a larger one closes the connection instead of being received.
DRAIN_LIMIT = 1 << 20


async def settle(body: RequestBody, headers: dict[str, str]) -> bool:
    """Drain what the handler left unread; False if the connection must close (also when
    the client went away while we drained)."""
    if body.finished:
        return True
    if not body.started:  # Expect: 100-continue and never asked for: no body will come
        return False
    length = headers.get("content-length", "")
    if not length.isdigit() or int(length) > DRAIN_LIMIT:
        return False
    try:
        async for _ in body:
            pass
    except Exception:
        return False
    return True


# Where any gateway lists every live gateway (JSON), for client-side balancing. A bucket
# name cannot start with a dot, so no bucket hides behind it.
GATEWAYS_PATH = "/.well-known/tessera/gateways"
# Answered without credentials (and without a query: a presigned request to a bucket
# named like a probe is S3).
_PROBES = frozenset({"/healthz", "/readyz", "/metrics", GATEWAYS_PATH})


# Answers that carry an object's own bytes (and type): what a browser may open as a page.
_OBJECT_READS = frozenset({"GetObject", "HeadObject"})


def create_app(gateway: Gateway) -> App:
    """The app the HTTP server calls for every request of one gateway."""

    async def serve(http: HttpRequest) -> Reply:
        if (
            gateway.console_enabled
            and http.raw_path.startswith(console.PREFIX)
            and console.claims(gateway, http)
        ):
            return await serve_console(gateway, http)
        return await serve_s3(gateway, http)

    return serve


async def serve_console(gateway: Gateway, http: HttpRequest) -> Reply:
    """Answer a request of the web console: S3 signed in by its session cookie, or the
    console's page and JSON API (gateway/console/)."""
    # No CORS preflight is answered for /console/s3: only the console's own page uses it.
    if console.is_s3(http.raw_path) and http.method != "OPTIONS":
        signed_in = console.s3_signer(gateway, http)
        reply = await serve_s3(gateway, console.s3_request(http), signed_in=signed_in)
        reply.headers.update(console.S3_HEADERS)
        return reply
    started = time.perf_counter()
    request_id = secrets.token_hex(8).upper()
    note_request(request_id)
    access_key = "-"
    try:
        operation, access_key, reply = await console.answer(gateway, http, request_id)
    except Exception as exc:
        err = _as_s3_error(exc, request_id, "Console")
        operation = "Console"
        reply = console.error_reply(err.status, err.code, err.message)
    if not await settle(http.body, http.headers):
        reply.headers["Connection"] = "close"
    return _logged(reply, request_id, operation, http.method, http.raw_path, 0, access_key, started)


def _final(reply: Reply, request_id: str) -> Reply:
    """reply with the headers every answer carries. Content-Length is ours to set: a
    HEAD reply has an empty body but the object's length."""
    headers = {
        "x-amz-request-id": request_id,
        "x-amz-id-2": request_id,
        "Server": "Tessera",
        **reply.headers,
    }
    if "Content-Length" not in reply.headers and isinstance(reply.body, bytes):
        headers["Content-Length"] = str(len(reply.body))
    return Reply(reply.status, headers, reply.body)


def _error_reply(err: S3Error, request_id: str, resource: str, method: str) -> Reply:
    err.resource = err.resource or resource
    headers = dict(err.headers)
    if err.status == 304 or method == "HEAD":
        return Reply(err.status, headers, b"")
    headers["Content-Type"] = "application/xml"
    return Reply(err.status, headers, error_xml(err, request_id))


def _render_metrics(gateway: Gateway) -> bytes:
    nodes = gateway.directory.nodes()
    live = sum(gateway.directory.is_live(n.node_id) for n in nodes)
    return METRICS.render(time.time() - gateway.started, live, len(nodes) - live)


def _as_s3_error(exc: BaseException, request_id: str, operation: str) -> S3Error:
    """The S3 error a failed request answers with; unexpected ones are logged."""
    failure = exc
    while isinstance(failure, BaseExceptionGroup):  # raised inside a nursery: the first
        failure = failure.exceptions[0]
    if isinstance(failure, S3Error):
        return failure
    if isinstance(failure, StoreUnavailable):
        log.warning("store unavailable request_id=%s op=%s: %s", request_id, operation, failure)
        return S3Error("ServiceUnavailable", str(failure))
    log.error("internal error request_id=%s op=%s", request_id, operation, exc_info=exc)
    return S3Error("InternalError")


async def serve_s3(
    gateway: Gateway, http: HttpRequest, signed_in: Callable[[], AuthResult] | None = None
) -> Reply:
    """Answer one HTTP request: route → authenticate → authorize → handler → reply.
    `signed_in` authenticates in place of a signature (the console's session)."""
    started = time.perf_counter()
    request_id = secrets.token_hex(8).upper()
    note_request(request_id)
    method, raw_path, raw_query = http.method, http.raw_path, http.raw_query
    operation, access_key = "-", "-"
    bucket: str | None = None
    ctx: RequestContext | None = None
    headers = http.headers
    try:
        # Addressing and SigV4 both use the host the client saw (a trusted proxy's
        # X-Forwarded-Host; X-Forwarded-Proto changes nothing: our Locations are relative).
        host = router.request_host(headers, trust_proxy=gateway.trust_proxy)
        if host:
            headers["host"] = host
        host_bucket = router.bucket_from_host(host, gateway.domains)
        if (
            method == "GET"
            and raw_path in _PROBES
            and "authorization" not in headers
            and not raw_query  # a presigned request to a bucket of that name
            and host_bucket is None
            and signed_in is None
        ):
            if raw_path == "/metrics":
                body = _render_metrics(gateway)
                return _final(Reply(200, {"Content-Type": METRICS_CONTENT_TYPE}, body), request_id)
            if raw_path == GATEWAYS_PATH:
                body = json.dumps({"gateways": gateway.gateway_list()}, indent=1).encode()
                return _final(Reply(200, {"Content-Type": "application/json"}, body), request_id)
            ok = raw_path == "/healthz" or gateway.ready()
            return _final(
                Reply(200 if ok else 503, {}, b"ok\n" if ok else b"not ready\n"), request_id
            )
        query = _query(raw_query)
        bucket, key = router.split_host_and_path(host, raw_path, gateway.domains)
        route = router.route(method, bucket, key, query, headers)
        operation = route.operation
        view = RequestView(
            method=method,
            raw_path=raw_path,
            raw_query=raw_query,
            headers=headers,
            bucket_from_host=host_bucket,
        )
        auth = None
        if operation != router.PREFLIGHT:  # a browser's CORS preflight carries no credentials
            try:
                if signed_in is not None:
                    auth = signed_in()
                else:
                    auth = authenticate(view, gateway.lookup_secrets, datetime.now(UTC))
            except AuthError as exc:
                raise S3Error(exc.code, exc.message, status=exc.status) from exc
            if auth is not None:
                gateway.note_use(auth.access_key, auth.secret_index)
            if auth is None and operation not in ANONYMOUS_OPERATIONS:
                raise S3Error("AccessDenied")
            access_key = auth.access_key if auth else "-"
        if operation == router.METHOD_NOT_ALLOWED:
            raise S3Error(
                "MethodNotAllowed",
                extra={"Method": method, "ResourceType": "OBJECT" if key else "BUCKET"},
            )
        handler = HANDLERS.get(operation)
        if handler is None:
            feature = router.out_of_scope(operation)
            raise S3Error(
                "NotImplemented",
                f"{operation} is not implemented by Tessera"
                + (f": {feature} is out of its scope" if feature else ""),
            )
        ctx = RequestContext(
            gateway=gateway,
            request_id=request_id,
            operation=operation,
            method=method,
            bucket=route.bucket,
            key=route.key,
            query=query,
            headers=headers,
            auth=auth,
            wire_body=http.body.__aiter__(),
        )
        await authorize(ctx)
        reply = await handler(ctx)
        if gateway.console_enabled and operation in _OBJECT_READS:
            reply.headers.update(
                console.user_content_headers(reply.headers.get("Content-Type", ""))
            )
    except (Exception, BaseExceptionGroup) as exc:
        err = _as_s3_error(exc, request_id, operation)
        reply = _error_reply(err, request_id, raw_path, method)
    # A console request is authenticated by a cookie: a bucket's CORS rules must not let
    # another origin read its answers with the user's cookie.
    if operation != router.PREFLIGHT and "origin" in headers and signed_in is None:
        reply.headers.update(cors_response_headers(gateway, bucket, method, headers))
    if not await settle(http.body, headers):
        reply.headers["Connection"] = "close"
    bytes_in = ctx.bytes_in if ctx else 0
    return _logged(reply, request_id, operation, method, raw_path, bytes_in, access_key, started)


def _logged(
    reply: Reply,
    request_id: str,
    operation: str,
    method: str,
    path: str,
    bytes_in: int,
    access_key: str,
    started: float,
) -> Reply:
    """The final reply, logged and counted."""
    log.info(
        "request request_id=%s op=%s method=%s path=%s status=%d bytes_in=%d access_key=%s ms=%.1f",
        request_id,
        operation,
        method,
        path,
        reply.status,
        bytes_in,
        access_key,
        (time.perf_counter() - started) * 1000,
    )
    reply = _final(reply, request_id)
    length = str(reply.headers.get("Content-Length", ""))
    sent = int(length) if length.isdigit() and method != "HEAD" else 0
    METRICS.record_request(operation, reply.status, time.perf_counter() - started, bytes_in, sent)
    return reply
