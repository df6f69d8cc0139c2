"""Chaos: processes die (SIGKILL) or hang (SIGSTOP) in the middle of operations.

The contract under test, paraphrased from DESIGN.md: a write is acknowledged only once a
quorum of replicas holds it durably, and a read from any gateway sees the newest acknowledged
write ("Placement and consistency"), so a process that dies loses no acknowledged write; an
object becomes visible only when it is complete and verified ("Rules for the data path"), so
a process killed mid-operation leaves no half-visible object.

This module kills, pauses and restarts processes of its own cluster (the module-scoped
`cluster` fixture), so it must not share one with other modules. Each test puts back what
it killed or paused in a `finally`, and the `live` fixture restarts (or SIGCONTs) anything
a failed test left behind; the fixture's teardown stops the cluster by the PIDs that
cluster.json holds, which `kill` and `start` keep current.

Clients never retry (`total_max_attempts: 1`): a request that needed a retry to succeed
counts as a failure a user would have seen. Every wait is a poll with a deadline, and every
loop is bounded by a count and a time limit.

Run with `-s` to see the timings each test prints.
"""

from __future__ import annotations

import contextlib
import hashlib
import http.client
import os
import random
import signal
import sqlite3
import statistics
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from botocore.exceptions import BotoCoreError, ClientError

from coordinator import keys
from coordinator.etcd import connect
from storage_node.diskstore import INLINE_LIMIT
from tests.helpers import make_client
from tools import cluster as local
from tools.cluster import ClusterInfo

NO_RETRY = {"mode": "standard", "total_max_attempts": 1}
MiB = 1 << 20
BIG = 64 * MiB  # the large PUT that gets interrupted half way
SEND_PIECE = 256 * 1024  # the raw streaming client sends the body in pieces this big
# Sizes cross the inline limit (128 KiB), the small-PUT limit (256 KiB) and the 1 MiB
# chunk boundary, and include the empty object.
SIZES = [0, 1, 4096, 100_000, 131_073, 300_001, 1_048_576, 1_048_577, 2_500_000]
POLL = 0.05


# --- helpers ----------------------------------------------------------------------------


def _clients(info: ClusterInfo, **config: Any) -> list[Any]:
    """Fresh boto3 clients, one per gateway, that never retry."""
    return [
        make_client(url, info.access_key, info.secret_key, info.region, retries=NO_RETRY, **config)
        for url in info.endpoints
    ]


def _md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


def _body(seed: int | str, size: int) -> bytes:
    return random.Random(seed).randbytes(size)


def _wait_for(predicate: Callable[[], bool], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while True:
        if predicate():
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(POLL)


def _node_dir(info: ClusterInfo, name: str) -> Path:
    data_dir = info.processes[name].data_dir
    assert data_dir is not None
    return data_dir


def _tmp_entries(info: ClusterInfo) -> dict[str, list[str]]:
    """Per storage node, what its tmp/ holds (writes in progress)."""
    return {n: sorted(p.name for p in (_node_dir(info, n) / "tmp").iterdir()) for n in info.nodes}


def _data_files(info: ClusterInfo, name: str) -> set[str]:
    """Names (version ids) of the committed data files in a node's objects/."""
    return {p.name for p in (_node_dir(info, name) / "objects").glob("*/*")}


def _indexed_files(info: ClusterInfo, name: str) -> dict[str, tuple[str, str, int]]:
    """Data file name → (bucket, key, size) for every data file a live row of a node's index
    owns: its own file (not a tombstone, not inline), or the segment files of a composed
    (multipart) version. Read-only: a read-only connection never checkpoints or removes the
    WAL, so it does not change what the node finds on disk."""
    path = _node_dir(info, name) / "index.sqlite3"
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=10)
    try:
        columns = {c[1] for c in conn.execute("PRAGMA table_info(objects)")}
        segments = "segments" if "segments" in columns else "NULL"
        rows = conn.execute(
            f"SELECT version_id, bucket, key, size, {segments} FROM objects "
            "WHERE deleted=0 AND inline IS NULL"
        ).fetchall()
    finally:
        conn.close()
    files: dict[str, tuple[str, str, int]] = {}
    for version_id, bucket, key, size, packed in rows:
        if packed is None:
            files[version_id] = (bucket, key, size)
        else:
            from storage_node.index import unpack_segments

            files.update({v: (bucket, key, n) for v, n in unpack_segments(bytes(packed))})
    return files


