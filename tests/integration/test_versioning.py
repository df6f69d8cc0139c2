"""Object versioning against the real cluster: Enabled and Suspended buckets,
reads and deletes by version id, delete markers, ListObjectVersions paging,
and versions written through one gateway read through the other."""

import hashlib
import os
import urllib.error
import urllib.request

import pytest
from botocore.exceptions import ClientError

from tests.helpers import error_code, make_client, set_versioning


@pytest.fixture
def versioned(s3_clients, bucket):
    set_versioning(s3_clients, bucket, "Enabled")
    return bucket


def _versions(client, bucket, **kwargs):
    listed = client.list_object_versions(Bucket=bucket, **kwargs)
    entries = [
        (v["Key"], v["VersionId"], v["IsLatest"], "version") for v in listed.get("Versions", [])
    ] + [
        (m["Key"], m["VersionId"], m["IsLatest"], "marker") for m in listed.get("DeleteMarkers", [])
    ]
    return listed, entries


def test_configuration_round_trip_and_errors(s3, bucket):
    assert "Status" not in s3.get_bucket_versioning(Bucket=bucket)
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    assert s3.get_bucket_versioning(Bucket=bucket)["Status"] == "Enabled"
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Suspended"})
    assert s3.get_bucket_versioning(Bucket=bucket)["Status"] == "Suspended"
    with pytest.raises(ClientError) as info:
        s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "On"})
    assert error_code(info) == (400, "MalformedXML")
    with pytest.raises(ClientError) as info:
        s3.get_bucket_versioning(Bucket=bucket + "-missing")
    assert error_code(info) == (404, "NoSuchBucket")


def test_overwrites_keep_every_version(s3_clients, versioned):
    first, second = s3_clients[0], s3_clients[-1]
    bodies = [b"one", os.urandom(300 * 1024), os.urandom(3 * 1024 * 1024)]
    ids = []
    for i, body in enumerate(bodies):
        client = first if i % 2 == 0 else second
        put = client.put_object(Bucket=versioned, Key="k", Body=body)
        assert put["VersionId"] not in ("", "null")
        ids.append(put["VersionId"])
    assert len(set(ids)) == 3
    # Every version reads back through either gateway; the newest is current.
    for client in (first, second):
        got = client.get_object(Bucket=versioned, Key="k")
        assert got["Body"].read() == bodies[-1]
        assert got["VersionId"] == ids[-1]
        for version_id, body in zip(ids, bodies, strict=True):
            got = client.get_object(Bucket=versioned, Key="k", VersionId=version_id)
            assert got["VersionId"] == version_id
            assert got["ETag"] == f'"{hashlib.md5(body).hexdigest()}"'
            assert got["Body"].read() == body
        head = client.head_object(Bucket=versioned, Key="k", VersionId=ids[0])
        assert head["ContentLength"] == 3 and head["VersionId"] == ids[0]
        ranged = client.get_object(Bucket=versioned, Key="k", VersionId=ids[1], Range="bytes=5-9")
        assert ranged["Body"].read() == bodies[1][5:10]
    _, entries = _versions(first, versioned)
    assert entries == [
        ("k", ids[2], True, "version"),
        ("k", ids[1], False, "version"),
        ("k", ids[0], False, "version"),
    ]


def test_delete_marker_hides_and_delete_by_id_restores(s3_clients, versioned):
    first, second = s3_clients[0], s3_clients[-1]
    v1 = first.put_object(Bucket=versioned, Key="doc", Body=b"v1")["VersionId"]
    v2 = first.put_object(Bucket=versioned, Key="doc", Body=b"v2")["VersionId"]
    deleted = second.delete_object(Bucket=versioned, Key="doc")
    assert deleted["DeleteMarker"] is True
    marker = deleted["VersionId"]
    assert marker not in (v1, v2, "null")

    with pytest.raises(ClientError) as info:
        first.get_object(Bucket=versioned, Key="doc")
    assert error_code(info) == (404, "NoSuchKey")
    headers = info.value.response["ResponseMetadata"]["HTTPHeaders"]
    assert headers["x-amz-delete-marker"] == "true"
    assert headers["x-amz-version-id"] == marker
    with pytest.raises(ClientError) as info:
        first.head_object(Bucket=versioned, Key="doc", VersionId=marker)
    assert error_code(info)[0] == 405
    with pytest.raises(ClientError) as info:
        first.get_object(Bucket=versioned, Key="doc", VersionId=marker)
    assert error_code(info) == (405, "MethodNotAllowed")
    assert "Contents" not in first.list_objects_v2(Bucket=versioned)
    # Older versions are still there.
    assert first.get_object(Bucket=versioned, Key="doc", VersionId=v1)["Body"].read() == b"v1"
    _, entries = _versions(second, versioned)
    assert entries == [
        ("doc", v2, False, "version"),
        ("doc", v1, False, "version"),
        ("doc", marker, True, "marker"),
    ]

    # Removing the marker restores v2; removing v2 makes v1 current.
    removed = first.delete_object(Bucket=versioned, Key="doc", VersionId=marker)
    assert removed["DeleteMarker"] is True and removed["VersionId"] == marker
    assert second.get_object(Bucket=versioned, Key="doc")["Body"].read() == b"v2"
    second.delete_object(Bucket=versioned, Key="doc", VersionId=v2)
    assert first.get_object(Bucket=versioned, Key="doc")["Body"].read() == b"v1"
    with pytest.raises(ClientError) as info:
        first.get_object(Bucket=versioned, Key="doc", VersionId=v2)
    assert error_code(info) == (404, "NoSuchVersion")
    listed = first.list_objects_v2(Bucket=versioned)
    assert [o["Key"] for o in listed["Contents"]] == ["doc"]


