"""HOST:PORT arithmetic shared by the daemons: the default admin and metrics ports sit
next to the data port, and a wildcard listen address is advertised by a dialable name."""

from __future__ import annotations

import socket

WILDCARDS = frozenset({"", "0.0.0.0", "::", "[::]", "*"})
OFF = frozenset({"off", "none", "no", "false", "0", "-"})


def split(address: str) -> tuple[str, int]:
    """``'10.0.0.1:7100'`` -> ``('10.0.0.1', 7100)``; ``'[::1]:7100'`` keeps the brackets."""
    host, sep, port = address.rpartition(":")
    if not sep or not port.isdigit():
        raise ValueError(f"expected HOST:PORT, got {address!r}")
    return host, int(port)


def neighbour(address: str, offset: int) -> str:
    """The same host, port + offset: 10.0.0.1:7100 +1 -> 10.0.0.1:7101."""
    host, port = split(address)
    if not 0 < port + offset <= 65535:
        raise ValueError(f"{address} + {offset} is not a port")
    return f"{host}:{port + offset}"


def disabled(value: str | None) -> bool:
    """Whether a listen setting says "serve nothing" (off, none, ...)."""
    return value is not None and value.strip().lower() in OFF


def advertised(listen: str, advertise: str | None = None) -> str:
    """What others dial for a server bound to listen: listen itself, unless its host is
    a wildcard; then the host of `advertise` (another HOST:PORT or a bare host), else
    this machine's host name."""
    host, port = split(listen)
    if host not in WILDCARDS:
        return listen
    if advertise:
        other = advertise.rpartition(":")[0] if ":" in advertise else advertise
        if other and other not in WILDCARDS:
            return f"{other}:{port}"
    return f"{socket.gethostname()}:{port}"


def dial(address: str) -> str:
    """An address to connect to: a wildcard host becomes loopback."""
    host, port = split(address)
    if host in WILDCARDS:
        return f"127.0.0.1:{port}"
    return address
