"""S3Error and the <Error> document."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest
from botocore.exceptions import ClientError

from gateway.s3.errors import ERRORS, S3Error, error_xml

REQUIRED = {
    "AccessDenied": 403,
    "AuthorizationHeaderMalformed": 400,
    "AuthorizationQueryParametersError": 400,
    "BadDigest": 400,
    "BucketAlreadyExists": 409,
    "BucketAlreadyOwnedByYou": 409,
    "BucketNotEmpty": 409,
    "EntityTooLarge": 400,
    "EntityTooSmall": 400,
    "ExpiredToken": 400,
    "IncompleteBody": 400,
    "InternalError": 500,
    "InvalidAccessKeyId": 403,
    "InvalidArgument": 400,
    "InvalidBucketName": 400,
    "InvalidDigest": 400,
    "InvalidPart": 400,
    "InvalidPartOrder": 400,
    "InvalidRange": 416,
    "InvalidRequest": 400,
    "KeyTooLongError": 400,
    "MalformedXML": 400,
    "MetadataTooLarge": 400,
    "MethodNotAllowed": 405,
    "MissingContentLength": 411,
    "MissingSecurityHeader": 400,
    "NoSuchBucket": 404,
    "NoSuchKey": 404,
    "NoSuchUpload": 404,
    "NoSuchVersion": 404,
    "NotImplemented": 501,
    "PreconditionFailed": 412,
    "RequestTimeTooSkewed": 403,
    "ServiceUnavailable": 503,
    "SlowDown": 503,
    "SignatureDoesNotMatch": 403,
    "XAmzContentSHA256Mismatch": 400,
    "InvalidLocationConstraint": 400,
    "IllegalLocationConstraintException": 400,
    "NotModified": 304,
    "RequestTimeout": 400,
    "InvalidObjectState": 403,
    "InvalidStorageClass": 400,
    "InvalidTag": 400,
    "InvalidURI": 400,
    "MalformedPOSTRequest": 400,
    "MaxMessageLengthExceeded": 400,
    "BadRequest": 400,
    "TooManyBuckets": 400,
    "OperationAborted": 409,
}


@pytest.mark.parametrize(("code", "status"), sorted(REQUIRED.items()))
def test_table_statuses(code, status):
    assert ERRORS[code][0] == status
    assert ERRORS[code][1]


def test_some_exact_messages():
    assert ERRORS["NoSuchKey"][1] == "The specified key does not exist."
    assert ERRORS["NoSuchBucket"][1] == "The specified bucket does not exist"
    assert ERRORS["AccessDenied"][1] == "Access Denied"
    assert ERRORS["SignatureDoesNotMatch"][1].startswith("The request signature we calculated")


def test_defaults_and_overrides():
    err = S3Error("NoSuchKey", resource="/b/k")
    assert (err.code, err.status, err.message) == ("NoSuchKey", 404, ERRORS["NoSuchKey"][1])
    assert err.resource == "/b/k"
    assert err.headers == {} and err.extra == {}
    assert "NoSuchKey" in str(err)

    err = S3Error("InvalidArgument", "bad max-keys", status=400, extra={"ArgumentName": "max-keys"})
    assert err.message == "bad max-keys"
    assert err.extra == {"ArgumentName": "max-keys"}

    err = S3Error("SlowDown", headers={"Retry-After": "1"})
    assert err.status == 503 and err.headers == {"Retry-After": "1"}


def test_unknown_code_needs_status():
    with pytest.raises(ValueError):
        S3Error("NoSuchThing")
    err = S3Error("NoSuchThing", "custom", status=404)
    assert (err.status, err.message) == (404, "custom")


def test_error_xml_shape_and_escaping():
    err = S3Error(
        "NoSuchKey",
        "key <&> \"'\r",
        resource="/b/a&b<c>\x01",
        extra={"Key": "a&b<c>", "BucketName": "b"},
    )
    body = error_xml(err, "req&1", "host<id>")
    assert body.startswith(b'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>NoSuchKey</Code>')
    assert b"&#x1;" in body
    # Resource has a non-XML character; strip that one for expat, then check the rest.
    root = ET.fromstring(body.replace(b"&#x1;", b""))
    assert root.tag == "Error"
    assert [c.tag for c in root] == [
        "Code",
        "Message",
        "Key",
        "BucketName",
        "Resource",
        "RequestId",
        "HostId",
    ]
    assert root.findtext("Message") == "key <&> \"'\r"
    assert root.findtext("Key") == "a&b<c>"
    assert root.findtext("Resource") == "/b/a&b<c>"
    assert root.findtext("RequestId") == "req&1"
    assert root.findtext("HostId") == "host<id>"


def test_error_xml_parsed_by_botocore(fake_s3):
    err = S3Error("NoSuchBucket", resource="/ünï & co", extra={"BucketName": "ünï & co"})
    fake_s3.reply(error_xml(err, "RID", "HID"), status=err.status)
    with pytest.raises(ClientError) as exc:
        fake_s3.client.list_objects_v2(Bucket="bkt")
    resp = exc.value.response
    assert resp["Error"]["Code"] == "NoSuchBucket"
    assert resp["Error"]["Message"] == "The specified bucket does not exist"
    assert resp["Error"]["BucketName"] == "ünï & co"
    # botocore reads the ids of an S3 <Error> from the x-amz-request-id / x-amz-id-2 headers
    # (the caller must send them) and drops the body's copies.
    assert "RequestId" not in resp["Error"] and "HostId" not in resp["Error"]
    assert resp["ResponseMetadata"]["HTTPStatusCode"] == 404