def test_restore_by_copying_an_old_version(s3, versioned):
    v1 = s3.put_object(Bucket=versioned, Key="r", Body=b"original", Metadata={"n": "1"})
    s3.put_object(Bucket=versioned, Key="r", Body=b"overwritten")
    copied = s3.copy_object(
        Bucket=versioned,
        Key="r",
        CopySource={"Bucket": versioned, "Key": "r", "VersionId": v1["VersionId"]},
    )
    assert copied["CopySourceVersionId"] == v1["VersionId"]
    assert copied["VersionId"] not in (v1["VersionId"], "null")
    got = s3.get_object(Bucket=versioned, Key="r")
    assert got["Body"].read() == b"original" and got["Metadata"] == {"n": "1"}
    assert len(_versions(s3, versioned)[1]) == 3


def test_restore_from_a_form_encoded_copy_source(cluster, versioned):
    """s5cmd encodes x-amz-copy-source with Go's url.QueryEscape: a space is a '+' and
    a real '+' is %2B. S3 reads it so (rclone escapes '+' for that reason); so must we."""
    key = "docs/my report+1.txt"
    s3 = make_client(cluster.endpoints[0], cluster.access_key, cluster.secret_key, cluster.region)
    v1 = s3.put_object(Bucket=versioned, Key=key, Body=b"original")["VersionId"]
    s3.put_object(Bucket=versioned, Key=key, Body=b"overwritten")
    header = f"{versioned}/docs/my+report%2B1.txt?versionId={v1}"

    def form_encode(request, **_):
        request.headers.replace_header("x-amz-copy-source", header)

    s3.meta.events.register("before-sign.s3.CopyObject", form_encode)
    copied = s3.copy_object(
        Bucket=versioned, Key=key, CopySource={"Bucket": versioned, "Key": key, "VersionId": v1}
    )
    assert copied["CopySourceVersionId"] == v1
    got = s3.get_object(Bucket=versioned, Key=key)
    assert (got["VersionId"], got["Body"].read()) == (copied["VersionId"], b"original")


def test_copy_from_a_delete_marker_is_refused(s3, versioned):
    s3.put_object(Bucket=versioned, Key="gone", Body=b"x")
    marker = s3.delete_object(Bucket=versioned, Key="gone")["VersionId"]
    with pytest.raises(ClientError) as info:
        s3.copy_object(Bucket=versioned, Key="c", CopySource={"Bucket": versioned, "Key": "gone"})
    assert error_code(info) == (404, "NoSuchKey")
    with pytest.raises(ClientError) as info:
        s3.copy_object(
            Bucket=versioned,
            Key="c",
            CopySource={"Bucket": versioned, "Key": "gone", "VersionId": marker},
        )
    assert error_code(info) == (400, "InvalidRequest")


