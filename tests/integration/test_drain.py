"""Draining and removing a storage node of a 4-node cluster (its own cluster: the tests
change placement for good, in file order).

Objects of every kind (small inline ones, larger ones in data files, a completed
multipart upload, parts of an upload still open, a versioned key with several versions
and a delete marker, a tombstone) are written with boto3; one node that holds them is
drained with `tessera admin node drain`, followed to done; then every version must be
readable with its bytes and sit on exactly its three new replicas (asked directly,
HeadObject by version id), and the cluster must read, list and write without the node,
first removed, then stopped."""

from __future__ import annotations

import functools
import hashlib
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest

from coordinator import drain, placement, uploads
from coordinator.admin_token import call_metadata
from coordinator.etcd import connect
from coordinator.namespaces import part_of
from proto import admin_pb2 as apb
from proto import admin_pb2_grpc as apb_grpc
from proto import storage_pb2 as pb
from proto import storage_pb2_grpc as pb_grpc
from tests.helpers import make_client
from tests.integration.test_admin import admin, token_of
from tools import cluster as local
from tools.cluster import ClusterInfo

TESSERA = str(Path(sys.executable).parent / "tessera")
PLAIN, VERSIONED = "drain-plain", "drain-versioned"
MiB = 1 << 20

# What the tests below share, in file order.
state: dict[str, Any] = {}


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ClusterInfo]:
    """This module's own cluster: 4 storage nodes, 2 gateways."""
    from coordinator.credentials import generate_keypair

    data_dir = tmp_path_factory.mktemp("cluster-drain")
    access_key, secret_key = generate_keypair()
    info = local.up(data_dir, nodes=4, gateways=2, access_key=access_key, secret_key=secret_key)
    stop = functools.partial(local.down, data_dir)
    try:
        yield info
    finally:
        stop()


@pytest.fixture(scope="module")
def clients(cluster: ClusterInfo) -> list[Any]:
    return [
        make_client(url, cluster.access_key, cluster.secret_key, cluster.region)
        for url in cluster.endpoints
    ]


def tessera(cluster: ClusterInfo, *words: str) -> subprocess.CompletedProcess:
    """`tessera admin WORDS` as an operator runs it (no TTY: plain progress lines)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TESSERA_")}
    argv = [TESSERA, "admin", *words, "--data-dir", str(cluster.data_dir)]
    return subprocess.run(argv, capture_output=True, text=True, env=env, timeout=120)


def etcd_of(cluster: ClusterInfo) -> Any:
    return connect(cluster.etcd_endpoint)


def load_placement(cluster: ClusterInfo) -> tuple[int, list[placement.NodeEntry]]:
    client = etcd_of(cluster)
    try:
        return placement.load(client)
    finally:
        client.close()


def storage(cluster: ClusterInfo, node_id: str) -> Any:
    port = cluster.processes[node_id].port
    return pb_grpc.StorageStub(grpc.insecure_channel(f"127.0.0.1:{port}"))


def admin_stub(cluster: ClusterInfo, node_id: str) -> Any:
    port = cluster.processes[node_id].admin_port
    return apb_grpc.AdminStub(grpc.insecure_channel(f"127.0.0.1:{port}"))


def held_versions(stub: Any) -> set[tuple[str, str, str, bool]]:
    """(namespace, key, version id, deleted) of every version a node holds."""
    found = set()
    for namespace in stub.ListNamespaces(pb.ListNamespacesRequest(), timeout=10).namespaces:
        request = pb.ListVersionsRequest(bucket=namespace, limit=1000)
        while True:
            reply = stub.ListVersions(request, timeout=10)
            found |= {(namespace, e.key, e.version_id, e.deleted) for e in reply.entries}
            if reply.complete or not reply.entries:
                break
            last = reply.entries[-1]
            request.key_marker, request.marker_timestamp = last.key, last.timestamp
            request.marker_version_id = last.version_id
    return found


def row_run(cluster: ClusterInfo, node_id: str) -> str:
    client = etcd_of(cluster)
    try:
        job = drain.get(client, node_id)
    finally:
        client.close()
    assert job is not None
    return job.run


def placed_as(cluster: ClusterInfo, namespace: str, key: str) -> tuple[str, str]:
    """(bucket, key) placement hashes: a part goes with its upload's object."""
    part = part_of(namespace, key)
    if part is None:
        return namespace, key
    client = etcd_of(cluster)
    try:
        upload = uploads.get(client, *part)
    finally:
        client.close()
    assert upload is not None, f"part {namespace}/{key} of a finished upload"
    return part[0], upload.record["key"]


