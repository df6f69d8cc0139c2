"""PostObject: browser-style form uploads, built from boto3's generate_presigned_post and
sent with urllib as a hand-made multipart/form-data body."""

from __future__ import annotations

import base64
import datetime
import hashlib
import hmac
import json
import secrets
import urllib.error
import urllib.request
import xml.etree.ElementTree as ET
from hashlib import md5
from urllib.parse import parse_qs, urlsplit

import pytest
from botocore.exceptions import ClientError

from tests.helpers import make_client
from tests.helpers import multipart_form as _multipart


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


_OPENER = urllib.request.build_opener(_NoRedirect)


def _post(url: str, fields: dict[str, str], filename: str, data: bytes):
    body, content_type = _multipart(fields, filename, data)
    request = urllib.request.Request(
        url, data=body, method="POST", headers={"Content-Type": content_type}
    )
    try:
        with _OPENER.open(request, timeout=30) as response:
            return response.status, response.read(), response.headers
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read(), exc.headers


def _error_code(body: bytes) -> str:
    return ET.fromstring(body).findtext("Code")


def _presign(s3, bucket, fields=None, conditions=None, expires=600):
    return s3.generate_presigned_post(
        Bucket=bucket,
        Key="uploads/${filename}",
        Fields=fields,
        Conditions=conditions,
        ExpiresIn=expires,
    )


def _keys(s3, bucket) -> list[str]:
    return [o["Key"] for o in s3.list_objects_v2(Bucket=bucket).get("Contents", [])]


def test_upload_default_204_with_metadata(s3, bucket):
    fields = {
        "Content-Type": "image/png",
        "Cache-Control": "max-age=60",
        "x-amz-meta-owner": "alice",
    }
    post = _presign(s3, bucket, fields, [{k: v} for k, v in fields.items()])
    data = b"\x89PNG" + secrets.token_bytes(5000)
    status, body, headers = _post(post["url"], post["fields"], "pic.png", data)
    assert status == 204, body
    etag = f'"{md5(data).hexdigest()}"'
    assert headers["ETag"] == etag
    assert headers["Location"].endswith(f"/{bucket}/uploads/pic.png")
    got = s3.get_object(Bucket=bucket, Key="uploads/pic.png")
    assert got["Body"].read() == data
    assert got["ETag"] == etag
    assert got["ContentType"] == "image/png"
    assert got["CacheControl"] == "max-age=60"
    assert got["Metadata"] == {"owner": "alice"}


def test_upload_201_returns_post_response(s3, bucket):
    fields = {"success_action_status": "201"}
    post = _presign(s3, bucket, fields, [fields, ["content-length-range", 1, 100]])
    status, body, headers = _post(post["url"], post["fields"], "a b.txt", b"hello")
    assert status == 201, body
    root = ET.fromstring(body)
    assert root.tag == "PostResponse"
    assert root.findtext("Bucket") == bucket
    assert root.findtext("Key") == "uploads/a b.txt"
    assert root.findtext("ETag") == f'"{md5(b"hello").hexdigest()}"'
    assert root.findtext("Location") == headers["Location"]
    assert s3.get_object(Bucket=bucket, Key="uploads/a b.txt")["Body"].read() == b"hello"


def test_upload_redirects_with_303(s3, bucket):
    target = "https://app.example.com/done?step=2"
    fields = {"success_action_redirect": target}
    post = _presign(s3, bucket, fields, [fields])
    status, _, headers = _post(post["url"], post["fields"], "r.bin", b"redirected")
    assert status == 303
    location = urlsplit(headers["Location"])
    assert location.netloc == "app.example.com" and location.path == "/done"
    query = parse_qs(location.query)
    assert query["step"] == ["2"]
    assert query["bucket"] == [bucket]
    assert query["key"] == ["uploads/r.bin"]
    assert query["etag"] == [f'"{md5(b"redirected").hexdigest()}"']
    assert s3.head_object(Bucket=bucket, Key="uploads/r.bin")["ContentLength"] == 10


def test_upload_with_signature_v2(cluster, bucket):
    v2 = make_client(
        cluster.endpoints[0],
        cluster.access_key,
        cluster.secret_key,
        cluster.region,
        signature_version="s3",
    )
    post = _presign(v2, bucket)
    assert "AWSAccessKeyId" in post["fields"]
    status, body, _ = _post(post["url"], post["fields"], "v2.txt", b"two")
    assert status == 204, body
    assert v2.get_object(Bucket=bucket, Key="uploads/v2.txt")["Body"].read() == b"two"


