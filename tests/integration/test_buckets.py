"""Bucket operations through real gateways, checked with boto3."""

import time
import uuid

import pytest
from botocore.exceptions import ClientError


def _name() -> str:
    return f"bkt-{uuid.uuid4().hex[:12]}"


def _error(excinfo) -> tuple[int, str]:
    response = excinfo.value.response
    return response["ResponseMetadata"]["HTTPStatusCode"], response["Error"]["Code"]


def test_bucket_lifecycle(s3_clients):
    first, second = s3_clients[0], s3_clients[-1]
    name = _name()
    first.create_bucket(Bucket=name)
    # Visible at once through the other gateway (cache miss falls back to etcd).
    second.head_bucket(Bucket=name)
    assert name in [b["Name"] for b in second.list_buckets()["Buckets"]]
    assert first.get_bucket_location(Bucket=name)["LocationConstraint"] is None

    first.put_object(Bucket=name, Key="k", Body=b"x")
    # us-east-1's legacy rule: the owner creating it again gets 200, and keeps its objects;
    # a re-creation that would change its ACL is refused and changes nothing.
    second.create_bucket(Bucket=name)
    assert [o["Key"] for o in first.list_objects_v2(Bucket=name)["Contents"]] == ["k"]
    with pytest.raises(ClientError) as info:
        second.create_bucket(Bucket=name, ACL="public-read")
    assert _error(info) == (409, "BucketAlreadyExists")
    assert len(first.get_bucket_acl(Bucket=name)["Grants"]) == 1

    with pytest.raises(ClientError) as info:
        second.delete_bucket(Bucket=name)
    assert _error(info) == (409, "BucketNotEmpty")

    first.delete_object(Bucket=name, Key="k")
    second.delete_bucket(Bucket=name)
    with pytest.raises(ClientError) as info:
        second.head_bucket(Bucket=name)
    assert _error(info)[0] == 404
    # The other gateway learns of the deletion by etcd watch, milliseconds later.
    deadline = time.monotonic() + 5
    while name in [b["Name"] for b in first.list_buckets()["Buckets"]]:
        assert time.monotonic() < deadline, "the deletion never reached the other gateway"
        time.sleep(0.05)
    with pytest.raises(ClientError) as info:
        first.list_objects_v2(Bucket=name)
    assert _error(info) == (404, "NoSuchBucket")


def test_location_constraint_is_kept(s3):
    name = _name()
    s3.create_bucket(Bucket=name, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    try:
        assert s3.get_bucket_location(Bucket=name)["LocationConstraint"] == "eu-west-1"
    finally:
        s3.delete_bucket(Bucket=name)


@pytest.mark.parametrize("name", ["ab", "Upper-Case", "bad_underscore", "192.168.0.1", "-dash"])
def test_invalid_bucket_names_are_rejected(s3, name):
    with pytest.raises(ClientError) as info:
        s3.create_bucket(Bucket=name)
    assert _error(info) == (400, "InvalidBucketName")
    assert name not in [b["Name"] for b in s3.list_buckets()["Buckets"]]


def test_two_gateways_racing_to_create_one_bucket(s3_clients, cluster):
    """The create is a compare-and-swap in etcd: exactly one owner wins. (Its own other
    attempts are answered 200, us-east-1's legacy rule; the other key's are refused.)"""
    import threading

    from tests.integration.test_acls import Key

    other = Key(cluster, "readwrite")
    name = _name()
    outcomes: list[tuple[str, str]] = []

    def create(owner: str, client) -> None:
        try:
            client.create_bucket(Bucket=name)
            outcomes.append((owner, "created"))
        except ClientError as exc:
            outcomes.append((owner, exc.response["Error"]["Code"]))

    contenders = [("root", c) for c in s3_clients] + [("other", c) for c in other.clients]
    threads = [threading.Thread(target=create, args=pair) for pair in contenders * 2]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    winners = {owner for owner, outcome in outcomes if outcome == "created"}
    assert len(winners) == 1, outcomes
    assert {outcome for owner, outcome in outcomes if owner not in winners} == {
        "BucketAlreadyExists"
    }
    s3_clients[0].delete_bucket(Bucket=name)


def test_list_buckets_in_pages_by_prefix_and_region(s3, cluster):
    stem = _name()
    names = [f"{stem}-{i}" for i in range(5)]
    for name in names:
        s3.create_bucket(Bucket=name)
    try:
        seen, token = [], None
        while True:
            kwargs = {"Prefix": stem, "MaxBuckets": 2}
            if token:
                kwargs["ContinuationToken"] = token
            page = s3.list_buckets(**kwargs)
            assert len(page["Buckets"]) <= 2 and page["Prefix"] == stem
            seen += [b["Name"] for b in page["Buckets"]]
            assert all(b["BucketRegion"] == cluster.region for b in page["Buckets"])
            token = page.get("ContinuationToken")
            if not token:
                break
        assert seen == names
        assert s3.list_buckets(Prefix=stem, BucketRegion="eu-west-3")["Buckets"] == []
        with pytest.raises(ClientError) as info:  # botocore itself refuses 0
            s3.list_buckets(MaxBuckets=10001)
        assert _error(info) == (400, "InvalidArgument")
    finally:
        for name in names:
            s3.delete_bucket(Bucket=name)


def test_expected_bucket_owner(s3, cluster):
    name = _name()
    s3.create_bucket(Bucket=name)
    try:
        s3.put_object(Bucket=name, Key="k", Body=b"x", ExpectedBucketOwner=cluster.access_key)
        for call in (
            lambda: s3.put_object(Bucket=name, Key="k", Body=b"y", ExpectedBucketOwner="1234"),
            lambda: s3.list_objects_v2(Bucket=name, ExpectedBucketOwner="1234"),
        ):
            with pytest.raises(ClientError) as info:
                call()
            assert _error(info) == (403, "AccessDenied")
        assert s3.get_object(Bucket=name, Key="k")["Body"].read() == b"x"
        s3.delete_object(Bucket=name, Key="k")
    finally:
        s3.delete_bucket(Bucket=name)