def snapshot(s3: Any, bucket: str) -> dict[tuple[str, str], tuple[bool, str | None]]:
    """(key, S3 version id) → (delete marker, sha256 of the bytes) of a whole bucket."""
    listed = s3.list_object_versions(Bucket=bucket)
    found: dict[tuple[str, str], tuple[bool, str | None]] = {}
    for marker in listed.get("DeleteMarkers", []):
        found[(marker["Key"], marker["VersionId"])] = (True, None)
    for version in listed.get("Versions", []):
        key, version_id = version["Key"], version["VersionId"]
        body = s3.get_object(Bucket=bucket, Key=key, VersionId=version_id)["Body"].read()
        found[(key, version_id)] = (False, hashlib.sha256(body).hexdigest())
    return found


def write_everything(s3: Any) -> dict[str, Any]:
    """Objects of every kind; returns what to expect back."""
    s3.create_bucket(Bucket=PLAIN)
    for i in range(24):  # small: inline in the index rows
        s3.put_object(Bucket=PLAIN, Key=f"small/{i:02d}", Body=os.urandom(200 + 37 * i))
    for i in range(3):  # > 128 KiB: data files, sent in one message
        s3.put_object(Bucket=PLAIN, Key=f"medium/{i}", Body=os.urandom(200_000 + i))
    s3.put_object(Bucket=PLAIN, Key="large", Body=os.urandom(3 * MiB + 5))  # streamed
    s3.put_object(Bucket=PLAIN, Key="deleted", Body=b"soon gone")
    s3.delete_object(Bucket=PLAIN, Key="deleted")  # a tombstone
    upload = s3.create_multipart_upload(Bucket=PLAIN, Key="multipart")
    parts = []
    for number, size in ((1, 5 * MiB), (2, MiB + 3)):
        etag = s3.upload_part(
            Bucket=PLAIN,
            Key="multipart",
            UploadId=upload["UploadId"],
            PartNumber=number,
            Body=os.urandom(size),
        )["ETag"]
        parts.append({"PartNumber": number, "ETag": etag})
    s3.complete_multipart_upload(
        Bucket=PLAIN,
        Key="multipart",
        UploadId=upload["UploadId"],
        MultipartUpload={"Parts": parts},
    )
    # An upload still open: its parts live in .parts/<bucket> and must move too.
    open_upload = s3.create_multipart_upload(Bucket=PLAIN, Key="open-upload")["UploadId"]
    open_parts = [os.urandom(5 * MiB), os.urandom(777)]
    open_etags = [
        s3.upload_part(
            Bucket=PLAIN, Key="open-upload", UploadId=open_upload, PartNumber=n, Body=body
        )["ETag"]
        for n, body in enumerate(open_parts, 1)
    ]
    s3.create_bucket(Bucket=VERSIONED)
    s3.put_bucket_versioning(Bucket=VERSIONED, VersioningConfiguration={"Status": "Enabled"})
    for i in range(4):
        s3.put_object(Bucket=VERSIONED, Key="doc", Body=f"version {i}".encode() * (i + 1))
    s3.put_object(Bucket=VERSIONED, Key="big", Body=os.urandom(300_000))
    s3.put_object(Bucket=VERSIONED, Key="big", Body=os.urandom(150_000))
    s3.delete_object(Bucket=VERSIONED, Key="doc")  # a delete marker on top
    return {
        "open_upload": open_upload,
        "open_parts": open_parts,
        "open_etags": open_etags,
    }


