"""Helpers shared by test files: S3 clients and throwaway buckets."""

from __future__ import annotations

import datetime
import hashlib
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
    verify: str | None = None,
    **config: Any,
) -> Any:
    """A boto3 S3 client for a Tessera gateway: path-style, one retry at most (so flaky
    behaviour shows up in tests instead of being retried away), short timeouts.
    verify is the CA file an https:// gateway's certificate is checked against.
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
    return session.client(
        "s3", endpoint_url=endpoint, config=defaults.merge(Config(**config)), verify=verify
    )


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


def anonymous_status(url: str) -> int:
    """The HTTP status of an unsigned GET of url."""
    import urllib.error
    import urllib.request

    try:
        with urllib.request.urlopen(url, timeout=10) as reply:
            return int(reply.status)
    except urllib.error.HTTPError as exc:
        return exc.code


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


def aws_chunked_request(
    endpoint: str,
    region: str,
    access_key: str,
    secret_key: str,
    path: str,
    data: bytes,
    chunk: int,
    tamper: bool = False,
) -> tuple[dict[str, str], bytes]:
    """(headers, body) of a STREAMING-AWS4-HMAC-SHA256-PAYLOAD PUT of data to path, signed
    the way the AWS SDKs do, in chunks of `chunk` bytes (tamper: alter one byte per chunk
    after signing)."""
    from urllib.parse import urlsplit

    from gateway.s3.auth import RequestView, canonical_request, signing_key, string_to_sign
    from gateway.s3.auth.sigv4 import STREAMING_SIGNED, sign

    now = datetime.datetime.now(datetime.UTC)
    amz_date = now.strftime("%Y%m%dT%H%M%SZ")
    scope = f"{amz_date[:8]}/{region}/s3/aws4_request"
    key = signing_key(secret_key, amz_date[:8], region, "s3")
    pieces = [data[i : i + chunk] for i in range(0, len(data), chunk)] + [b""]
    frame = sum(len(f"{len(p):x};chunk-signature=") + 64 + 4 + len(p) for p in pieces)
    headers = {
        "host": urlsplit(endpoint).netloc,
        "x-amz-date": amz_date,
        "x-amz-content-sha256": STREAMING_SIGNED,
        "content-encoding": "aws-chunked",
        "x-amz-decoded-content-length": str(len(data)),
        "content-length": str(frame),
    }
    signed = sorted(headers)
    view = RequestView(method="PUT", raw_path=path, raw_query="", headers=headers)
    seed = sign(
        key,
        string_to_sign(
            amz_date, scope, canonical_request(view, signed, STREAMING_SIGNED, presigned=False)
        ),
    )
    headers["authorization"] = (
        f"AWS4-HMAC-SHA256 Credential={access_key}/{scope}, "
        f"SignedHeaders={';'.join(signed)}, Signature={seed}"
    )
    body, previous = b"", seed
    empty = hashlib.sha256(b"").hexdigest()
    for piece in pieces:
        to_sign = "\n".join(
            [
                "AWS4-HMAC-SHA256-PAYLOAD",
                amz_date,
                scope,
                previous,
                empty,
                hashlib.sha256(piece).hexdigest(),
            ]
        )
        previous = sign(key, to_sign)
        sent = piece[:-1] + bytes([piece[-1] ^ 0xFF]) if tamper and piece else piece
        body += f"{len(piece):x};chunk-signature={previous}\r\n".encode() + sent + b"\r\n"
    del headers["host"]
    return headers, body


def multipart_form(fields: dict[str, str], filename: str, data: bytes) -> tuple[bytes, str]:
    """(body, content type) of a browser's multipart/form-data POST: fields, then the file."""
    boundary = "----TesseraFormBoundary" + secrets.token_hex(8)
    out = bytearray()
    for name, value in fields.items():
        out += f"--{boundary}\r\n".encode()
        out += f'Content-Disposition: form-data; name="{name}"\r\n\r\n'.encode()
        out += value.encode() + b"\r\n"
    out += f"--{boundary}\r\n".encode()
    out += f'Content-Disposition: form-data; name="file"; filename="{filename}"\r\n'.encode()
    out += b"Content-Type: application/octet-stream\r\n\r\n" + data + b"\r\n"
    out += f"--{boundary}--\r\n".encode()
    return bytes(out), f"multipart/form-data; boundary={boundary}"
