"""`tessera storage-node`: serve a DiskStore over gRPC and join the cluster."""

from __future__ import annotations

import argparse
import gc
import logging
import shutil
import signal
import sys
import threading
import time
from concurrent import futures
from pathlib import Path

import grpc

from coordinator import certs, keys, placement, tls
from coordinator.etcd import check_settings, connect
from coordinator.members import Membership
from proto import storage_pb2_grpc as pb_grpc
from storage_node import admin as node_admin
from storage_node import scrub
from storage_node.collector import DEFAULT_MIN_AGE
from storage_node.diskstore import DiskStore
from storage_node.metrics import MetricsInterceptor, NodeMetrics
from storage_node.mover import DEFAULT_WORKERS, Mover
from storage_node.replicator import DEFAULT_INTERVAL, DEFAULT_OPS, DEFAULT_RATE, Budget, Replicator
from storage_node.scrub import Scrubber
from storage_node.service import StorageService

log = logging.getLogger("tessera.storage_node")

GRPC_OPTIONS = [
    ("grpc.max_receive_message_length", 16 << 20),
    ("grpc.max_send_message_length", 16 << 20),
    # A gateway that vanished (power, partition) holds a worker thread per open stream
    # until a ping goes unanswered: find out within half a minute.
    ("grpc.keepalive_time_ms", 20000),
    ("grpc.keepalive_timeout_ms", 10000),
    # Gateways ping every 10 s during a call (gateway/cluster/nodes.py); the default
    # (5 min) would count that as abuse and close their connection.
    ("grpc.http2.min_ping_interval_without_data_ms", 5000),
]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--node-id", required=True, help="stable identity of this node")
    parser.add_argument("--listen", default="127.0.0.1:7100", help="gRPC address HOST:PORT")
    parser.add_argument("--advertise", help="address others dial (default: --listen)")
    parser.add_argument("--data-dir", required=True, type=Path)
    parser.add_argument("--etcd", default=None, help="etcd HOST:PORT (or TESSERA_ETCD)")
    parser.add_argument("--zone", default="default", help="failure domain for placement")
    parser.add_argument("--threads", type=int, default=64, help="gRPC worker threads")
    parser.add_argument(
        "--metrics-listen",
        default=None,
        help="serve Prometheus GET /metrics on HOST:PORT (default: the --listen port + 2; "
        "'off' serves none)",
    )
    parser.add_argument(
        "--admin-listen",
        default=None,
        help="Admin gRPC service on HOST:PORT (default: the --listen port + 1; 'off' serves none)",
    )
    parser.add_argument(
        "--move-workers",
        type=int,
        default=DEFAULT_WORKERS,
        help="versions copied at once while this node drains (default %(default)s)",
    )
    parser.add_argument(
        "--sync-interval",
        type=float,
        default=DEFAULT_INTERVAL,
        help="seconds between anti-entropy passes (default %(default)s, or TESSERA_SYNC_INTERVAL)",
    )
    parser.add_argument(
        "--gc-min-age",
        type=float,
        default=DEFAULT_MIN_AGE,
        help="seconds a tombstone or a remembered delete by id is kept at least, before "
        "it is dropped once no node needs it (default %(default)s, or TESSERA_GC_MIN_AGE)",
    )
    parser.add_argument(
        "--repair-rate",
        type=float,
        default=DEFAULT_RATE / (1 << 20),
        help="MiB/s that repair and hand-off copies may send (default %(default)s)",
    )
    parser.add_argument(
        "--repair-ops",
        type=float,
        default=DEFAULT_OPS,
        help="versions/s that repair and hand-off may copy (default %(default)s)",
    )
    parser.add_argument(
        "--scrub-interval",
        type=float,
        default=scrub.DEFAULT_INTERVAL,
        help="seconds between scrub passes (default %(default)s, or TESSERA_SCRUB_INTERVAL; "
        "0: only when asked, `tessera admin scrub`)",
    )
    parser.add_argument(
        "--scrub-rate",
        type=float,
        default=scrub.DEFAULT_RATE / (1 << 20),
        help="MiB/s a scrub pass reads (default %(default)s)",
    )
    parser.add_argument(
        "--admin-token-file",
        default=None,
        help="file holding the cluster's admin token (`tessera admin token`; or "
        "TESSERA_ADMIN_TOKEN_FILE, or the token itself in TESSERA_ADMIN_TOKEN)",
    )


def run(args: argparse.Namespace) -> int:
    args.data_dir.mkdir(parents=True, exist_ok=True)
    store = DiskStore(args.data_dir)
    service = StorageService(store, args.node_id, args.zone)
    metrics = NodeMetrics()
    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=args.threads),
        interceptors=[MetricsInterceptor(metrics)],
        options=GRPC_OPTIONS,
    )
    pb_grpc.add_StorageServicer_to_server(service, server)
    try:
        check_settings(args.etcd)
        port = tls.listen(server, args.listen, tls.process_files())
    except (certs.CertError, ValueError) as exc:
        log.error("cannot start: %s", exc)
        print(f"tessera storage-node: error: {exc}", file=sys.stderr)
        return 1
    if port == 0:
        log.error("cannot listen on %s", args.listen)
        return 1
    server.start()
    address = args.advertise or args.listen

    def etcd():
        return connect(args.etcd)

    # Moves this node's data out when an operator drains it.
    mover = Mover(store, args.node_id, etcd, workers=args.move_workers)
    # Keeps the other replicas of this node's keys as full as this node.
    replicator = Replicator(
        store,
        args.node_id,
        etcd,
        interval=args.sync_interval,
        budget=Budget(args.repair_ops, args.repair_rate * (1 << 20)),
        workers=args.move_workers,
        gc_min_age=args.gc_min_age,
    )
    service.replicator = replicator
    # Re-reads every stored block now and then; replaces a corrupt copy from a replica.
    scrubber = Scrubber(
        store, replicator, interval=args.scrub_interval, rate=args.scrub_rate * (1 << 20)
    )
    try:
        endpoints = node_admin.start(
            args, store, metrics, service.started, etcd, mover, replicator, scrubber
        )
    except (OSError, ValueError) as exc:
        log.error("cannot start: %s", exc)
        server.stop(grace=None)
        return 1
    placement.register_node(
        etcd(), placement.NodeEntry(node_id=args.node_id, address=address, zone=args.zone)
    )
    membership = Membership(
        etcd,
        keys.member_node(args.node_id),
        {
            "node_id": args.node_id,
            "address": address,
            "zone": args.zone,
            "capacity": shutil.disk_usage(args.data_dir).total,
            "started": time.time(),
            # Versions of keys it no longer replicates may be here until its first
            # anti-entropy pass says otherwise (gateways then look beyond replicas).
            "handoff": True,
            **endpoints.record,
        },
    )
    replicator.on_handoff = lambda pending: membership.publish(handoff=pending)
    membership.start()
    mover.start()
    replicator.start()
    scrubber.start()
    log.info(
        "storage node ready node_id=%s listen=%s zone=%s admin=%s metrics=%s",
        args.node_id,
        address,
        args.zone,
        endpoints.record.get("admin_address", "-"),
        endpoints.record.get("metrics_url", "-"),
    )

    # Startup leaves tens of thousands of long-lived objects (modules, protobuf
    # descriptors); frozen, the collector stops walking them again and again.
    gc.freeze()
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    stop.wait()
    log.info("storage node stopping node_id=%s", args.node_id)
    mover.stop()
    replicator.stop()
    scrubber.stop()
    membership.stop()
    endpoints.stop()
    server.stop(grace=5).wait()
    return 0