def assert_readable(clients: list[Any], expected: dict[str, Any]) -> None:
    """Every version of both buckets, from every gateway, with the bytes it had."""
    for s3 in clients:
        for bucket in (PLAIN, VERSIONED):
            assert snapshot(s3, bucket) == expected[bucket], f"{bucket} via {s3.meta.endpoint_url}"
        keys = [o["Key"] for o in s3.list_objects_v2(Bucket=PLAIN)["Contents"]]
        assert keys == expected["plain_keys"]


# --- before any data: the guard rails -----------------------------------------------------------


def test_remove_and_undrain_are_refused_for_an_active_node(cluster: ClusterInfo) -> None:
    done = tessera(cluster, "node", "remove", "node1")
    assert done.returncode == 1 and "drain it first" in done.stderr, done.stderr
    done = tessera(cluster, "node", "undrain", "node1")
    assert done.returncode == 1 and "not draining" in done.stderr, done.stderr
    done = tessera(cluster, "node", "drain", "node9")
    assert done.returncode == 1 and "no storage node 'node9'" in done.stderr, done.stderr
    assert [n.state for n in load_placement(cluster)[1]] == ["active"] * 4


def test_admin_rpcs_drain_and_undrain_a_node(cluster: ClusterInfo) -> None:
    """The Admin service's Drain and Undrain, on an empty node (nothing to move)."""
    stub = admin_stub(cluster, "node2")
    meta = call_metadata(token_of(cluster))
    epoch, _ = load_placement(cluster)
    reply = stub.Drain(apb.DrainRequest(), metadata=meta, timeout=10)
    assert (reply.state, reply.changed, reply.job.name) == ("draining", True, "drain")
    again = stub.Drain(apb.DrainRequest(), metadata=meta, timeout=10)
    assert again.changed is False  # already draining: the same job goes on
    with pytest.raises(grpc.RpcError) as refused:
        stub.Remove(apb.RemoveRequest(), metadata=meta, timeout=10)
    assert refused.value.code() in (grpc.StatusCode.FAILED_PRECONDITION,)
    reply = stub.Undrain(apb.UndrainRequest(), metadata=meta, timeout=10)
    assert reply.state == "active" and reply.job.state == "cancelled"
    later, nodes = load_placement(cluster)
    assert later == epoch + 2 and all(n.state == "active" for n in nodes)
    # Gateways answer UNIMPLEMENTED: they store nothing.
    port = cluster.processes["gateway1"].admin_port
    gateway = apb_grpc.AdminStub(grpc.insecure_channel(f"127.0.0.1:{port}"))
    with pytest.raises(grpc.RpcError) as unimplemented:
        gateway.Drain(apb.DrainRequest(), metadata=meta, timeout=10)
    assert unimplemented.value.code() == grpc.StatusCode.UNIMPLEMENTED


# --- the drain ---------------------------------------------------------------------------------


