import pytest

from gateway.s3.policy import bucket_matches, may_perform, permits


def test_bucket_patterns():
    assert bucket_matches("logs-2026", ["logs-*"])
    assert bucket_matches("exact", ["exact"])
    assert not bucket_matches("exactly", ["exact"])
    assert not bucket_matches("other", ["logs-*", "exact"])


@pytest.mark.parametrize(
    "policy,patterns,operation,bucket,owner,allowed",
    [
        ("admin", (), "DeleteBucket", "anything", "someone-else", True),
        ("readwrite", (), "PutObject", "mine", "AK", True),
        ("readwrite", (), "PutObject", "theirs", "OTHER", False),
        ("readwrite", (), "CreateBucket", "new", None, True),
        ("readwrite", ("logs-*",), "PutObject", "logs-a", "OTHER", True),
        ("readwrite", ("logs-*",), "CreateBucket", "data", None, False),
        ("readonly", ("logs-*",), "GetObject", "logs-a", "OTHER", True),
        ("readonly", ("logs-*",), "PutObject", "logs-a", "OTHER", False),
        ("readonly", (), "ListObjectsV2", "mine", "AK", True),
        ("readonly", (), "CreateBucket", "new", None, False),
        ("readwrite", (), "ListBuckets", None, None, True),
        ("unknown", (), "GetObject", "mine", "AK", False),
    ],
)
def test_permits(policy, patterns, operation, bucket, owner, allowed):
    assert permits(policy, patterns, "AK", operation, bucket, owner) is allowed


def test_readonly_keys_only_read_whatever_grants_say():
    assert may_perform("readonly", "GetObject") and may_perform("readonly", "GetBucketAcl")
    assert not may_perform("readonly", "PutObject")
    assert not may_perform("readonly", "PutObjectAcl")
    assert may_perform("readwrite", "PutObjectAcl")
    assert not may_perform("nonsense", "GetObject")
