"""The public access block and object ownership controls, each setting enforced:
BlockPublicAcls refuses public ACLs, IgnorePublicAcls makes them grant nothing,
BlockPublicPolicy refuses a public policy, RestrictPublicBuckets keeps unsigned
requests out despite one; BucketOwnerEnforced turns ACLs off."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.helpers import anonymous_status, error_code, unique_bucket_name
from tools.cluster import ClusterInfo

FLAGS = ("BlockPublicAcls", "IgnorePublicAcls", "BlockPublicPolicy", "RestrictPublicBuckets")


def _block(s3_clients: list[Any], bucket: str, **flags: bool) -> None:
    config = {name: flags.get(name, False) for name in FLAGS}
    s3_clients[0].put_public_access_block(Bucket=bucket, PublicAccessBlockConfiguration=config)
    deadline = time.monotonic() + 10
    for client in s3_clients:  # every gateway hears of it through its etcd watch
        while True:
            try:
                got = client.get_public_access_block(Bucket=bucket)
                if got["PublicAccessBlockConfiguration"] == config:
                    break
            except ClientError:
                pass
            assert time.monotonic() < deadline
            time.sleep(0.02)


def test_settings_are_stored_and_missing_ones_are_404(s3: Any, bucket: str) -> None:
    for call, code in (
        (s3.get_public_access_block, "NoSuchPublicAccessBlockConfiguration"),
        (s3.get_bucket_ownership_controls, "OwnershipControlsNotFoundError"),
    ):
        with pytest.raises(ClientError) as info:
            call(Bucket=bucket)
        assert error_code(info) == (404, code)
    s3.put_bucket_ownership_controls(
        Bucket=bucket, OwnershipControls={"Rules": [{"ObjectOwnership": "ObjectWriter"}]}
    )
    rules = s3.get_bucket_ownership_controls(Bucket=bucket)["OwnershipControls"]["Rules"]
    assert rules == [{"ObjectOwnership": "ObjectWriter"}]
    s3.delete_bucket_ownership_controls(Bucket=bucket)
    with pytest.raises(ClientError):
        s3.get_bucket_ownership_controls(Bucket=bucket)


def test_public_acls_blocked_and_ignored(
    cluster: ClusterInfo, s3_clients: list[Any], bucket: str
) -> None:
    s3 = s3_clients[0]
    s3.put_object(Bucket=bucket, Key="k", Body=b"v", ACL="public-read")
    url = f"{cluster.endpoints[1]}/{bucket}/k"
    assert anonymous_status(url) == 200
    _block(s3_clients, bucket, IgnorePublicAcls=True)
    assert anonymous_status(url) == 403  # the grant is still there, and counts for nothing
    _block(s3_clients, bucket, BlockPublicAcls=True)
    assert anonymous_status(url) == 200
    for call in (
        lambda: s3.put_object(Bucket=bucket, Key="k2", Body=b"v", ACL="public-read"),
        lambda: s3.put_object_acl(Bucket=bucket, Key="k", ACL="public-read-write"),
        lambda: s3.put_bucket_acl(Bucket=bucket, ACL="public-read"),
    ):
        with pytest.raises(ClientError) as info:
            call()
        assert error_code(info) == (403, "AccessDenied")
    s3.put_object(Bucket=bucket, Key="k3", Body=b"v", ACL="private")  # not public: fine
    s3.delete_public_access_block(Bucket=bucket)


def test_public_policy_blocked_and_restricted(
    cluster: ClusterInfo, s3_clients: list[Any], bucket: str
) -> None:
    s3 = s3_clients[0]
    s3.put_object(Bucket=bucket, Key="k", Body=b"v")
    public = json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Principal": "*",
                    "Action": "s3:GetObject",
                    "Resource": f"arn:aws:s3:::{bucket}/*",
                }
            ],
        }
    )
    _block(s3_clients, bucket, BlockPublicPolicy=True)
    with pytest.raises(ClientError) as info:
        s3.put_bucket_policy(Bucket=bucket, Policy=public)
    assert error_code(info) == (403, "AccessDenied")
    _block(s3_clients, bucket, RestrictPublicBuckets=True)
    s3.put_bucket_policy(Bucket=bucket, Policy=public)
    time.sleep(0.5)  # the policy reaches the other gateway by watch
    assert anonymous_status(f"{cluster.endpoints[0]}/{bucket}/k") == 403
    s3.delete_public_access_block(Bucket=bucket)
    deadline = time.monotonic() + 10
    while anonymous_status(f"{cluster.endpoints[0]}/{bucket}/k") != 200:
        assert time.monotonic() < deadline, "the public policy never let the read in"
        time.sleep(0.05)
    s3.delete_bucket_policy(Bucket=bucket)


def test_bucket_owner_enforced_turns_acls_off(cluster: ClusterInfo, s3: Any, bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key="k", Body=b"v", ACL="public-read")
    s3.put_bucket_ownership_controls(
        Bucket=bucket, OwnershipControls={"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]}
    )
    assert anonymous_status(f"{cluster.endpoints[0]}/{bucket}/k") == 403  # the old grant is off
    with pytest.raises(ClientError) as info:
        s3.put_object(Bucket=bucket, Key="k2", Body=b"v", ACL="public-read")
    assert error_code(info) == (400, "AccessControlListNotSupported")
    with pytest.raises(ClientError) as info:
        s3.put_bucket_acl(Bucket=bucket, ACL="private")
    assert error_code(info) == (400, "AccessControlListNotSupported")
    s3.put_object(Bucket=bucket, Key="k3", Body=b"v")  # no ACL asked for: fine
    s3.put_object(Bucket=bucket, Key="k4", Body=b"v", ACL="bucket-owner-full-control")
    grants = s3.get_object_acl(Bucket=bucket, Key="k")["Grants"]
    assert [g["Permission"] for g in grants] == ["FULL_CONTROL"]
    s3.delete_bucket_ownership_controls(Bucket=bucket)


def test_ownership_chosen_when_the_bucket_is_created(s3: Any) -> None:
    name = unique_bucket_name("owned")
    s3.create_bucket(Bucket=name, ObjectOwnership="BucketOwnerEnforced")
    try:
        rules = s3.get_bucket_ownership_controls(Bucket=name)["OwnershipControls"]["Rules"]
        assert rules == [{"ObjectOwnership": "BucketOwnerEnforced"}]
    finally:
        s3.delete_bucket(Bucket=name)
    with pytest.raises(ClientError) as info:
        s3.create_bucket(Bucket=name, ObjectOwnership="BucketOwnerEnforced", ACL="public-read")
    assert error_code(info) == (400, "InvalidBucketAclWithObjectOwnership")
