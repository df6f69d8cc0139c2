"""Bucket policies through real gateways: stored, read back and deleted; malformed ones
refused; a policy-only public bucket read by unsigned requests; a key let in by a
policy, and an explicit Deny that wins over an Allow and over the owner's own rights;
conditions on the request (prefix, source address)."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.helpers import anonymous_status, error_code
from tests.integration.test_acls import Key
from tools.cluster import ClusterInfo


@pytest.fixture(scope="module")
def other(cluster: ClusterInfo) -> Key:
    """A readwrite key that owns none of the test buckets."""
    return Key(cluster, "readwrite")


def _document(*statements: dict[str, Any]) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


def _put(clients: list[Any], bucket: str, document: str) -> None:
    """Put the policy, and wait until every gateway has it (etcd watch)."""
    clients[0].put_bucket_policy(Bucket=bucket, Policy=document)
    deadline = time.monotonic() + 10
    for client in clients:
        while _policy_of(client, bucket) != document:
            assert time.monotonic() < deadline, "policy did not reach every gateway"
            time.sleep(0.02)


def _policy_of(client: Any, bucket: str) -> str | None:
    """The bucket's policy as one gateway has it (None: none yet)."""
    try:
        return client.get_bucket_policy(Bucket=bucket)["Policy"]
    except ClientError as exc:
        if exc.response["Error"]["Code"] != "NoSuchBucketPolicy":
            raise
        return None


def _fails(code: tuple[int, str], call: Callable[..., Any], **kwargs: Any) -> None:
    with pytest.raises(ClientError) as info:
        call(**kwargs)
    assert error_code(info) == code


def test_a_policy_is_stored_read_back_and_deleted(s3_clients: list[Any], bucket: str) -> None:
    s3 = s3_clients[0]
    _fails((404, "NoSuchBucketPolicy"), s3.get_bucket_policy, Bucket=bucket)
    document = _document(
        {
            "Sid": "public-read",
            "Effect": "Allow",
            "Principal": "*",
            "Action": ["s3:GetObject"],
            "Resource": f"arn:aws:s3:::{bucket}/*",
        }
    )
    _put(s3_clients, bucket, document)
    assert s3.get_bucket_policy_status(Bucket=bucket)["PolicyStatus"]["IsPublic"] is True
    s3.delete_bucket_policy(Bucket=bucket)
    _fails((404, "NoSuchBucketPolicy"), s3.get_bucket_policy, Bucket=bucket)
    # Without a policy the status still answers, public by the bucket's ACL.
    assert s3.get_bucket_policy_status(Bucket=bucket)["PolicyStatus"]["IsPublic"] is False
    s3.put_bucket_acl(Bucket=bucket, ACL="authenticated-read")
    assert s3.get_bucket_policy_status(Bucket=bucket)["PolicyStatus"]["IsPublic"] is True
    s3.put_bucket_acl(Bucket=bucket, ACL="private")
    for bad in (
        "{not json",
        _document({"Effect": "Allow", "Principal": "*", "Action": "s3:Fly", "Resource": "*"}),
        _document(
            {
                "Effect": "Allow",
                "Principal": "*",
                "Action": "s3:GetObject",
                "Resource": "arn:aws:s3:::somebody-else/*",
            }
        ),
    ):
        _fails((400, "MalformedPolicy"), s3.put_bucket_policy, Bucket=bucket, Policy=bad)


def test_a_policy_makes_a_bucket_public_to_unsigned_requests(
    cluster: ClusterInfo, s3_clients: list[Any], bucket: str
) -> None:
    s3 = s3_clients[0]
    s3.put_object(Bucket=bucket, Key="pub/a.txt", Body=b"hello")
    s3.put_object(Bucket=bucket, Key="secret.txt", Body=b"no")
    base = f"{cluster.endpoints[0]}/{bucket}"
    assert anonymous_status(f"{base}/pub/a.txt") == 403
    _put(
        s3_clients,
        bucket,
        _document(
            {
                "Effect": "Allow",
                "Principal": "*",
                "Action": "s3:GetObject",
                "Resource": f"arn:aws:s3:::{bucket}/pub/*",
            },
            {
                "Effect": "Allow",
                "Principal": {"AWS": "*"},
                "Action": "s3:ListBucket",
                "Resource": f"arn:aws:s3:::{bucket}",
                "Condition": {"StringEquals": {"s3:prefix": "pub/"}},
            },
        ),
    )
    with urllib.request.urlopen(f"{base}/pub/a.txt", timeout=10) as reply:
        assert reply.read() == b"hello"
    assert anonymous_status(f"{base}/secret.txt") == 403
    assert anonymous_status(f"{base}?list-type=2&prefix=pub/") == 200
    assert anonymous_status(f"{base}?list-type=2") == 403  # the condition asks for pub/


