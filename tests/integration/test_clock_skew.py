"""Clocks: a gateway whose wall clock is five minutes behind, and one five minutes ahead
(TESSERA_CLOCK_SKEW, a test-only setting), beside the cluster's two correct gateways.
Whatever the clocks say, a write or delete made after another was acknowledged wins:
small and streamed PUTs, DeleteObject, DeleteObjects, CompleteMultipartUpload, versioned
or not. Each case starts with a fresh write through the fast gateway, so the slow one
has not seen its stamp yet."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.extra_process import start_extra, stop_extra, wait_for_gateway
from tests.helpers import make_client, set_versioning
from tools.cluster import ClusterInfo

SKEW = 300.0
BIG = 700_000  # above the gateway's single-message limit: streamed


@pytest.fixture(scope="module")
def skewed(cluster: ClusterInfo) -> Iterator[tuple[Any, Any]]:
    """S3 clients of a gateway 5 minutes behind and of one 5 minutes ahead."""
    clients, children = [], []
    try:
        for name, skew in (("gateway-behind", -SKEW), ("gateway-ahead", SKEW)):
            child, port = start_extra(
                cluster, name, "gateway", env={"TESSERA_CLOCK_SKEW": str(skew)}
            )
            children.append(child)
            wait_for_gateway(port)
            url = f"http://127.0.0.1:{port}"
            clients.append(make_client(url, cluster.access_key, cluster.secret_key, cluster.region))
        yield clients[0], clients[1]
    finally:
        for child in children:
            stop_extra(child)


def _body(client: Any, bucket: str, key: str) -> bytes | None:
    try:
        return client.get_object(Bucket=bucket, Key=key)["Body"].read()
    except ClientError as exc:
        assert exc.response["Error"]["Code"] == "NoSuchKey"
        return None


def _everywhere(clients: list[Any], bucket: str, key: str) -> set[bytes | None]:
    return {_body(c, bucket, key) for c in clients}


@pytest.mark.parametrize("size", [100, BIG], ids=["small", "streamed"])
def test_the_later_put_wins_whatever_the_clocks(
    skewed: tuple[Any, Any], s3: Any, bucket: str, size: int
) -> None:
    behind, ahead = skewed
    every = [s3, behind, ahead]
    for round_, (first, then) in enumerate([(ahead, s3), (s3, behind), (ahead, behind)]):
        key = f"k{round_}"
        first.put_object(Bucket=bucket, Key=key, Body=b"a" * size)
        then.put_object(Bucket=bucket, Key=key, Body=b"b" * size)
        assert _everywhere(every, bucket, key) == {b"b" * size}, f"round {round_}"
        first.put_object(Bucket=bucket, Key=key, Body=b"c" * size)
        assert _everywhere(every, bucket, key) == {b"c" * size}, f"round {round_}"


def test_a_delete_from_a_slow_clock_deletes(skewed: tuple[Any, Any], s3: Any, bucket: str) -> None:
    behind, ahead = skewed
    ahead.put_object(Bucket=bucket, Key="one", Body=b"x")
    behind.delete_object(Bucket=bucket, Key="one")
    assert _everywhere([s3, behind, ahead], bucket, "one") == {None}

    keys = [f"many-{i}" for i in range(5)]
    for key in keys:
        ahead.put_object(Bucket=bucket, Key=key, Body=b"x")
    reply = behind.delete_objects(
        Bucket=bucket, Delete={"Objects": [{"Key": k} for k in keys], "Quiet": True}
    )
    assert not reply.get("Errors")
    assert not s3.list_objects_v2(Bucket=bucket).get("Contents")
    # And a put after the delete, from the fast clock again, is back.
    ahead.put_object(Bucket=bucket, Key="one", Body=b"again")
    assert _everywhere([s3, behind], bucket, "one") == {b"again"}


def test_a_multipart_upload_completed_on_a_slow_clock_wins(
    skewed: tuple[Any, Any], s3: Any, bucket: str
) -> None:
    behind, ahead = skewed
    upload = behind.create_multipart_upload(Bucket=bucket, Key="mp")["UploadId"]
    part = behind.upload_part(
        Bucket=bucket, Key="mp", UploadId=upload, PartNumber=1, Body=b"m" * 1000
    )
    ahead.put_object(Bucket=bucket, Key="mp", Body=b"single")
    behind.complete_multipart_upload(
        Bucket=bucket,
        Key="mp",
        UploadId=upload,
        MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": part["ETag"]}]},
    )
    assert _everywhere([s3, behind, ahead], bucket, "mp") == {b"m" * 1000}


def test_versions_keep_the_order_they_were_written_in(
    skewed: tuple[Any, Any], s3: Any, cluster: ClusterInfo, bucket: str
) -> None:
    behind, ahead = skewed
    set_versioning([s3, behind, ahead], bucket, "Enabled")
    ahead.put_object(Bucket=bucket, Key="v", Body=b"1")
    behind.put_object(Bucket=bucket, Key="v", Body=b"2")
    behind.put_object(Bucket=bucket, Key="v", Body=b"3" * BIG)
    ahead.put_object(Bucket=bucket, Key="v", Body=b"4")
    behind.delete_object(Bucket=bucket, Key="v")
    listed = s3.list_object_versions(Bucket=bucket, Prefix="v")
    versions = [(v["LastModified"], v["Size"], v["IsLatest"]) for v in listed.get("Versions", [])]
    markers = listed.get("DeleteMarkers", [])
    # Exactly the five writes: a write stamped again leaves no extra version behind.
    assert [size for _, size, _ in versions] == [1, BIG, 1, 1], versions
    assert len(markers) == 1 and markers[0]["IsLatest"]
    assert not any(latest for _, _, latest in versions)
    bodies = [
        s3.get_object(Bucket=bucket, Key="v", VersionId=v["VersionId"])["Body"].read()
        for v in listed["Versions"]
    ]
    assert bodies == [b"4", b"3" * BIG, b"2", b"1"]