def test_suspended_replaces_only_the_null_version(s3_clients, bucket):
    s3 = s3_clients[0]
    s3.put_object(Bucket=bucket, Key="k", Body=b"before versioning")
    set_versioning(s3_clients, bucket, "Enabled")
    kept = s3.put_object(Bucket=bucket, Key="k", Body=b"versioned")["VersionId"]
    set_versioning(s3_clients, bucket, "Suspended")
    put = s3.put_object(Bucket=bucket, Key="k", Body=b"suspended 1")
    assert "VersionId" not in put  # as AWS: writes name no version while suspended
    s3.put_object(Bucket=bucket, Key="k", Body=b"suspended 2")
    _, entries = _versions(s3, bucket)
    assert entries == [("k", "null", True, "version"), ("k", kept, False, "version")]
    assert s3.get_object(Bucket=bucket, Key="k", VersionId="null")["Body"].read() == b"suspended 2"
    assert s3.get_object(Bucket=bucket, Key="k", VersionId=kept)["Body"].read() == b"versioned"

    # A delete while suspended leaves a null delete marker in place of the null version.
    deleted = s3.delete_object(Bucket=bucket, Key="k")
    assert deleted["DeleteMarker"] is True and deleted["VersionId"] == "null"
    _, entries = _versions(s3, bucket)
    assert entries == [("k", kept, False, "version"), ("k", "null", True, "marker")]
    s3.delete_object(Bucket=bucket, Key="k", VersionId="null")
    assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == b"versioned"


def test_list_versions_pagination_with_markers(s3, versioned):
    expected = []
    for key in ("a", "b/1", "b/2", "c"):
        ids = [
            s3.put_object(Bucket=versioned, Key=key, Body=f"{key}{i}".encode())["VersionId"]
            for i in range(3)
        ]
        expected += [(key, vid) for vid in reversed(ids)]
    marker = s3.delete_object(Bucket=versioned, Key="c")["VersionId"]
    expected.insert(len(expected) - 3, ("c", marker))

    for page_size in (1, 2, 5, 1000):
        seen = []
        latest = []
        for page in s3.get_paginator("list_object_versions").paginate(
            Bucket=versioned, PaginationConfig={"PageSize": page_size}
        ):
            entries = [
                (v["Key"], v["VersionId"], v["IsLatest"], v["LastModified"])
                for v in page.get("Versions", []) + page.get("DeleteMarkers", [])
            ]
            # Versions and markers come back in separate lists: restore listing order.
            entries.sort(key=lambda e: (e[0], -e[3].timestamp()))
            seen += [(k, v) for k, v, _, _ in entries]
            latest += [(k, v) for k, v, is_latest, _ in entries if is_latest]
        assert sorted(seen) == sorted(expected), page_size
        assert len(seen) == len(set(seen)) == 13
        assert sorted(latest) == sorted(
            [("a", expected[0][1]), ("b/1", expected[3][1])]
            + [
                ("b/2", expected[6][1]),
                ("c", marker),
            ]
        )

    page = s3.list_object_versions(Bucket=versioned, MaxKeys=4)
    assert page["IsTruncated"] is True
    assert (page["NextKeyMarker"], page["NextVersionIdMarker"]) == expected[3]
    rest = s3.list_object_versions(
        Bucket=versioned, KeyMarker="b/1", VersionIdMarker=expected[3][1], MaxKeys=2
    )
    assert [(v["Key"], v["VersionId"]) for v in rest["Versions"]] == expected[4:6]
    assert all(not v["IsLatest"] for v in rest["Versions"])

    rolled = s3.list_object_versions(Bucket=versioned, Delimiter="/")
    assert [p["Prefix"] for p in rolled["CommonPrefixes"]] == ["b/"]
    assert {v["Key"] for v in rolled["Versions"]} == {"a", "c"}
    prefixed = s3.list_object_versions(Bucket=versioned, Prefix="b/2")
    assert [v["VersionId"] for v in prefixed["Versions"]] == [v for k, v in expected if k == "b/2"]


def test_deleting_page_by_page_with_markers(s3, versioned):
    """A client that deletes each page before asking for the next (as bucket-emptying
    tools do) names a version that is gone as its marker: the listing goes on."""
    for key in ("a", "a", "a", "b", "c"):
        s3.put_object(Bucket=versioned, Key=key, Body=key.encode())
    markers: dict = {}
    seen = 0
    while True:
        page = s3.list_object_versions(Bucket=versioned, MaxKeys=2, **markers)
        versions = page.get("Versions", [])
        seen += len(versions)
        if versions:
            s3.delete_objects(
                Bucket=versioned,
                Delete={
                    "Objects": [{"Key": v["Key"], "VersionId": v["VersionId"]} for v in versions]
                },
            )
        if not page["IsTruncated"]:
            break
        markers = {
            "KeyMarker": page["NextKeyMarker"],
            "VersionIdMarker": page["NextVersionIdMarker"],
        }
    assert seen == 5
    assert "Versions" not in s3.list_object_versions(Bucket=versioned)


