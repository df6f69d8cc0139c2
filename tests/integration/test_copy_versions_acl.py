"""CopyObject, the `null` version of unversioned buckets, and ACL
calls that tools make even when they only want defaults."""

import hashlib
import os

import pytest
from botocore.exceptions import ClientError

from tests.helpers import error_code


def test_copy_keeps_metadata_by_default(s3_clients, bucket):
    src, dst = s3_clients[0], s3_clients[-1]
    body = os.urandom(3 * 1024 * 1024 + 5)
    src.put_object(
        Bucket=bucket,
        Key="dir/source file ä.bin",
        Body=body,
        ContentType="application/x-src",
        CacheControl="no-cache",
        Metadata={"origin": "test"},
    )
    result = dst.copy_object(
        Bucket=bucket, Key="copy.bin", CopySource={"Bucket": bucket, "Key": "dir/source file ä.bin"}
    )
    assert result["CopyObjectResult"]["ETag"] == f'"{hashlib.md5(body).hexdigest()}"'
    got = src.get_object(Bucket=bucket, Key="copy.bin")
    assert got["Body"].read() == body
    assert got["ContentType"] == "application/x-src" and got["CacheControl"] == "no-cache"
    assert got["Metadata"] == {"origin": "test"}


def test_copy_across_buckets_with_replace(s3, bucket):
    other = f"{bucket}-dst"[:63]
    s3.create_bucket(Bucket=other)
    try:
        s3.put_object(Bucket=bucket, Key="k", Body=b"data", Metadata={"a": "1"})
        s3.copy_object(
            Bucket=other,
            Key="k2",
            CopySource=f"{bucket}/k",
            MetadataDirective="REPLACE",
            ContentType="text/plain",
            Metadata={"b": "2"},
        )
        got = s3.get_object(Bucket=other, Key="k2")
        assert got["Body"].read() == b"data"
        assert got["ContentType"] == "text/plain" and got["Metadata"] == {"b": "2"}
    finally:
        s3.delete_object(Bucket=other, Key="k2")
        s3.delete_bucket(Bucket=other)


def test_copy_onto_itself(s3, bucket):
    s3.put_object(Bucket=bucket, Key="self", Body=b"x", Metadata={"v": "1"})
    with pytest.raises(ClientError) as info:
        s3.copy_object(Bucket=bucket, Key="self", CopySource={"Bucket": bucket, "Key": "self"})
    assert error_code(info) == (400, "InvalidRequest")
    s3.copy_object(
        Bucket=bucket,
        Key="self",
        CopySource={"Bucket": bucket, "Key": "self"},
        MetadataDirective="REPLACE",
        Metadata={"v": "2"},
    )
    got = s3.get_object(Bucket=bucket, Key="self")
    assert got["Metadata"] == {"v": "2"} and got["Body"].read() == b"x"


def test_copy_errors_and_conditions(s3, bucket):
    etag = s3.put_object(Bucket=bucket, Key="src", Body=b"abc")["ETag"]
    with pytest.raises(ClientError) as info:
        s3.copy_object(Bucket=bucket, Key="d", CopySource={"Bucket": bucket, "Key": "missing"})
    assert error_code(info) == (404, "NoSuchKey")
    with pytest.raises(ClientError) as info:
        s3.copy_object(
            Bucket=bucket,
            Key="d",
            CopySource={"Bucket": bucket, "Key": "src"},
            CopySourceIfMatch='"other"',
        )
    assert error_code(info) == (412, "PreconditionFailed")
    s3.copy_object(
        Bucket=bucket, Key="d", CopySource={"Bucket": bucket, "Key": "src"}, CopySourceIfMatch=etag
    )
    with pytest.raises(ClientError) as info:
        s3.copy_object(
            Bucket=bucket,
            Key="d2",
            CopySource={"Bucket": bucket, "Key": "src"},
            CopySourceIfNoneMatch=etag,
        )
    assert error_code(info) == (412, "PreconditionFailed")
    with pytest.raises(ClientError) as info:
        s3.head_object(Bucket=bucket, Key="d2")
    assert error_code(info)[0] == 404


def test_copy_of_a_multipart_object(s3, bucket):
    parts = [os.urandom(5 * 1024 * 1024), b"tail"]
    upload_id = s3.create_multipart_upload(Bucket=bucket, Key="mp")["UploadId"]
    etags = [
        s3.upload_part(Bucket=bucket, Key="mp", UploadId=upload_id, PartNumber=n, Body=p)["ETag"]
        for n, p in enumerate(parts, start=1)
    ]
    s3.complete_multipart_upload(
        Bucket=bucket,
        Key="mp",
        UploadId=upload_id,
        MultipartUpload={"Parts": [{"PartNumber": n, "ETag": e} for n, e in enumerate(etags, 1)]},
    )
    s3.copy_object(Bucket=bucket, Key="mp-copy", CopySource={"Bucket": bucket, "Key": "mp"})
    assert s3.get_object(Bucket=bucket, Key="mp-copy")["Body"].read() == b"".join(parts)


