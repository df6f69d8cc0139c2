"""Helpers shared by test files: S3 clients and throwaway buckets."""

from __future__ import annotations

import re
import secrets
import time
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError


def make_client(
    endpoint: str,
    access_key: str,
    secret_key: str,
    region: str = "us-east-1",
    **config: Any,
) -> Any:
    """A boto3 S3 client for a Tessera gateway: path-style, one retry at most (so flaky
    behaviour shows up in tests instead of being retried away), short timeouts.
    Keyword arguments override botocore Config options, e.g. `s3={...}`."""
    defaults = Config(
        region_name=region,
        signature_version="s3v4",
        s3={"addressing_style": "path"},
        retries={"mode": "standard", "total_max_attempts": 2},
        connect_timeout=5,
        read_timeout=60,
    )
    session = boto3.session.Session(
        aws_access_key_id=access_key, aws_secret_access_key=secret_key, region_name=region
    )
    return session.client("s3", endpoint_url=endpoint, config=defaults.merge(Config(**config)))


def unique_bucket_name(hint: str = "test") -> str:
    """A valid, unique bucket name (3-63 chars of a-z, 0-9, -) that mentions hint."""
    stem = re.sub(r"[^a-z0-9]+", "-", hint.lower()).strip("-")[:44].strip("-") or "test"
    return f"t-{stem}-{secrets.token_hex(4)}"


def empty_bucket(client: Any, bucket: str) -> None:
    """Abort uploads and delete every object and version in bucket; best effort."""
    _ignore(_abort_uploads, client, bucket)
    _ignore(_delete_listed, client, bucket, versions=False)
    _ignore(_delete_listed, client, bucket, versions=True)


def delete_bucket(client: Any, bucket: str) -> None:
    """Empty and remove bucket, ignoring errors (for teardown)."""
    empty_bucket(client, bucket)
    _ignore(client.delete_bucket, Bucket=bucket)


def _ignore(fn: Any, *args: Any, **kwargs: Any) -> None:
    try:
        fn(*args, **kwargs)
    except (ClientError, BotoCoreError):
        pass


def _abort_uploads(client: Any, bucket: str) -> None:
    for page in client.get_paginator("list_multipart_uploads").paginate(Bucket=bucket):
        for upload in page.get("Uploads", []):
            _ignore(
                client.abort_multipart_upload,
                Bucket=bucket,
                Key=upload["Key"],
                UploadId=upload["UploadId"],
            )


def _delete_listed(client: Any, bucket: str, *, versions: bool) -> None:
    if versions:
        pages = client.get_paginator("list_object_versions").paginate(Bucket=bucket)
        entries = (
            {"Key": v["Key"], "VersionId": v["VersionId"]}
            for page in pages
            for v in page.get("Versions", []) + page.get("DeleteMarkers", [])
        )
    else:
        pages = client.get_paginator("list_objects_v2").paginate(Bucket=bucket)
        entries = ({"Key": o["Key"]} for page in pages for o in page.get("Contents", []))
    # Collect first: deleting while paginating would shift the pages under us.
    objects = list(entries)
    for start in range(0, len(objects), 1000):
        batch = objects[start : start + 1000]
        try:
            client.delete_objects(Bucket=bucket, Delete={"Objects": batch, "Quiet": True})
        except (ClientError, BotoCoreError):
            for obj in batch:
                _ignore(client.delete_object, Bucket=bucket, **obj)


def reset_peak_memory(pid: int) -> None:
    """Restart a process's peak-RSS accounting (VmHWM) from now."""
    with open(f"/proc/{pid}/clear_refs", "w") as handle:
        handle.write("5")


def memory(pid: int) -> tuple[int, int]:
    """(current RSS, peak RSS) of a process, in bytes."""
    fields = {}
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            name, _, value = line.partition(":")
            fields[name] = value.strip()
    return int(fields["VmRSS"].split()[0]) * 1024, int(fields["VmHWM"].split()[0]) * 1024


def error_code(info: Any) -> tuple[int, str]:
    """(HTTP status, S3 error Code) of a pytest.raises(ClientError) result."""
    response = info.value.response
    return response["ResponseMetadata"]["HTTPStatusCode"], response["Error"]["Code"]


def set_versioning(clients: list[Any], bucket: str, status: str, timeout: float = 5.0) -> None:
    """Set a bucket's versioning through the first client and wait until every
    client's gateway reports it (settings reach other gateways by etcd watch)."""
    clients[0].put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": status})
    wait_for_versioning(clients, bucket, status, timeout)


def wait_for_versioning(clients: list[Any], bucket: str, status: str, timeout: float = 5.0) -> None:
    """Wait until every client's gateway reports the bucket's versioning as status,
    e.g. after a client tool set it through one gateway."""
    deadline = time.monotonic() + timeout
    for client in clients:
        while client.get_bucket_versioning(Bucket=bucket).get("Status") != status:
            assert time.monotonic() < deadline, "versioning did not reach every gateway"
            time.sleep(0.01)
