"""`tessera bench-repair`: how fast a cluster heals after a storage node was down.

On a fresh local cluster (3 storage nodes, 1 gateway, in a temporary directory), a
steady foreground load of small PUTs and GETs runs throughout. Phases:

1. **idle**: the load alone, for --baseline seconds (latency without repair);
2. **down**: node3 is SIGKILLed and stays down for --down seconds while the load writes
   new keys (each such key then has 2 copies);
3. **repair**: node3 starts again; anti-entropy copies what it missed. The phase ends
   when every key written has its newest version on 3 nodes (asked of the nodes over
   gRPC), or after --timeout seconds.

Reported: the time from node3's restart to full redundancy, the copies and bytes that
repair sent (the nodes' tessera_repair_* counters) per second, and the p50/p99 of the
foreground PUT and GET in the idle and repair phases.
"""

from __future__ import annotations

import argparse
import os
import random
import re
import signal
import statistics
import sys
import tempfile
import threading
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tools import cluster as local
from tools.bench import parse_size, percentile
from tools.cluster_state import ClusterInfo
from tools.output import format_bytes, json_text, table
from tools.redundancy import node_stubs, short_keys

POLL = 1.0


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--down", type=float, default=300.0, help="seconds node3 stays down")
    parser.add_argument(
        "--baseline", type=float, default=20.0, help="seconds of load before the fault"
    )
    parser.add_argument("--timeout", type=float, default=600.0, help="give up on repair after")
    parser.add_argument("--size", default="64KiB", help="object size of the load")
    parser.add_argument("--threads", type=int, default=4, help="foreground client threads")
    parser.add_argument(
        "--sync-interval",
        type=float,
        default=None,
        help="the nodes' anti-entropy interval (default: the nodes' own default)",
    )
    parser.add_argument("--json", action="store_true", help="print the result as JSON")


@dataclass
class Load:
    """The foreground load: PUTs of new keys and GETs of written ones, timed per phase."""

    info: ClusterInfo
    bucket: str
    size: int
    phase: str = "idle"
    written: list[str] = field(default_factory=list)
    latencies: dict[tuple[str, str], list[float]] = field(default_factory=dict)
    errors: int = 0
    stop: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def run(self, seed: int) -> None:
        client = client_of(self.info)
        rng = random.Random(seed)
        body = rng.randbytes(self.size)
        n = 0
        while not self.stop.is_set():
            n += 1
            key = f"t{seed}/k{n:07d}"
            self._timed("PUT", client.put_object, Bucket=self.bucket, Key=key, Body=body)
            with self.lock:
                self.written.append(key)
                some = rng.choice(self.written)
            self._timed("GET", _read, client, self.bucket, some)

    def _timed(self, op: str, call: Any, *args: Any, **kwargs: Any) -> None:
        phase = self.phase
        began = time.perf_counter()
        try:
            call(*args, **kwargs)
        except Exception:
            with self.lock:
                self.errors += 1
            return
        took = time.perf_counter() - began
        with self.lock:
            self.latencies.setdefault((phase, op), []).append(took)


def _read(client: Any, bucket: str, key: str) -> bytes:
    return client.get_object(Bucket=bucket, Key=key)["Body"].read()


def client_of(info: ClusterInfo) -> Any:
    """A boto3 client of the first gateway that never retries (a retry would hide an
    error and skew latency)."""
    import boto3
    from botocore.config import Config

    config = Config(retries={"mode": "standard", "total_max_attempts": 1})
    return boto3.client(
        "s3",
        endpoint_url=info.endpoints[0],
        aws_access_key_id=info.access_key,
        aws_secret_access_key=info.secret_key,
        region_name=info.region,
        config=config,
    )


def _percentile(values: list[float], q: float) -> float:
    return percentile(sorted(values), q)


def _repair_counters(info: ClusterInfo) -> tuple[float, float]:
    """(copies, bytes) that every node's anti-entropy and read repair sent so far."""
    copies = sent = 0.0
    for proc in info.processes.values():
        if proc.role != "node" or not proc.pid or not proc.metrics_port:
            continue
        try:
            with urllib.request.urlopen(
                f"http://127.0.0.1:{proc.metrics_port}/metrics", timeout=5
            ) as reply:
                text = reply.read().decode()
        except OSError:
            continue
        for name, value in re.findall(
            r"^tessera_repair_(copied|bytes_copied)_total (\S+)$", text, re.M
        ):
            if name == "copied":
                copies += float(value)
            else:
                sent += float(value)
    return copies, sent


