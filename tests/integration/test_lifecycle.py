"""The lifecycle worker carries the rules out, with a "day" of one second: current
objects expire by prefix (others stay), noncurrent versions go but the newest ones
kept, a lone delete marker goes, an old incomplete upload is aborted; `tessera admin
jobs` shows the job."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from coordinator import settings
from coordinator.etcd import connect
from tests.helpers import set_versioning
from tools.cluster import ClusterInfo
from tools.cluster_plan import PROJECT_ROOT


@pytest.fixture(scope="module", autouse=True)
def short_days(cluster: ClusterInfo) -> Iterator[None]:
    client = connect(cluster.etcd_endpoint)
    settings.put(client, "lifecycle_day_seconds", 1)
    settings.put(client, "lifecycle_interval", 1)
    yield
    client.close()


def _eventually(condition: Callable[[], bool], what: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, what
        time.sleep(0.5)


def _keys(s3: Any, bucket: str) -> list[str]:
    return [o["Key"] for o in s3.list_objects_v2(Bucket=bucket).get("Contents", [])]


def test_current_objects_expire_by_prefix(s3: Any, bucket: str) -> None:
    for key in ("tmp/a", "tmp/b", "keep/c"):
        s3.put_object(Bucket=bucket, Key=key, Body=b"x")
    s3.put_bucket_lifecycle_configuration(
        Bucket=bucket,
        LifecycleConfiguration={
            "Rules": [
                {
                    "ID": "tmp",
                    "Filter": {"Prefix": "tmp/"},
                    "Status": "Enabled",
                    "Expiration": {"Days": 2},
                }
            ]
        },
    )
    _eventually(lambda: _keys(s3, bucket) == ["keep/c"], "tmp/ objects did not expire")


def test_noncurrent_versions_and_lone_markers(s3_clients: list[Any], bucket: str) -> None:
    s3 = s3_clients[0]
    set_versioning(s3_clients, bucket, "Enabled")
    for body in (b"1", b"2", b"3", b"4"):
        s3.put_object(Bucket=bucket, Key="k", Body=body)
    s3.put_object(Bucket=bucket, Key="gone", Body=b"x")
    first = s3.list_object_versions(Bucket=bucket, Prefix="gone")["Versions"][0]["VersionId"]
    s3.delete_object(Bucket=bucket, Key="gone")  # a marker over one version
    s3.delete_object(Bucket=bucket, Key="gone", VersionId=first)  # the marker alone now
    s3.put_bucket_lifecycle_configuration(
        Bucket=bucket,
        LifecycleConfiguration={
            "Rules": [
                {
                    "ID": "versions",
                    "Filter": {},
                    "Status": "Enabled",
                    "NoncurrentVersionExpiration": {
                        "NoncurrentDays": 1,
                        "NewerNoncurrentVersions": 1,
                    },
                    "Expiration": {"ExpiredObjectDeleteMarker": True},
                }
            ]
        },
    )

    def settled() -> bool:
        listed = s3.list_object_versions(Bucket=bucket)
        versions = [(v["Key"], v["IsLatest"]) for v in listed.get("Versions", [])]
        return versions == [("k", True), ("k", False)] and not listed.get("DeleteMarkers")

    _eventually(settled, "noncurrent versions or the lone marker stayed")
    assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == b"4"


def test_an_old_incomplete_upload_is_aborted(cluster: ClusterInfo, s3: Any, bucket: str) -> None:
    upload_id = s3.create_multipart_upload(Bucket=bucket, Key="big")["UploadId"]
    s3.upload_part(Bucket=bucket, Key="big", UploadId=upload_id, PartNumber=1, Body=b"p")
    s3.put_bucket_lifecycle_configuration(
        Bucket=bucket,
        LifecycleConfiguration={
            "Rules": [
                {
                    "ID": "uploads",
                    "Filter": {"Prefix": ""},
                    "Status": "Enabled",
                    "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 2},
                }
            ]
        },
    )
    _eventually(
        lambda: not s3.list_multipart_uploads(Bucket=bucket).get("Uploads"),
        "the upload was not aborted",
    )
    argv = [sys.executable, "-m", "tools.cli", "admin", "jobs", "--json"]
    argv += ["--data-dir", str(cluster.data_dir)]
    done = subprocess.run(argv, cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    jobs = [job for job in json.loads(done.stdout) if job["job"] == "lifecycle"]
    assert jobs and max(job["done"] for job in jobs) >= 1
