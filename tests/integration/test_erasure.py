"""Erasure-coded buckets on six storage nodes: 4+2 and 2+1 buckets read whole and by range
with up to two nodes killed, written with one down; a hybrid bucket keeps small objects as
copies and codes large ones (checked on the nodes); overwrites and deletes take their
fragments with them; versions, copies and multipart uploads behave as anywhere else.

The mode is set the way an operator sets it, with `tessera bucket set-storage`.
"""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import msgpack
import pytest
from botocore.exceptions import ClientError

from coordinator import drain, settings
from coordinator.etcd import connect
from coordinator.namespaces import fragments_namespace
from proto import storage_pb2 as pb
from tools import cluster as local
from tools.cluster import ClusterInfo
from tools.redundancy import current, node_stubs

CLUSTER_NODES = 6
# Anti-entropy passes every second: nodes soon say they have nothing to hand off, and the
# fragment keeper drops unused fragments only then (and a minute after the map changed).
CLUSTER_ENV = {"TESSERA_SYNC_INTERVAL": "1"}
# How long a test waits for the fragment keeper to drop what no object uses.
DROPPED = 120.0
MiB = 1 << 20
# Sizes around the stripe (4 x 256 KiB for 4+2): one byte, less than a fragment, one
# stripe exactly, and several stripes with a short last one.
SIZES = [1, 1000, 4 * 256 * 1024, 3 * MiB + 12345]


@pytest.fixture(scope="module", autouse=True)
def quick_keeper(cluster: ClusterInfo) -> Iterator[None]:
    """The fragment keeper passes every second and leaves sets alone for 3 s."""
    client = connect(cluster.etcd_endpoint)
    settings.put(client, "fragment_interval", 1)
    settings.put(client, "fragment_grace", 3)
    yield
    client.close()