def test_drain_moves_every_version_to_its_new_replicas(
    cluster: ClusterInfo, clients: list[Any]
) -> None:
    s3 = clients[0]
    extra = write_everything(s3)
    expected = {bucket: snapshot(s3, bucket) for bucket in (PLAIN, VERSIONED)}
    expected["plain_keys"] = [o["Key"] for o in s3.list_objects_v2(Bucket=PLAIN)["Contents"]]
    assert len(expected[VERSIONED]) == 7  # 4 + 2 versions and a delete marker
    # Drain a node that holds the multipart object, the versioned keys and the open
    # upload's parts (each key misses one node of four: some node holds all of them).
    _, nodes = load_placement(cluster)
    holders = [
        {n.node_id for n in placement.replicas_for(nodes, b, k)}
        for b, k in ((PLAIN, "multipart"), (VERSIONED, "doc"), (PLAIN, "open-upload"))
    ]
    victim = sorted(set.intersection(*holders))[0]
    others = [n for n in cluster.nodes if n != victim]
    held_before = held_versions(storage(cluster, victim))
    namespaces = {ns for ns, *_ in held_before}
    assert {PLAIN, VERSIONED, f".parts/{PLAIN}"} <= namespaces, namespaces
    assert any(deleted for *_, deleted in held_before)  # markers and tombstones move too
    state.update(victim=victim, others=others, expected=expected, **extra)

    done = tessera(cluster, "node", "drain", victim)
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == f"{victim} is draining: new writes go to the other nodes; it moves its data."
    assert any(line.startswith(f"{victim}: running") for line in lines), done.stdout
    assert f"{victim} is drained in " in done.stdout
    assert f"tessera admin node remove {victim}" in done.stdout

    epoch, nodes = load_placement(cluster)
    client = etcd_of(cluster)
    try:
        job = drain.get(client, victim)
    finally:
        client.close()
    assert job is not None and job.state == "done" and job.record["epoch"] == epoch
    record = job.record
    assert record["errors"] == 0 and record["last_errors"] == []
    assert record["versions_done"] == record["versions_total"] == len(held_before)
    assert record["keys_done"] == record["keys_total"] > 0
    assert record["bytes_done"] == record["bytes_total"] > 9 * MiB
    assert record["copied"] > 0 and record["skipped"] == 0

    # Every version the cluster holds sits on exactly its three replicas, none of them
    # the drained node; asked directly, by version id.
    by_id = {n.node_id: n for n in nodes}
    assert by_id[victim].state == "draining"
    everything = set().union(*(held_versions(storage(cluster, n)) for n in cluster.nodes))
    assert held_before <= everything
    stubs = {n: storage(cluster, n) for n in others}
    for namespace, key, version_id, deleted in sorted(everything):
        replicas = {
            n.node_id for n in placement.replicas_for(nodes, *placed_as(cluster, namespace, key))
        }
        assert victim not in replicas and len(replicas) == 3
        holding = set()
        for node_id, stub in stubs.items():
            request = pb.HeadRequest(bucket=namespace, key=key, version_id=version_id)
            info = stub.HeadObject(request, timeout=10)
            if info.found and info.version_id == version_id:
                assert info.deleted == deleted
                holding.add(node_id)
        assert holding == replicas, (namespace, key, version_id, holding, replicas)

    assert_readable(clients, expected)


def test_progress_is_reported_by_the_node_and_admin_commands(cluster: ClusterInfo) -> None:
    victim = state["victim"]
    reply = admin_stub(cluster, victim).Progress(
        apb.ProgressRequest(), metadata=call_metadata(token_of(cluster)), timeout=10
    )
    (job,) = [j for j in reply.jobs if j.name == "drain"]
    assert (job.state, job.unit, job.errors) == ("done", "versions", 0)
    assert job.done == job.total > 0
    assert {m.unit for m in job.measures} == {"keys", "bytes"}
    assert all(m.done == m.total for m in job.measures)

    jobs = admin(cluster, "jobs")
    drains = {r["process"]: r for r in jobs if r["job"] == "drain"}
    assert (drains[victim]["state"], drains[victim]["done"]) == ("done", job.done)
    # node2's drain, undone by the test above, shows as such (its own record).
    assert drains.get("node2", {"state": "cancelled"})["state"] == "cancelled"
    status = admin(cluster, "status")
    assert status["placement"]["draining"] == 1 and status["placement"]["active"] == 3
    (drained,) = status["drains"]
    assert (drained["node"], drained["state"], drained["percent"]) == (victim, "done", 100)
    assert status["health"] == "ok", status["problems"]
    text = tessera(cluster, "status").stdout
    assert "Drains" in text and f"{victim}  draining" in text

    # Draining it again changes nothing and follows the finished job at once.
    again = tessera(cluster, "node", "drain", victim, "--json")
    assert again.returncode == 0, again.stderr
    data = json.loads(again.stdout)
    assert (data["node"], data["started"], data["job"]["state"]) == (victim, False, "done")
    assert data["job"]["run"] == row_run(cluster, victim)


