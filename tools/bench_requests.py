"""`tessera bench-requests`: server CPU per small S3 request on the local cluster.

A client that costs almost nothing, so that on a small machine the server's share is
what is measured: every request is signed (SigV4, botocore) before the clock starts,
then sent as raw HTTP/1.1 over keep-alive connections. Phases: PUT of small objects,
GET (bodies checked), HEAD, and ListObjectsV2 pages of up to 1000 keys. For each,
requests per second and CPU milliseconds per request of the gateways, the storage
nodes, etcd and all of them, read from /proc for the processes in cluster.json (so
only a cluster on this machine, `tessera cluster up`, can be measured).
"""

from __future__ import annotations

import argparse
import asyncio
import secrets
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from tools import cluster as local
from tools.bench import parse_size, server_cpu_seconds
from tools.cluster_state import ClusterInfo, role_of
from tools.output import json_text, table

PHASES = ("PUT", "GET", "HEAD", "LIST")
LIST_PAGE = 1000


@dataclass
class Signed:
    """One request, ready to send."""

    method: str
    wire: bytes
    expect_body: bytes | None = None  # a GET's body must be exactly this


@dataclass
class PhaseCost:
    name: str
    requests: int
    seconds: float = 0.0
    cpu: dict[str, float] = field(default_factory=dict)  # process group -> cpu seconds

    @property
    def rate(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    def ms_per_request(self, group: str) -> float:
        return 1000 * self.cpu.get(group, 0.0) / self.requests if self.requests else 0.0


def serialize(method: str, url: str, headers: dict[str, str], body: bytes) -> bytes:
    """The request as HTTP/1.1 bytes: request line, Host, the signed headers, body."""
    parts = urlsplit(url)
    target = parts.path + (f"?{parts.query}" if parts.query else "")
    lines = [f"{method} {target} HTTP/1.1", f"Host: {parts.netloc}"]
    lines += [f"{k}: {v}" for k, v in headers.items() if k.lower() != "host"]
    if body and not any(k.lower() == "content-length" for k in headers):
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def parse_head(head: bytes) -> tuple[int, int]:
    """(status, content length) of a response head."""
    status = int(head.split(b" ", 2)[1])
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    return status, length


class Signer:
    """Signs requests for one endpoint with botocore's S3 SigV4 signer."""

    def __init__(self, endpoint: str, access_key: str, secret_key: str, region: str) -> None:
        from botocore.auth import S3SigV4Auth
        from botocore.credentials import Credentials

        self.endpoint = endpoint.rstrip("/")
        self._auth = S3SigV4Auth(Credentials(access_key, secret_key), "s3", region)

    def sign(self, method: str, path: str, body: bytes = b"") -> bytes:
        from botocore.awsrequest import AWSRequest

        request = AWSRequest(method=method, url=self.endpoint + path, data=body)
        self._auth.add_auth(request)
        prepared = request.prepare()
        return serialize(method, prepared.url, dict(prepared.headers), body)


async def send_all(
    endpoint: str, requests: list[Signed], concurrency: int, ok: tuple[int, ...]
) -> None:
    """Send every request over `concurrency` keep-alive connections; raise on a status
    outside ok or a GET body that differs from what was written."""
    parts = urlsplit(endpoint)
    pending = iter(requests)

    async def connection() -> None:
        reader, writer = await asyncio.open_connection(parts.hostname, parts.port or 80)
        try:
            for request in pending:
                writer.write(request.wire)
                status, length = parse_head(await reader.readuntil(b"\r\n\r\n"))
                body = b""
                if request.method != "HEAD" and length:
                    body = await reader.readexactly(length)
                if status not in ok:
                    raise RuntimeError(f"{request.method} answered {status}: {body[:200]!r}")
                if request.expect_body is not None and body != request.expect_body:
                    raise RuntimeError(f"a GET returned {len(body)} bytes that were not written")
        finally:
            writer.close()

    await asyncio.gather(*(connection() for _ in range(concurrency)))


def process_groups(info: ClusterInfo) -> dict[str, dict[str, int]]:
    """Process ids of the cluster by group: gateways, storage nodes, etcd."""
    groups: dict[str, dict[str, int]] = {"gateways": {}, "nodes": {}, "etcd": {}}
    for name, proc in info.processes.items():
        role = role_of(name)
        group = "gateways" if role == "gateway" else "nodes" if role == "node" else "etcd"
        if proc.pid is not None:
            groups[group][name] = proc.pid
    return groups


def measure(
    name: str,
    run: Callable[[], None],
    requests: int,
    groups: dict[str, dict[str, int]],
) -> PhaseCost:
    """Run one phase; wall time and CPU seconds per process group."""
    before = {g: server_cpu_seconds(pids) for g, pids in groups.items()}
    start = time.perf_counter()
    run()
    cost = PhaseCost(name, requests, time.perf_counter() - start)
    cost.cpu = {g: server_cpu_seconds(pids) - before[g] for g, pids in groups.items()}
    cost.cpu["all"] = sum(cost.cpu.values())
    return cost


def run_phases(
    info: ClusterInfo, count: int, size: int, concurrency: int, rounds: int
) -> list[PhaseCost]:
    endpoint = info.endpoints[0]
    signer = Signer(endpoint, info.access_key, info.secret_key, info.region)
    groups = {g: pids for g, pids in process_groups(info).items() if pids}
    bucket = f"bench-requests-{secrets.token_hex(4)}"
    go = asyncio.run
    go(send_all(endpoint, [Signed("PUT", signer.sign("PUT", f"/{bucket}"))], 1, (200,)))
    body = secrets.token_bytes(size)
    keys = [f"k{i:06d}" for i in range(count)]
    costs: list[PhaseCost] = []
    try:
        for _ in range(rounds):
            batches = {
                "PUT": [Signed("PUT", signer.sign("PUT", f"/{bucket}/{k}", body)) for k in keys],
                "GET": [Signed("GET", signer.sign("GET", f"/{bucket}/{k}"), body) for k in keys],
                "HEAD": [Signed("HEAD", signer.sign("HEAD", f"/{bucket}/{k}")) for k in keys],
                "LIST": [
                    Signed("GET", signer.sign("GET", f"/{bucket}?list-type=2&max-keys={LIST_PAGE}"))
                    for _ in range(max(1, count // 100))
                ],
            }
            for phase in PHASES:
                batch = batches[phase]
                costs.append(
                    measure(
                        phase,
                        lambda b=batch: go(send_all(endpoint, b, concurrency, (200,))),
                        len(batch),
                        groups,
                    )
                )
                _progress(f"{phase}: {costs[-1].rate:,.0f} requests/s")
    finally:
        _empty(info, bucket, keys)
    return costs


def _empty(info: ClusterInfo, bucket: str, keys: list[str]) -> None:
    import boto3

    s3 = boto3.client(
        "s3",
        endpoint_url=info.endpoints[0],
        aws_access_key_id=info.access_key,
        aws_secret_access_key=info.secret_key,
        region_name=info.region,
    )
    for start in range(0, len(keys), 1000):
        chunk = keys[start : start + 1000]
        s3.delete_objects(
            Bucket=bucket, Delete={"Objects": [{"Key": k} for k in chunk], "Quiet": True}
        )
    s3.delete_bucket(Bucket=bucket)


def _progress(text: str) -> None:
    if sys.stderr.isatty():
        print(f"\r{text:<60}", end="", file=sys.stderr, flush=True)


def render(costs: list[PhaseCost], size: int) -> str:
    header = ["phase", "requests/s", "gateways", "nodes", "etcd", "all", "(CPU ms per request)"]
    rows = [
        [
            c.name,
            f"{c.rate:,.1f}",
            *(f"{c.ms_per_request(g):.2f}" for g in ("gateways", "nodes", "etcd", "all")),
            "",
        ]
        for c in costs
    ]
    note = (
        f"{size} B objects; LIST = ListObjectsV2 pages of up to {LIST_PAGE} keys. "
        "Requests signed before the clock starts; CPU from /proc."
    )
    return table(header, rows, right=range(1, 6)) + "\n" + note


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=Path(local.default_data_dir()),
        help="the local cluster to measure (default: $TESSERA_DATA_DIR or ./.tessera)",
    )
    parser.add_argument("--count", type=int, default=2000, help="objects (default 2000)")
    parser.add_argument("--size", type=parse_size, default=4096, help="default 4KiB")
    parser.add_argument("--concurrency", type=int, default=32, help="connections (default 32)")
    parser.add_argument("--rounds", type=int, default=1, help="times to run every phase")
    parser.add_argument("--json", action="store_true", help="print results as JSON")


def run(args: argparse.Namespace) -> int:
    try:
        info = ClusterInfo.load(args.data_dir)
    except (OSError, ValueError, local.ClusterError) as exc:
        print(
            f"tessera bench-requests: no local cluster in {args.data_dir}: {exc}", file=sys.stderr
        )
        return 2
    if args.count < 1 or args.concurrency < 1 or args.rounds < 1:
        print("tessera bench-requests: counts must be at least 1", file=sys.stderr)
        return 2
    costs = run_phases(info, args.count, args.size, args.concurrency, args.rounds)
    _progress("")
    if args.json:
        print(
            json_text(
                [
                    {
                        "phase": c.name,
                        "requests": c.requests,
                        "seconds": round(c.seconds, 3),
                        "requests_per_second": round(c.rate, 1),
                        "cpu_ms_per_request": {
                            g: round(c.ms_per_request(g), 3) for g in sorted(c.cpu)
                        },
                    }
                    for c in costs
                ]
            )
        )
    else:
        print(render(costs, args.size))
    return 0
