"""The cluster keeps serving, and keeps the data, while its processes die and come back.

This module kills and restarts processes of its own cluster (the module-scoped `cluster`
fixture), so it must not share one with other modules. Clients never retry here
(`total_max_attempts: 1`): a request that needed a retry to succeed counts as an error
a user would have seen.

The last test stops the whole cluster and starts it again on the same data directory;
the fixture's teardown (`down(data_dir)`) still stops it: `down` reads the new PIDs from
cluster.json, which `up`, `kill` and `start` keep current.
"""

from __future__ import annotations

import hashlib
import random
import signal
from collections.abc import Callable, Sequence
from typing import Any

import pytest
from botocore.exceptions import BotoCoreError, ClientError

from tests.helpers import (
    delete_bucket,
    error_code,
    make_client,
    set_versioning,
    unique_bucket_name,
)
from tools import cluster as local
from tools.cluster import ClusterInfo

NO_RETRY = {"mode": "standard", "total_max_attempts": 1}
# Sizes cross the 1 MiB chunk boundary and include the empty object.
SIZES = [0, 1, 17, 4096, 65_536, 300_001, 1_048_576, 1_048_577, 2_500_000]

Objects = dict[str, bytes]


# --- helpers ----------------------------------------------------------------------------


def _clients(info: ClusterInfo) -> list[Any]:
    """Fresh boto3 clients, one per gateway, that never retry."""
    return [
        make_client(url, info.access_key, info.secret_key, info.region, retries=NO_RETRY)
        for url in info.endpoints
    ]


def _objects(prefix: str, count: int, seed: int) -> Objects:
    rng = random.Random(seed)
    return {f"{prefix}{i:03d}": rng.randbytes(rng.choice(SIZES)) for i in range(count)}


def _attempt(errors: list[str], what: str, fn: Callable[..., Any], **kwargs: Any) -> Any:
    """Call fn; record a client-visible failure in errors instead of raising."""
    try:
        return fn(**kwargs)
    except (ClientError, BotoCoreError) as exc:
        errors.append(f"{what}: {type(exc).__name__}: {exc}")
        return None


def _name(client: Any) -> str:
    return client.meta.endpoint_url


def _put(errors: list[str], client: Any, bucket: str, objects: Objects) -> None:
    for key, body in objects.items():
        what = f"PUT {key} via {_name(client)}"
        done = _attempt(errors, what, client.put_object, Bucket=bucket, Key=key, Body=body)
        if done is not None and done["ETag"].strip('"') != hashlib.md5(body).hexdigest():
            errors.append(f"{what}: ETag {done['ETag']} is not the MD5 of the body")


def _get_all(errors: list[str], client: Any, bucket: str, objects: Objects) -> None:
    for key, body in objects.items():
        what = f"GET {key} via {_name(client)}"
        got = _attempt(errors, what, client.get_object, Bucket=bucket, Key=key)
        if got is None:
            continue
        data = _attempt(errors, what + " (body)", got["Body"].read)
        if data is not None and data != body:
            errors.append(f"{what}: {len(data)} bytes differ from the {len(body)} written")


def _listing(errors: list[str], client: Any, bucket: str) -> dict[str, int] | None:
    """key → size via ListObjectsV2, in small pages so continuation tokens are used."""
    listed: dict[str, int] = {}
    token = None
    while True:
        kwargs: dict[str, Any] = {"Bucket": bucket, "MaxKeys": 7}
        if token:
            kwargs["ContinuationToken"] = token
        page = _attempt(
            errors, f"LIST {bucket} via {_name(client)}", client.list_objects_v2, **kwargs
        )
        if page is None:
            return None
        for obj in page.get("Contents", []):
            if obj["Key"] in listed:
                errors.append(f"LIST via {_name(client)}: {obj['Key']} listed twice")
            listed[obj["Key"]] = obj["Size"]
        if not page.get("IsTruncated"):
            return listed
        token = page["NextContinuationToken"]


def _check_listing(errors: list[str], client: Any, bucket: str, objects: Objects) -> None:
    listed = _listing(errors, client, bucket)
    expected = {key: len(body) for key, body in objects.items()}
    if listed is not None and listed != expected:
        extra = sorted(set(listed) - set(expected))
        missing = sorted(set(expected) - set(listed))
        wrong = sorted(k for k in set(listed) & set(expected) if listed[k] != expected[k])
        errors.append(
            f"LIST via {_name(client)}: extra {extra}, missing {missing}, wrong size {wrong}"
        )


