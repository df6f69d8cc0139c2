"""The Admin gRPC service of a gateway: identity, readiness, request counts (the same
counters as its /metrics), its view of placement and its background jobs.

The gateway runs trio; this service is a plain synchronous grpc.server with a small
thread pool in the same process. It only reads state that other threads already read
(watch-fed caches, metric counters under their locks), so it needs no trio.
"""

from __future__ import annotations

import argparse
import logging
import time
from collections.abc import Iterable, Sequence
from typing import Any

import grpc

from coordinator import addresses, admin_stats, admin_token, election
from coordinator.placement_view import PlacementView
from gateway.metrics import METRICS, GatewayMetrics
from gateway.state import Gateway
from proto import admin_pb2 as pb
from proto import admin_pb2_grpc as pb_grpc

log = logging.getLogger(__name__)

# Default admin port beside the HTTP port P: P+1 (workers: P+1, P+2, ...).
ADMIN_PORT_OFFSET = 1
THREADS = 2


def version() -> str:
    try:
        from importlib.metadata import version as dist_version

        return dist_version("tessera")
    except Exception:
        return "unknown"


def admin_listen(listen: str, admin: str | None, worker: int = 0) -> str | None:
    """Where a gateway (worker `worker` of several) serves Admin; None when "off"."""
    if addresses.disabled(admin):
        return None
    base = admin or addresses.neighbour(listen, ADMIN_PORT_OFFSET)
    return addresses.neighbour(base, worker) if worker else base


def classify(status: str) -> str:
    """'ok', 'client' (4xx) or 'server' (5xx) for an HTTP status."""
    if status.startswith("5"):
        return "server"
    if status.startswith("4"):
        return "client"
    return "ok"


def stats_reply(metrics: GatewayMetrics, uptime: float) -> pb.StatsReply:
    """A StatsReply from the gateway's metric counters and its latency histogram."""
    reply = admin_stats.stats_reply(
        metrics.requests.items(),
        classify,
        bytes_in=int(sum(v for _, v in metrics.bytes_received.items())),
        bytes_out=int(sum(v for _, v in metrics.bytes_sent.items())),
        uptime=uptime,
        rpc_errors=metrics.rpc_errors.items(),
    )
    bounds, counts = metrics.latency_histogram()
    reply.latency_bounds.extend(bounds)
    reply.latency_counts.extend(counts)
    return reply


class GatewayAdmin(pb_grpc.AdminServicer):
    def __init__(
        self,
        gateway: Gateway,
        address: str,
        admin_address: str,
        view: PlacementView,
        workers: Sequence[Any] = (),
        scheme: str = "http",
    ) -> None:
        self.gateway = gateway
        self.address = address  # where S3 clients reach this gateway
        self.scheme = scheme
        self.admin_address = admin_address
        self.view = view
        self.workers = workers  # the upload reaper, the lifecycle worker, the fragment keeper

    def Info(self, request, context):  # noqa: N802 - gRPC naming
        gw = self.gateway
        return admin_stats.info_reply(
            process_id=gw.gateway_id,
            kind=pb.GATEWAY,
            address=self.address,
            admin_address=self.admin_address,
            metrics_url=f"{self.scheme}://{self.address}/metrics",
            version=version(),
            started=gw.started,
            state="ready" if gw.ready() else "not-ready",
        )

    def Usage(self, request, context):  # noqa: N802
        context.abort(grpc.StatusCode.UNIMPLEMENTED, "a gateway stores no data")

    def Stats(self, request, context):  # noqa: N802
        return stats_reply(METRICS, time.time() - self.gateway.started)

    def Placement(self, request, context):  # noqa: N802
        return self.view.reply()

    def Progress(self, request, context):  # noqa: N802
        return pb.ProgressReply(jobs=list(self._jobs()))

    def _jobs(self) -> Iterable[pb.Job]:
        """The cluster-wide jobs gateways take turns at (one holder each, by election)."""
        for worker in self.workers:
            try:
                holder = election.holder(self.gateway.etcd, worker.JOB)
            except Exception as exc:  # etcd unreachable: say so rather than guess
                state, detail = "unknown", f"cannot ask etcd who runs it: {exc}"
            else:
                if holder == self.gateway.gateway_id:
                    state, detail = "running", "this gateway holds the job"
                elif holder:
                    state, detail = "standby", f"{holder} holds the job"
                else:
                    state, detail = "idle", "between passes: no gateway holds the job"
            yield pb.Job(
                name=worker.JOB,
                state=state,
                detail=f"{detail}; {worker.passes} pass(es) here",
                done=int(worker.removed),
                unit=worker.UNIT,
                started=self.gateway.started,
                updated=time.time(),
            )


class Endpoint:
    """The running Admin service of a gateway (or nothing, when switched off)."""

    def __init__(self) -> None:
        self.server: grpc.Server | None = None
        self.view: PlacementView | None = None
        self.record: dict[str, str] = {}  # added to the gateway's membership record

    def start_view(self) -> None:
        """Load what the view owns (the epoch): after the gateway's own caches start."""
        if self.view is not None:
            self.view.start()

    def stop(self) -> None:
        if self.server is not None:
            self.server.stop(grace=1)
        if self.view is not None:
            self.view.stop()


def start(
    args: argparse.Namespace,
    gateway: Gateway,
    cluster_key: bytes,
    workers: Sequence[Any],
    https: bool,
) -> Endpoint:
    """Serve Admin on --admin-listen (default beside --listen) behind the token derived
    from the cluster key. Raises OSError when the port cannot be bound."""
    out = Endpoint()
    listen = admin_listen(args.listen, args.admin_listen)
    scheme = "https" if https else "http"
    address = args.advertise or addresses.advertised(args.listen)
    out.record["metrics_url"] = f"{scheme}://{address}/metrics"
    if listen is None:
        return out
    out.view = PlacementView(
        gateway.connect, gateway.directory.placement, gateway.directory.members
    )
    advertised = addresses.advertised(listen, args.advertise)
    servicer = GatewayAdmin(gateway, address, advertised, out.view, workers, scheme)
    out.server, _ = admin_token.start_server(
        pb_grpc.add_AdminServicer_to_server,
        servicer,
        listen,
        admin_token.derive(cluster_key),
        THREADS,
    )
    out.record["admin_address"] = advertised
    return out