def _disk_mismatches(info: ClusterInfo, names: list[str]) -> list[str]:
    """Data files no live index row names (orphans), and rows whose file is missing."""
    problems = []
    for name in names:
        files = _data_files(info, name)
        indexed = _indexed_files(info, name)
        orphans = sorted(files - set(indexed))
        missing = sorted(indexed[v] for v in set(indexed) - files)
        if orphans:
            problems.append(f"{name}: {len(orphans)} orphan data file(s) in objects/: {orphans}")
        if missing:
            problems.append(f"{name}: index rows without a data file: {missing}")
    return problems


def _bucket_files(info: ClusterInfo, name: str, bucket: str) -> dict[str, int]:
    """key → size of the objects of bucket that have a data file on node name."""
    return {k: s for b, k, s in _indexed_files(info, name).values() if b == bucket}


def _failure(info: ClusterInfo, what: str, exc: Exception) -> str:
    """`what: exc`, and for an S3 error the gateway log lines of its request (which
    replica answered what), so a rare failure explains itself."""
    text = f"{what}: {exc}"
    request_id = getattr(exc, "response", {}).get("ResponseMetadata", {}).get("RequestId")
    if not request_id:
        return text
    for name in info.gateways:
        log_path = info.processes[name].log_path
        with contextlib.suppress(OSError):
            lines = [ln for ln in log_path.read_text().splitlines() if request_id in ln]
            text += "".join(f"\n      {name}: {ln}" for ln in lines)
    return text


def _read(client: Any, bucket: str, key: str) -> tuple[bytes, str]:
    """(body, ETag) of a GET."""
    got = client.get_object(Bucket=bucket, Key=key)
    return got["Body"].read(), got["ETag"].strip('"')


def _read_or_none(client: Any, bucket: str, key: str) -> bytes | None:
    """The body, or None on NoSuchKey."""
    try:
        return _read(client, bucket, key)[0]
    except ClientError as exc:
        if exc.response["Error"]["Code"] == "NoSuchKey":
            return None
        raise


def _listing(client: Any, bucket: str) -> dict[str, int]:
    listed: dict[str, int] = {}
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        listed.update({o["Key"]: o["Size"] for o in page.get("Contents", [])})
    return listed


def _name(client: Any) -> str:
    return client.meta.endpoint_url


def _presigned_put(client: Any, bucket: str, key: str) -> str:
    return client.generate_presigned_url(
        "put_object", Params={"Bucket": bucket, "Key": key}, ExpiresIn=600
    )


def _sigkill_together(info: ClusterInfo, names: list[str]) -> None:
    """SIGKILL several daemons at the same instant (one killpg each, back to back), then
    wait until they are gone. `local.start` starts them again (it sees them dead)."""
    procs = [info.processes[n] for n in names]
    for proc in procs:
        assert proc.pid and os.getpgid(proc.pid) == proc.pid  # each leads its own group
    for proc in procs:
        os.killpg(proc.pid, signal.SIGKILL)
    assert _wait_for(lambda: not any(local.is_alive(p) for p in procs), 10), names


def _summary(durations: list[float]) -> str:
    if not durations:
        return "n=0"
    return (
        f"n={len(durations)} median={statistics.median(durations):.3f}s max={max(durations):.3f}s"
    )


