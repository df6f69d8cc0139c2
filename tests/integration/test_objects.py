"""Object CRUD, metadata, ranges and odd keys through real gateways (boto3)."""

import hashlib
import os

import pytest
from botocore.exceptions import ClientError

from tests.helpers import error_code, memory, reset_peak_memory

ODD_KEYS = [
    "plain.txt",
    "with space/and+plus",
    "unicode/ä€😀",
    "xml/&<>\"'",
    "double//slash",
    "/leading-slash",
    "trailing/",
    "percent%20literal",
    "q?mark=1&x",
    "k" * 1024,
]


def test_put_get_head_delete_with_metadata(s3, bucket):
    body = os.urandom(100_000)
    put = s3.put_object(
        Bucket=bucket,
        Key="docs/report.bin",
        Body=body,
        ContentType="application/x-test",
        CacheControl="max-age=60",
        ContentDisposition='attachment; filename="r.bin"',
        ContentLanguage="en",
        Metadata={"owner": "alice", "purpose": "test run"},
    )
    etag = f'"{hashlib.md5(body).hexdigest()}"'
    assert put["ETag"] == etag

    got = s3.get_object(Bucket=bucket, Key="docs/report.bin")
    assert got["Body"].read() == body
    assert got["ETag"] == etag
    assert got["ContentType"] == "application/x-test"
    assert got["CacheControl"] == "max-age=60"
    assert got["ContentDisposition"] == 'attachment; filename="r.bin"'
    assert got["ContentLanguage"] == "en"
    assert got["Metadata"] == {"owner": "alice", "purpose": "test run"}
    assert got["ContentLength"] == len(body)
    assert got["ResponseMetadata"]["HTTPHeaders"]["accept-ranges"] == "bytes"
    assert got["ResponseMetadata"]["HTTPHeaders"]["x-amz-request-id"]

    head = s3.head_object(Bucket=bucket, Key="docs/report.bin")
    assert head["ContentLength"] == len(body) and head["ETag"] == etag
    assert head["Metadata"] == {"owner": "alice", "purpose": "test run"}
    assert head["LastModified"] == got["LastModified"]

    s3.delete_object(Bucket=bucket, Key="docs/report.bin")
    with pytest.raises(ClientError) as info:
        s3.get_object(Bucket=bucket, Key="docs/report.bin")
    assert error_code(info) == (404, "NoSuchKey")
    with pytest.raises(ClientError) as info:
        s3.head_object(Bucket=bucket, Key="docs/report.bin")
    assert error_code(info)[0] == 404
    # Deleting what is not there is not an error in S3.
    s3.delete_object(Bucket=bucket, Key="docs/report.bin")


def test_overwrite_returns_newest(s3_clients, bucket):
    for round_ in range(5):
        client = s3_clients[round_ % len(s3_clients)]
        client.put_object(Bucket=bucket, Key="k", Body=f"v{round_}".encode())
        for reader in s3_clients:
            assert reader.get_object(Bucket=bucket, Key="k")["Body"].read() == f"v{round_}".encode()


def test_empty_object_and_default_content_type(s3, bucket):
    s3.put_object(Bucket=bucket, Key="empty", Body=b"")
    got = s3.get_object(Bucket=bucket, Key="empty")
    assert got["Body"].read() == b""
    assert got["ContentLength"] == 0
    assert got["ETag"] == '"d41d8cd98f00b204e9800998ecf8427e"'
    assert got["ContentType"] == "binary/octet-stream"


@pytest.mark.parametrize(
    "header,expected_slice,content_range",
    [
        ("bytes=0-9", slice(0, 10), "bytes 0-9/1000"),
        ("bytes=990-", slice(990, 1000), "bytes 990-999/1000"),
        ("bytes=-10", slice(990, 1000), "bytes 990-999/1000"),
        ("bytes=500-5000", slice(500, 1000), "bytes 500-999/1000"),
        ("bytes=-5000", slice(0, 1000), "bytes 0-999/1000"),
    ],
)
def test_ranges(s3, bucket, header, expected_slice, content_range):
    body = bytes(range(256)) * 3 + b"z" * 232
    s3.put_object(Bucket=bucket, Key="r", Body=body)
    got = s3.get_object(Bucket=bucket, Key="r", Range=header)
    assert got["ResponseMetadata"]["HTTPStatusCode"] == 206
    assert got["ContentRange"] == content_range
    assert got["Body"].read() == body[expected_slice]


def test_range_across_storage_blocks(s3, bucket):
    body = os.urandom(3 * 1024 * 1024 + 17)
    s3.put_object(Bucket=bucket, Key="blocks", Body=body)
    start, end = 1024 * 1024 - 5, 2 * 1024 * 1024 + 5
    got = s3.get_object(Bucket=bucket, Key="blocks", Range=f"bytes={start}-{end}")
    assert got["Body"].read() == body[start : end + 1]


def test_unsatisfiable_range(s3, bucket):
    s3.put_object(Bucket=bucket, Key="r", Body=b"0123456789")
    with pytest.raises(ClientError) as info:
        s3.get_object(Bucket=bucket, Key="r", Range="bytes=10-20")
    assert error_code(info) == (416, "InvalidRange")
    # A malformed Range is ignored, like AWS does.
    got = s3.get_object(Bucket=bucket, Key="r", Range="bytes=x-y")
    assert got["Body"].read() == b"0123456789"


