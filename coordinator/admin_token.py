"""The admin token: one per cluster, guarding every process's Admin gRPC service.

The token is derived from the cluster key, so gateways and operator tools, which
already hold that key, need nothing more: ``hex(HMAC-SHA256(cluster_key, LABEL))``.
Storage nodes do not get the cluster key (it decrypts credential secrets); they get
the token alone, from a file (`--admin-token-file` / TESSERA_ADMIN_TOKEN_FILE) or
TESSERA_ADMIN_TOKEN. `tessera admin token` prints it; `tessera cluster up` writes
`<data_dir>/admin.token` (mode 0600).

Clients send ``authorization: Bearer <token>`` as gRPC metadata; `TokenInterceptor`
refuses any other call with UNAUTHENTICATED before it reaches the servicer.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
from collections.abc import Mapping
from concurrent import futures
from pathlib import Path
from typing import Any

import grpc

from coordinator import tls
from coordinator.secrets import ClusterKeyError, find_key, write_private_file

log = logging.getLogger(__name__)

LABEL = b"tessera-admin-token-v1"
TOKEN_FILE_ENV = "TESSERA_ADMIN_TOKEN_FILE"
TOKEN_ENV = "TESSERA_ADMIN_TOKEN"
METADATA_KEY = "authorization"
SCHEME = "Bearer "
# Shortest token accepted from a file or the environment: a derived token has 64.
MIN_LENGTH = 32


class AdminTokenError(ValueError):
    """The admin token is missing, unreadable or too short."""


def derive(cluster_key: bytes) -> str:
    """The cluster's admin token (64 hex digits) from its cluster key."""
    return hmac.new(cluster_key, LABEL, hashlib.sha256).hexdigest()


def parse(text: str, where: str = "admin token") -> str:
    token = text.strip()
    if len(token) < MIN_LENGTH or any(c.isspace() for c in token):
        raise AdminTokenError(f"{where}: expected one word of at least {MIN_LENGTH} characters")
    return token


def read_file(path: Path | str) -> str:
    path = Path(path).expanduser()
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as exc:
        reason = getattr(exc, "strerror", None) or str(exc)
        raise AdminTokenError(f"cannot read admin token file {path}: {reason}") from None
    return parse(text, f"admin token file {path}")


def write_file(path: Path | str, token: str) -> bool:
    """Create path holding token, readable by its owner only. False if it exists."""
    return write_private_file(path, token + "\n")


def find(path: Path | str | None = None, environ: Mapping[str, str] | None = None) -> str | None:
    """The admin token from path, $TESSERA_ADMIN_TOKEN_FILE, $TESSERA_ADMIN_TOKEN, or
    derived from a cluster key in $TESSERA_CLUSTER_KEY_FILE / $TESSERA_CLUSTER_KEY;
    None when nothing is configured. Raises AdminTokenError for a bad one."""
    environ = os.environ if environ is None else environ
    if path:
        return read_file(path)
    if environ.get(TOKEN_FILE_ENV):
        return read_file(environ[TOKEN_FILE_ENV])
    if environ.get(TOKEN_ENV):
        return parse(environ[TOKEN_ENV], f"${TOKEN_ENV}")
    try:
        key = find_key(None, environ)
    except ClusterKeyError as exc:
        raise AdminTokenError(str(exc)) from None
    return derive(key) if key is not None else None


def call_metadata(token: str) -> tuple[tuple[str, str], ...]:
    """Metadata for a client call: pass as `metadata=` to every Admin RPC."""
    return ((METADATA_KEY, SCHEME + token),)


def authorized(metadata: Any, token: str) -> bool:
    """Whether the invocation metadata carries `authorization: Bearer <token>`."""
    expected = (SCHEME + token).encode()
    for key, value in metadata or ():
        if key.lower() != METADATA_KEY:
            continue
        given = value.encode() if isinstance(value, str) else bytes(value)
        if hmac.compare_digest(given, expected):
            return True
    return False


def _refuse(request: Any, context: grpc.ServicerContext) -> Any:
    context.abort(grpc.StatusCode.UNAUTHENTICATED, "missing or wrong admin token")


class TokenInterceptor(grpc.ServerInterceptor):
    """Lets through only calls that carry the admin token."""

    def __init__(self, token: str) -> None:
        self._token = token

    def intercept_service(self, continuation, handler_call_details):
        if authorized(handler_call_details.invocation_metadata, self._token):
            return continuation(handler_call_details)
        log.warning("admin call refused: no valid token method=%s", handler_call_details.method)
        handler = continuation(handler_call_details)
        if handler is None:
            return None
        # Refuse with a handler of the same shape, so the client sees UNAUTHENTICATED.
        if handler.unary_unary:
            make = grpc.unary_unary_rpc_method_handler
        elif handler.unary_stream:
            make = grpc.unary_stream_rpc_method_handler
        elif handler.stream_unary:
            make = grpc.stream_unary_rpc_method_handler
        else:
            make = grpc.stream_stream_rpc_method_handler
        return make(_refuse, handler.request_deserializer, handler.response_serializer)


# SO_REUSEPORT off: two processes given the same admin port must fail loudly, not
# share it and answer for each other.
SERVER_OPTIONS = [("grpc.so_reuseport", 0)]


def start_server(add_servicer: Any, servicer: Any, listen: str, token: str, threads: int = 4):
    """A started grpc.server on listen serving servicer behind the token check.
    Returns (server, bound port); raises OSError when the address cannot be bound."""
    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=threads, thread_name_prefix="admin"),
        interceptors=[TokenInterceptor(token)],
        options=SERVER_OPTIONS,
    )
    add_servicer(servicer, server)
    try:
        port = tls.listen(server, listen, tls.process_files())
    except RuntimeError as exc:  # grpc raises RuntimeError for a port in use
        raise OSError(f"cannot listen on {listen}: {exc}") from None
    if port == 0:
        raise OSError(f"cannot listen on {listen}")
    server.start()
    return server, port