class StreamingPut(threading.Thread):
    """A PUT of body to a presigned URL with http.client: the headers, then the body in
    SEND_PIECE pieces. After pause_at bytes it sets `paused` and waits for `resume` (at
    most 30 s), so a test can kill something while the stream is provably half way."""

    def __init__(self, url: str, body: bytes, pause_at: int) -> None:
        super().__init__(daemon=True)
        self.url = urlsplit(url)
        self.body = body
        self.pause_at = pause_at
        self.paused = threading.Event()
        self.resume = threading.Event()
        self.sent = 0
        self.status: int | None = None
        self.headers: dict[str, str] = {}
        self.reply = b""
        self.error: BaseException | None = None

    def run(self) -> None:
        conn = http.client.HTTPConnection(self.url.hostname, self.url.port, timeout=60)
        try:
            conn.putrequest("PUT", f"{self.url.path}?{self.url.query}", skip_accept_encoding=True)
            conn.putheader("Content-Length", str(len(self.body)))
            conn.endheaders()
            view = memoryview(self.body)
            try:
                while self.sent < len(view):
                    if self.sent >= self.pause_at and not self.paused.is_set():
                        self.paused.set()
                        self.resume.wait(30)
                    piece = view[self.sent : self.sent + SEND_PIECE]
                    conn.send(piece)
                    self.sent += len(piece)
            except OSError as exc:
                # The server may have answered early and closed: read that answer if any.
                self.error = exc
            response = conn.getresponse()
            self.status = response.status
            self.headers = {k.lower(): v for k, v in response.getheaders()}
            self.reply = response.read()
        except (OSError, http.client.HTTPException) as exc:
            self.error = self.error or exc
        finally:
            self.paused.set()
            conn.close()

    def outcome(self) -> str:
        return f"status={self.status} sent={self.sent} error={self.error!r} reply={self.reply!r}"


# --- fixtures ---------------------------------------------------------------------------


@pytest.fixture
def live(cluster: ClusterInfo) -> ClusterInfo:
    """The cluster as cluster.json has it now, with every process running and none paused
    (a test that failed half way may have left one killed or stopped)."""
    info = ClusterInfo.load(cluster.data_dir)
    for name, proc in info.processes.items():  # etcd, nodes, then gateways
        if local.is_alive(proc):
            local.kill(info, name, signal.SIGCONT)  # a no-op unless it was paused
        else:
            local.start(info, name)
    return info


# --- tests ------------------------------------------------------------------------------


