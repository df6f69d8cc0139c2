"""`tessera bench`: throughput and latency of an S3 endpoint, as a client sees them.

Phases: PUT then GET of large objects (MiB/s), then PUT, GET and HEAD of small objects
(ops/s), each from a thread pool of boto3 calls spread round-robin over the endpoints.
GETs are checked against what was written. The bucket is emptied (and removed, if the
bench created it) at the end, also after errors or Ctrl-C.
"""

from __future__ import annotations

import argparse
import os
import re
import secrets
import sys
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tools import arguments
from tools.cluster import ClusterInfo, default_data_dir, is_alive
from tools.output import format_size, json_text, table

MiB = 1024 * 1024
_UNITS = {
    "": 1,
    "b": 1,
    "k": 1024,
    "kb": 1000,
    "kib": 1024,
    "m": 1024**2,
    "mb": 1000**2,
    "mib": 1024**2,
    "g": 1024**3,
    "gb": 1000**3,
    "gib": 1024**3,
}


def parse_size(text: str) -> int:
    """`64MiB`, `4KiB`, `1.5G`, `1000`: K/M/G and KiB/MiB/GiB are binary, KB/MB/GB decimal."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*", text)
    if not match or match.group(2).lower() not in _UNITS:
        raise argparse.ArgumentTypeError(f"not a size: {text!r} (try 64MiB, 4KiB, 1000)")
    return int(float(match.group(1)) * _UNITS[match.group(2).lower()])


def percentile(sorted_values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile of an ascending sequence (0 when empty)."""
    if not sorted_values:
        return 0.0
    rank = max(1, min(len(sorted_values), int(-(-q * len(sorted_values) // 100))))
    return sorted_values[rank - 1]


@dataclass
class PhaseResult:
    """What one phase did and how fast."""

    name: str
    count: int
    size: int
    seconds: float = 0.0
    bytes: int = 0
    errors: int = 0
    first_error: str | None = None
    latencies: list[float] = field(default_factory=list, repr=False)
    server_cpu: float | None = None  # CPU seconds of every server process, when known

    @property
    def ok(self) -> int:
        return self.count - self.errors

    @property
    def ops_per_s(self) -> float:
        return self.ok / self.seconds if self.seconds else 0.0

    @property
    def mib_per_s(self) -> float:
        return self.bytes / MiB / self.seconds if self.seconds else 0.0

    def latency_ms(self, q: float) -> float:
        return percentile(sorted(self.latencies), q) * 1000

    @property
    def cpu_ms_per_op(self) -> float | None:
        """Server CPU per successful request: on a shared machine, steadier than ops/s."""
        if self.server_cpu is None or not self.ok:
            return None
        return self.server_cpu / self.ok * 1000

    def to_dict(self) -> dict[str, Any]:
        return {
            "phase": self.name,
            "count": self.count,
            "size": self.size,
            "seconds": round(self.seconds, 3),
            "bytes": self.bytes,
            "mib_per_s": round(self.mib_per_s, 2),
            "ops_per_s": round(self.ops_per_s, 2),
            "p50_ms": round(self.latency_ms(50), 2),
            "p99_ms": round(self.latency_ms(99), 2),
            "errors": self.errors,
            "first_error": self.first_error,
            "server_cpu_seconds": None if self.server_cpu is None else round(self.server_cpu, 3),
            "server_cpu_ms_per_op": None
            if self.cpu_ms_per_op is None
            else round(self.cpu_ms_per_op, 3),
        }


@dataclass
class BenchConfig:
    endpoints: list[str]
    access_key: str
    secret_key: str
    region: str = "us-east-1"
    bucket: str | None = None
    concurrency: int = 8
    large_size: int = 64 * MiB
    large_count: int = 8
    small_size: int = 4 * 1024
    small_count: int = 2000
    # Processes whose CPU each phase reports (--from-cluster: the local cluster's).
    server_pids: dict[str, int] = field(default_factory=dict)
    # The CA that HTTPS endpoints are checked against (--from-cluster of a --tls
    # cluster: its own; otherwise AWS_CA_BUNDLE or the system's).
    ca_bundle: str | None = None


def server_cpu_seconds(pids: dict[str, int]) -> float:
    """utime + stime of the processes, from /proc (0 for one that is gone)."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0
    for pid in pids.values():
        try:
            with open(f"/proc/{pid}/stat", "rb") as fh:
                stat = fh.read()
        except OSError:
            continue
        fields = stat[stat.rfind(b")") + 2 :].split()
        total += int(fields[11]) + int(fields[12])
    return total / tick


class _Progress:
    """A self-overwriting line on stderr, at most a few times a second, only on a TTY."""

    def __init__(self) -> None:
        self.enabled = sys.stderr.isatty()
        self.last = 0.0

    def show(self, text: str, force: bool = False) -> None:
        now = time.monotonic()
        if self.enabled and (force or now - self.last >= 0.2):
            self.last = now
            sys.stderr.write("\r\033[K" + text)
            sys.stderr.flush()

    def clear(self) -> None:
        if self.enabled:
            sys.stderr.write("\r\033[K")
            sys.stderr.flush()


def make_client(endpoint: str, cfg: BenchConfig) -> Any:
    """A boto3 S3 client sized for the bench: one pooled connection per thread, no retries
    (a retried request would hide an error and skew latency), path-style addressing."""
    import boto3
    from botocore.config import Config

    session = boto3.session.Session(
        aws_access_key_id=cfg.access_key,
        aws_secret_access_key=cfg.secret_key,
        region_name=cfg.region,
    )
    config = Config(
        max_pool_connections=cfg.concurrency,
        retries={"mode": "standard", "total_max_attempts": 1},
        s3={"addressing_style": "path"},
        connect_timeout=10,
        read_timeout=120,
        tcp_keepalive=True,
    )
    return session.client("s3", endpoint_url=endpoint, config=config, verify=cfg.ca_bundle)


def run_phase(
    name: str,
    count: int,
    size: int,
    op: Callable[[int], int],
    concurrency: int,
    progress: _Progress | None = None,
) -> PhaseResult:
    """Run op(i) for i in range(count) on a thread pool; op returns the bytes it moved."""
    result = PhaseResult(name, count, size)
    lock = threading.Lock()

    def timed(i: int) -> None:
        t0 = time.perf_counter()
        try:
            moved = op(i)
        except Exception as exc:
            with lock:
                result.errors += 1
                result.first_error = result.first_error or f"{type(exc).__name__}: {exc}"
            return
        elapsed = time.perf_counter() - t0
        with lock:
            result.latencies.append(elapsed)
            result.bytes += moved

    start = time.perf_counter()
    with ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="bench") as pool:
        futures = [pool.submit(timed, i) for i in range(count)]
        try:
            for done, _ in enumerate(as_completed(futures), 1):
                if progress:
                    rate = result.bytes / MiB / max(time.perf_counter() - start, 1e-9)
                    progress.show(
                        f"{name}: {done}/{count}  {rate:.1f} MiB/s  errors {result.errors}"
                    )
        except BaseException:
            for f in futures:
                f.cancel()  # Ctrl-C: let the running requests finish, skip the rest
            raise
    result.seconds = time.perf_counter() - start
    if progress:
        progress.clear()
    return result


class _Checked:
    """Compares streamed chunks with the payload they should equal, without a copy."""

    def __init__(self, expected: memoryview) -> None:
        self.expected = expected
        self.offset = 0

    def feed(self, chunk: bytes) -> None:
        end = self.offset + len(chunk)
        if end > len(self.expected) or self.expected[self.offset : end] != chunk:
            raise ValueError(f"body differs from what was written near byte {self.offset}")
        self.offset = end

    def finish(self) -> int:
        if self.offset != len(self.expected):
            raise ValueError(f"body has {self.offset} bytes, wrote {len(self.expected)}")
        return self.offset


def run_bench(cfg: BenchConfig, progress: _Progress | None = None) -> tuple[str, list[PhaseResult]]:
    """Run every phase; returns the bucket used and the phase results."""
    from botocore.exceptions import ClientError

    clients = [make_client(e, cfg) for e in cfg.endpoints]
    s3 = clients[0]
    bucket = cfg.bucket or f"tessera-bench-{secrets.token_hex(4)}"
    prefix = f"bench-{secrets.token_hex(3)}/"  # our keys only, even in a shared bucket
    created = False
    try:
        kwargs: dict[str, Any] = {"Bucket": bucket}
        if cfg.region != "us-east-1":
            kwargs["CreateBucketConfiguration"] = {"LocationConstraint": cfg.region}
        s3.create_bucket(**kwargs)
        created = True
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") != "BucketAlreadyOwnedByYou":
            raise

    payload = os.urandom(max(cfg.large_size if cfg.large_count else 0, cfg.small_size))
    view = memoryview(payload)
    large, small = payload[: cfg.large_size], payload[: cfg.small_size]
    written: list[str] = []
    results: list[PhaseResult] = []

    def client(i: int) -> Any:
        return clients[i % len(clients)]

    def put(kind: str, body: bytes) -> Callable[[int], int]:
        def op(i: int) -> int:
            client(i).put_object(Bucket=bucket, Key=f"{prefix}{kind}/{i:06d}", Body=body)
            return len(body)

        return op

    def get(kind: str, size: int) -> Callable[[int], int]:
        def op(i: int) -> int:
            response = client(i).get_object(Bucket=bucket, Key=f"{prefix}{kind}/{i:06d}")
            check = _Checked(view[:size])
            for chunk in response["Body"].iter_chunks(MiB):
                check.feed(chunk)
            return check.finish()

        return op

    def head(i: int) -> int:
        response = client(i).head_object(Bucket=bucket, Key=f"{prefix}small/{i:06d}")
        if response["ContentLength"] != cfg.small_size:
            raise ValueError(f"HEAD says {response['ContentLength']} bytes")
        return 0

    phases: list[tuple[str, int, int, Callable[[int], int], str | None]] = []
    if cfg.large_count:
        phases += [
            ("PUT large", cfg.large_count, cfg.large_size, put("large", large), "large"),
            ("GET large", cfg.large_count, cfg.large_size, get("large", cfg.large_size), None),
        ]
    if cfg.small_count:
        phases += [
            ("PUT small", cfg.small_count, cfg.small_size, put("small", small), "small"),
            ("GET small", cfg.small_count, cfg.small_size, get("small", cfg.small_size), None),
            ("HEAD small", cfg.small_count, cfg.small_size, head, None),
        ]
    try:
        for name, count, size, op, kind in phases:
            if kind:
                written += [f"{prefix}{kind}/{i:06d}" for i in range(count)]
            before = server_cpu_seconds(cfg.server_pids)
            result = run_phase(name, count, size, op, cfg.concurrency, progress)
            if cfg.server_pids:
                result.server_cpu = server_cpu_seconds(cfg.server_pids) - before
            results.append(result)
    finally:
        cleanup(s3, bucket, written, delete_bucket=created)
    return bucket, results


def cleanup(s3: Any, bucket: str, keys: list[str], *, delete_bucket: bool) -> None:
    """Delete what the bench wrote (batch delete, one by one if unsupported); best effort."""
    from botocore.exceptions import BotoCoreError, ClientError

    for start in range(0, len(keys), 1000):
        batch = keys[start : start + 1000]
        try:
            s3.delete_objects(
                Bucket=bucket, Delete={"Objects": [{"Key": k} for k in batch], "Quiet": True}
            )
        except (ClientError, BotoCoreError):
            for key in batch:
                try:
                    s3.delete_object(Bucket=bucket, Key=key)
                except (ClientError, BotoCoreError):
                    pass
    if delete_bucket:
        try:
            s3.delete_bucket(Bucket=bucket)
        except (ClientError, BotoCoreError) as exc:
            print(f"bench: could not delete bucket {bucket}: {exc}", file=sys.stderr)


def render(cfg: BenchConfig, bucket: str, results: list[PhaseResult]) -> str:
    """The results as a table."""
    more = f" (+{len(cfg.endpoints) - 1} more)" if len(cfg.endpoints) > 1 else ""
    lines = [
        f"Tessera bench: {cfg.endpoints[0]}{more}, bucket {bucket}, concurrency {cfg.concurrency}",
        "",
    ]
    header = ("phase", "count", "size", "seconds", "MiB/s", "ops/s", "p50 ms", "p99 ms", "errors")
    cpu = any(r.server_cpu is not None for r in results)
    if cpu:
        header += ("server CPU ms/op",)
    rows = []
    for r in results:
        row = (
            r.name,
            str(r.count),
            format_size(r.size),
            f"{r.seconds:.2f}",
            f"{r.mib_per_s:.1f}",
            f"{r.ops_per_s:.1f}",
            f"{r.latency_ms(50):.1f}",
            f"{r.latency_ms(99):.1f}",
            str(r.errors),
        )
        if cpu:
            per_op = r.cpu_ms_per_op
            row += ("-" if per_op is None else f"{per_op:.2f}",)
        rows.append(row)
    lines.append(table(header, rows, right=range(1, len(header))))
    for r in results:
        if r.first_error:
            lines.append(f"  {r.name}: {r.errors} error(s), first: {r.first_error}")
    return "\n".join(lines)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The `tessera bench` flags."""
    target = parser.add_argument_group("target")
    target.add_argument(
        "--endpoint",
        action="append",
        help="S3 endpoint URL; repeat to spread requests over several gateways",
    )
    target.add_argument("--access-key", help="default: $AWS_ACCESS_KEY_ID")
    target.add_argument("--secret-key", help="default: $AWS_SECRET_ACCESS_KEY")
    target.add_argument("--region", help="default: the cluster's, $AWS_DEFAULT_REGION, us-east-1")
    target.add_argument(
        "--from-cluster",
        action="store_true",
        help="take endpoints, keys and region from the local cluster's cluster.json",
    )
    target.add_argument(
        "--data-dir",
        type=Path,
        default=Path(default_data_dir()),
        help="local cluster directory for --from-cluster (default: $TESSERA_DATA_DIR or ./.tessera)",
    )
    load = parser.add_argument_group("load")
    load.add_argument("--bucket", help="bucket to use (default: a new one, removed afterwards)")
    load.add_argument("--concurrency", type=arguments.positive, default=8, help="parallel requests")
    load.add_argument("--large-size", type=parse_size, default=64 * MiB, help="default 64MiB")
    load.add_argument("--large-count", type=arguments.count, default=8, help="default 8 (0 skips)")
    load.add_argument("--small-size", type=parse_size, default=4096, help="default 4KiB")
    load.add_argument(
        "--small-count", type=arguments.count, default=2000, help="default 2000 (0 skips)"
    )
    parser.add_argument("--json", action="store_true", help="print results as JSON")


def config_from_args(args: argparse.Namespace) -> BenchConfig:
    """Resolve the target: flags, then --from-cluster, then the environment."""
    endpoints = list(args.endpoint or [])
    access, secret, region = args.access_key, args.secret_key, args.region
    server_pids: dict[str, int] = {}
    ca_bundle = None
    if args.from_cluster:
        info = ClusterInfo.load(args.data_dir)
        ca_bundle = str(info.tls_files()[0]) if info.tls else None
        server_pids = {n: p.pid for n, p in info.processes.items() if p.pid and is_alive(p)}
        endpoints = endpoints or list(info.endpoints)
        access, secret = access or info.access_key, secret or info.secret_key
        region = region or info.region
    access = access or os.environ.get("AWS_ACCESS_KEY_ID")
    secret = secret or os.environ.get("AWS_SECRET_ACCESS_KEY")
    region = region or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"
    missing = [
        what
        for what, value in (
            ("--endpoint", endpoints),
            ("--access-key", access),
            ("--secret-key", secret),
        )
        if not value
    ]
    if missing:
        raise SystemExit(f"tessera bench: missing {', '.join(missing)} (or use --from-cluster)")
    return BenchConfig(
        endpoints=endpoints,
        access_key=access,
        secret_key=secret,
        region=region,
        bucket=args.bucket,
        concurrency=args.concurrency,
        large_size=args.large_size,
        large_count=args.large_count,
        small_size=args.small_size,
        small_count=args.small_count,
        server_pids=server_pids,
        ca_bundle=ca_bundle,
    )


def run(args: argparse.Namespace) -> int:
    """Carry out `tessera bench`; exit status 1 if any request failed."""
    from botocore.exceptions import BotoCoreError, ClientError

    cfg = config_from_args(args)
    try:
        bucket, results = run_bench(cfg, _Progress())
    except (BotoCoreError, ClientError) as exc:
        print(f"tessera bench: error: {exc}", file=sys.stderr)
        return 1
    if args.json:
        data = {
            "endpoints": cfg.endpoints,
            "bucket": bucket,
            "concurrency": cfg.concurrency,
            "phases": [r.to_dict() for r in results],
        }
        print(json_text(data))
    else:
        print(render(cfg, bucket, results))
    return 1 if any(r.errors for r in results) else 0