def run(args: argparse.Namespace) -> int:
    size = parse_size(args.size)
    env = {} if args.sync_interval is None else {"TESSERA_SYNC_INTERVAL": str(args.sync_interval)}
    with tempfile.TemporaryDirectory(prefix="tessera-bench-repair-") as tmp:
        data_dir = Path(tmp)
        from coordinator.credentials import generate_keypair

        access, secret = generate_keypair()
        info = local.up(
            data_dir, nodes=3, gateways=1, access_key=access, secret_key=secret, env=env
        )
        try:
            result = _measure(args, info, size)
        finally:
            local.down(data_dir)
    if args.json:
        print(json_text(result))
    else:
        print(render(result))
    return 0


def _say(text: str) -> None:
    print(f"[bench-repair] {text}", file=sys.stderr, flush=True)


def _measure(args: argparse.Namespace, info: ClusterInfo, size: int) -> dict[str, Any]:
    client = client_of(info)
    bucket = "bench-repair"
    client.create_bucket(Bucket=bucket)
    load = Load(info, bucket, size)
    threads = [
        threading.Thread(target=load.run, args=(i,), daemon=True) for i in range(args.threads)
    ]
    for thread in threads:
        thread.start()
    _say(f"idle: {args.threads} threads of {format_bytes(size)} PUT+GET for {args.baseline:g}s")
    time.sleep(args.baseline)

    load.phase = "down"
    local.kill(info, "node3", signal.SIGKILL)
    before_down = len(load.written)
    began = time.monotonic()
    while (left := args.down - (time.monotonic() - began)) > 0:
        _say(f"down: node3 down, {len(load.written) - before_down} keys written, {left:.0f}s left")
        time.sleep(min(10.0, left))
    missed = len(load.written) - before_down

    copies0, bytes0 = _repair_counters(info)
    load.phase = "repair"
    local.start(info, "node3")
    restarted = time.monotonic()
    stubs = node_stubs(info)
    healed = None
    short: dict[str, int] = {}
    while time.monotonic() - restarted < args.timeout:
        with load.lock:
            keys = list(load.written)
        short = short_keys(stubs, bucket, keys)
        if not short:
            healed = time.monotonic() - restarted
            break
        _say(f"repair: {len(short)} of {len(keys)} keys below 3 copies")
        time.sleep(POLL)
    copies1, bytes1 = _repair_counters(info)
    load.stop.set()
    for thread in threads:
        thread.join(timeout=30)

    seconds = healed if healed is not None else time.monotonic() - restarted
    phases = {}
    for phase in ("idle", "down", "repair"):
        phases[phase] = {
            op: {
                "count": len(load.latencies.get((phase, op), [])),
                "p50_ms": 1000 * _percentile(load.latencies.get((phase, op), []), 50),
                "p99_ms": 1000 * _percentile(load.latencies.get((phase, op), []), 99),
                "mean_ms": 1000 * statistics.fmean(load.latencies.get((phase, op), [0.0])),
            }
            for op in ("PUT", "GET")
        }
    return {
        "object_size": size,
        "threads": args.threads,
        "down_seconds": args.down,
        "keys_missed": missed,
        "healed": healed is not None,
        "seconds_to_full_redundancy": round(seconds, 2),
        "keys_still_short": len(short),
        "repair_copies": copies1 - copies0,
        "repair_bytes": bytes1 - bytes0,
        "repair_copies_per_second": round((copies1 - copies0) / seconds, 1) if seconds else 0.0,
        "repair_mib_per_second": round((bytes1 - bytes0) / seconds / (1 << 20), 2)
        if seconds
        else 0.0,
        "errors": load.errors,
        "latency": phases,
        "sync_interval": os.environ.get("TESSERA_SYNC_INTERVAL") or args.sync_interval,
    }


def render(result: dict[str, Any]) -> str:
    healed = (
        f"full redundancy {result['seconds_to_full_redundancy']:.1f}s after node3 restarted"
        if result["healed"]
        else f"NOT healed after {result['seconds_to_full_redundancy']:.0f}s: "
        f"{result['keys_still_short']} keys short"
    )
    rows = []
    for phase, ops in result["latency"].items():
        for op, numbers in ops.items():
            rows.append(
                [
                    phase,
                    op,
                    str(numbers["count"]),
                    f"{numbers['p50_ms']:.1f}",
                    f"{numbers['p99_ms']:.1f}",
                ]
            )
    return "\n".join(
        [
            f"node3 down {result['down_seconds']:g}s under load: {result['keys_missed']} keys "
            f"of {format_bytes(result['object_size'])} written without it",
            healed,
            f"repair sent {result['repair_copies']:.0f} copies, "
            f"{format_bytes(int(result['repair_bytes']))}: {result['repair_copies_per_second']:g} "
            f"copies/s, {result['repair_mib_per_second']:g} MiB/s; {result['errors']} foreground errors",
            "",
            table(["PHASE", "OP", "COUNT", "P50 MS", "P99 MS"], rows, right=(2, 3, 4)),
        ]
    )
