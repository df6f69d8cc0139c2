"""Abandoned, aborted and orphaned multipart uploads disappear from disk, and
the reaper keeps working when the gateway holding its election dies.

These tests shorten the upload lease and the reaper interval, so they run in
a cluster of their own (module-scoped fixture)."""

import os
import signal
import time
from pathlib import Path

import pytest
from botocore.exceptions import ClientError

from coordinator import election, keys, settings
from coordinator.etcd import connect
from tools import cluster as local_cluster

PART = os.urandom(300 * 1024)  # larger than the inline limit: a data file on each node


@pytest.fixture(scope="module", autouse=True)
def fast_reaper(cluster):
    client = connect(cluster.etcd_endpoint)
    settings.put(client, "multipart_upload_ttl", 3)
    settings.put(client, "reaper_interval", 1)
    settings.put(client, "orphan_part_grace", 0)
    time.sleep(0.5)  # let the gateways' setting caches follow
    yield client


def _data_files(cluster) -> int:
    count = 0
    for name in ("node1", "node2", "node3"):
        objects = Path(cluster.data_dir) / name / "objects"
        count += sum(1 for p in objects.rglob("*") if p.is_file())
    return count


def _wait(predicate, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.25)
    raise AssertionError(f"timed out waiting for {what}")


def _abandon_upload(client, bucket: str, key: str) -> str:
    upload_id = client.create_multipart_upload(Bucket=bucket, Key=key)["UploadId"]
    client.upload_part(Bucket=bucket, Key=key, UploadId=upload_id, PartNumber=1, Body=PART)
    return upload_id


def _no_such_upload(client, bucket, key, upload_id) -> bool:
    try:
        client.list_parts(Bucket=bucket, Key=key, UploadId=upload_id)
        return False
    except ClientError as exc:
        return exc.response["Error"]["Code"] == "NoSuchUpload"


def test_expired_upload_bytes_leave_the_disk(cluster, s3, bucket):
    before = _data_files(cluster)
    upload_id = _abandon_upload(s3, bucket, "abandoned")
    assert _data_files(cluster) == before + 3  # one part file per replica
    _wait(lambda: _no_such_upload(s3, bucket, "abandoned", upload_id), 30, "lease expiry")
    _wait(lambda: _data_files(cluster) == before, 30, "the reaper to remove the parts")


def test_aborted_upload_bytes_leave_the_disk(cluster, s3, bucket):
    before = _data_files(cluster)
    upload_id = _abandon_upload(s3, bucket, "aborted")
    s3.abort_multipart_upload(Bucket=bucket, Key="aborted", UploadId=upload_id)
    _wait(lambda: _data_files(cluster) == before, 30, "aborted parts to be removed")


def test_orphaned_parts_are_found(cluster, s3, bucket, fast_reaper):
    """Parts whose upload record vanished without cleanup (a crash) are removed."""
    before = _data_files(cluster)
    upload_id = _abandon_upload(s3, bucket, "orphan")
    fast_reaper.delete(keys.upload(bucket, upload_id))
    _wait(lambda: _data_files(cluster) == before, 30, "orphaned parts to be removed")


def test_completed_upload_keeps_its_data(cluster, s3, bucket):
    upload_id = s3.create_multipart_upload(Bucket=bucket, Key="kept")["UploadId"]
    etag = s3.upload_part(Bucket=bucket, Key="kept", UploadId=upload_id, PartNumber=1, Body=PART)[
        "ETag"
    ]
    s3.complete_multipart_upload(
        Bucket=bucket,
        Key="kept",
        UploadId=upload_id,
        MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": etag}]},
    )
    time.sleep(3)  # several reaper passes
    assert s3.get_object(Bucket=bucket, Key="kept")["Body"].read() == PART


def test_reaper_survives_its_holder(cluster, s3_clients, bucket, fast_reaper):
    _wait(lambda: election.holder(fast_reaper, "upload-reaper") is not None, 15, "a reaper")
    holder = election.holder(fast_reaper, "upload-reaper")
    assert holder in ("gateway1", "gateway2")
    survivor = 1 if holder == "gateway1" else 0
    local_cluster.kill(cluster, holder, signal.SIGKILL)
    try:
        client = s3_clients[survivor]
        before = _data_files(cluster)
        upload_id = _abandon_upload(client, bucket, "after-kill")
        _wait(
            lambda: election.holder(fast_reaper, "upload-reaper") not in (None, holder),
            30,
            "another gateway to win the election",
        )
        _wait(lambda: _no_such_upload(client, bucket, "after-kill", upload_id), 30, "expiry")
        _wait(lambda: _data_files(cluster) == before, 30, "the new reaper to remove the parts")
    finally:
        local_cluster.start(cluster, holder)
