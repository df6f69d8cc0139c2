"""Object tags: on PUT, by PutObjectTagging, through copies and multipart
uploads, with AWS's limits."""

import pytest
from botocore.exceptions import ClientError

from tests.helpers import error_code


def _tags(client, bucket, key) -> dict[str, str]:
    return {
        t["Key"]: t["Value"] for t in client.get_object_tagging(Bucket=bucket, Key=key)["TagSet"]
    }


def test_tags_on_put_and_by_tagging_calls(s3_clients, bucket):
    first, second = s3_clients[0], s3_clients[-1]
    first.put_object(Bucket=bucket, Key="k", Body=b"data", Tagging="project=tessera&owner=a%20b")
    assert _tags(second, bucket, "k") == {"project": "tessera", "owner": "a b"}
    assert (
        first.head_object(Bucket=bucket, Key="k")["ResponseMetadata"]["HTTPHeaders"][
            "x-amz-tagging-count"
        ]
        == "2"
    )
    second.put_object_tagging(
        Bucket=bucket, Key="k", Tagging={"TagSet": [{"Key": "only", "Value": "one"}]}
    )
    assert _tags(first, bucket, "k") == {"only": "one"}
    assert first.get_object(Bucket=bucket, Key="k")["Body"].read() == b"data"
    first.delete_object_tagging(Bucket=bucket, Key="k")
    assert _tags(second, bucket, "k") == {}
    with pytest.raises(ClientError) as info:
        first.get_object_tagging(Bucket=bucket, Key="missing")
    assert error_code(info) == (404, "NoSuchKey")


def test_tag_limits(s3, bucket):
    s3.put_object(Bucket=bucket, Key="k", Body=b"x")
    too_many = [{"Key": f"k{i}", "Value": "v"} for i in range(11)]
    for tag_set, code in [
        (too_many, "InvalidTag"),
        ([{"Key": "k" * 129, "Value": "v"}], "InvalidTag"),
        ([{"Key": "k", "Value": "v" * 257}], "InvalidTag"),
        ([{"Key": "aws:reserved", "Value": "v"}], "InvalidTag"),
        ([{"Key": "dup", "Value": "1"}, {"Key": "dup", "Value": "2"}], "InvalidTag"),
    ]:
        with pytest.raises(ClientError) as info:
            s3.put_object_tagging(Bucket=bucket, Key="k", Tagging={"TagSet": tag_set})
        assert error_code(info) == (400, code)
    assert _tags(s3, bucket, "k") == {}
    with pytest.raises(ClientError) as info:
        s3.put_object(Bucket=bucket, Key="bad", Body=b"x", Tagging="aws:x=1")
    assert error_code(info) == (400, "InvalidTag")
    with pytest.raises(ClientError):
        s3.head_object(Bucket=bucket, Key="bad")


def test_tags_follow_copies_and_multipart(s3, bucket):
    s3.put_object(Bucket=bucket, Key="src", Body=b"x", Tagging="a=1")
    s3.copy_object(Bucket=bucket, Key="copy", CopySource={"Bucket": bucket, "Key": "src"})
    assert _tags(s3, bucket, "copy") == {"a": "1"}
    s3.copy_object(
        Bucket=bucket,
        Key="replaced",
        CopySource={"Bucket": bucket, "Key": "src"},
        TaggingDirective="REPLACE",
        Tagging="b=2",
    )
    assert _tags(s3, bucket, "replaced") == {"b": "2"}

    upload_id = s3.create_multipart_upload(Bucket=bucket, Key="mp", Tagging="c=3")["UploadId"]
    etag = s3.upload_part(Bucket=bucket, Key="mp", UploadId=upload_id, PartNumber=1, Body=b"p")[
        "ETag"
    ]
    s3.complete_multipart_upload(
        Bucket=bucket,
        Key="mp",
        UploadId=upload_id,
        MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": etag}]},
    )
    assert _tags(s3, bucket, "mp") == {"c": "3"}


def test_tags_come_back_in_key_order_and_may_be_empty(s3, bucket):
    s3.put_object(Bucket=bucket, Key="t", Body=b"x", Tagging="foo=bar&bar")
    assert s3.get_object_tagging(Bucket=bucket, Key="t")["TagSet"] == [
        {"Key": "bar", "Value": ""},
        {"Key": "foo", "Value": "bar"},
    ]