def _check_absent(errors: list[str], client: Any, bucket: str, keys: list[str]) -> None:
    for key in keys:
        what = f"GET deleted {key} via {_name(client)}"
        try:
            client.get_object(Bucket=bucket, Key=key)["Body"].read()
        except ClientError as exc:
            code = exc.response["Error"]["Code"]
            if code != "NoSuchKey":
                errors.append(f"{what}: {code} instead of NoSuchKey")
        except BotoCoreError as exc:
            errors.append(f"{what}: {type(exc).__name__}: {exc}")
        else:
            errors.append(f"{what}: the object is still readable")


def _check_everything(
    clients: list[Any], bucket: str, objects: Objects, deleted: Sequence[str] = ()
) -> list[str]:
    """GET every object, LIST the bucket and GET every deleted key, through each client."""
    errors: list[str] = []
    for client in clients:
        _get_all(errors, client, bucket, objects)
        _check_listing(errors, client, bucket, objects)
        _check_absent(errors, client, bucket, list(deleted))
    return errors


def _report(errors: list[str], when: str) -> str:
    shown = "\n  ".join(errors[:30])
    more = f"\n  ... and {len(errors) - 30} more" if len(errors) > 30 else ""
    return f"{len(errors)} client-visible error(s) {when}:\n  {shown}{more}"


# --- fixtures ---------------------------------------------------------------------------


@pytest.fixture
def live(cluster: ClusterInfo) -> ClusterInfo:
    """The cluster as cluster.json has it now, with every process running (a test that
    failed half way may have left one stopped)."""
    info = ClusterInfo.load(cluster.data_dir)
    for name, proc in info.processes.items():  # etcd, nodes, then gateways
        if not local.is_alive(proc):
            local.start(info, name)
    return info


# --- tests ------------------------------------------------------------------------------


def test_sigkill_of_a_storage_node_is_invisible_to_clients(live: ClusterInfo, bucket: str) -> None:
    gateway1, gateway2 = clients = _clients(live)
    before = _objects("before/", 20, seed=1)
    errors: list[str] = []
    _put(errors, gateway1, bucket, before)
    assert not errors, _report(errors, "writing with every node up")

    local.kill(live, "node2", signal.SIGKILL)
    try:
        for client in clients:
            _get_all(errors, client, bucket, before)
        assert not errors, _report(errors, "reading with node2 killed")

        during = _objects("during/", 10, seed=2)
        for i, (key, body) in enumerate(during.items()):
            _put(errors, clients[i % 2], bucket, {key: body})
        assert not errors, _report(errors, "writing with node2 killed")

        written = {**before, **during}
        for client in clients:
            _check_listing(errors, client, bucket, written)
        assert not errors, _report(errors, "listing with node2 killed")

        deleted = sorted(before)[:3] + sorted(during)[:2]
        for i, key in enumerate(deleted):
            client = clients[i % 2]
            _attempt(
                errors, f"DELETE {key} via {_name(client)}", client.delete_object,
                Bucket=bucket, Key=key,
            )  # fmt: skip
        remaining = {k: v for k, v in written.items() if k not in deleted}
        errors += _check_everything(clients, bucket, remaining, deleted)
        assert not errors, _report(errors, "after deleting with node2 killed")
    finally:
        local.start(live, "node2")

    # node2 is back with a stale copy: it missed 10 writes and 5 deletes.
    errors = _check_everything([gateway1, gateway2], bucket, remaining, deleted)
    assert not errors, _report(errors, "after node2 came back")


