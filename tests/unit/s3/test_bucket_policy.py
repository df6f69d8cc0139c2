"""The bucket policy language (gateway/s3/bucket_policy.py): what it refuses as
MalformedPolicy, and how it evaluates principals, actions, resources and conditions."""

from __future__ import annotations

import json

import pytest

from gateway.s3 import bucket_policy as bp
from gateway.s3.errors import S3Error

ARN = "arn:aws:s3:::bkt"


def policy(*statements: dict) -> bp.Policy:
    return bp.parse(json.dumps({"Version": "2012-10-17", "Statement": list(statements)}), "bkt")


def allow(**fields: object) -> dict:
    return {
        "Effect": "Allow",
        "Principal": "*",
        "Action": "s3:GetObject",
        "Resource": f"{ARN}/*",
        **fields,
    }


def facts(
    action: str = "s3:GetObject", key: str | None = "k", who: str | None = None, **context: str
) -> bp.Facts:
    resource = ARN + (f"/{key}" if key is not None else "")
    return bp.Facts(who, action, resource, context)


@pytest.mark.parametrize(
    "document",
    [
        "not json",
        "[]",
        json.dumps({"Version": "2012-10-17"}),
        json.dumps({"Version": "1999-01-01", "Statement": [allow()]}),
        json.dumps({"Statement": [allow(Effect="Maybe")]}),
        json.dumps({"Statement": [allow(Action="s3:MakeCoffee")]}),
        json.dumps({"Statement": [allow(Resource="arn:aws:s3:::other/*")]}),
        json.dumps({"Statement": [allow(Condition={"StringSortOf": {"s3:prefix": "a"}})]}),
        json.dumps({"Statement": [{k: v for k, v in allow().items() if k != "Principal"}]}),
    ],
)
def test_malformed_policies_are_refused(document: str) -> None:
    with pytest.raises(S3Error) as info:
        bp.parse(document, "bkt")
    assert info.value.code == "MalformedPolicy" and info.value.status == 400


def test_explicit_deny_wins_over_allow() -> None:
    doc = policy(
        allow(Action="s3:*"),
        {"Effect": "Deny", "Principal": "*", "Action": "s3:Delete*", "Resource": f"{ARN}/*"},
    )
    assert doc.evaluate(facts()) == "Allow"
    assert doc.evaluate(facts("s3:DeleteObject")) == "Deny"
    assert doc.evaluate(facts("s3:ListBucket", key=None)) is None  # the bucket is no object


def test_principals_actions_and_resources() -> None:
    doc = policy(
        allow(
            Principal={"AWS": ["arn:aws:iam::AKIDALICE:root", "AKIDBOB"]}, Resource=f"{ARN}/pub/*"
        )
    )
    assert doc.evaluate(facts(key="pub/a", who="AKIDALICE")) == "Allow"
    assert doc.evaluate(facts(key="pub/a", who="AKIDBOB")) == "Allow"
    assert doc.evaluate(facts(key="pub/a", who="AKIDEVE")) is None
    assert doc.evaluate(facts(key="pub/a")) is None  # anonymous
    assert doc.evaluate(facts(key="private", who="AKIDBOB")) is None
    others = policy(
        {
            "Effect": "Deny",
            "NotPrincipal": {"AWS": "AKIDBOB"},
            "NotAction": "s3:PutObject",
            "Resource": f"{ARN}/*",
        }
    )
    assert others.evaluate(facts(who="AKIDEVE")) == "Deny"
    assert others.evaluate(facts(who="AKIDBOB")) is None
    assert others.evaluate(facts("s3:PutObject", who="AKIDEVE")) is None
    # NotPrincipal allows nothing (AWS refuses it with Allow).
    with pytest.raises(S3Error) as info:
        policy(
            {
                "Effect": "Allow",
                "NotPrincipal": {"AWS": "AKIDBOB"},
                "Action": "s3:GetObject",
                "Resource": f"{ARN}/*",
            }
        )
    assert info.value.code == "MalformedPolicy"


def test_conditions() -> None:
    doc = policy(
        allow(
            Action="s3:ListBucket",
            Resource=ARN,
            Condition={
                "StringLike": {"s3:prefix": ["home/*", "pub/*"]},
                "IpAddress": {"aws:SourceIp": "10.0.0.0/8"},
                "NumericLessThanEquals": {"s3:max-keys": "100"},
                "Bool": {"aws:SecureTransport": True},
            },
        )
    )
    ok = {
        "s3:prefix": "home/a",
        "aws:SourceIp": "10.1.2.3",
        "s3:max-keys": "10",
        "aws:SecureTransport": "true",
    }
    assert doc.evaluate(facts("s3:ListBucket", None, **ok)) == "Allow"
    for change in (
        {"s3:prefix": "etc/"},
        {"aws:SourceIp": "192.168.0.1"},
        {"s3:max-keys": "1000"},
        {"aws:SecureTransport": "false"},
    ):
        assert doc.evaluate(facts("s3:ListBucket", None, **{**ok, **change})) is None, change
    missing = {k: v for k, v in ok.items() if k != "s3:max-keys"}
    assert doc.evaluate(facts("s3:ListBucket", None, **missing)) is None  # no key, no match
    lax = policy(allow(Condition={"NumericLessThanEqualsIfExists": {"s3:max-keys": "5"}}))
    assert lax.evaluate(facts()) == "Allow"
    negative = policy(allow(Condition={"StringNotEquals": {"s3:x-amz-acl": ["public-read"]}}))
    assert negative.evaluate(facts()) == "Allow"  # absent: not equal
    assert negative.evaluate(facts(**{"s3:x-amz-acl": "public-read"})) is None
    null = policy(allow(Condition={"Null": {"s3:x-amz-server-side-encryption": "true"}}))
    assert null.evaluate(facts()) == "Allow"
    assert null.evaluate(facts(**{"s3:x-amz-server-side-encryption": "AES256"})) is None


def test_public_status() -> None:
    assert policy(allow()).is_public()
    assert not policy(allow(Principal={"AWS": "AKIDBOB"})).is_public()
    assert not policy(allow(Condition={"IpAddress": {"aws:SourceIp": "10.0.0.0/8"}})).is_public()