def _body(key: str, size: int) -> bytes:
    seed = hashlib.sha256(key.encode()).digest()
    return (seed * (size // len(seed) + 1))[:size]


def _set_storage(cluster: ClusterInfo, bucket: str, *args: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "tools.cli", "bucket", "set-storage", bucket, *args]
        + ["--data-dir", str(cluster.data_dir)],
        env={k: v for k, v in os.environ.items() if not k.startswith("TESSERA_")},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def _fragments(cluster: ClusterInfo, bucket: str) -> dict[str, list[pb.ObjectInfo]]:
    """node → the fragments it stores for the bucket."""
    held = {}
    for name, stub in node_stubs(cluster).items():
        reply = stub.ListObjects(
            pb.ListRequest(bucket=fragments_namespace(bucket), limit=1000), timeout=10
        )
        held[name] = [e for e in reply.entries if not e.deleted]
    return held


def _fragment_sets(cluster: ClusterInfo, bucket: str) -> set[str]:
    return {e.key.split("/")[0] for rows in _fragments(cluster, bucket).values() for e in rows}


def _tessera(cluster: ClusterInfo, *words: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TESSERA_")}
    argv = [sys.executable, "-m", "tools.cli", *words, "--data-dir", str(cluster.data_dir)]
    return subprocess.run(argv, capture_output=True, text=True, env=env, timeout=120)


def _where(cluster: ClusterInfo, bucket: str, set_id: str) -> dict[int, str]:
    """fragment index → the node holding it."""
    found = {}
    for node, rows in _fragments(cluster, bucket).items():
        for row in rows:
            if row.key.startswith(f"{set_id}/"):
                found[int(row.key.rsplit("/", 1)[1])] = node
    return found


def _fragment_bytes(cluster: ClusterInfo, bucket: str, set_id: str, index: int, node: str) -> bytes:
    stub = node_stubs(cluster)[node]
    request = pb.GetRequest(bucket=fragments_namespace(bucket), key=f"{set_id}/{index:02d}")
    return b"".join(chunk.data for chunk in stub.GetObject(request, timeout=10))


def _new_set(cluster: ClusterInfo, bucket: str, before: set[str]) -> str:
    (made,) = _fragment_sets(cluster, bucket) - before
    return made


def _wait_for(check: Any, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)


def _coded_bucket(s3_clients: list[Any], cluster: ClusterInfo, bucket: str, *mode: str) -> None:
    """Set the mode and wait until both gateways code a new object."""
    _set_storage(cluster, bucket, *mode)
    for n, s3 in enumerate(s3_clients):
        probe = f"probe-{n}"

        def coded(s3: Any = s3, probe: str = probe) -> bool:
            s3.put_object(Bucket=bucket, Key=probe, Body=b"x" * (MiB + 1))  # past any threshold
            return len(_fragment_sets(cluster, bucket)) > 0

        _wait_for(coded)
        s3.delete_object(Bucket=bucket, Key=probe, VersionId="null")  # drops them at once
    _wait_for(lambda: not _fragment_sets(cluster, bucket))


def _read(s3: Any, bucket: str, key: str, **extra: Any) -> bytes:
    return s3.get_object(Bucket=bucket, Key=key, **extra)["Body"].read()


def _check_reads(s3: Any, bucket: str, bodies: dict[str, bytes]) -> None:
    for key, body in bodies.items():
        assert _read(s3, bucket, key) == body, key
        size = len(body)
        ranges = [(0, 0), (size // 3, size // 2), (size - 1, size - 1)]
        if size > 1 << 20:
            ranges.append(((1 << 20) - 7, (1 << 20) + 7))  # across a stripe boundary
        for first, last in ranges:
            got = _read(s3, bucket, key, Range=f"bytes={first}-{last}")
            assert got == body[first : last + 1], (key, first, last)
        head = s3.head_object(Bucket=bucket, Key=key)
        assert head["ContentLength"] == size
        if "-" not in head["ETag"]:  # a multipart ETag is not the body's MD5
            assert head["ETag"] == f'"{hashlib.md5(body).hexdigest()}"'


@pytest.fixture(scope="module")
def coded(cluster: ClusterInfo, s3: Any, s3_clients: list[Any]) -> tuple[str, dict[str, bytes]]:
    """A 4+2 bucket holding objects of every size in SIZES."""
    bucket = "coded-four-two"
    s3.create_bucket(Bucket=bucket)
    output = _set_storage(cluster, bucket, "--mode", "erasure", "--data", "4", "--parity", "2")
    assert "erasure 4+2" in output
    _coded_bucket(s3_clients, cluster, bucket, "--mode", "erasure", "--data", "4", "--parity", "2")
    bodies = {f"obj-{size}": _body(f"obj-{size}", size) for size in SIZES}
    for key, body in bodies.items():
        s3.put_object(Bucket=bucket, Key=key, Body=body)
    return bucket, bodies


def test_a_coded_object_is_six_fragments_on_six_nodes(
    cluster: ClusterInfo, s3: Any, coded: tuple[str, dict[str, bytes]]
) -> None:
    bucket, bodies = coded
    fragments = _fragments(cluster, bucket)
    sets = _fragment_sets(cluster, bucket)
    assert len(sets) == len(bodies)
    for set_id in sets:
        holders = [
            n for n, rows in fragments.items() if any(e.key.startswith(set_id) for e in rows)
        ]
        assert len(holders) == 6  # one fragment per node
    # Bytes on disk per byte stored: 6/4, plus a fragment header per stripe.
    big = len(bodies[f"obj-{SIZES[-1]}"])
    stored = sum(e.size for rows in fragments.values() for e in rows)
    total = sum(len(b) for b in bodies.values())
    assert 1.5 * total <= stored < 1.5 * total + 6 * 80 * (big // (1 << 20) + 1) * len(bodies)
    # The objects' versions hold no bytes of their own but list with their sizes.
    listed = {o["Key"]: o["Size"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]}
    assert listed == {key: len(body) for key, body in bodies.items()}
    rows = current(node_stubs(cluster), bucket, list(bodies))
    assert all(len(nodes) == 5 for nodes in rows.values())  # R = 2m + 1
    assert all(info.size == 0 for nodes in rows.values() for info in nodes.values())


def test_reads_with_none_one_and_two_nodes_killed(
    running: ClusterInfo, s3: Any, coded: tuple[str, dict[str, bytes]]
) -> None:
    bucket, bodies = coded
    _check_reads(s3, bucket, bodies)
    local.kill(running, "node1", signal.SIGKILL)
    _check_reads(s3, bucket, bodies)
    local.kill(running, "node4", signal.SIGKILL)
    _check_reads(s3, bucket, bodies)


def test_a_write_with_a_node_down_reads_back_when_it_returns(
    running: ClusterInfo, s3: Any, coded: tuple[str, dict[str, bytes]]
) -> None:
    bucket, _ = coded
    local.kill(running, "node2", signal.SIGKILL)
    body = _body("while-down", 2 * MiB + 3)
    s3.put_object(Bucket=bucket, Key="while-down", Body=body)
    assert _read(s3, bucket, "while-down") == body
    local.start(running, "node2")
    local.kill(running, "node5", signal.SIGKILL)  # one of the five that took it
    assert _read(s3, bucket, "while-down") == body
    s3.delete_object(Bucket=bucket, Key="while-down")


def test_a_two_plus_one_bucket_takes_a_node_down(
    cluster: ClusterInfo, running: ClusterInfo, s3: Any, s3_clients: list[Any]
) -> None:
    bucket = "coded-two-one"
    s3.create_bucket(Bucket=bucket)
    _coded_bucket(s3_clients, cluster, bucket, "--mode", "erasure", "--data", "2", "--parity", "1")
    bodies = {f"k{i}": _body(f"two-{i}", 700_000 + i) for i in range(6)}
    local.kill(running, "node3", signal.SIGKILL)
    for key, body in bodies.items():  # fragments go to three live nodes
        s3.put_object(Bucket=bucket, Key=key, Body=body)
    _check_reads(s3, bucket, bodies)
    local.start(running, "node3")
    local.kill(running, "node6", signal.SIGKILL)
    _check_reads(s3, bucket, bodies)


def test_a_hybrid_bucket_codes_only_large_objects(
    cluster: ClusterInfo, s3: Any, s3_clients: list[Any]
) -> None:
    bucket = "hybrid-bucket"
    s3.create_bucket(Bucket=bucket)
    _coded_bucket(
        s3_clients,
        cluster,
        bucket,
        *("--mode", "hybrid", "--data", "4", "--parity", "2", "--threshold", "1MiB"),
    )
    small, large = _body("small", 4096), _body("large", 8 * MiB)
    s3.put_object(Bucket=bucket, Key="small", Body=small)
    s3.put_object(Bucket=bucket, Key="large", Body=large)
    rows = current(node_stubs(cluster), bucket, ["small", "large"])
    assert {info.size for info in rows["small"].values()} == {4096}  # copies with bytes
    assert {info.size for info in rows["large"].values()} == {0}  # metadata only
    fragments = _fragments(cluster, bucket)
    assert sum(len(f) for f in fragments.values()) == 6
    stored = sum(e.size for f in fragments.values() for e in f)
    assert stored == 1.5 * len(large) + 6 * 80 * 8  # 8 stripes, a header per fragment
    _check_reads(s3, bucket, {"small": small, "large": large})


def test_overwrites_and_deletes_drop_their_fragments(
    cluster: ClusterInfo, s3: Any, coded: tuple[str, dict[str, bytes]]
) -> None:
    bucket, _ = coded
    before = _fragment_sets(cluster, bucket)
    s3.put_object(Bucket=bucket, Key="churn", Body=_body("one", 300_000))
    first = _fragment_sets(cluster, bucket) - before
    assert len(first) == 1
    s3.put_object(Bucket=bucket, Key="churn", Body=_body("two", 400_000))
    _wait_for(lambda: first.isdisjoint(_fragment_sets(cluster, bucket)))
    assert len(_fragment_sets(cluster, bucket) - before) == 1
    # A plain DELETE leaves them to the fragment keeper (a few seconds here).
    s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": "churn"}]})
    _wait_for(lambda: _fragment_sets(cluster, bucket) <= before, timeout=DROPPED)


def test_versions_copies_and_multipart_in_a_coded_bucket(
    cluster: ClusterInfo, s3: Any, coded: tuple[str, dict[str, bytes]], bucket: str
) -> None:
    coded_bucket, bodies = coded
    versioned = "coded-versions"
    s3.create_bucket(Bucket=versioned)
    s3.put_bucket_versioning(Bucket=versioned, VersioningConfiguration={"Status": "Enabled"})
    _set_storage(cluster, versioned, "--mode", "erasure", "--data", "4", "--parity", "2")
    time.sleep(1)  # the gateways' bucket caches follow etcd within a moment
    old, new = _body("v1", 1_500_000), _body("v2", 2_500_000)
    first = s3.put_object(Bucket=versioned, Key="doc", Body=old)["VersionId"]
    second = s3.put_object(Bucket=versioned, Key="doc", Body=new)["VersionId"]
    assert _read(s3, versioned, "doc") == new
    assert _read(s3, versioned, "doc", VersionId=first) == old
    s3.delete_object(Bucket=versioned, Key="doc", VersionId=second)
    assert _read(s3, versioned, "doc") == old

    # Copies between a coded bucket and a replica one (`bucket`), both ways.
    source = bodies[f"obj-{SIZES[-1]}"]
    s3.copy_object(
        Bucket=bucket, Key="copied", CopySource={"Bucket": coded_bucket, "Key": f"obj-{SIZES[-1]}"}
    )
    assert _read(s3, bucket, "copied") == source
    s3.copy_object(Bucket=versioned, Key="back", CopySource={"Bucket": bucket, "Key": "copied"})
    assert _read(s3, versioned, "back") == source

    # A multipart upload into the coded bucket.
    parts = [_body(f"part-{i}", 5 * MiB + i) for i in range(2)] + [_body("tail", 1000)]
    upload = s3.create_multipart_upload(Bucket=versioned, Key="multi")["UploadId"]
    etags = [
        s3.upload_part(Bucket=versioned, Key="multi", UploadId=upload, PartNumber=n, Body=part)[
            "ETag"
        ]
        for n, part in enumerate(parts, 1)
    ]
    s3.complete_multipart_upload(
        Bucket=versioned,
        Key="multi",
        UploadId=upload,
        MultipartUpload={"Parts": [{"ETag": e, "PartNumber": n} for n, e in enumerate(etags, 1)]},
    )
    assert _read(s3, versioned, "multi") == b"".join(parts)
    assert (
        _read(s3, versioned, "multi", Range="bytes=5242870-5242890")
        == b"".join(parts)[5242870:5242891]
    )


def test_a_multipart_upload_is_coded_part_by_part(
    cluster: ClusterInfo, s3: Any, coded: tuple[str, dict[str, bytes]]
) -> None:
    bucket, _ = coded
    before = _fragment_sets(cluster, bucket)
    parts = [_body(f"mp-{i}", 5 * MiB + i) for i in range(2)] + [_body("mp-tail", 300_000)]
    upload = s3.create_multipart_upload(Bucket=bucket, Key="assembled")["UploadId"]
    etags = []
    for number, part in enumerate(parts, 1):
        answer = s3.upload_part(
            Bucket=bucket, Key="assembled", UploadId=upload, PartNumber=number, Body=part
        )
        etags.append(answer["ETag"])
    # Part 2 again: its first fragments are not the object's.
    etags[1] = s3.upload_part(
        Bucket=bucket, Key="assembled", UploadId=upload, PartNumber=2, Body=parts[1]
    )["ETag"]
    listed = s3.list_parts(Bucket=bucket, Key="assembled", UploadId=upload)["Parts"]
    assert [p["Size"] for p in listed] == [len(p) for p in parts]
    assert len(_fragment_sets(cluster, bucket) - before) == 4  # each part coded, one twice
    s3.complete_multipart_upload(
        Bucket=bucket,
        Key="assembled",
        UploadId=upload,
        MultipartUpload={"Parts": [{"ETag": e, "PartNumber": n} for n, e in enumerate(etags, 1)]},
    )
    whole = b"".join(parts)
    _check_reads(s3, bucket, {"assembled": whole})
    across = _read(s3, bucket, "assembled", Range=f"bytes={5 * MiB - 10}-{5 * MiB + 10}")
    assert across == whole[5 * MiB - 10 : 5 * MiB + 11]  # across two parts
    assert s3.head_object(Bucket=bucket, Key="assembled", PartNumber=2)["ContentLength"] == len(
        parts[1]
    )
    # Complete copied no bytes and dropped the unused set; the object keeps three.
    _wait_for(lambda: len(_fragment_sets(cluster, bucket) - before) == 3)
    rows = current(node_stubs(cluster), bucket, ["assembled"])["assembled"]
    assert {info.size for info in rows.values()} == {0}

    # An aborted upload leaves no fragments behind.
    aborted = s3.create_multipart_upload(Bucket=bucket, Key="dropped")["UploadId"]
    s3.upload_part(Bucket=bucket, Key="dropped", UploadId=aborted, PartNumber=1, Body=parts[2])
    assert len(_fragment_sets(cluster, bucket) - before) == 4
    s3.abort_multipart_upload(Bucket=bucket, Key="dropped", UploadId=aborted)
    assert len(_fragment_sets(cluster, bucket) - before) == 3
    s3.delete_object(Bucket=bucket, Key="assembled")
    _wait_for(lambda: _fragment_sets(cluster, bucket) <= before, timeout=DROPPED)


def test_a_lost_fragment_is_coded_again_on_its_node(
    cluster: ClusterInfo, s3: Any, coded: tuple[str, dict[str, bytes]]
) -> None:
    bucket, _ = coded
    before = _fragment_sets(cluster, bucket)
    body = _body("lost", 2 * MiB + 99)
    s3.put_object(Bucket=bucket, Key="lost", Body=body)
    set_id = _new_set(cluster, bucket, before)
    where = _where(cluster, bucket, set_id)
    assert sorted(where) == list(range(6))
    node = where[1]  # a data fragment: reads now need a parity one
    original = _fragment_bytes(cluster, bucket, set_id, 1, node)
    stub = node_stubs(cluster)[node]
    request = pb.DeleteVersionRequest(
        bucket=fragments_namespace(bucket), key=f"{set_id}/01", null_version=True
    )
    assert stub.DeleteVersion(request, timeout=10).removed.found
    assert 1 not in _where(cluster, bucket, set_id)
    assert _read(s3, bucket, "lost") == body  # from the other five meanwhile
    _wait_for(lambda: _where(cluster, bucket, set_id).get(1) == node, timeout=30)
    assert _fragment_bytes(cluster, bucket, set_id, 1, node) == original
    s3.delete_object(Bucket=bucket, Key="lost")


def test_scrub_drops_a_corrupt_fragment_and_the_keeper_replaces_it(
    cluster: ClusterInfo, s3: Any, coded: tuple[str, dict[str, bytes]]
) -> None:
    bucket, _ = coded
    before = _fragment_sets(cluster, bucket)
    body = _body("rotten", 4 * MiB)
    s3.put_object(Bucket=bucket, Key="rotten", Body=body)
    set_id = _new_set(cluster, bucket, before)
    node = _where(cluster, bucket, set_id)[4]  # a parity fragment
    original = _fragment_bytes(cluster, bucket, set_id, 4, node)
    data_dir = cluster.processes[node].data_dir
    assert data_dir is not None
    (row,) = [r for r in _fragments(cluster, bucket)[node] if r.key == f"{set_id}/04"]
    data_file = Path(data_dir) / "objects" / row.version_id[:2] / row.version_id
    with data_file.open("r+b") as handle:  # flip one byte in the second block
        handle.seek(300_000)
        byte = handle.read(1)
        handle.seek(300_000)
        handle.write(bytes([byte[0] ^ 0xFF]))
    assert _read(s3, bucket, "rotten") == body
    done = _tessera(cluster, "admin", "scrub")
    assert done.returncode == 0, done.stderr
    _wait_for(lambda: 4 not in _where(cluster, bucket, set_id), timeout=30)  # scrub drops it
    _wait_for(lambda: _where(cluster, bucket, set_id).get(4) == node, timeout=30)
    assert _fragment_bytes(cluster, bucket, set_id, 4, node) == original
    s3.delete_object(Bucket=bucket, Key="rotten")


def test_a_fragment_set_no_object_names_is_collected(
    cluster: ClusterInfo, coded: tuple[str, dict[str, bytes]]
) -> None:
    bucket, _ = coded
    stub = node_stubs(cluster)["node2"]
    namespace = fragments_namespace(bucket)
    for set_id in ("0123456789abcdef0123456789abcdef", "feedbeef.0123456789abcdef"):
        header = pb.PutHeader(bucket=namespace, key=f"{set_id}/00", version_id=uuid.uuid4().hex)
        meta = msgpack.packb({"b": bucket, "k": "nobody"})
        stub.PutObjectWhole(
            pb.PutWhole(header=header, data=b"x" * 100, commit=pb.PutCommit(size=100, meta=meta)),
            timeout=10,
        )
    _wait_for(
        lambda: (
            not {"0123456789abcdef0123456789abcdef", "feedbeef.0123456789abcdef"}
            & _fragment_sets(cluster, bucket)
        ),
        timeout=DROPPED,
    )


def test_fragments_leave_a_draining_node(
    cluster: ClusterInfo, s3: Any, s3_clients: list[Any], coded: tuple[str, dict[str, bytes]]
) -> None:
    bucket = "coded-drain"
    s3.create_bucket(Bucket=bucket)
    _coded_bucket(s3_clients, cluster, bucket, "--mode", "erasure", "--data", "2", "--parity", "1")
    bodies = {f"d{i}": _body(f"drain-{i}", 600_000 + i) for i in range(8)}
    for key, body in bodies.items():
        s3.put_object(Bucket=bucket, Key=key, Body=body)
    held = _fragments(cluster, bucket)
    victim = max(held, key=lambda n: len(held[n]))
    assert held[victim]
    done = _tessera(cluster, "admin", "node", "drain", victim, "--no-wait")
    assert done.returncode == 0, done.stdout + done.stderr
    client = connect(cluster.etcd_endpoint)
    try:
        # The 2+1 fragments move to nodes that hold none of their set.
        _wait_for(lambda: not _fragments(cluster, bucket)[victim], timeout=60)
        for set_id in _fragment_sets(cluster, bucket):
            assert len(set(_where(cluster, bucket, set_id).values())) == 3
        _check_reads(s3, bucket, bodies)
        # The 4+2 bucket's cannot (all six nodes hold one of each set): the drain is not
        # done while the node holds them, and says why.
        assert _fragments(cluster, coded[0])[victim]

        def waiting() -> bool:
            job = drain.get(client, victim)
            return job is not None and "fragment keeper" in job.record.get("detail", "")

        _wait_for(waiting, timeout=60)
        job = drain.get(client, victim)
        assert job is not None and job.state != drain.DONE
    finally:
        client.close()
        undone = _tessera(cluster, "admin", "node", "undrain", victim)
        assert undone.returncode == 0, undone.stdout + undone.stderr
    _check_reads(s3, bucket, bodies)


def test_a_storage_class_can_choose_erasure_coding_in_any_bucket(
    cluster: ClusterInfo, s3: Any, s3_clients: list[Any], bucket: str
) -> None:
    done = _tessera(
        cluster,
        "bucket",
        "set-class",
        "STANDARD_IA",
        "--mode",
        "erasure",
        "--data",
        "2",
        "--parity",
        "1",
    )
    assert done.returncode == 0, done.stderr
    assert "STANDARD_IA" in done.stdout and "erasure 2+1" in done.stdout
    try:
        body = _body("infrequent", 1_500_000)
        for n, client in enumerate(s3_clients):  # each gateway follows the setting

            def coded(client: Any = client, key: str = f"ia-{n}") -> bool:
                client.put_object(Bucket=bucket, Key=key, Body=body, StorageClass="STANDARD_IA")
                return bool(_fragment_sets(cluster, bucket))

            _wait_for(coded)
        s3.put_object(Bucket=bucket, Key="plain", Body=b"standard")
        head = s3.head_object(Bucket=bucket, Key="ia-0")
        assert head["StorageClass"] == "STANDARD_IA"
        assert "StorageClass" not in s3.head_object(Bucket=bucket, Key="plain")
        assert _read(s3, bucket, "ia-0") == body
        classes = {
            o["Key"]: o["StorageClass"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]
        }
        assert classes == {"ia-0": "STANDARD_IA", "ia-1": "STANDARD_IA", "plain": "STANDARD"}
        versions = s3.list_object_versions(Bucket=bucket)["Versions"]
        assert {v["Key"]: v["StorageClass"] for v in versions}["ia-1"] == "STANDARD_IA"
        with pytest.raises(ClientError) as refused:
            s3.put_object(Bucket=bucket, Key="bad", Body=b"x", StorageClass="COLD_AND_CHEAP")
        assert refused.value.response["Error"]["Code"] == "InvalidStorageClass"

        upload = s3.create_multipart_upload(
            Bucket=bucket, Key="ia-multi", StorageClass="STANDARD_IA"
        )
        uploads = s3.list_multipart_uploads(Bucket=bucket)["Uploads"]
        assert [u["StorageClass"] for u in uploads] == ["STANDARD_IA"]
        part = s3.upload_part(
            Bucket=bucket, Key="ia-multi", UploadId=upload["UploadId"], PartNumber=1, Body=body
        )
        s3.complete_multipart_upload(
            Bucket=bucket,
            Key="ia-multi",
            UploadId=upload["UploadId"],
            MultipartUpload={"Parts": [{"ETag": part["ETag"], "PartNumber": 1}]},
        )
        assert s3.head_object(Bucket=bucket, Key="ia-multi")["StorageClass"] == "STANDARD_IA"
        assert _read(s3, bucket, "ia-multi") == body
        assert len(_fragment_sets(cluster, bucket)) == 3
    finally:
        cleared = _tessera(cluster, "bucket", "set-class", "STANDARD_IA", "--clear")
        assert cleared.returncode == 0, cleared.stderr


def test_tags_acls_and_conditions_on_a_coded_object(
    s3: Any, coded: tuple[str, dict[str, bytes]]
) -> None:
    bucket, _ = coded
    body = _body("tagged", 1_300_000)
    etag = s3.put_object(Bucket=bucket, Key="tagged", Body=body)["ETag"]
    # Rewrites of the metadata keep the layout: the bytes still read.
    s3.put_object_tagging(
        Bucket=bucket, Key="tagged", Tagging={"TagSet": [{"Key": "team", "Value": "ec"}]}
    )
    s3.put_object_acl(Bucket=bucket, Key="tagged", ACL="public-read")
    assert s3.get_object_tagging(Bucket=bucket, Key="tagged")["TagSet"] == [
        {"Key": "team", "Value": "ec"}
    ]
    assert _read(s3, bucket, "tagged") == body
    with pytest.raises(ClientError) as refused:
        s3.put_object(Bucket=bucket, Key="tagged", Body=b"no", IfNoneMatch="*")
    assert refused.value.response["Error"]["Code"] == "PreconditionFailed"
    newer = _body("tagged-2", 2_000_000)
    s3.put_object(Bucket=bucket, Key="tagged", Body=newer, IfMatch=etag)
    assert _read(s3, bucket, "tagged") == newer
    s3.delete_object(Bucket=bucket, Key="tagged", VersionId="null")


def test_a_read_goes_on_past_a_node_that_stops_answering(
    cluster: ClusterInfo, running: ClusterInfo, s3: Any, coded: tuple[str, dict[str, bytes]]
) -> None:
    bucket, _ = coded
    before = _fragment_sets(cluster, bucket)
    body = _body("stalled", 48 * MiB)
    s3.put_object(Bucket=bucket, Key="stalled", Body=body)
    set_id = _new_set(cluster, bucket, before)
    node = _where(cluster, bucket, set_id)[0]  # a data fragment's node
    stream = s3.get_object(Bucket=bucket, Key="stalled")["Body"]
    got = stream.read(4 * MiB)
    local.kill(running, node, signal.SIGSTOP)  # it stops mid-read, its stream open
    try:
        got += stream.read()
    finally:
        local.kill(running, node, signal.SIGCONT)
    assert got == body
    logs = "".join(p.read_text() for p in (Path(cluster.data_dir) / "logs").glob("gateway*.log"))
    assert "fragment slow in stripe" in logs and set_id in logs  # a spare took over
    s3.delete_object(Bucket=bucket, Key="stalled", VersionId="null")
