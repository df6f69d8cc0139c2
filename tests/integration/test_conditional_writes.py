"""Conditional writes: If-None-Match: * creates only, If-None-Match with ETags refuses
those, If-Match replaces only the version named, racing creators through different
gateways: one wins; DeleteObject and DeleteObjects entries with If-Match, a
last-modified time or a size delete only a match; CompleteMultipartUpload with
If-None-Match / If-Match."""

import threading

import pytest
from botocore.exceptions import ClientError

from tests.helpers import error_code


def test_if_none_match_creates_only(s3, bucket):
    s3.put_object(Bucket=bucket, Key="once", Body=b"first", IfNoneMatch="*")
    with pytest.raises(ClientError) as info:
        s3.put_object(Bucket=bucket, Key="once", Body=b"second", IfNoneMatch="*")
    assert error_code(info) == (412, "PreconditionFailed")
    assert s3.get_object(Bucket=bucket, Key="once")["Body"].read() == b"first"
    s3.delete_object(Bucket=bucket, Key="once")
    s3.put_object(Bucket=bucket, Key="once", Body=b"again", IfNoneMatch="*")
    assert s3.get_object(Bucket=bucket, Key="once")["Body"].read() == b"again"


def test_if_match_replaces_only_that_version(s3, bucket):
    with pytest.raises(ClientError) as info:
        s3.put_object(Bucket=bucket, Key="m", Body=b"x", IfMatch='"0123"')
    assert error_code(info) == (404, "NoSuchKey")
    etag = s3.put_object(Bucket=bucket, Key="m", Body=b"v1")["ETag"]
    with pytest.raises(ClientError) as info:
        s3.put_object(Bucket=bucket, Key="m", Body=b"v2", IfMatch='"ffff"')
    assert error_code(info) == (412, "PreconditionFailed")
    s3.put_object(Bucket=bucket, Key="m", Body=b"v2", IfMatch=etag)
    assert s3.get_object(Bucket=bucket, Key="m")["Body"].read() == b"v2"
    with pytest.raises(ClientError) as info:  # the old ETag no longer matches
        s3.put_object(Bucket=bucket, Key="m", Body=b"v3", IfMatch=etag)
    assert error_code(info) == (412, "PreconditionFailed")


def test_racing_creators_exactly_one_wins(s3_clients, bucket):
    outcomes: dict[int, str] = {}

    def create(index: int) -> None:
        client = s3_clients[index % len(s3_clients)]
        try:
            client.put_object(
                Bucket=bucket, Key="race", Body=f"writer {index}".encode(), IfNoneMatch="*"
            )
            outcomes[index] = "won"
        except ClientError as exc:
            outcomes[index] = exc.response["Error"]["Code"]

    threads = [threading.Thread(target=create, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    winners = [i for i, outcome in outcomes.items() if outcome == "won"]
    assert len(winners) == 1, outcomes
    assert set(outcomes.values()) <= {"won", "PreconditionFailed", "ConditionalRequestConflict"}
    for client in s3_clients:
        body = client.get_object(Bucket=bucket, Key="race")["Body"].read()
        assert body == f"writer {winners[0]}".encode()


def test_if_none_match_with_etags_refuses_only_those(s3, bucket):
    etag = s3.put_object(Bucket=bucket, Key="e", Body=b"v1")["ETag"]
    with pytest.raises(ClientError) as info:
        s3.put_object(Bucket=bucket, Key="e", Body=b"v2", IfNoneMatch=f'"0000", {etag}')
    assert error_code(info) == (412, "PreconditionFailed")
    s3.put_object(Bucket=bucket, Key="e", Body=b"v2", IfNoneMatch='"0000"')
    assert s3.get_object(Bucket=bucket, Key="e")["Body"].read() == b"v2"
    s3.put_object(Bucket=bucket, Key="new", Body=b"n", IfNoneMatch=etag)  # nothing to match


def test_conditional_delete_object(s3, bucket):
    etag = s3.put_object(Bucket=bucket, Key="d", Body=b"12345")["ETag"]
    head = s3.head_object(Bucket=bucket, Key="d")
    refused = [
        {"IfMatch": '"ffff"'},
        {"IfMatchSize": 4},
        {"IfMatchLastModifiedTime": head["LastModified"].replace(year=2001)},
    ]
    for condition in refused:
        with pytest.raises(ClientError) as info:
            s3.delete_object(Bucket=bucket, Key="d", **condition)
        assert error_code(info) == (412, "PreconditionFailed"), condition
    assert s3.get_object(Bucket=bucket, Key="d")["Body"].read() == b"12345"
    s3.delete_object(
        Bucket=bucket,
        Key="d",
        IfMatch=etag,
        IfMatchSize=5,
        IfMatchLastModifiedTime=head["LastModified"],
    )
    with pytest.raises(ClientError) as info:
        s3.head_object(Bucket=bucket, Key="d")
    assert error_code(info)[0] == 404
    with pytest.raises(ClientError) as info:  # nothing left to match
        s3.delete_object(Bucket=bucket, Key="d", IfMatch=etag)
    assert error_code(info) == (404, "NoSuchKey")


def test_conditional_entries_of_delete_objects(s3, bucket):
    etags = {k: s3.put_object(Bucket=bucket, Key=k, Body=k.encode())["ETag"] for k in "abc"}
    reply = s3.delete_objects(
        Bucket=bucket,
        Delete={
            "Objects": [
                {"Key": "a", "ETag": etags["a"]},
                {"Key": "b", "ETag": '"ffff"'},
                {"Key": "c", "Size": 99},
            ]
        },
    )
    assert [d["Key"] for d in reply["Deleted"]] == ["a"]
    assert sorted((e["Key"], e["Code"]) for e in reply["Errors"]) == [
        ("b", "PreconditionFailed"),
        ("c", "PreconditionFailed"),
    ]
    listed = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]]
    assert listed == ["b", "c"]


def test_conditional_complete_multipart_upload(s3, bucket):
    s3.put_object(Bucket=bucket, Key="mp", Body=b"old")

    def upload() -> tuple[str, dict]:
        upload_id = s3.create_multipart_upload(Bucket=bucket, Key="mp")["UploadId"]
        etag = s3.upload_part(
            Bucket=bucket, Key="mp", UploadId=upload_id, PartNumber=1, Body=b"new"
        )["ETag"]
        return upload_id, {"Parts": [{"PartNumber": 1, "ETag": etag}]}

    upload_id, parts = upload()
    with pytest.raises(ClientError) as info:
        s3.complete_multipart_upload(
            Bucket=bucket, Key="mp", UploadId=upload_id, MultipartUpload=parts, IfNoneMatch="*"
        )
    assert error_code(info) == (412, "PreconditionFailed")
    current = s3.head_object(Bucket=bucket, Key="mp")["ETag"]
    s3.complete_multipart_upload(
        Bucket=bucket, Key="mp", UploadId=upload_id, MultipartUpload=parts, IfMatch=current
    )
    assert s3.get_object(Bucket=bucket, Key="mp")["Body"].read() == b"new"
