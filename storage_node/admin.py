"""The Admin gRPC service of a storage node: who it is, what its disk holds, what it
served, how it sees placement, how its drain goes (storage_node/mover.py), and the
drain/undrain/remove of itself. Served on its own port behind the admin
token (coordinator/admin_token.py), apart from the Storage service, so admin calls
neither count in the node's RPC metrics nor wait behind data streams."""

from __future__ import annotations

import argparse
import logging
import shutil
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from http.server import ThreadingHTTPServer

import etcd3
import etcd3.exceptions
import grpc

from coordinator import addresses, admin_stats, admin_token, drain
from coordinator.placement_view import PlacementView
from proto import admin_pb2 as pb
from proto import admin_pb2_grpc as pb_grpc
from storage_node.diskstore import DiskStore
from storage_node.metrics import NodeMetrics
from storage_node.metrics import serve as serve_metrics
from storage_node.mover import Mover, job_message
from storage_node.replicator import Replicator
from storage_node.scrub import Scrubber
from storage_node.service import VERSION

log = logging.getLogger(__name__)

# Default ports beside the storage port P: admin P+1, metrics P+2.
ADMIN_PORT_OFFSET = 1
METRICS_PORT_OFFSET = 2

# gRPC codes a caller causes (missing version, bad argument, a writer that gave up):
# refused requests, not failures of the node. Anything else but OK is an error.
CALLER_CODES = frozenset(
    {
        "CANCELLED",
        "INVALID_ARGUMENT",
        "NOT_FOUND",
        "ALREADY_EXISTS",
        "PERMISSION_DENIED",
        "FAILED_PRECONDITION",
        "ABORTED",
        "OUT_OF_RANGE",
        "UNAUTHENTICATED",
    }
)


def classify(code: str) -> str:
    """'ok', 'client' (the caller's doing) or 'server' for a gRPC status code name."""
    if code == "OK":
        return "ok"
    return "client" if code in CALLER_CODES else "server"


def listen_addresses(
    listen: str, admin_listen: str | None, metrics_listen: str | None
) -> tuple[str | None, str | None]:
    """(admin, metrics) listen addresses: as given, None when "off", else beside listen."""

    def pick(value: str | None, offset: int) -> str | None:
        if addresses.disabled(value):
            return None
        return value or addresses.neighbour(listen, offset)

    return pick(admin_listen, ADMIN_PORT_OFFSET), pick(metrics_listen, METRICS_PORT_OFFSET)


def disk(store: DiskStore) -> tuple[int, int]:
    """(capacity, used) bytes of the filesystem holding the data directory."""
    usage = shutil.disk_usage(store.root)
    return usage.total, usage.used


def usage(store: DiskStore) -> pb.UsageReply:
    """Computed as NodeInfo and the metrics gauges compute it, and per bucket namespace."""
    fs = shutil.disk_usage(store.root)
    objects, stored = store.stats()
    return pb.UsageReply(
        capacity_bytes=fs.total,
        used_bytes=fs.used,
        free_bytes=fs.free,
        objects=objects,
        bytes_stored=stored,
        buckets=[
            pb.BucketUsage(bucket=bucket, objects=count, bytes=size)
            for bucket, count, size in store.bucket_stats()
        ],
    )


def stats_reply(
    requests: Mapping[tuple[str, str], int], written: int, read: int, uptime: float
) -> pb.StatsReply:
    """A StatsReply from a NodeMetrics snapshot (pure)."""
    return admin_stats.stats_reply(requests.items(), classify, written, read, uptime)


@dataclass
class NodeIdentity:
    node_id: str
    zone: str
    address: str  # the advertised storage address
    admin_address: str
    metrics_url: str
    started: float


