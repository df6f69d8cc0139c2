"""Bucket lifecycle configuration: rules are checked as S3 checks them, stored and read
back (an ID is made up where none was given), and deleted. test_lifecycle.py has the
worker that carries them out."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.helpers import error_code


def _put(s3: Any, bucket: str, *rules: dict[str, Any]) -> None:
    s3.put_bucket_lifecycle_configuration(
        Bucket=bucket, LifecycleConfiguration={"Rules": list(rules)}
    )


def test_rules_are_stored_and_read_back(s3: Any, bucket: str) -> None:
    with pytest.raises(ClientError) as info:
        s3.get_bucket_lifecycle_configuration(Bucket=bucket)
    assert error_code(info) == (404, "NoSuchLifecycleConfiguration")
    rules = [
        {
            "ID": "logs",
            "Filter": {"Prefix": "logs/"},
            "Status": "Enabled",
            "Expiration": {"Days": 7},
        },
        {
            "ID": "old-versions",
            "Filter": {"And": {"Prefix": "data/", "Tags": [{"Key": "tier", "Value": "cold"}]}},
            "Status": "Disabled",
            "NoncurrentVersionExpiration": {"NoncurrentDays": 30, "NewerNoncurrentVersions": 2},
        },
        {
            "ID": "uploads",
            "Filter": {"ObjectSizeGreaterThan": 1024},
            "Status": "Enabled",
            "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 3},
        },
        {
            "ID": "markers",
            "Filter": {},
            "Status": "Enabled",
            "Expiration": {"ExpiredObjectDeleteMarker": True},
        },
    ]
    _put(s3, bucket, *rules)
    assert s3.get_bucket_lifecycle_configuration(Bucket=bucket)["Rules"] == rules
    _put(
        s3,
        bucket,
        {
            "Filter": {"Prefix": ""},
            "Status": "Enabled",
            "Expiration": {"Date": dt.datetime(2031, 1, 1, tzinfo=dt.UTC)},
        },
    )
    (rule,) = s3.get_bucket_lifecycle_configuration(Bucket=bucket)["Rules"]
    assert rule["ID"] and rule["Expiration"]["Date"] == dt.datetime(2031, 1, 1, tzinfo=dt.UTC)
    s3.delete_bucket_lifecycle(Bucket=bucket)
    with pytest.raises(ClientError) as info:
        s3.get_bucket_lifecycle_configuration(Bucket=bucket)
    assert error_code(info) == (404, "NoSuchLifecycleConfiguration")


@pytest.mark.parametrize(
    ("rules", "code"),
    [
        (
            [{"ID": "x" * 256, "Filter": {}, "Status": "Enabled", "Expiration": {"Days": 1}}],
            "InvalidArgument",
        ),
        (
            [
                {"ID": "same", "Filter": {}, "Status": "Enabled", "Expiration": {"Days": 1}},
                {"ID": "same", "Filter": {}, "Status": "Enabled", "Expiration": {"Days": 2}},
            ],
            "InvalidArgument",
        ),
        (
            [{"ID": "s", "Filter": {}, "Status": "enabled", "Expiration": {"Days": 1}}],
            "MalformedXML",
        ),
        (
            [{"ID": "d", "Filter": {}, "Status": "Enabled", "Expiration": {"Days": 0}}],
            "InvalidArgument",
        ),
        ([{"ID": "n", "Filter": {}, "Status": "Enabled"}], "InvalidArgument"),
        (
            [
                {
                    "ID": "t",
                    "Filter": {"Tag": {"Key": "k", "Value": "v"}},
                    "Status": "Enabled",
                    "Expiration": {"ExpiredObjectDeleteMarker": True},
                }
            ],
            "InvalidArgument",
        ),
        (  # a malformed transition is refused as such, not as "not implemented"
            [
                {
                    "ID": "t",
                    "Status": "Enabled",
                    "Prefix": "p/",
                    "Transitions": [{"Date": "20220927", "StorageClass": "GLACIER"}],
                }
            ],
            "InvalidArgument",
        ),
    ],
)
def test_bad_rules_are_refused(
    s3: Any, bucket: str, rules: list[dict[str, Any]], code: str
) -> None:
    with pytest.raises(ClientError) as info:
        _put(s3, bucket, *rules)
    assert error_code(info) == (400, code)
    with pytest.raises(ClientError):
        s3.get_bucket_lifecycle_configuration(Bucket=bucket)


def test_writes_and_reads_say_when_a_rule_expires_them(s3: Any, bucket: str) -> None:
    rule = {
        "ID": "logs-week",
        "Status": "Enabled",
        "Filter": {"Prefix": "logs/"},
        "Expiration": {"Days": 7},
    }
    s3.put_bucket_lifecycle_configuration(Bucket=bucket, LifecycleConfiguration={"Rules": [rule]})
    put = s3.put_object(Bucket=bucket, Key="logs/a", Body=b"x")
    expected_day = (dt.datetime.now(dt.UTC) + dt.timedelta(days=8)).strftime("%d %b %Y")
    assert put["Expiration"] == f'expiry-date="{_day(expected_day)}", rule-id="logs-week"'
    assert s3.head_object(Bucket=bucket, Key="logs/a")["Expiration"] == put["Expiration"]
    assert s3.get_object(Bucket=bucket, Key="logs/a")["Expiration"] == put["Expiration"]
    assert "Expiration" not in s3.put_object(Bucket=bucket, Key="other", Body=b"x")
    assert "Expiration" not in s3.head_object(Bucket=bucket, Key="other")


def _day(day_month_year: str) -> str:
    """The HTTP date of midnight UTC of that day."""
    moment = dt.datetime.strptime(day_month_year, "%d %b %Y")
    return moment.strftime("%a, %d %b %Y 00:00:00 GMT")