def test_gateway_sigkill_mid_put_leaves_no_trace(live: ClusterInfo, bucket: str) -> None:
    """Two 64 MiB PUTs stream through gateway1 (one overwrites a key, one creates a key);
    gateway1 dies half way. Nothing of them may become visible or stay on disk."""
    started = time.monotonic()
    gateway1, gateway2 = _clients(live)
    old = _body("old", 5 * MiB)
    gateway1.put_object(Bucket=bucket, Key="existing", Body=old)
    # The PUT returned after 2 of 3 replicas; the third may still be writing.
    assert _wait_for(lambda: _tmp_entries(live) == {n: [] for n in live.nodes}, 10)
    files_before = {n: _data_files(live, n) for n in live.nodes}

    puts = {
        key: StreamingPut(_presigned_put(gateway1, bucket, key), _body(key, BIG), BIG // 2)
        for key in ("existing", "fresh")
    }
    for put in puts.values():
        put.start()
    try:
        for key, put in puts.items():
            assert put.paused.wait(30), f"PUT {key} never reached half way"
            assert put.error is None and put.status is None, f"PUT {key}: {put.outcome()}"
        # Bytes are flowing to every replica: each node holds both streams in tmp/.
        assert _wait_for(lambda: all(len(t) >= 2 for t in _tmp_entries(live).values()), 10), (
            f"the streams did not reach the storage nodes: tmp/ holds {_tmp_entries(live)}"
        )
        local.kill(live, "gateway1", signal.SIGKILL)
        killed_at = time.monotonic()
    finally:
        for put in puts.values():
            put.resume.set()
        for put in puts.values():
            put.join(60)

    try:
        for key, put in puts.items():
            assert not put.is_alive()
            # The gateway died before the body ended: no answer can have come back.
            assert put.status is None, f"PUT {key} was answered: {put.outcome()}"

        # The aborted streams are discarded on every node...
        assert _wait_for(lambda: not any(_tmp_entries(live).values()), 10), (
            f"tmp/ still holds aborted writes 10 s after the gateway died: {_tmp_entries(live)}"
        )
        tmp_clean_after = time.monotonic() - killed_at
        # ...no data file appeared or disappeared, and the index names exactly the files.
        for node in live.nodes:
            after = _data_files(live, node)
            assert after == files_before[node], (
                f"{node}: objects/ gained {sorted(after - files_before[node])}, "
                f"lost {sorted(files_before[node] - after)}"
            )
        assert not _disk_mismatches(live, live.nodes)

        # Through the other gateway: the old content, and no trace of the new key.
        body, etag = _read(gateway2, bucket, "existing")
        assert _md5(body) == _md5(old) and etag == _md5(old), "existing: not the OLD content"
        assert _read_or_none(gateway2, bucket, "fresh") is None, "fresh: a partial object"
        listed = _listing(gateway2, bucket)
        assert listed == {"existing": len(old)}
        # Every replica holds a data file for exactly the listed objects too big to inline.
        with_files = {k: size for k, size in listed.items() if size > INLINE_LIMIT}
        for node in live.nodes:
            assert _bucket_files(live, node, bucket) == with_files, node
    finally:
        local.start(live, "gateway1")

    restarted = _clients(live)[0]
    body, etag = _read(restarted, bucket, "existing")
    assert _md5(body) == _md5(old) and etag == _md5(old)
    assert _read_or_none(restarted, bucket, "fresh") is None
    assert _listing(restarted, bucket) == {"existing": len(old)}
    print(
        f"\n[gateway SIGKILL mid-PUT] tmp/ empty {tmp_clean_after:.2f}s after the kill; "
        f"test took {time.monotonic() - started:.1f}s"
    )


def test_storage_node_sigkill_mid_put(live: ClusterInfo, bucket: str) -> None:
    """A 64 MiB PUT overwrites a key through gateway1; node3 dies half way. The PUT may
    succeed on the other two replicas or fail with a 5xx, never succeed with wrong data."""
    started = time.monotonic()
    gateway1, gateway2 = clients = _clients(live)
    victim = "node3"
    others = [n for n in live.nodes if n != victim]
    old = _body("old-victim", 3 * MiB)
    new = _body("new-victim", BIG)
    gateway1.put_object(Bucket=bucket, Key="victim", Body=old)

    put = StreamingPut(_presigned_put(gateway1, bucket, "victim"), new, BIG // 2)
    put.start()
    try:
        assert put.paused.wait(30), "the PUT never reached half way"
        assert put.error is None and put.status is None, put.outcome()
        assert _wait_for(lambda: bool(_tmp_entries(live)[victim]), 10), (
            f"the stream did not reach {victim}: tmp/ holds {_tmp_entries(live)}"
        )
        try:
            local.kill(live, victim, signal.SIGKILL)
            killed_at = time.monotonic()
        finally:
            put.resume.set()
            put.join(60)
        assert not put.is_alive(), "the PUT still runs 60 s after the node died"
        put_seconds = time.monotonic() - killed_at

        if put.status == 200:
            assert put.headers.get("etag", "").strip('"') == _md5(new), put.outcome()
            expected = {_md5(new)}
        else:
            assert put.status is not None and 500 <= put.status < 600, (
                f"the PUT neither succeeded nor failed with a 5xx: {put.outcome()}"
            )
            expected = {_md5(old), _md5(new)}  # an unacknowledged write may or may not land
        for client in clients:
            body, etag = _read(client, bucket, "victim")
            assert _md5(body) in expected and etag == _md5(body), (
                f"GET via {_name(client)} after PUT {put.status}: {len(body)} bytes, "
                f"md5 {_md5(body)}, ETag {etag}; old={_md5(old)} new={_md5(new)}"
            )
        # The surviving replicas keep nothing half written.
        clean = _wait_for(lambda: not any(_tmp_entries(live)[n] for n in others), 10)
        assert clean, f"tmp/ of the surviving nodes: {_tmp_entries(live)}"
        assert not _disk_mismatches(live, others)
    finally:
        local.start(live, victim)

    # Recovery emptied the restarted node's tmp/ and left no orphan data file.
    assert _tmp_entries(live)[victim] == [], _tmp_entries(live)
    assert not _disk_mismatches(live, live.nodes)
    for client in _clients(live):
        body, etag = _read(client, bucket, "victim")
        assert _md5(body) in expected and etag == _md5(body), (
            f"GET via {_name(client)} after {victim} came back: md5 {_md5(body)}, "
            f"ETag {etag}; old={_md5(old)} new={_md5(new)}, PUT answered {put.status}"
        )
        assert _listing(client, bucket) == {"victim": len(body)}
    print(
        f"\n[node SIGKILL mid-PUT] PUT answered {put.status} {put_seconds:.2f}s after the "
        f"kill ({'new' if _md5(body) == _md5(new) else 'old'} content visible); "
        f"test took {time.monotonic() - started:.1f}s"
    )


def test_acknowledged_writes_survive_sigkill_of_every_storage_node(
    live: ClusterInfo, bucket: str
) -> None:
    """Every node is SIGKILLed at once while a writer runs; etcd stays up. After a restart,
    every write that was acknowledged reads back identical.

    A process kill does not drop the kernel's page cache: this checks that Tessera acks
    only what it handed to the kernel (data file, rename, SQLite WAL commit) before the
    ack, i.e. process-crash safety. It does not prove power-loss safety (that the fsyncs
    really happen); that needs a VM or a fault-injecting filesystem."""
    started = time.monotonic()
    clients = _clients(live)
    bodies: dict[str, bytes] = {}
    acked: set[str] = set()
    failed: dict[str, str] = {}
    wrong: list[str] = []  # acknowledged with an ETag that is not the body's MD5
    lock = threading.Lock()

    def put(index: int, key: str, body: bytes) -> None:
        client = clients[index % 2]
        bodies[key] = body
        try:
            reply = client.put_object(Bucket=bucket, Key=key, Body=body)
        except (ClientError, BotoCoreError) as exc:
            with lock:
                failed[key] = f"{type(exc).__name__}: {exc}"
            return
        with lock:
            acked.add(key)
            if reply["ETag"].strip('"') != _md5(body):
                wrong.append(f"PUT {key}: ETag {reply['ETag']}, body MD5 {_md5(body)}")

    rng = random.Random(7)
    for i in range(24):
        put(i, f"before/{i:03d}", rng.randbytes(SIZES[i % len(SIZES)]))
    assert not failed, failed

    # Two writers (one per gateway) keep going while the nodes die: the writes
    # acknowledged just before the kill, or in flight during it, are the interesting ones.
    kill_now = threading.Event()
    stop = threading.Event()

    def writer(w: int) -> None:
        wrng = random.Random(w)
        deadline = time.monotonic() + 30
        for i in range(1000):
            if stop.is_set() or time.monotonic() > deadline:
                return
            put(w, f"during/{w}/{i:04d}", wrng.randbytes(SIZES[(i + w) % len(SIZES)]))
            with lock:
                if sum(k.startswith("during/") for k in acked) >= 12:
                    kill_now.set()

    threads = [threading.Thread(target=writer, args=(w,), daemon=True) for w in (0, 1)]
    for thread in threads:
        thread.start()
    etcd = live.processes["etcd"]
    try:
        assert kill_now.wait(20), "the writers did not get going"
        _sigkill_together(live, live.nodes)
        killed_at = time.monotonic()
        # Let the writers run into the dead cluster for a moment (bounded), then stop them.
        _wait_for(lambda: len(failed) >= 4, 3)
        stop.set()
        for thread in threads:
            thread.join(30)
        assert not any(t.is_alive() for t in threads), "a writer is stuck"
        assert local.is_alive(etcd), "etcd must stay up in this test"
    finally:
        stop.set()
        for node in live.nodes:
            local.start(live, node)
    restarted_at = time.monotonic()
    # Recovery discarded interrupted writes and left no orphan data file.
    assert _tmp_entries(live) == {n: [] for n in live.nodes}
    assert not _disk_mismatches(live, live.nodes)

    canary = "before/006"  # 1 MiB: a data file, read through a stream, not inline
    assert len(bodies[canary]) > INLINE_LIMIT

    def readable() -> bool:
        try:
            return all(_read(c, bucket, canary)[0] == bodies[canary] for c in clients)
        except (ClientError, BotoCoreError):
            return False

    assert _wait_for(readable, 20), "the cluster did not serve reads 20 s after the restart"
    readable_after = time.monotonic() - restarted_at

    errors = []
    for client in clients:
        for key in sorted(acked):
            try:
                body, etag = _read(client, bucket, key)
            except (ClientError, BotoCoreError) as exc:
                errors.append(_failure(live, f"GET {key} via {_name(client)}", exc))
                continue
            if body != bodies[key] or etag != _md5(bodies[key]):
                errors.append(f"GET {key} via {_name(client)}: {len(body)} bytes, ETag {etag}")
        for key in sorted(failed):  # not acknowledged: absent, or whole
            try:
                body = _read_or_none(client, bucket, key)
            except (ClientError, BotoCoreError) as exc:
                errors.append(_failure(live, f"GET unacknowledged {key} via {_name(client)}", exc))
                continue
            if body is not None and body != bodies[key]:
                errors.append(f"unacknowledged {key} via {_name(client)}: partial/wrong bytes")
        listed = _listing(client, bucket)
        lost = sorted(k for k in acked if listed.get(k) != len(bodies[k]))
        if lost:
            errors.append(f"LIST via {_name(client)}: acknowledged keys missing/wrong: {lost}")
    during = sorted(k for k in acked if k.startswith("during/"))
    assert not wrong, wrong
    assert not errors, f"{len(errors)} problem(s) after the restart:\n  " + "\n  ".join(errors)
    assert len(during) >= 12
    assert failed, "no write was refused: the writer never ran into the dead cluster"
    print(
        f"\n[SIGKILL all nodes] {len(acked)} acknowledged writes ({len(during)} by the "
        f"writers that ran into the kill), {len(failed)} refused; cluster readable "
        f"{readable_after:.2f}s after the restart, nodes down for {restarted_at - killed_at:.1f}s;"
        f" test took {time.monotonic() - started:.1f}s"
    )


def test_concurrent_overwrites_never_mix_versions(live: ClusterInfo, bucket: str) -> None:
    """Two writers overwrite one key through different gateways while a reader reads it
    through both: every read is exactly one written payload, with its own ETag; in the
    end every gateway returns the same value, the last write of one of the writers."""
    started = time.monotonic()
    clients = _clients(live)
    key = "contended"
    writes = 40
    sizes = [1_000, 100_000, 200_000, 700_000, 2_100_000]
    payloads = {
        (w, i): f"{w}:{i:04d}|".encode() + _body(f"{w}{i}", sizes[i % len(sizes)])
        for w in (0, 1)
        for i in range(writes)
    }
    by_md5 = {_md5(p): name for name, p in payloads.items()}
    clients[0].put_object(Bucket=bucket, Key=key, Body=payloads[(0, 0)])

    errors: list[str] = []
    acked: dict[int, int] = {}  # writer → last acknowledged index
    reads: list[tuple[int, int]] = []
    writers_done = threading.Event()

    def write(w: int) -> None:
        client = clients[w]
        for i in range(1, writes):
            try:
                reply = client.put_object(Bucket=bucket, Key=key, Body=payloads[(w, i)])
            except (ClientError, BotoCoreError) as exc:
                errors.append(f"PUT {w}:{i} via {_name(client)}: {exc}")
                continue
            if reply["ETag"].strip('"') != _md5(payloads[(w, i)]):
                errors.append(f"PUT {w}:{i}: wrong ETag {reply['ETag']}")
            acked[w] = i

    def read() -> None:
        deadline = time.monotonic() + 30
        for n in range(2000):
            if writers_done.is_set() or time.monotonic() > deadline:
                return
            client = clients[n % 2]
            try:
                body, etag = _read(client, bucket, key)
            except (ClientError, BotoCoreError) as exc:
                errors.append(f"GET #{n} via {_name(client)}: {type(exc).__name__}: {exc}")
                continue
            digest = _md5(body)
            if digest not in by_md5:
                errors.append(f"GET #{n} via {_name(client)}: {len(body)} bytes, not a payload")
            elif etag != digest:
                errors.append(f"GET #{n}: body is {by_md5[digest]} but ETag is another version")
            else:
                reads.append(by_md5[digest])

    threads = [threading.Thread(target=write, args=(w,), daemon=True) for w in (0, 1)]
    reader = threading.Thread(target=read, daemon=True)
    for thread in [*threads, reader]:
        thread.start()
    for thread in threads:
        thread.join(60)
    writers_done.set()
    reader.join(60)
    assert not any(t.is_alive() for t in [*threads, reader]), "a writer or the reader is stuck"
    print(
        f"\n[overwrite race] {2 * (writes - 1)} PUTs, {len(reads)} good reads "
        f"({len(set(reads))} distinct versions seen), {len(errors)} error(s)"
    )
    assert not errors, f"{len(errors)} error(s):\n  " + "\n  ".join(errors[:30])
    assert len(reads) >= 10, f"only {len(reads)} reads overlapped the writes"

    # Last writer wins: the final value is the last write of one of the writers.
    finals = set()
    for client in clients:
        body, etag = _read(client, bucket, key)
        head = client.head_object(Bucket=bucket, Key=key)
        assert etag == _md5(body) == head["ETag"].strip('"')
        assert _listing(client, bucket) == {key: len(body)}
        finals.add(by_md5.get(_md5(body)))
    assert len(finals) == 1, f"the gateways disagree on the final value: {finals}"
    last = {(w, acked[w]) for w in (0, 1)}
    assert finals <= last, f"final value {finals} is not the last write of a writer {last}"
    print(f"  final {finals.pop()}; test took {time.monotonic() - started:.1f}s")


HUNG_SECONDS = 12.0  # how long requests keep starting while the node is paused
# A request slower than this counts as hung: boto3's own default read timeout, i.e. where a
# user's client gives up. It bounds the test; it is not a latency goal.
HUNG_CLIENT_TIMEOUT = 60.0


def test_paused_storage_node_does_not_hang_requests(live: ClusterInfo, bucket: str) -> None:
    """node2 is paused (SIGSTOP: hung, not dead) while GET, HEAD, PUT and LIST run through
    both gateways. Every request must still succeed; timings are printed, not asserted.
    The node is SIGCONTed in a finally."""
    started = time.monotonic()
    clients = _clients(live, read_timeout=HUNG_CLIENT_TIMEOUT)
    victim = "node2"
    seed_sizes = [1_000, 600_000, 6 * MiB]
    seeded = {f"seed/{i:02d}": _body(f"seed{i}", seed_sizes[i % 3]) for i in range(9)}
    for key, body in seeded.items():
        clients[0].put_object(Bucket=bucket, Key=key, Body=body)
    # Warm up: both gateways hold an open connection to every node before it hangs (a
    # gateway that has to dial a paused node fails fast; an open connection just waits).
    for client in clients:
        for key, body in seeded.items():
            assert _read(client, bucket, key)[0] == body
        _listing(client, bucket)
    written: dict[str, bytes] = {}
    timings: list[tuple[str, str, float, float]] = []  # (op, gateway, start offset, seconds)
    errors: list[str] = []
    put_sizes = [2_000, 300_000, 12 * MiB]

    def load(g: int, k: int, paused_at: float) -> None:
        client = clients[g]
        rng = random.Random(10 * g + k)
        first = (0, 1, 2, 4, 5)[k]  # the threads start on GET, big PUT, HEAD, LIST, small PUT
        for n in range(first, first + 300):
            if time.monotonic() - paused_at > HUNG_SECONDS:
                return
            op = ("GET", "PUT", "HEAD", "GET", "LIST", "PUT")[n % 6]
            t0 = time.monotonic()
            try:
                if op == "GET":
                    key = rng.choice(sorted(seeded))
                    body, etag = _read(client, bucket, key)
                    if body != seeded[key] or etag != _md5(body):
                        errors.append(f"GET {key} via {_name(client)}: wrong bytes")
                elif op == "HEAD":
                    key = rng.choice(sorted(seeded))
                    head = client.head_object(Bucket=bucket, Key=key)
                    if head["ContentLength"] != len(seeded[key]):
                        errors.append(f"HEAD {key} via {_name(client)}: wrong size")
                elif op == "PUT":
                    key = f"during/{g}{k}/{n:03d}"
                    body = _body(key, put_sizes[(n // 6 + (2 if k == 1 else 0)) % 3])
                    reply = client.put_object(Bucket=bucket, Key=key, Body=body)
                    if reply["ETag"].strip('"') != _md5(body):
                        errors.append(f"PUT {key} via {_name(client)}: wrong ETag")
                    written[key] = body
                else:
                    listed = _listing(client, bucket)
                    if not set(seeded) <= set(listed):
                        errors.append(f"LIST via {_name(client)}: seeded keys missing")
            except (ClientError, BotoCoreError) as exc:
                errors.append(
                    f"{op} via {_name(client)} at +{t0 - paused_at:.1f}s after "
                    f"{time.monotonic() - t0:.1f}s: {type(exc).__name__}: {exc}"
                )
            timings.append((op, _name(client), t0 - paused_at, time.monotonic() - t0))

    # When etcd drops the paused node's membership key (its lease runs out): from then on
    # the gateways no longer consider it live. Timing only, for the report.
    etcd = connect(live.etcd_endpoint)
    member_gone: list[float] = []

    def watch_membership(paused_at: float) -> None:
        while time.monotonic() - paused_at < HUNG_SECONDS:
            if etcd.get(keys.member_node(victim))[0] is None:
                member_gone.append(time.monotonic() - paused_at)
                return
            time.sleep(0.1)

    local.kill(live, victim, signal.SIGSTOP)
    try:
        paused_at = time.monotonic()
        threads = [
            threading.Thread(target=load, args=(g, k, paused_at), daemon=True)
            for g in (0, 1)
            for k in range(5)
        ]
        monitor = threading.Thread(target=watch_membership, args=(paused_at,), daemon=True)
        for thread in [monitor, *threads]:
            thread.start()
        for thread in [monitor, *threads]:
            thread.join(HUNG_SECONDS + 2 * HUNG_CLIENT_TIMEOUT)
        stuck = [t for t in threads if t.is_alive()]
    finally:
        local.kill(live, victim, signal.SIGCONT)
        etcd.close()

    gone = member_gone[0] if member_gone else HUNG_SECONDS
    lines = [
        f"\n[SIGSTOP {victim} for {time.monotonic() - paused_at:.1f}s; its membership key "
        f"vanished from etcd {gone:.1f}s after SIGSTOP]"
    ]
    for op in ("GET", "HEAD", "PUT", "LIST"):
        early = [s for o, _, at, s in timings if o == op and at < gone]
        late = [s for o, _, at, s in timings if o == op and at >= gone]
        lines.append(
            f"  {op:4} started while still a member: {_summary(early)}; after: {_summary(late)}"
        )
    slow = sorted((s, o, g, at) for o, g, at, s in timings if s > 1.0)[::-1][:8]
    lines += [f"  slow: {o} via {g} at +{at:.1f}s took {s:.2f}s" for s, o, g, at in slow]
    print("\n".join(lines))

    assert not stuck, f"requests hung for more than {HUNG_CLIENT_TIMEOUT:.0f}s"
    assert not errors, f"{len(errors)} failed request(s) with {victim} paused:\n  " + (
        "\n  ".join(errors[:30])
    )
    assert written, "no PUT completed while the node was paused"

    # Everything acknowledged while the node hung reads back from both gateways.
    for client in _clients(live):
        for key, body in written.items():
            got, etag = _read(client, bucket, key)
            assert got == body and etag == _md5(body), f"GET {key} via {_name(client)}"
        listed = _listing(client, bucket)
        assert {k: len(b) for k, b in {**seeded, **written}.items()} == listed
    print(f"  test took {time.monotonic() - started:.1f}s")