def test_wrong_signature_is_refused_and_stores_nothing(cluster, s3, bucket):
    forger = make_client(
        cluster.endpoints[0], cluster.access_key, "wrong" + cluster.secret_key, cluster.region
    )
    post = _presign(forger, bucket)
    status, body, _ = _post(post["url"], post["fields"], "f.txt", b"forged")
    assert (status, _error_code(body)) == (403, "SignatureDoesNotMatch")
    assert _keys(s3, bucket) == []


def test_expired_policy_is_refused(s3, bucket):
    post = _presign(s3, bucket, expires=-60)  # expired a minute ago
    status, body, _ = _post(post["url"], post["fields"], "old.txt", b"late")
    assert status == 403
    root = ET.fromstring(body)
    assert root.findtext("Code") == "AccessDenied"
    assert root.findtext("Message") == "Invalid according to Policy: Policy expired."
    assert _keys(s3, bucket) == []


def test_content_length_range_is_enforced(s3, bucket):
    post = _presign(s3, bucket, conditions=[["content-length-range", 2, 10]])
    status, body, _ = _post(post["url"], post["fields"], "big.bin", b"x" * 11)
    assert (status, _error_code(body)) == (400, "EntityTooLarge")
    status, body, _ = _post(post["url"], post["fields"], "small.bin", b"x")
    assert (status, _error_code(body)) == (400, "EntityTooSmall")
    assert _keys(s3, bucket) == []
    status, _, _ = _post(post["url"], post["fields"], "fits.bin", b"x" * 10)
    assert status == 204
    assert _keys(s3, bucket) == ["uploads/fits.bin"]


def test_large_file_violating_range_stores_nothing(s3, bucket):
    post = _presign(s3, bucket, conditions=[["content-length-range", 0, 1 << 20]])
    status, body, _ = _post(post["url"], post["fields"], "huge.bin", b"y" * (3 << 20))
    assert (status, _error_code(body)) == (400, "EntityTooLarge")
    assert _keys(s3, bucket) == []


def test_field_not_in_policy_is_refused(s3, bucket):
    post = _presign(s3, bucket)
    fields = dict(post["fields"], **{"x-amz-meta-extra": "sneaky"})
    status, body, _ = _post(post["url"], fields, "e.txt", b"extra")
    assert status == 403
    root = ET.fromstring(body)
    assert root.findtext("Code") == "AccessDenied"
    assert "Extra input fields: x-amz-meta-extra" in root.findtext("Message")
    assert _keys(s3, bucket) == []


def test_checksum_field_is_checked_and_kept(s3, bucket):
    """An x-amz-checksum-* field need not be in the policy: it is checked like a PUT's."""
    data = b"x" * (2 << 20)
    good = base64.b64encode(hashlib.sha256(data).digest()).decode()
    post = _presign(s3, bucket)
    bad = dict(post["fields"], **{"x-amz-checksum-sha256": base64.b64encode(b"\0" * 32).decode()})
    status, body, _ = _post(post["url"], bad, "c.bin", data)
    assert (status, _error_code(body)) == (400, "BadDigest")
    assert _keys(s3, bucket) == []
    status, body, _ = _post(
        post["url"], dict(post["fields"], **{"x-amz-checksum-sha256": good}), "c.bin", data
    )
    assert status == 204, body
    head = s3.head_object(Bucket=bucket, Key="uploads/c.bin", ChecksumMode="ENABLED")
    assert head["ChecksumSHA256"] == good


def test_tagging_field(s3, bucket):
    tagging = "<Tagging><TagSet><Tag><Key>team</Key><Value>blue</Value></Tag></TagSet></Tagging>"
    post = _presign(s3, bucket, {"tagging": tagging}, [{"tagging": tagging}])
    status, body, _ = _post(post["url"], post["fields"], "t.txt", b"tagged")
    assert status == 204, body
    tags = s3.get_object_tagging(Bucket=bucket, Key="uploads/t.txt")["TagSet"]
    assert tags == [{"Key": "team", "Value": "blue"}]