def test_null_versions(s3, bucket):
    for key in ("a", "b/c", "d"):
        s3.put_object(Bucket=bucket, Key=key, Body=key.encode())
    versions = s3.list_object_versions(Bucket=bucket)
    assert [(v["Key"], v["VersionId"], v["IsLatest"]) for v in versions["Versions"]] == [
        ("a", "null", True),
        ("b/c", "null", True),
        ("d", "null", True),
    ]
    seen = []
    for page in s3.get_paginator("list_object_versions").paginate(
        Bucket=bucket, PaginationConfig={"PageSize": 1}
    ):
        seen += [v["Key"] for v in page.get("Versions", [])]
    assert seen == ["a", "b/c", "d"]
    rolled = s3.list_object_versions(Bucket=bucket, Delimiter="/")
    assert [p["Prefix"] for p in rolled["CommonPrefixes"]] == ["b/"]

    assert s3.get_object(Bucket=bucket, Key="a", VersionId="null")["Body"].read() == b"a"
    with pytest.raises(ClientError) as info:
        s3.get_object(Bucket=bucket, Key="a", VersionId="3HL4kqtJlcpXroDTDmJ.rmSpXd3dIbrH")
    assert error_code(info) == (404, "NoSuchVersion")

    result = s3.delete_objects(
        Bucket=bucket,
        Delete={
            "Objects": [
                {"Key": v["Key"], "VersionId": v["VersionId"]} for v in versions["Versions"]
            ]
        },
    )
    assert len(result["Deleted"]) == 3
    assert "Versions" not in s3.list_object_versions(Bucket=bucket)


def test_private_acls(s3, cluster, bucket):
    s3.put_object(Bucket=bucket, Key="k", Body=b"x", ACL="private")
    for acl in (s3.get_bucket_acl(Bucket=bucket), s3.get_object_acl(Bucket=bucket, Key="k")):
        assert acl["Owner"]["ID"] == cluster.access_key
        assert [g["Permission"] for g in acl["Grants"]] == ["FULL_CONTROL"]
        assert acl["Grants"][0]["Grantee"]["ID"] == cluster.access_key
    s3.put_bucket_acl(Bucket=bucket, ACL="private")
    s3.put_object_acl(Bucket=bucket, Key="k", ACL="private")
    with pytest.raises(ClientError) as info:
        s3.get_object_acl(Bucket=bucket, Key="missing")
    assert error_code(info) == (404, "NoSuchKey")
    with pytest.raises(ClientError) as info:
        s3.put_object_acl(Bucket=bucket, Key="k", ACL="no-such-acl")
    assert error_code(info)[0] == 400


def _anonymous(method: str, url: str, body: bytes | None = None) -> tuple[int, bytes]:
    import urllib.error
    import urllib.request

    request = urllib.request.Request(url, data=body, method=method)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def _eventually_status(method: str, url: str, expected: int) -> None:
    """Bucket settings reach the other gateways by etcd watch, a few ms later."""
    import time

    deadline = time.monotonic() + 5
    while (status := _anonymous(method, url)[0]) != expected and time.monotonic() < deadline:
        time.sleep(0.05)
    assert status == expected


def test_public_read_objects_and_buckets(s3, cluster, bucket):
    endpoint = cluster.endpoints[-1]
    s3.put_object(Bucket=bucket, Key="open", Body=b"for everyone", ACL="public-read")
    s3.put_object(Bucket=bucket, Key="closed", Body=b"secret")
    assert _anonymous("GET", f"{endpoint}/{bucket}/open") == (200, b"for everyone")
    assert _anonymous("HEAD", f"{endpoint}/{bucket}/open")[0] == 200
    status, body = _anonymous("GET", f"{endpoint}/{bucket}/closed")
    assert status == 403 and b"AccessDenied" in body
    status, body = _anonymous("GET", f"{endpoint}/{bucket}/missing")
    assert status == 403  # a private bucket does not tell strangers what is missing
    status, _ = _anonymous("GET", f"{endpoint}/{bucket}")
    assert status == 403
    status, _ = _anonymous("PUT", f"{endpoint}/{bucket}/anon", b"nope")
    assert status == 403

    grants = s3.get_object_acl(Bucket=bucket, Key="open")["Grants"]
    assert {(g["Grantee"].get("URI"), g["Permission"]) for g in grants} == {
        (None, "FULL_CONTROL"),
        ("http://acs.amazonaws.com/groups/global/AllUsers", "READ"),
    }
    s3.put_object_acl(Bucket=bucket, Key="closed", ACL="public-read")
    assert _anonymous("GET", f"{endpoint}/{bucket}/closed") == (200, b"secret")
    s3.put_object_acl(Bucket=bucket, Key="open", ACL="private")
    assert _anonymous("GET", f"{endpoint}/{bucket}/open")[0] == 403

    s3.put_bucket_acl(Bucket=bucket, ACL="public-read")
    _eventually_status("GET", f"{endpoint}/{bucket}?list-type=2", 200)
    status, body = _anonymous("GET", f"{endpoint}/{bucket}?list-type=2")
    assert status == 200 and b"<Key>closed</Key>" in body
    assert _anonymous("GET", f"{endpoint}/{bucket}/missing")[0] == 404
    assert s3.get_bucket_acl(Bucket=bucket)["Grants"][0]["Permission"] == "READ"
    s3.put_bucket_acl(Bucket=bucket, ACL="private")
    _eventually_status("GET", f"{endpoint}/{bucket}", 403)
