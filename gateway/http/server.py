"""The gateway's HTTP/1.1 server: listen, accept, one Connection task per client.

Hypercorn served this port before; its per-request machinery (h11's pure-Python state
machine, an ASGI task and queues per request) cost ~0.97 ms of CPU for a trivial
request on this machine, where this server costs ~0.14 ms (docs/performance.md). S3
clients speak HTTP/1.1, so that is all it speaks.

With an SSL context it serves HTTPS: each connection's handshake happens in its own
task, on its first read, so a slow or hostile client never holds up accepting.

Shutdown is graceful: the listeners close, idle keep-alive connections end at once,
and requests in flight get GRACE seconds to finish before they are cancelled.
"""

from __future__ import annotations

import contextlib
import errno
import socket
import ssl
from collections.abc import Iterator

import trio

from gateway.http.connection import App, Connection

GRACE = 5.0
BACKLOG = 1024


def parse_listen(address: str) -> tuple[str, int]:
    """HOST:PORT (or [IPv6]:PORT) as a host and a port number."""
    host, sep, port = address.rpartition(":")
    if not sep or not port.isdigit():
        raise ValueError(f"not HOST:PORT: {address!r}")
    return host.strip("[]") or "0.0.0.0", int(port)


def open_listener(address: str, reuse_port: bool = False) -> socket.socket:
    """A listening socket on address, bound before the event loop starts (so a port in
    use stops the start-up); reuse_port lets several processes share the port."""
    host, port = parse_listen(address)
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if reuse_port:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind((host, port))
        sock.listen(BACKLOG)
    except BaseException:
        sock.close()
        raise
    return sock


class HttpServer:
    """Serves `app` on one listener until `stop` is set."""

    def __init__(
        self,
        app: App,
        sock: socket.socket,
        grace: float = GRACE,
        https: ssl.SSLContext | None = None,
    ) -> None:
        self.app = app
        self.sock = sock
        self.grace = grace
        self.https = https
        self.closing = False
        self._idle: set[trio.CancelScope] = set()

    @contextlib.contextmanager
    def idle(self) -> Iterator[trio.CancelScope]:
        """A cancel scope for a connection's wait between requests; shutdown cancels it."""
        with trio.CancelScope() as scope:
            if self.closing:
                scope.cancel()
            self._idle.add(scope)
            try:
                yield scope
            finally:
                self._idle.discard(scope)

    async def serve(self, stop: trio.Event) -> None:
        """Accept and serve connections until stop is set; then drain them."""
        listener: trio.abc.Listener[trio.abc.Stream]
        listener = trio.SocketListener(trio.socket.from_stdlib_socket(self.sock))
        if self.https is not None:
            # https_compatible: HTTP/1.1 clients close without TLS close_notify.
            listener = trio.SSLListener(listener, self.https, https_compatible=True)
        async with trio.open_nursery() as connections:
            async with trio.open_nursery() as accepting:
                accepting.start_soon(self._accept, listener, connections)
                await stop.wait()
                accepting.cancel_scope.cancel()
            self.closing = True
            await listener.aclose()
            for scope in list(self._idle):
                scope.cancel()
            connections.cancel_scope.deadline = trio.current_time() + self.grace

    async def _accept(
        self, listener: trio.abc.Listener[trio.abc.Stream], connections: trio.Nursery
    ) -> None:
        while True:
            try:
                stream = await listener.accept()
            except OSError as exc:
                if exc.errno not in _ACCEPT_RETRY:
                    raise
                await trio.sleep(0.1)  # out of descriptors: let connections end first
                continue
            connections.start_soon(Connection(stream, self.app, self).run)


# trio retries the errors a client causes (ECONNABORTED, ...); these are ours.
_ACCEPT_RETRY = {errno.EMFILE, errno.ENFILE, errno.ENOMEM, errno.ENOBUFS}
