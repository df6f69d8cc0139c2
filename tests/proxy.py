"""A round-robin TCP proxy for tests: each new client connection goes to the
next gateway, so a client's parallel connections spread over all of them
(what a load balancer in front of several gateways does)."""

from __future__ import annotations

import itertools
import socket
import threading
from urllib.parse import urlsplit


class RoundRobinProxy:
    def __init__(self, endpoints: list[str]) -> None:
        self.targets = [(urlsplit(e).hostname, urlsplit(e).port) for e in endpoints]
        self._next = itertools.cycle(range(len(self.targets)))
        self.connections = [0] * len(self.targets)
        self._server = socket.create_server(("127.0.0.1", 0))
        self.endpoint = f"http://127.0.0.1:{self._server.getsockname()[1]}"
        self._closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self._closed:
            try:
                client, _ = self._server.accept()
            except OSError:
                return
            index = next(self._next)
            self.connections[index] += 1
            try:
                upstream = socket.create_connection(self.targets[index])
            except OSError:
                client.close()
                continue
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(target=pipe, args=(source, sink), daemon=True).start()

    def close(self) -> None:
        self._closed = True
        self._server.close()


def pipe(source: socket.socket, sink: socket.socket) -> None:
    """Copy bytes one way until either side closes, then close both."""
    try:
        while data := source.recv(1 << 16):
            sink.sendall(data)
    except OSError:
        pass
    finally:
        for sock in (source, sink):
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