def test_delete_objects_with_versions_and_markers(s3, versioned):
    v1 = s3.put_object(Bucket=versioned, Key="x", Body=b"1")["VersionId"]
    v2 = s3.put_object(Bucket=versioned, Key="x", Body=b"2")["VersionId"]
    s3.put_object(Bucket=versioned, Key="y", Body=b"y")
    result = s3.delete_objects(
        Bucket=versioned,
        Delete={"Objects": [{"Key": "x", "VersionId": v1}, {"Key": "y"}]},
    )
    by_key = {d["Key"]: d for d in result["Deleted"]}
    assert by_key["x"]["VersionId"] == v1 and "DeleteMarker" not in by_key["x"]
    assert by_key["y"]["DeleteMarker"] is True
    marker = by_key["y"]["DeleteMarkerVersionId"]
    result = s3.delete_objects(
        Bucket=versioned, Delete={"Objects": [{"Key": "y", "VersionId": marker}]}
    )
    assert result["Deleted"][0]["DeleteMarker"] is True
    assert s3.get_object(Bucket=versioned, Key="y")["Body"].read() == b"y"
    _, entries = _versions(s3, versioned, Prefix="x")
    assert entries == [("x", v2, True, "version")]


def test_bucket_with_versions_is_not_empty(s3, versioned):
    s3.put_object(Bucket=versioned, Key="k", Body=b"x")
    s3.delete_object(Bucket=versioned, Key="k")
    with pytest.raises(ClientError) as info:
        s3.delete_bucket(Bucket=versioned)
    assert error_code(info) == (409, "BucketNotEmpty")


def test_tags_of_one_version(s3, versioned):
    v1 = s3.put_object(Bucket=versioned, Key="t", Body=b"1", Tagging="a=1")["VersionId"]
    s3.put_object(Bucket=versioned, Key="t", Body=b"2", Tagging="a=2")
    s3.put_object_tagging(
        Bucket=versioned, Key="t", VersionId=v1, Tagging={"TagSet": [{"Key": "a", "Value": "x"}]}
    )
    old = s3.get_object_tagging(Bucket=versioned, Key="t", VersionId=v1)["TagSet"]
    assert old == [{"Key": "a", "Value": "x"}]
    assert s3.get_object_tagging(Bucket=versioned, Key="t")["TagSet"] == [
        {"Key": "a", "Value": "2"}
    ]


def test_multipart_upload_makes_a_new_version(s3, versioned):
    first = s3.put_object(Bucket=versioned, Key="mp", Body=b"small")["VersionId"]
    upload = s3.create_multipart_upload(Bucket=versioned, Key="mp")["UploadId"]
    part = os.urandom(5 * 1024 * 1024)
    etag = s3.upload_part(Bucket=versioned, Key="mp", UploadId=upload, PartNumber=1, Body=part)[
        "ETag"
    ]
    done = s3.complete_multipart_upload(
        Bucket=versioned,
        Key="mp",
        UploadId=upload,
        MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": etag}]},
    )
    assert done["VersionId"] not in (first, "null")
    assert s3.get_object(Bucket=versioned, Key="mp")["Body"].read() == part
    assert s3.get_object(Bucket=versioned, Key="mp", VersionId=first)["Body"].read() == b"small"


def test_unknown_versions(s3, versioned):
    s3.put_object(Bucket=versioned, Key="k", Body=b"x")
    with pytest.raises(ClientError) as info:
        s3.get_object(Bucket=versioned, Key="k", VersionId="3HL4kqtJlcpXroDTDmJ.rmSpXd3dIbrH")
    assert error_code(info) == (404, "NoSuchVersion")
    with pytest.raises(ClientError) as info:
        s3.head_object(Bucket=versioned, Key="k", VersionId="3HL4kqtJlcpXroDTDmJ.rmSpXd3dIbrH")
    assert error_code(info)[0] == 404
    # Deleting a version that does not exist changes nothing.
    s3.delete_object(Bucket=versioned, Key="k", VersionId="3HL4kqtJlcpXroDTDmJ.rmSpXd3dIbrH")
    assert s3.get_object(Bucket=versioned, Key="k")["Body"].read() == b"x"


def test_acl_of_one_version_governs_anonymous_reads_of_it(s3, cluster, versioned):
    public = s3.put_object(Bucket=versioned, Key="p", Body=b"public")["VersionId"]
    s3.put_object(Bucket=versioned, Key="p", Body=b"private")
    s3.put_object_acl(Bucket=versioned, Key="p", VersionId=public, ACL="public-read")
    url = f"{cluster.endpoints[0]}/{versioned}/p"
    with urllib.request.urlopen(f"{url}?versionId={public}", timeout=10) as response:
        assert response.read() == b"public"
    with pytest.raises(urllib.error.HTTPError) as info:
        urllib.request.urlopen(url, timeout=10)
    assert info.value.code == 403