def test_odd_keys_round_trip_and_list(s3, bucket):
    for key in ODD_KEYS:
        s3.put_object(Bucket=bucket, Key=key, Body=key.encode())
    for key in ODD_KEYS:
        assert s3.get_object(Bucket=bucket, Key=key)["Body"].read() == key.encode()
    listed = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]]
    assert listed == sorted(ODD_KEYS, key=lambda k: k.encode())
    listed_v1 = [o["Key"] for o in s3.list_objects(Bucket=bucket)["Contents"]]
    assert listed_v1 == listed


def test_key_too_long(s3, bucket):
    with pytest.raises(ClientError) as info:
        s3.put_object(Bucket=bucket, Key="k" * 1025, Body=b"x")
    assert error_code(info) == (400, "KeyTooLongError")


def test_missing_bucket(s3):
    with pytest.raises(ClientError) as info:
        s3.put_object(Bucket="no-such-bucket-here", Key="k", Body=b"x")
    assert error_code(info) == (404, "NoSuchBucket")


def test_unimplemented_operation_is_501(s3, bucket):
    with pytest.raises(ClientError) as info:
        s3.get_bucket_website(Bucket=bucket)
    assert error_code(info) == (501, "NotImplemented")
    assert "static website hosting is out of its scope" in str(info.value)


def test_conditional_get(s3, bucket):
    etag = s3.put_object(Bucket=bucket, Key="c", Body=b"data")["ETag"]
    assert s3.get_object(Bucket=bucket, Key="c", IfMatch=etag)["Body"].read() == b"data"
    with pytest.raises(ClientError) as info:
        s3.get_object(Bucket=bucket, Key="c", IfMatch='"nope"')
    assert error_code(info)[0] == 412
    with pytest.raises(ClientError) as info:
        s3.get_object(Bucket=bucket, Key="c", IfNoneMatch=etag)
    assert error_code(info)[0] == 304


def test_large_object_round_trip(cluster, s3, bucket, tmp_path):
    """200 MiB streamed up and down, compared by SHA-256, while no gateway or
    storage node grows its memory by more than 100 MiB (bodies are streamed)."""
    pids = {name: p.pid for name, p in cluster.processes.items() if name != "etcd"}
    for pid in pids.values():
        reset_peak_memory(pid)
    before = {name: memory(pid)[0] for name, pid in pids.items()}
    size = 200 * 1024 * 1024
    source = tmp_path / "big.bin"
    digest = hashlib.sha256()
    block = os.urandom(1024 * 1024)
    with open(source, "wb") as handle:
        for index in range(size // len(block)):
            data = index.to_bytes(8, "big") + block[8:]
            digest.update(data)
            handle.write(data)
    with open(source, "rb") as handle:
        s3.put_object(Bucket=bucket, Key="big", Body=handle)
    source.unlink()
    got = s3.get_object(Bucket=bucket, Key="big")
    assert got["ContentLength"] == size
    actual = hashlib.sha256()
    for chunk in got["Body"].iter_chunks(1024 * 1024):
        actual.update(chunk)
    assert actual.hexdigest() == digest.hexdigest()
    s3.delete_object(Bucket=bucket, Key="big")
    growth = {name: memory(pid)[1] - before[name] for name, pid in pids.items()}
    assert all(g < 100 * 1024 * 1024 for g in growth.values()), growth


def test_delete_objects_batch(s3_clients, bucket):
    writer, other = s3_clients[0], s3_clients[-1]
    keys = [f"batch/{i}" for i in range(30)] + ["batch/ä & <x>"]
    for key in keys:
        writer.put_object(Bucket=bucket, Key=key, Body=b"x")
    result = other.delete_objects(
        Bucket=bucket, Delete={"Objects": [{"Key": k} for k in keys + ["batch/missing"]]}
    )
    assert sorted(d["Key"] for d in result["Deleted"]) == sorted(keys + ["batch/missing"])
    assert "Errors" not in result
    assert "Contents" not in writer.list_objects_v2(Bucket=bucket, Prefix="batch/")

    writer.put_object(Bucket=bucket, Key="quiet", Body=b"x")
    quiet = other.delete_objects(
        Bucket=bucket, Delete={"Objects": [{"Key": "quiet"}], "Quiet": True}
    )
    assert "Deleted" not in quiet and "Errors" not in quiet
    with pytest.raises(ClientError) as info:
        writer.head_object(Bucket=bucket, Key="quiet")
    assert error_code(info)[0] == 404


def test_delete_objects_rejects_malformed_xml(cluster, s3, bucket):
    import base64
    import hashlib
    import urllib.request

    from botocore.auth import S3SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    s3.put_object(Bucket=bucket, Key="keep", Body=b"x")
    body = b"<Delete><Object><Key>keep</Key></Object>"  # not closed
    request = AWSRequest(
        method="POST",
        url=f"{cluster.endpoints[0]}/{bucket}?delete",
        data=body,
        headers={"Content-MD5": base64.b64encode(hashlib.md5(body).digest()).decode()},
    )
    S3SigV4Auth(Credentials(cluster.access_key, cluster.secret_key), "s3", cluster.region).add_auth(
        request
    )
    raw = urllib.request.Request(
        request.url, data=body, method="POST", headers=dict(request.headers.items())
    )
    with pytest.raises(urllib.error.HTTPError) as info:
        urllib.request.urlopen(raw, timeout=30)
    assert info.value.code == 400 and b"MalformedXML" in info.value.read()
    assert s3.get_object(Bucket=bucket, Key="keep")["Body"].read() == b"x"