def test_version_deleted_while_a_node_was_down_stays_deleted(
    live: ClusterInfo, bucket: str
) -> None:
    """node2 misses a DELETE ?versionId= of the current version: when it is back,
    its stale copy (the newest timestamp it knows) must not come back to readers."""
    clients = _clients(live)
    set_versioning(clients, bucket, "Enabled")
    # Reads ask the first two replicas of a key: with several keys, node2 is one of
    # them for some.
    keys = [f"k{i}" for i in range(8)]
    versions = {}
    for key in keys:
        old = clients[0].put_object(Bucket=bucket, Key=key, Body=b"old")["VersionId"]
        new = clients[0].put_object(Bucket=bucket, Key=key, Body=b"new")["VersionId"]
        versions[key] = (old, new)
    local.kill(live, "node2", signal.SIGKILL)
    try:
        for key, (_, new) in versions.items():
            clients[1].delete_object(Bucket=bucket, Key=key, VersionId=new)
    finally:
        local.start(live, "node2")
    for client in clients:
        for key, (old, new) in versions.items():
            got = client.get_object(Bucket=bucket, Key=key)
            assert (got["VersionId"], got["Body"].read()) == (old, b"old"), key
            with pytest.raises(ClientError) as info:
                client.head_object(Bucket=bucket, Key=key, VersionId=new)
            assert error_code(info)[0] == 404


def test_gateway_restart_keeps_serving(live: ClusterInfo, bucket: str) -> None:
    gateway1, gateway2 = _clients(live)
    objects = _objects("gw/", 10, seed=3)
    errors: list[str] = []
    _put(errors, gateway1, bucket, objects)
    assert not errors, _report(errors, "writing before the restart")

    other_bucket = unique_bucket_name("made-while-gateway1-down")
    local.kill(live, "gateway1", signal.SIGTERM)
    try:
        # The other gateway does not depend on the first one.
        _get_all(errors, gateway2, bucket, objects)
        late = _objects("late/", 2, seed=4)
        _put(errors, gateway2, bucket, late)
        _attempt(errors, "CreateBucket via gateway2", gateway2.create_bucket, Bucket=other_bucket)
        _put(errors, gateway2, other_bucket, {"hello": b"made while gateway1 was down"})
        assert not errors, _report(errors, "using gateway2 while gateway1 was stopped")
    finally:
        local.start(live, "gateway1")

    try:
        restarted = _clients(live)[0]  # a new connection pool for the new process
        errors = _check_everything([restarted], bucket, {**objects, **late})
        _get_all(errors, restarted, other_bucket, {"hello": b"made while gateway1 was down"})
        assert not errors, _report(errors, "through the restarted gateway1")
    finally:
        delete_bucket(gateway2, other_bucket)


def test_rolling_restart_of_every_storage_node_keeps_data(live: ClusterInfo, bucket: str) -> None:
    clients = _clients(live)
    objects = _objects("rolling/", 15, seed=5)
    errors: list[str] = []
    _put(errors, clients[0], bucket, objects)
    assert not errors, _report(errors, "writing before the restarts")

    for i, node in enumerate(live.nodes):
        local.kill(live, node, signal.SIGTERM)
        try:
            _get_all(errors, clients[(i + 1) % 2], bucket, objects)
            assert not errors, _report(errors, f"reading while {node} was stopped")
        finally:
            local.start(live, node)
        _get_all(errors, clients[i % 2], bucket, objects)
        assert not errors, _report(errors, f"reading after restarting {node}")

    errors = _check_everything(clients, bucket, objects)
    assert not errors, _report(errors, "after every node restarted")


def test_cluster_down_and_up_keeps_data(live: ClusterInfo, bucket: str) -> None:
    """Last in the module: the whole cluster stops and starts again from its data dir."""
    old_clients = _clients(live)
    objects = _objects("persist/", 12, seed=6)
    errors: list[str] = []
    for i, (key, body) in enumerate(objects.items()):
        _put(errors, old_clients[i % 2], bucket, {key: body})
    assert not errors, _report(errors, "writing before `down`")

    stopped = local.down(live.data_dir)
    assert set(stopped) == set(live.processes)
    assert not any(local.is_alive(p) for p in ClusterInfo.load(live.data_dir).processes.values())

    again = local.up(live.data_dir, access_key=live.access_key, secret_key=live.secret_key)
    assert not again.already_running
    assert again.endpoints == live.endpoints  # same ports, so clients need no new config

    after = _clients(again)
    for client in after:
        client.head_bucket(Bucket=bucket)
    errors = _check_everything(after, bucket, objects)
    assert not errors, _report(errors, "after `down` and `up` on the same data dir")

    # And the restarted cluster takes new writes.
    fresh = {"persist/new": b"written after up"}
    _put(errors, after[1], bucket, fresh)
    errors += _check_everything(after, bucket, {**objects, **fresh})
    assert not errors, _report(errors, "writing after `up`")
