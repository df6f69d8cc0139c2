"""Chaos, then convergence: writers PUT, overwrite and DELETE through both gateways while
storage nodes and gateways are SIGKILLed, SIGSTOPped and restarted; once the faults stop,
the cluster must return by itself to full redundancy:

- every acknowledged write reads back with its bytes, every acknowledged delete is gone
  (a key whose last operation failed may hold that operation's outcome or the one before);
- every key's newest version is on exactly 3 storage nodes, counted from the nodes' own
  state over gRPC, within CONVERGE seconds.

Each writer owns its keys, so the last acknowledged operation on a key is its truth.
Clients never retry. Passes run every second here (TESSERA_SYNC_INTERVAL).
"""

from __future__ import annotations

import hashlib
import random
import signal
import threading
import time
from dataclasses import dataclass, field

from botocore.exceptions import BotoCoreError, ClientError

from tests.helpers import make_client
from tools import cluster as local
from tools.cluster import ClusterInfo
from tools.redundancy import node_stubs, wait_full

CLUSTER_ENV = {"TESSERA_SYNC_INTERVAL": "1"}
NO_RETRY = {"mode": "standard", "total_max_attempts": 1}
WRITERS = 4
KEYS_PER_WRITER = 40
CHAOS_SECONDS = 30.0
CONVERGE = 90.0
SIZES = [100, 3000, 40_000, 140_000, 600_000]
GONE = "deleted"


def _body(seed: str, size: int) -> bytes:
    return random.Random(seed).randbytes(size)


def _digest(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


@dataclass
class KeyState:
    """What a key may hold: its last acknowledged outcome (None: never written) and the
    outcomes of operations that failed after it (they may have landed or not)."""

    acked: str | None = None
    maybe: set[str] = field(default_factory=set)

    def record(self, outcome: str, ok: bool) -> None:
        if ok:
            self.acked, self.maybe = outcome, set()
        else:
            self.maybe.add(outcome)

    def allowed(self) -> set[str | None]:
        return {self.acked, *self.maybe}


def _writer(
    info: ClusterInfo, bucket: str, index: int, stop: threading.Event, states: dict[str, KeyState]
) -> tuple[int, int]:
    clients = [
        make_client(url, info.access_key, info.secret_key, info.region, retries=NO_RETRY)
        for url in info.endpoints
    ]
    rng = random.Random(index)
    keys = [f"w{index}/k{i:03d}" for i in range(KEYS_PER_WRITER)]
    acked = failed = 0
    op = 0
    while not stop.is_set():
        key = rng.choice(keys)
        client = rng.choice(clients)
        state = states[key]
        op += 1
        try:
            if state.acked not in (None, GONE) and rng.random() < 0.2:
                outcome = GONE
                client.delete_object(Bucket=bucket, Key=key)
            else:
                body = _body(f"{key}#{op}", rng.choice(SIZES))
                outcome = _digest(body)
                client.put_object(Bucket=bucket, Key=key, Body=body)
            state.record(outcome, True)
            acked += 1
        except (BotoCoreError, ClientError):
            state.record(outcome, False)
            failed += 1
            time.sleep(0.05)
    return acked, failed


def _faults(info: ClusterInfo, stop: threading.Event, log: list[str]) -> None:
    """Kill, pause and restart nodes and gateways, one fault at a time, until stop."""
    rng = random.Random(7)
    nodes = [n for n, p in info.processes.items() if p.role == "node"]
    gateways = [n for n, p in info.processes.items() if p.role == "gateway"]
    while not stop.is_set():
        stop.wait(rng.uniform(1.0, 2.0))
        kind = rng.choice(["kill-node", "kill-node", "stop-node", "kill-gateway"])
        name = rng.choice(gateways if kind == "kill-gateway" else nodes)
        if kind == "stop-node":
            local.kill(info, name, signal.SIGSTOP)
            time.sleep(rng.uniform(1.0, 3.0))
            local.kill(info, name, signal.SIGCONT)
        else:
            local.kill(info, name, signal.SIGKILL)
            time.sleep(rng.uniform(0.5, 3.0))
            local.start(info, name)
        log.append(f"{kind} {name}")


def test_chaos_then_every_key_back_to_three_copies(cluster: ClusterInfo, bucket: str) -> None:
    states = {f"w{w}/k{i:03d}": KeyState() for w in range(WRITERS) for i in range(KEYS_PER_WRITER)}
    stop = threading.Event()
    counts: list[tuple[int, int]] = []
    faults: list[str] = []

    def write(index: int) -> None:
        counts.append(_writer(cluster, bucket, index, stop, states))

    threads = [threading.Thread(target=write, args=(i,)) for i in range(WRITERS)]
    chaos = threading.Thread(target=_faults, args=(cluster, stop, faults))
    for thread in [*threads, chaos]:
        thread.start()
    time.sleep(CHAOS_SECONDS)
    stop.set()
    for thread in [*threads, chaos]:
        thread.join(timeout=60)
    for name, proc in cluster.processes.items():  # everything up, nothing paused
        if local.is_alive(proc):
            local.kill(cluster, name, signal.SIGCONT)
        else:
            local.start(cluster, name)
    acked = sum(a for a, _ in counts)
    failed = sum(f for _, f in counts)
    assert acked > 100, f"only {acked} operations acknowledged ({failed} failed)"

    written = [key for key, state in states.items() if state.acked is not None or state.maybe]
    short, took = wait_full(node_stubs(cluster), bucket, written, timeout=CONVERGE)
    assert not short, f"{len(short)} keys without exactly 3 copies after {took:.1f}s: {short}"

    reader = make_client(
        cluster.endpoints[0], cluster.access_key, cluster.secret_key, cluster.region
    )
    wrong = []
    for key in written:
        try:
            seen: str | None = _digest(reader.get_object(Bucket=bucket, Key=key)["Body"].read())
        except ClientError as exc:
            if exc.response["Error"]["Code"] != "NoSuchKey":
                raise
            seen = GONE
        allowed = states[key].allowed()
        if seen not in allowed and not (seen == GONE and None in allowed):
            wrong.append((key, seen, allowed))
    assert not wrong, wrong[:5]
    print(
        f"\n[convergence] {acked} acknowledged, {failed} failed operations, faults: "
        f"{', '.join(faults)}; {len(written)} keys at 3 copies {took:.1f}s after the faults"
    )
