"""The Admin Stats reply, built alike by a gateway (gateway/admin.py) and a storage node
(storage_node/admin.py) from their metric counters. Each tier says which of its codes
are the caller's fault and which its own: HTTP statuses for a gateway, gRPC status
names for a node. Pure."""

from __future__ import annotations

from collections.abc import Callable, Iterable

from proto import admin_pb2 as pb

# ((operation or node, code), count), as coordinator.prometheus.Counter.items() lists them.
Counts = Iterable[tuple[tuple[str, ...], float]]


def stats_reply(
    requests: Counts,
    classify: Callable[[str], str],
    bytes_in: int,
    bytes_out: int,
    uptime: float,
    rpc_errors: Counts = (),
) -> pb.StatsReply:
    """A StatsReply: requests sorted by (operation, code), totalled, and counted as
    errors where classify(code) says 'server', client errors where it says 'client'."""
    reply = pb.StatsReply(bytes_in=bytes_in, bytes_out=bytes_out, uptime_seconds=uptime)
    for (operation, code), count in sorted(requests):
        n = int(count)
        reply.requests.add(operation=operation, code=code, count=n)
        reply.requests_total += n
        kind = classify(code)
        if kind == "server":
            reply.errors_total += n
        elif kind == "client":
            reply.client_errors_total += n
    for (node, code), count in rpc_errors:
        reply.rpc_errors.add(node_id=node, code=code, count=int(count))
    return reply
