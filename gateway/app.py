"""The S3 HTTP front: a Quart-trio app with one catch-all route.

Every request reads top to bottom: route → authenticate → handler → reply.
S3 errors become XML error bodies; nothing else escapes as a stack trace.
"""

from __future__ import annotations

import logging
import secrets
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from urllib.parse import unquote

from quart import Response, request
from quart_trio import QuartTrio
from werkzeug.routing import BaseConverter

from gateway.cluster.store import StoreUnavailable
from gateway.connections import note_request
from gateway.flow import FlowConnection, FlowRequest
from gateway.metrics import CONTENT_TYPE as METRICS_CONTENT_TYPE
from gateway.metrics import METRICS
from gateway.s3 import acl, router
from gateway.s3.auth import AuthError, RequestView, authenticate
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

METHODS = ["GET", "HEAD", "PUT", "POST", "DELETE", "OPTIONS", "PATCH"]


class _AnyPath(BaseConverter):
    """Matches every path, including empty segments: S3 keys may contain '//'."""

    regex = ".*"
    part_isolating = False


def _headers() -> dict[str, str]:
    merged: dict[str, str] = {}
    for name, value in request.headers.items():
        name = name.lower()
        merged[name] = f"{merged[name]},{value}" if name in merged else value
    return merged


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


class WireBody:
    """The raw request body, remembering whether a handler read all of it."""

    def __init__(self) -> None:
        self.finished = False

    async def __aiter__(self) -> AsyncIterator[bytes]:
        async for chunk in request.body:
            yield chunk
        self.finished = True

    async def settle(self, headers: dict[str, str]) -> bool:
        """Drain what the handler left unread; False if the connection must close."""
        if (
            self.finished
            or headers.get("content-length", "0") == "0"
            and ("transfer-encoding" not in headers)
        ):
            return True
        # Expect: 100-continue changes nothing: Hypercorn answers 100 as soon as it has read
        # the request head, so the client is sending the body whatever we reply.
        length = headers.get("content-length", "")
        if not length.isdigit() or int(length) > DRAIN_LIMIT:
            return False
        async for _ in self:
            pass
        return True


def create_app(gateway: Gateway) -> QuartTrio:
    """The ASGI app serving S3 for one gateway."""
    app = QuartTrio(__name__)
    app.request_class = FlowRequest
    app.asgi_http_class = FlowConnection
    # An object store streams bodies of any size for as long as they take.
    app.config.update(MAX_CONTENT_LENGTH=None, BODY_TIMEOUT=None, RESPONSE_TIMEOUT=None)
    app.url_map.converters["anypath"] = _AnyPath
    app.url_map.merge_slashes = False
    app.url_map.strict_slashes = False

    async def handle(path: str = "") -> Response:
        return await serve_s3(gateway)

    app.add_url_rule(
        "/<anypath:path>",
        "s3",
        handle,
        methods=METHODS,
        provide_automatic_options=False,
        strict_slashes=False,
        merge_slashes=False,
    )
    return app


class S3Response(Response):
    # Content-Length is ours to set: a HEAD reply has an empty body but the
    # object's length.
    automatically_set_content_length = False
    default_mimetype = None


def _response(reply: Reply, request_id: str) -> Response:
    headers = {
        "x-amz-request-id": request_id,
        "x-amz-id-2": request_id,
        "Server": "Tessera",
        **reply.headers,
    }
    response = S3Response(reply.body, status=reply.status, headers=headers)
    if "Content-Length" not in reply.headers and isinstance(reply.body, bytes):
        response.headers["Content-Length"] = str(len(reply.body))
    return response


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


async def serve_s3(gateway: Gateway) -> Response:
    started = time.perf_counter()
    request_id = secrets.token_hex(8).upper()
    note_request(request_id)
    method = request.method
    raw_path = request.scope.get("raw_path", b"").decode("utf-8", "surrogateescape") or request.path
    raw_query = request.scope.get("query_string", b"").decode("utf-8", "surrogateescape")
    operation, access_key = "-", "-"
    bucket: str | None = None
    ctx: RequestContext | None = None
    wire_body = WireBody()
    headers: dict[str, str] = {}
    try:
        headers = _headers()
        # Addressing and SigV4 both use the host the client saw (a trusted proxy's
        # X-Forwarded-Host; X-Forwarded-Proto changes nothing: our Locations are relative).
        host = router.request_host(headers, trust_proxy=gateway.trust_proxy)
        if host:
            headers["host"] = host
        host_bucket = router.bucket_from_host(host, gateway.domains)
        if (
            method == "GET"
            and raw_path in ("/healthz", "/readyz", "/metrics")
            and "authorization" not in headers
            and not raw_query  # a presigned request to a bucket of that name
            and host_bucket is None
        ):
            if raw_path == "/metrics":
                body = _render_metrics(gateway)
                return _response(
                    Reply(200, {"Content-Type": METRICS_CONTENT_TYPE}, body), request_id
                )
            ok = raw_path == "/healthz" or gateway.ready()
            return _response(
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
                auth = authenticate(view, gateway.lookup_secrets, datetime.now(UTC))
            except AuthError as exc:
                raise S3Error(exc.code, exc.message) from exc
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
            raise S3Error("NotImplemented", f"{operation} is not implemented by Tessera")
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
            wire_body=wire_body.__aiter__(),
        )
        await authorize(ctx)
        reply = await handler(ctx)
    except (Exception, BaseExceptionGroup) as exc:
        err = _as_s3_error(exc, request_id, operation)
        reply = _error_reply(err, request_id, raw_path, method)
    if operation != router.PREFLIGHT and "origin" in headers:
        reply.headers.update(cors_response_headers(gateway, bucket, method, headers))
    try:
        if not await wire_body.settle(headers):
            reply.headers["Connection"] = "close"
    except Exception:  # the client went away while we drained
        reply.headers["Connection"] = "close"
    log.info(
        "request request_id=%s op=%s method=%s path=%s status=%d bytes_in=%d access_key=%s ms=%.1f",
        request_id,
        operation,
        method,
        raw_path,
        reply.status,
        ctx.bytes_in if ctx else 0,
        access_key,
        (time.perf_counter() - started) * 1000,
    )
    response = _response(reply, request_id)
    length = response.headers.get("Content-Length", "")
    sent = int(length) if length.isdigit() and method != "HEAD" else 0
    METRICS.record_request(
        operation, reply.status, time.perf_counter() - started, ctx.bytes_in if ctx else 0, sent
    )
    return response