class NodeAdmin(pb_grpc.AdminServicer):
    def __init__(
        self,
        identity: NodeIdentity,
        store: DiskStore,
        metrics: NodeMetrics,
        view: PlacementView,
        mover: Mover | None = None,
        replicator: Replicator | None = None,
        scrubber: Scrubber | None = None,
    ) -> None:
        self.identity = identity
        self.store = store
        self.metrics = metrics
        self.view = view
        self.mover = mover
        self.replicator = replicator
        self.scrubber = scrubber

    def _state(self) -> str:
        entry = self.view.entry(self.identity.node_id)
        return entry.state if entry is not None else "unplaced"

    def Info(self, request, context):  # noqa: N802 - gRPC naming
        me = self.identity
        return admin_stats.info_reply(
            process_id=me.node_id,
            kind=pb.NODE,
            address=me.address,
            admin_address=me.admin_address,
            metrics_url=me.metrics_url,
            zone=me.zone,
            version=VERSION,
            started=me.started,
            state=self._state(),
        )

    def Usage(self, request, context):  # noqa: N802
        return usage(self.store)

    def Stats(self, request, context):  # noqa: N802
        requests, written, read = self.metrics.snapshot()
        return stats_reply(requests, written, read, time.time() - self.identity.started)

    def Placement(self, request, context):  # noqa: N802
        return self.view.reply()

    def Progress(self, request, context):  # noqa: N802
        jobs = self.mover.jobs() if self.mover is not None else []
        if self.replicator is not None:
            jobs.append(self.replicator.job())
        if self.scrubber is not None:
            jobs.append(self.scrubber.job())
        return pb.ProgressReply(jobs=jobs)

    def _change(self, context, action: str, force: bool = False) -> pb.DrainReply:
        """Change this node's placement state (coordinator/drain.py) and report."""
        if self.mover is None:
            context.abort(grpc.StatusCode.UNIMPLEMENTED, "this node runs no mover")
            raise AssertionError("unreachable: context.abort raises")
        try:
            changed, job, state = self.mover.request(action, force)
        except drain.DrainError as exc:
            context.abort(grpc.StatusCode.FAILED_PRECONDITION, str(exc))
        except etcd3.exceptions.Etcd3Exception as exc:
            context.abort(grpc.StatusCode.UNAVAILABLE, f"etcd: {exc or type(exc).__name__}")
        reply = pb.DrainReply(state=state, changed=changed)
        if job is not None:
            reply.job.CopyFrom(job_message(job.record))
        return reply

    def Scrub(self, request, context):  # noqa: N802
        if self.scrubber is None:
            context.abort(grpc.StatusCode.UNIMPLEMENTED, "this node runs no scrubber")
            raise AssertionError("unreachable: context.abort raises")
        started = self.scrubber.request()
        return pb.ScrubReply(started=started, job=self.scrubber.job())

    def Drain(self, request, context):  # noqa: N802
        return self._change(context, "drain")

    def Undrain(self, request, context):  # noqa: N802
        return self._change(context, "undrain")

    def Remove(self, request, context):  # noqa: N802
        return self._change(context, "remove", request.force)


class Endpoints:
    """What a node serves beside the Storage service: Admin and /metrics."""

    def __init__(self) -> None:
        self.admin: grpc.Server | None = None
        self.metrics: ThreadingHTTPServer | None = None
        self.view: PlacementView | None = None
        self.record: dict[str, str] = {}  # added to the node's membership record

    def stop(self) -> None:
        if self.admin is not None:
            self.admin.stop(grace=1)
        if self.metrics is not None:
            self.metrics.shutdown()
            self.metrics.server_close()
        if self.view is not None:
            self.view.stop()


def start(
    args: argparse.Namespace,
    store: DiskStore,
    metrics: NodeMetrics,
    started: float,
    connect: Callable[[], etcd3.Etcd3Client],
    mover: Mover | None = None,
    replicator: Replicator | None = None,
    scrubber: Scrubber | None = None,
) -> Endpoints:
    """Serve /metrics and the Admin service as args say (defaults beside --listen).
    Raises OSError when a port cannot be bound, AdminTokenError for a bad token.
    Without any admin token configured the node serves no Admin service (logged)."""
    admin_listen, metrics_listen = listen_addresses(
        args.listen, args.admin_listen, args.metrics_listen
    )
    token = admin_token.find(args.admin_token_file)
    out = Endpoints()
    try:
        if metrics_listen:
            out.metrics = serve_metrics(
                metrics_listen,
                lambda: metrics.render(
                    store.stats,
                    lambda: disk(store),
                    lambda: {
                        **(replicator.gauges() if replicator is not None else {}),
                        **(scrubber.gauges() if scrubber is not None else {}),
                    },
                ),
            )
            where = addresses.advertised(metrics_listen, args.advertise)
            out.record["metrics_url"] = f"http://{where}/metrics"
        if admin_listen and token is None:
            log.warning(
                "no admin token (--admin-token-file, %s or %s): serving no Admin service",
                admin_token.TOKEN_FILE_ENV,
                admin_token.TOKEN_ENV,
            )
        elif admin_listen and token is not None:
            out.view = PlacementView(connect)
            out.view.start()
            identity = NodeIdentity(
                node_id=args.node_id,
                zone=args.zone,
                address=args.advertise or args.listen,
                admin_address=addresses.advertised(admin_listen, args.advertise),
                metrics_url=out.record.get("metrics_url", ""),
                started=started,
            )
            servicer = NodeAdmin(identity, store, metrics, out.view, mover, replicator, scrubber)
            out.admin, _ = admin_token.start_server(
                pb_grpc.add_AdminServicer_to_server, servicer, admin_listen, token
            )
            out.record["admin_address"] = identity.admin_address
    except BaseException:
        out.stop()
        raise
    return out
