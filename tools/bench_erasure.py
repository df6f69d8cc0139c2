"""`tessera bench-erasure`: a replica bucket beside an erasure-coded one, on one cluster.

A fresh local cluster of 6 storage nodes and 1 gateway (in a temporary directory) gets two
buckets: `bench-replica` (3 copies) and `bench-erasure` (--data + --parity fragments, 4+2
by default). For each --sizes entry (SIZE:COUNT), COUNT objects of SIZE go into each bucket
(--concurrency at once, one PUT each) and are read back whole: healthy, with node1 killed,
and with node1 and node2 killed; the nodes start again before the next size. Reported per
bucket and size: PUT and GET MiB/s, the server CPU (gateway and nodes) per GiB moved, the
degraded GETs' MiB/s and how many failed (a replica bucket loses keys whose 2 of 3
copies are down), and the bytes the nodes store per byte written (every copy or fragment
the PUTs added, as the nodes list them).
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from tools import cluster as local
from tools.bench import parse_size, server_cpu_seconds
from tools.bench_repair import client_of
from tools.cluster_state import ClusterInfo
from tools.output import format_size, json_text, table

MiB = 1 << 20
BUCKETS = ("bench-replica", "bench-erasure")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--sizes",
        default="1MiB:64,256MiB:4,1GiB:2",
        help="SIZE:COUNT,... objects per bucket (default 1MiB:64,256MiB:4,1GiB:2)",
    )
    parser.add_argument("--data", type=int, default=4, help="data fragments (default 4)")
    parser.add_argument("--parity", type=int, default=2, help="parity fragments (default 2)")
    parser.add_argument("--concurrency", type=int, default=2, help="objects at once (default 2)")
    parser.add_argument("--json", action="store_true", help="print the results as JSON")


def _sizes(text: str) -> list[tuple[int, int]]:
    found = []
    for item in text.split(","):
        size, _, count = item.partition(":")
        found.append((parse_size(size), int(count or 1)))
    return found


def _say(text: str) -> None:
    print(f"[bench-erasure] {text}", file=sys.stderr, flush=True)


def run(args: argparse.Namespace) -> int:
    sizes = _sizes(args.sizes)
    with tempfile.TemporaryDirectory(prefix="tessera-bench-erasure-") as tmp:
        from coordinator.credentials import generate_keypair

        access, secret = generate_keypair()
        nodes = max(6, args.data + args.parity)
        info = local.up(Path(tmp), nodes=nodes, gateways=1, access_key=access, secret_key=secret)
        try:
            rows = _measure(args, info, sizes)
        finally:
            local.down(Path(tmp))
    print(json_text(rows) if args.json else render(rows, args))
    return 0


def _set_erasure(info: ClusterInfo, bucket: str, data: int, parity: int) -> None:
    import dataclasses

    from coordinator import buckets
    from coordinator.etcd import connect
    from coordinator.storage_mode import StorageMode

    mode = StorageMode("erasure", data, parity).to_record()
    client = connect(info.etcd_endpoint)
    try:
        buckets.update(client, bucket, lambda b: dataclasses.replace(b, storage=mode))
    finally:
        client.close()
    time.sleep(1.0)  # the gateway's bucket cache follows etcd within a moment


def _stored_bytes(info: ClusterInfo, bucket: str) -> int:
    """Bytes the storage nodes hold for the bucket: its versions' and its fragments'."""
    from coordinator.namespaces import fragments_namespace
    from proto import storage_pb2 as pb
    from tools.redundancy import node_stubs

    total = 0
    for stub in node_stubs(info).values():
        for namespace in (bucket, fragments_namespace(bucket)):
            after = ""
            while True:
                request = pb.ListRequest(bucket=namespace, start_after=after, limit=1000)
                reply = stub.ListObjects(request, timeout=30)
                total += sum(e.size for e in reply.entries if not e.deleted)
                if reply.complete or not reply.entries:
                    break
                after = reply.entries[-1].key
    return total


def _pids(info: ClusterInfo) -> dict[str, int]:
    return {
        name: proc.pid
        for name, proc in info.processes.items()
        if proc.role in ("node", "gateway") and proc.pid
    }


def _timed(info: ClusterInfo, work: Any) -> tuple[float, float, int]:
    """(seconds, server CPU seconds, failures) of work()."""
    cpu = server_cpu_seconds(_pids(info))
    began = time.perf_counter()
    failures = work()
    return time.perf_counter() - began, server_cpu_seconds(_pids(info)) - cpu, failures


def _measure(
    args: argparse.Namespace, info: ClusterInfo, sizes: list[tuple[int, int]]
) -> list[dict[str, Any]]:
    client = client_of(info)
    for bucket in BUCKETS:
        client.create_bucket(Bucket=bucket)
    _set_erasure(info, BUCKETS[1], args.data, args.parity)
    rows = []
    for size, count in sizes:
        body = os.urandom(size)
        keys = [f"{size}/{n}" for n in range(count)]
        for bucket in BUCKETS:
            _say(f"{format_size(size)} x {count} into {bucket}")
            row: dict[str, Any] = {"bucket": bucket, "size": size, "count": count}
            moved = size * count / MiB

            def put_all(bucket: str = bucket, keys: list[str] = keys, body: bytes = body) -> int:
                return _put_all(client, bucket, keys, body, args.concurrency)

            def get_all(bucket: str = bucket, keys: list[str] = keys) -> int:
                return _get_all(client, bucket, keys, args.concurrency)

            stored = _stored_bytes(info, bucket)
            took, cpu, _ = _timed(info, put_all)
            row["put_mib_s"] = moved / took
            row["put_cpu_s_per_gib"] = cpu / (moved / 1024)
            growth = _stored_bytes(info, bucket) - stored
            row["disk_per_byte"] = growth / (size * count)
            took, cpu, failed = _timed(info, get_all)
            row["get_mib_s"] = moved / took
            row["get_cpu_s_per_gib"] = cpu / (moved / 1024)
            for down in ("node1", "node2"):
                local.kill(info, down, signal.SIGKILL)
                took, _, failed = _timed(info, get_all)
                row[f"get_{down}_down_mib_s"] = moved / took
                row[f"get_{down}_down_failed"] = failed
            for down in ("node1", "node2"):
                local.start(info, down)
            time.sleep(2.0)  # the gateway's channels reconnect
            client.delete_objects(
                Bucket=bucket, Delete={"Objects": [{"Key": k} for k in keys], "Quiet": True}
            )
            rows.append(row)
    return rows


def _put_all(client: Any, bucket: str, keys: list[str], body: bytes, concurrency: int) -> int:
    with ThreadPoolExecutor(concurrency) as pool:
        list(pool.map(lambda key: client.put_object(Bucket=bucket, Key=key, Body=body), keys))
    return 0


def _get_all(client: Any, bucket: str, keys: list[str], concurrency: int) -> int:
    """Read every key whole; how many reads failed."""

    def one(key: str) -> int:
        try:
            stream = client.get_object(Bucket=bucket, Key=key)["Body"]
            while stream.read(8 * MiB):
                pass
        except Exception:
            return 1
        return 0

    with ThreadPoolExecutor(concurrency) as pool:
        return sum(pool.map(one, keys))


def render(rows: list[dict[str, Any]], args: argparse.Namespace) -> str:
    head = (
        f"6 storage nodes, 1 gateway; bench-erasure is {args.data}+{args.parity}; "
        f"{args.concurrency} objects at once"
    )
    body = table(
        [
            "SIZE",
            "BUCKET",
            "PUT MiB/s",
            "CPU s/GiB",
            "GET MiB/s",
            "CPU s/GiB",
            "1 DOWN",
            "2 DOWN (failed)",
            "DISK/BYTE",
        ],
        [
            [
                f"{format_size(r['size'])} x{r['count']}",
                r["bucket"].removeprefix("bench-"),
                f"{r['put_mib_s']:.0f}",
                f"{r['put_cpu_s_per_gib']:.1f}",
                f"{r['get_mib_s']:.0f}",
                f"{r['get_cpu_s_per_gib']:.1f}",
                f"{r['get_node1_down_mib_s']:.0f}",
                f"{r['get_node2_down_mib_s']:.0f} ({r['get_node2_down_failed']})",
                f"{r['disk_per_byte']:.2f}",
            ]
            for r in rows
        ],
        right=range(2, 9),
    )
    return f"{head}\n{body}"