def test_an_explicit_deny_wins(s3_clients: list[Any], bucket: str, other: Key) -> None:
    s3 = s3_clients[0]
    s3.put_object(Bucket=bucket, Key="k", Body=b"v")
    _fails((403, "AccessDenied"), other.s3.get_object, Bucket=bucket, Key="k")
    _put(
        s3_clients,
        bucket,
        _document(
            {
                "Effect": "Allow",
                "Principal": {"AWS": [f"arn:aws:iam::{other.access_key}:root"]},
                "Action": "s3:*",
                "Resource": [f"arn:aws:s3:::{bucket}", f"arn:aws:s3:::{bucket}/*"],
            },
            {
                "Effect": "Deny",
                "Principal": "*",
                "Action": "s3:DeleteObject",
                "Resource": f"arn:aws:s3:::{bucket}/*",
            },
        ),
    )
    # The policy lets the other key in, but no one deletes: not even the owner.
    for client in (other.s3, s3):
        assert client.get_object(Bucket=bucket, Key="k")["Body"].read() == b"v"
        _fails((403, "AccessDenied"), client.delete_object, Bucket=bucket, Key="k")
    other.s3.put_object(Bucket=bucket, Key="from-other", Body=b"x")
    assert [o["Key"] for o in other.s3.list_objects_v2(Bucket=bucket)["Contents"]] == [
        "from-other",
        "k",
    ]
    s3.delete_bucket_policy(Bucket=bucket)  # the owner can always take it away
    for client in s3_clients:
        deadline = time.monotonic() + 10
        while True:
            try:
                client.get_bucket_policy(Bucket=bucket)
            except ClientError:
                break
            assert time.monotonic() < deadline
            time.sleep(0.02)
    s3.delete_object(Bucket=bucket, Key="k")


def test_a_write_allowed_only_when_it_grants_the_owner_full_control(
    s3_clients: list[Any], bucket: str, other: Key, cluster: ClusterInfo
) -> None:
    s3 = s3_clients[0]
    grant = f"id={cluster.access_key}"
    _put(
        s3_clients,
        bucket,
        _document(
            {
                "Effect": "Allow",
                "Principal": {"AWS": "*"},
                "Action": "s3:PutObject",
                "Resource": f"arn:aws:s3:::{bucket}/*",
                "Condition": {"StringEquals": {"s3:x-amz-grant-full-control": grant}},
            }
        ),
    )
    _fails((403, "AccessDenied"), other.s3.put_object, Bucket=bucket, Key="k", Body=b"v")
    other.s3.put_object(Bucket=bucket, Key="k", Body=b"v", GrantFullControl=grant)
    grants = s3.get_object_acl(Bucket=bucket, Key="k")["Grants"]
    assert [g["Grantee"]["ID"] for g in grants] == [cluster.access_key]
    s3.delete_bucket_policy(Bucket=bucket)
    s3.delete_object(Bucket=bucket, Key="k")


def test_a_deny_by_source_address(s3_clients: list[Any], bucket: str) -> None:
    s3 = s3_clients[0]
    s3.put_object(Bucket=bucket, Key="k", Body=b"v")
    _put(
        s3_clients,
        bucket,
        _document(
            {
                "Effect": "Deny",
                "Principal": "*",
                "Action": "s3:GetObject",
                "Resource": f"arn:aws:s3:::{bucket}/*",
                "Condition": {"NotIpAddress": {"aws:SourceIp": "10.0.0.0/8"}},
            }
        ),
    )
    _fails((403, "AccessDenied"), s3.get_object, Bucket=bucket, Key="k")  # from 127.0.0.1
    assert s3.head_bucket(Bucket=bucket)  # other actions are untouched
    s3.delete_bucket_policy(Bucket=bucket)
