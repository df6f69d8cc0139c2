"""x-amz-copy-source parsing: bucket, key and version id, as each client encodes them."""

from __future__ import annotations

import pytest

from gateway.s3.copysource import CopySource, parse_copy_source
from gateway.s3.errors import S3Error


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("b/k", CopySource("b", "k", None)),
        ("/b/dir/k.txt", CopySource("b", "dir/k.txt", None)),
        ("b/k?versionId=3HL4kqtJ", CopySource("b", "k", "3HL4kqtJ")),
        # botocore, minio-py, s3cmd and rclone percent-encode; a real '+' is %2B.
        ("b/my%20file%2B1%20%C3%BC.txt", CopySource("b", "my file+1 ü.txt", None)),
        # s5cmd form-encodes each path segment (Go's url.QueryEscape): '+' is a space.
        (
            "b/docs/my+file%2B1+%C3%BC.txt?versionId=v1",
            CopySource("b", "docs/my file+1 ü.txt", "v1"),
        ),
        ("b/a%3Fb?versionId=v%2B1", CopySource("b", "a?b", "v+1")),
    ],
)
def test_parse_copy_source(header: str, expected: CopySource) -> None:
    assert parse_copy_source(header) == expected


@pytest.mark.parametrize("header", ["b", "b/", "/b", "?versionId=v"])
def test_copy_source_without_a_key_is_refused(header: str) -> None:
    with pytest.raises(S3Error) as caught:
        parse_copy_source(header)
    assert caught.value.code == "InvalidArgument"
