"""Object lock: a bucket created with it keeps versions for good; retention and legal
hold, given at PUT, later, or by the bucket's default; a version under COMPLIANCE
retention or a legal hold survives every delete path, GOVERNANCE yields only to a
bypass; retention can grow, never shrink under COMPLIANCE."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.helpers import error_code, unique_bucket_name


def _future(seconds: float) -> dt.datetime:
    return dt.datetime.now(dt.UTC) + dt.timedelta(seconds=seconds)


@pytest.fixture
def locked(s3: Any) -> Any:
    name = unique_bucket_name("locked")
    s3.create_bucket(Bucket=name, ObjectLockEnabledForBucket=True)
    yield name
    # It holds versions locked for hours: it goes with the test cluster.


def test_configuration(s3: Any, locked: str, bucket: str) -> None:
    assert s3.get_bucket_versioning(Bucket=locked)["Status"] == "Enabled"
    config = s3.get_object_lock_configuration(Bucket=locked)["ObjectLockConfiguration"]
    assert config == {"ObjectLockEnabled": "Enabled"}
    rule = {"DefaultRetention": {"Mode": "GOVERNANCE", "Days": 1}}
    s3.put_object_lock_configuration(
        Bucket=locked, ObjectLockConfiguration={"ObjectLockEnabled": "Enabled", "Rule": rule}
    )
    config = s3.get_object_lock_configuration(Bucket=locked)["ObjectLockConfiguration"]
    assert config["Rule"] == rule
    for bad, code in (
        ({"DefaultRetention": {"Mode": "GOVERNANCE", "Days": 1, "Years": 1}}, "MalformedXML"),
        ({"DefaultRetention": {"Mode": "GOVERNANCE", "Days": 0}}, "InvalidRetentionPeriod"),
    ):
        with pytest.raises(ClientError) as info:
            s3.put_object_lock_configuration(
                Bucket=locked, ObjectLockConfiguration={"ObjectLockEnabled": "Enabled", "Rule": bad}
            )
        assert error_code(info) == (400, code)
    with pytest.raises(ClientError) as info:
        s3.put_bucket_versioning(Bucket=locked, VersioningConfiguration={"Status": "Suspended"})
    assert error_code(info) == (409, "InvalidBucketState")
    with pytest.raises(ClientError) as info:
        s3.get_object_lock_configuration(Bucket=bucket)
    assert error_code(info) == (404, "ObjectLockConfigurationNotFoundError")
    with pytest.raises(ClientError) as info:
        s3.put_object(Bucket=bucket, Key="k", Body=b"x", ObjectLockLegalHoldStatus="ON")
    assert error_code(info) == (400, "InvalidRequest")
    v = s3.put_object(Bucket=locked, Key="default", Body=b"x")["VersionId"]
    got = s3.get_object_retention(Bucket=locked, Key="default", VersionId=v)["Retention"]
    assert got["Mode"] == "GOVERNANCE" and got["RetainUntilDate"] > _future(23 * 3600)
    s3.delete_object(  # GOVERNANCE yields to the bypass
        Bucket=locked, Key="default", VersionId=v, BypassGovernanceRetention=True
    )


def test_compliance_and_legal_hold_survive_every_delete(s3: Any, locked: str) -> None:
    until = _future(3600)
    v1 = s3.put_object(
        Bucket=locked,
        Key="k",
        Body=b"kept",
        ObjectLockMode="COMPLIANCE",
        ObjectLockRetainUntilDate=until,
    )["VersionId"]
    head = s3.head_object(Bucket=locked, Key="k", VersionId=v1)
    assert head["ObjectLockMode"] == "COMPLIANCE" and head["ObjectLockLegalHoldStatus"] == "OFF"
    v2 = s3.put_object(Bucket=locked, Key="held", Body=b"held")["VersionId"]
    s3.put_object_legal_hold(Bucket=locked, Key="held", VersionId=v2, LegalHold={"Status": "ON"})
    assert s3.get_object_legal_hold(Bucket=locked, Key="held")["LegalHold"]["Status"] == "ON"
    for key, version in (("k", v1), ("held", v2)):
        with pytest.raises(ClientError) as info:
            s3.delete_object(
                Bucket=locked, Key=key, VersionId=version, BypassGovernanceRetention=True
            )
        assert error_code(info) == (403, "AccessDenied")
        reply = s3.delete_objects(
            Bucket=locked, Delete={"Objects": [{"Key": key, "VersionId": version}]}
        )
        assert [e["Code"] for e in reply["Errors"]] == ["AccessDenied"]
    # A plain DELETE only lays a marker over them.
    s3.delete_object(Bucket=locked, Key="k")
    assert s3.get_object(Bucket=locked, Key="k", VersionId=v1)["Body"].read() == b"kept"
    # COMPLIANCE grows, never shrinks or turns GOVERNANCE.
    for mode, when in (("COMPLIANCE", _future(60)), ("GOVERNANCE", _future(7200))):
        with pytest.raises(ClientError) as info:
            s3.put_object_retention(
                Bucket=locked,
                Key="k",
                VersionId=v1,
                Retention={"Mode": mode, "RetainUntilDate": when},
                BypassGovernanceRetention=True,
            )
        assert error_code(info) == (403, "AccessDenied")
    s3.put_object_retention(
        Bucket=locked,
        Key="k",
        VersionId=v1,
        Retention={"Mode": "COMPLIANCE", "RetainUntilDate": _future(7200)},
    )
    s3.put_object_legal_hold(Bucket=locked, Key="held", VersionId=v2, LegalHold={"Status": "OFF"})
    s3.delete_object(Bucket=locked, Key="held", VersionId=v2)


def test_governance_needs_the_bypass(s3: Any, locked: str) -> None:
    v = s3.put_object(
        Bucket=locked,
        Key="g",
        Body=b"x",
        ObjectLockMode="GOVERNANCE",
        ObjectLockRetainUntilDate=_future(3600),
    )["VersionId"]
    with pytest.raises(ClientError) as info:
        s3.delete_object(Bucket=locked, Key="g", VersionId=v)
    assert error_code(info) == (403, "AccessDenied")
    with pytest.raises(ClientError) as info:  # shortening needs the bypass too
        s3.put_object_retention(
            Bucket=locked,
            Key="g",
            VersionId=v,
            Retention={"Mode": "GOVERNANCE", "RetainUntilDate": _future(60)},
        )
    assert error_code(info) == (403, "AccessDenied")
    s3.delete_object(Bucket=locked, Key="g", VersionId=v, BypassGovernanceRetention=True)


def test_copies_and_multipart_uploads_are_locked_as_asked(s3: Any, locked: str) -> None:
    until = _future(3600)
    lock = {"ObjectLockMode": "COMPLIANCE", "ObjectLockRetainUntilDate": until}
    upload = s3.create_multipart_upload(Bucket=locked, Key="mp", **lock)["UploadId"]
    etag = s3.upload_part(Bucket=locked, Key="mp", UploadId=upload, PartNumber=1, Body=b"p")["ETag"]
    v = s3.complete_multipart_upload(
        Bucket=locked,
        Key="mp",
        UploadId=upload,
        MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": etag}]},
    )["VersionId"]
    source = s3.put_object(Bucket=locked, Key="plain", Body=b"c")["VersionId"]
    copied = s3.copy_object(
        Bucket=locked,
        Key="copy",
        CopySource={"Bucket": locked, "Key": "plain", "VersionId": source},
        ObjectLockMode="GOVERNANCE",
        ObjectLockRetainUntilDate=until,
        ObjectLockLegalHoldStatus="ON",
    )["VersionId"]
    head = s3.head_object(Bucket=locked, Key="mp", VersionId=v)
    assert head["ObjectLockMode"] == "COMPLIANCE"
    head = s3.head_object(Bucket=locked, Key="copy", VersionId=copied)
    assert (head["ObjectLockMode"], head["ObjectLockLegalHoldStatus"]) == ("GOVERNANCE", "ON")
    for key, version in (("mp", v), ("copy", copied)):
        with pytest.raises(ClientError) as info:
            s3.delete_object(
                Bucket=locked, Key=key, VersionId=version, BypassGovernanceRetention=True
            )
        assert error_code(info) == (403, "AccessDenied")
    # The source kept no lock of its own and goes.
    s3.delete_object(Bucket=locked, Key="plain", VersionId=source)


def test_a_policy_can_refuse_the_bypass(s3: Any, locked: str) -> None:
    v = s3.put_object(
        Bucket=locked,
        Key="g",
        Body=b"x",
        ObjectLockMode="GOVERNANCE",
        ObjectLockRetainUntilDate=_future(3600),
    )["VersionId"]
    deny = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Deny",
                "Principal": "*",
                "Action": "s3:BypassGovernanceRetention",
                "Resource": f"arn:aws:s3:::{locked}/*",
            }
        ],
    }
    s3.put_bucket_policy(Bucket=locked, Policy=json.dumps(deny))
    try:
        with pytest.raises(ClientError) as info:
            s3.delete_object(Bucket=locked, Key="g", VersionId=v, BypassGovernanceRetention=True)
        assert error_code(info) == (403, "AccessDenied")
    finally:
        s3.delete_bucket_policy(Bucket=locked)
    s3.delete_object(Bucket=locked, Key="g", VersionId=v, BypassGovernanceRetention=True)


def test_an_existing_bucket_turns_object_lock_on_once_it_keeps_versions(
    s3: Any, bucket: str
) -> None:
    config = {
        "ObjectLockEnabled": "Enabled",
        "Rule": {"DefaultRetention": {"Mode": "GOVERNANCE", "Days": 1}},
    }
    for status in (None, "Suspended"):
        if status:
            s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": status})
        with pytest.raises(ClientError) as info:
            s3.put_object_lock_configuration(Bucket=bucket, ObjectLockConfiguration=config)
        assert error_code(info) == (409, "InvalidBucketState")
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    s3.put_object_lock_configuration(Bucket=bucket, ObjectLockConfiguration=config)
    v = s3.put_object(Bucket=bucket, Key="k", Body=b"x")["VersionId"]
    assert s3.head_object(Bucket=bucket, Key="k", VersionId=v)["ObjectLockMode"] == "GOVERNANCE"
    with pytest.raises(ClientError) as info:
        s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Suspended"})
    assert error_code(info) == (409, "InvalidBucketState")
    s3.delete_object(Bucket=bucket, Key="k", VersionId=v, BypassGovernanceRetention=True)
