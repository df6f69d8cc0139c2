"""Conditional PUTs: If-None-Match: * creates only, If-Match replaces only the
version named, and racing creators through different gateways: one wins."""

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
