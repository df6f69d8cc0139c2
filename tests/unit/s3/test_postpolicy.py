"""POST policies and form signatures, against forms botocore's generate_presigned_post builds."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta

import botocore.session
import pytest
from botocore.config import Config

from gateway.s3.errors import S3Error
from gateway.s3.postpolicy import (
    Condition,
    authorize,
    check_length,
    check_policy,
    decode_policy,
    verify_signature,
)

ACCESS = "AKTESSERAPOST"
SECRET = "s3cr3t/with+odd=chars"
BUCKET = "photos"


def lookup(access_key: str) -> str | None:
    return SECRET if access_key == ACCESS else None


def _client(signature_version: str, secret: str = SECRET):
    return botocore.session.get_session().create_client(
        "s3",
        region_name="eu-west-1",
        endpoint_url="http://tessera.test:9000",
        aws_access_key_id=ACCESS,
        aws_secret_access_key=secret,
        config=Config(signature_version=signature_version, s3={"addressing_style": "path"}),
    )


@pytest.fixture(scope="module", params=["s3v4", "s3"])
def client(request: pytest.FixtureRequest):
    return _client(request.param)


def presigned_form(client, key: str = "uploads/${filename}", fields=None, conditions=None):
    """The lower-cased form fields a browser would send for a botocore presigned POST."""
    post = client.generate_presigned_post(
        BUCKET, key, Fields=fields, Conditions=conditions, ExpiresIn=3600
    )
    assert post["url"].endswith(f"/{BUCKET}")
    return {name.lower(): value for name, value in post["fields"].items()}


def now() -> datetime:
    return datetime.now(UTC)


def code_of(fn, *args) -> tuple[str, str]:
    with pytest.raises(S3Error) as info:
        fn(*args)
    return info.value.code, info.value.message


# --------------------------------------------------------------------------- full forms


def test_botocore_form_is_authorized(client) -> None:
    fields = presigned_form(
        client,
        fields={"acl": "private", "x-amz-meta-foo": "bar", "success_action_status": "201"},
        conditions=[
            {"acl": "private"},
            {"x-amz-meta-foo": "bar"},
            {"success_action_status": "201"},
            ["content-length-range", 1, 1000],
        ],
    )
    auth, policy = authorize(fields, BUCKET, lookup, now())
    assert auth.access_key == ACCESS
    assert policy.length_range == (1, 1000)


def test_tampered_policy_does_not_verify(client) -> None:
    fields = presigned_form(client)
    document = json.loads(base64.b64decode(fields["policy"]))
    document["conditions"].append(["content-length-range", 0, 1 << 40])
    fields["policy"] = base64.b64encode(json.dumps(document).encode()).decode()
    assert code_of(verify_signature, fields, lookup)[0] == "SignatureDoesNotMatch"


def test_wrong_secret_does_not_verify() -> None:
    for version in ("s3v4", "s3"):
        fields = presigned_form(_client(version, secret="not-the-secret"))
        assert code_of(verify_signature, fields, lookup)[0] == "SignatureDoesNotMatch"


def test_unknown_access_key(client) -> None:
    fields = presigned_form(client)
    assert code_of(verify_signature, fields, lambda _: None)[0] == "InvalidAccessKeyId"


def test_v4_fields() -> None:
    fields = presigned_form(_client("s3v4"))
    assert fields["x-amz-credential"].startswith(f"{ACCESS}/")
    auth = verify_signature(fields, lookup)
    assert auth.scope.endswith("/eu-west-1/s3/aws4_request")
    for missing in ("x-amz-date", "x-amz-signature", "policy"):
        broken = {k: v for k, v in fields.items() if k != missing}
        assert code_of(verify_signature, broken, lookup)[0] == "InvalidArgument"
    broken = dict(fields, **{"x-amz-algorithm": "AWS4-HMAC-SHA512"})
    assert code_of(verify_signature, broken, lookup)[0] == "InvalidArgument"
    broken = dict(fields, **{"x-amz-date": "20000101T000000Z"})
    assert code_of(verify_signature, broken, lookup)[0] == "InvalidArgument"
    broken = dict(fields, **{"x-amz-signature": "0" * 64})
    assert code_of(verify_signature, broken, lookup)[0] == "SignatureDoesNotMatch"


def test_v2_fields() -> None:
    fields = presigned_form(_client("s3"))
    assert "awsaccesskeyid" in fields and "signature" in fields
    assert verify_signature(fields, lookup).access_key == ACCESS
    broken = {k: v for k, v in fields.items() if k != "signature"}
    assert code_of(verify_signature, broken, lookup)[0] == "InvalidArgument"


def test_unsigned_form_is_denied() -> None:
    assert code_of(verify_signature, {"key": "k"}, lookup)[0] == "AccessDenied"


def test_expired_policy(client) -> None:
    fields = presigned_form(client)
    later = now() + timedelta(hours=2)
    code, message = code_of(authorize, fields, BUCKET, lookup, later)
    assert (code, message) == ("AccessDenied", "Invalid according to Policy: Policy expired.")


def test_extra_field_is_denied(client) -> None:
    fields = presigned_form(client)
    fields["x-amz-meta-sneaky"] = "1"
    code, message = code_of(authorize, fields, BUCKET, lookup, now())
    assert code == "AccessDenied"
    assert message == "Invalid according to Policy: Extra input fields: x-amz-meta-sneaky"


def test_ignored_and_signature_fields_need_no_condition(client) -> None:
    fields = presigned_form(client)
    fields["x-ignore-anything"] = "whatever"
    authorize(fields, BUCKET, lookup, now())


def test_other_bucket_is_denied(client) -> None:
    fields = presigned_form(client)
    code, message = code_of(authorize, fields, "other-bucket", lookup, now())
    assert code == "AccessDenied"
    assert message.startswith("Invalid according to Policy: Policy Condition failed")
    assert '"$bucket"' in message


def test_key_outside_prefix_is_denied(client) -> None:
    fields = presigned_form(client)
    fields["key"] = "elsewhere/${filename}"
    assert code_of(authorize, fields, BUCKET, lookup, now())[0] == "AccessDenied"


# --------------------------------------------------------------------------- policy logic


def encode(document: dict) -> str:
    return base64.b64encode(json.dumps(document).encode()).decode()


FUTURE = "2999-01-01T00:00:00.000Z"


def test_decode_conditions() -> None:
    policy = decode_policy(
        encode(
            {
                "expiration": "2030-06-01T12:00:00.000Z",
                "conditions": [
                    {"bucket": "b"},
                    ["eq", "$Key", "k"],
                    ["starts-with", "$Content-Type", "image/"],
                    ["content-length-range", "10", 20],
                    {"x-amz-meta-a": "1", "acl": "private"},
                ],
            }
        )
    )
    assert policy.expiration == datetime(2030, 6, 1, 12, tzinfo=UTC)
    assert policy.length_range == (10, 20)
    assert policy.conditions == (
        Condition("eq", "bucket", "b"),
        Condition("eq", "key", "k"),
        Condition("starts-with", "content-type", "image/"),
        Condition("eq", "x-amz-meta-a", "1"),
        Condition("eq", "acl", "private"),
    )


@pytest.mark.parametrize(
    "document",
    [
        "not base64 at all!",
        base64.b64encode(b"{not json").decode(),
        encode([]),
        encode({"conditions": []}),
        encode({"expiration": "yesterday", "conditions": []}),
        encode({"expiration": FUTURE}),
        encode({"expiration": FUTURE, "conditions": [["in", "$key", ["a"]]]}),
        encode({"expiration": FUTURE, "conditions": [["eq", "key", "a"]]}),
        encode({"expiration": FUTURE, "conditions": [["eq", "$key"]]}),
        encode({"expiration": FUTURE, "conditions": [["content-length-range", 5, 1]]}),
        encode({"expiration": FUTURE, "conditions": [["content-length-range", -1, 1]]}),
        encode({"expiration": FUTURE, "conditions": [{"key": ["list"]}]}),
        encode({"expiration": FUTURE, "conditions": ["key"]}),
    ],
)
def test_malformed_policy(document: str) -> None:
    assert code_of(decode_policy, document)[0] == "InvalidPolicyDocument"


def policy_of(*conditions) -> object:
    return decode_policy(encode({"expiration": FUTURE, "conditions": list(conditions)}))


def test_exact_and_prefix_matching() -> None:
    policy = policy_of(
        {"bucket": "b"},
        ["starts-with", "$key", "user/"],
        {"success_action_status": "201"},
        ["starts-with", "$x-amz-meta-tag", ""],
    )
    fields = {"key": "user/a", "success_action_status": "201", "x-amz-meta-tag": "anything"}
    check_policy(policy, fields, "b", now())
    for change in (
        {"key": "other/a"},
        {"success_action_status": "200"},
    ):
        with pytest.raises(S3Error):
            check_policy(policy, {**fields, **change}, "b", now())
    # A condition on an absent field sees "": a starts-with "" still holds, an eq does not.
    check_policy(policy, {k: v for k, v in fields.items() if k != "x-amz-meta-tag"}, "b", now())
    with pytest.raises(S3Error):
        check_policy(policy, {"key": "user/a"}, "b", now())


def test_content_type_list_must_all_match() -> None:
    policy = policy_of(["starts-with", "$Content-Type", "image/"])
    check_policy(policy, {"content-type": "image/jpeg, image/png"}, "b", now())
    with pytest.raises(S3Error):
        check_policy(policy, {"content-type": "image/jpeg,text/html"}, "b", now())


def test_values_match_case_sensitively() -> None:
    policy = policy_of({"acl": "private"})
    with pytest.raises(S3Error):
        check_policy(policy, {"acl": "Private"}, "b", now())


def test_check_length() -> None:
    policy = policy_of(["content-length-range", 2, 4])
    check_length(policy, 5 - 1, final=True)
    check_length(policy, 1, final=False)  # more may come
    assert code_of(lambda: check_length(policy, 1, final=True))[0] == "EntityTooSmall"
    assert code_of(lambda: check_length(policy, 5, final=False))[0] == "EntityTooLarge"
    check_length(policy_of(), 1 << 40, final=True)