def test_new_writes_skip_the_draining_node(cluster: ClusterInfo, clients: list[Any]) -> None:
    victim = state["victim"]
    _, nodes = load_placement(cluster)
    # A key whose replicas before the drain included the victim.
    key = next(
        f"new/{i}"
        for i in range(100)
        if victim
        in {
            n.node_id
            for n in placement.replicas_for(nodes, PLAIN, f"new/{i}", include_draining=True)
        }
    )
    clients[0].put_object(Bucket=PLAIN, Key=key, Body=b"after the drain")

    def holders() -> set[str]:
        request = pb.HeadRequest(bucket=PLAIN, key=key)
        return {n for n in cluster.nodes if storage(cluster, n).HeadObject(request).found}

    deadline = time.monotonic() + 10  # the third replica may land after the reply
    while holders() != set(state["others"]) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert holders() == set(state["others"])
    clients[1].delete_object(Bucket=PLAIN, Key=key)


# --- remove, then stop the node ----------------------------------------------------------------


def test_remove_then_the_cluster_works_without_the_node(
    cluster: ClusterInfo, clients: list[Any]
) -> None:
    victim, expected = state["victim"], state["expected"]
    done = tessera(cluster, "node", "remove", victim)
    assert done.returncode == 0, done.stderr
    assert f"{victim} is removed from placement" in done.stdout
    _, nodes = load_placement(cluster)
    assert {n.node_id: n.state for n in nodes}[victim] == "removed"
    again = tessera(cluster, "node", "remove", victim)
    assert again.returncode == 1 and "already removed" in again.stderr
    status = admin(cluster, "status")
    assert status["placement"]["removed"] == 1 and status["placement"]["active"] == 3
    assert status["health"] == "ok", status["problems"]
    assert status["drains"] == []  # a removed node's drain is history

    # The node still runs but nobody needs it: stop it and read, list, write.
    local.kill(cluster, victim)
    assert_readable(clients, expected)
    s3 = clients[1]
    # The open upload's parts moved with it: it completes without the node.
    upload_id = state["open_upload"]
    listed = s3.list_parts(Bucket=PLAIN, Key="open-upload", UploadId=upload_id)
    assert [p["Size"] for p in listed["Parts"]] == [len(b) for b in state["open_parts"]]
    s3.complete_multipart_upload(
        Bucket=PLAIN,
        Key="open-upload",
        UploadId=upload_id,
        MultipartUpload={
            "Parts": [{"PartNumber": n, "ETag": e} for n, e in enumerate(state["open_etags"], 1)]
        },
    )
    body = clients[0].get_object(Bucket=PLAIN, Key="open-upload")["Body"].read()
    assert body == b"".join(state["open_parts"])
    for i in range(10):
        s3.put_object(Bucket=PLAIN, Key=f"later/{i}", Body=f"later {i}".encode())
    for s3 in clients:
        assert s3.get_object(Bucket=PLAIN, Key="later/7")["Body"].read() == b"later 7"
        keys = [o["Key"] for o in s3.list_objects_v2(Bucket=PLAIN, Prefix="later/")["Contents"]]
        assert keys == [f"later/{i}" for i in range(10)]
    clients[0].delete_object(Bucket=VERSIONED, Key="big")
    versions = clients[1].list_object_versions(Bucket=VERSIONED, Prefix="big")
    assert len(versions["DeleteMarkers"]) == 1 and len(versions["Versions"]) == 2
