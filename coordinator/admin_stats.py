"""The Admin Info and Stats replies, built alike by a gateway (gateway/admin.py) and a storage
node (storage_node/admin.py).

Stats comes from their metric counters; each tier says which of its codes are the caller's
fault and which its own: HTTP statuses for a gateway, gRPC status names for a node. Pure.
Info adds what any process says of itself alike: uptime, host name, pid and restarts.
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Callable, Iterable

from coordinator.prometheus import restarts_from_env
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


def info_reply(
    *,
    process_id: str,
    kind: pb.Kind,
    address: str,
    admin_address: str,
    metrics_url: str,
    version: str,
    started: float,
    state: str,
    zone: str = "",
) -> pb.InfoReply:
    """An InfoReply of this process, which started at ``started`` (Unix time)."""
    return pb.InfoReply(
        id=process_id,
        kind=kind,
        address=address,
        admin_address=admin_address,
        metrics_url=metrics_url,
        zone=zone,
        version=version,
        uptime_seconds=time.time() - started,
        started=started,
        state=state,
        hostname=socket.gethostname(),
        pid=os.getpid(),
        restarts=restarts_from_env(),
    )