def test_missing_bucket_and_non_form_body(cluster, s3):
    post = _presign(s3, "no-such-bucket-for-post")
    status, body, _ = _post(post["url"], post["fields"], "x.txt", b"x")
    assert (status, _error_code(body)) == (404, "NoSuchBucket")
    request = urllib.request.Request(
        f"{cluster.endpoints[0]}/no-such-bucket-for-post",
        data=b"a=b",
        method="POST",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    with pytest.raises(urllib.error.HTTPError) as info:
        _OPENER.open(request, timeout=30)
    assert info.value.code == 412


def test_an_unsigned_form_is_an_anonymous_write(cluster, s3, bucket):
    """A form without a signature writes only where anyone may write."""
    url = f"{cluster.endpoints[0]}/{bucket}"
    fields = {"key": "anon/${filename}", "Content-Type": "text/plain"}
    status, body, _ = _post(url, fields, "a.txt", b"anonymous")
    assert (status, _error_code(body)) == (403, "AccessDenied")
    s3.put_bucket_acl(Bucket=bucket, ACL="public-read-write")
    status, _, _ = _post(url, fields, "a.txt", b"anonymous")
    assert status == 204
    assert s3.get_object(Bucket=bucket, Key="anon/a.txt")["Body"].read() == b"anonymous"
    # The object is the bucket owner's: its owner reads its ACL.
    assert s3.get_object_acl(Bucket=bucket, Key="anon/a.txt")["Owner"]["ID"] == cluster.access_key
    s3.put_bucket_acl(Bucket=bucket, ACL="private")


def _signed_v2_form(cluster, document: dict, key: str) -> dict[str, str]:
    """Form fields for a policy document signed by hand with SigV2 (boto3's presigner
    would not write a malformed one)."""
    policy = base64.b64encode(json.dumps(document).encode())
    signature = hmac.new(cluster.secret_key.encode(), policy, hashlib.sha1).digest()
    return {
        "key": key,
        "AWSAccessKeyId": cluster.access_key,
        "policy": policy.decode(),
        "signature": base64.b64encode(signature).decode(),
    }


def test_expiration_must_be_iso8601(cluster, s3, bucket):
    later = datetime.datetime.now(datetime.UTC) + datetime.timedelta(hours=1)
    document = {
        "expiration": str(later),  # "2026-12-07 10:00:00.123+00:00": no T
        "conditions": [{"bucket": bucket}, ["starts-with", "$key", "uploads/"]],
    }
    fields = _signed_v2_form(cluster, document, "uploads/x")
    status, body, _ = _post(f"{cluster.endpoints[0]}/{bucket}", fields, "x.txt", b"x")
    assert (status, _error_code(body)) == (400, "InvalidPolicyDocument")


def test_conditions_see_the_key_with_the_filename_filled_in(cluster, s3, bucket):
    later = datetime.datetime.now(datetime.UTC) + datetime.timedelta(hours=1)
    document = {
        "expiration": later.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "conditions": [{"bucket": bucket}, ["starts-with", "$key", "foo"]],
    }
    fields = _signed_v2_form(cluster, document, "${filename}")
    url = f"{cluster.endpoints[0]}/{bucket}"
    status, body, _ = _post(url, fields, "foo.txt", b"named")
    assert status == 204, body
    assert s3.get_object(Bucket=bucket, Key="foo.txt")["Body"].read() == b"named"
    status, body, _ = _post(url, fields, "bar.txt", b"named")
    assert (status, _error_code(body)) == (403, "AccessDenied")


def test_anonymous_requests_are_still_refused_elsewhere(cluster, bucket):
    request = urllib.request.Request(f"{cluster.endpoints[0]}/{bucket}/k", data=b"x", method="PUT")
    with pytest.raises(urllib.error.HTTPError) as info:
        _OPENER.open(request, timeout=30)
    assert info.value.code == 403
    request = urllib.request.Request(f"{cluster.endpoints[0]}/{bucket}?uploads", method="POST")
    with pytest.raises(urllib.error.HTTPError) as info:
        _OPENER.open(request, timeout=30)
    assert info.value.code == 403


def test_object_readable_by_other_gateway(s3_clients, bucket):
    post = _presign(s3_clients[0], bucket)
    status, _, _ = _post(post["url"], post["fields"], "g.txt", b"gateway")
    assert status == 204
    try:
        got = s3_clients[1].get_object(Bucket=bucket, Key="uploads/g.txt")
    except ClientError as exc:  # pragma: no cover - diagnostic
        pytest.fail(f"second gateway: {exc}")
    assert got["Body"].read() == b"gateway"
