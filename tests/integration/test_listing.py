"""Listing over 1,000+ keys spread across storage nodes: pagination, prefixes,
delimiters, v1 and v2, read-after-write through both gateways."""

from concurrent.futures import ThreadPoolExecutor

import pytest

KEYS = sorted(
    [f"photos/2024/{i:04d}.jpg" for i in range(700)]
    + [f"photos/2025/{i:04d}.jpg" for i in range(300)]
    + [f"docs/{name}" for name in ("a.txt", "b.txt", "sub/c.txt", "sub/d/e.txt")]
    + [f"top-{i}" for i in range(150)]
)


@pytest.fixture(scope="module")
def filled(s3_clients, cluster):
    import uuid

    name = f"list-{uuid.uuid4().hex[:10]}"
    s3_clients[0].create_bucket(Bucket=name)

    def put(index_key):
        index, key = index_key
        s3_clients[index % len(s3_clients)].put_object(Bucket=name, Key=key, Body=key.encode())

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(put, enumerate(KEYS)))
    return name


def _all_v2(client, bucket, **kwargs):
    keys, prefixes, pages = [], [], 0
    paginator = client.get_paginator("list_objects_v2")
    for page in paginator.paginate(Bucket=bucket, **kwargs):
        pages += 1
        keys += [o["Key"] for o in page.get("Contents", [])]
        prefixes += [p["Prefix"] for p in page.get("CommonPrefixes", [])]
    return keys, prefixes, pages


def test_v2_pagination_sees_every_key_once(s3_clients, filled):
    for client in s3_clients:
        keys, prefixes, pages = _all_v2(client, filled, PaginationConfig={"PageSize": 250})
        assert keys == KEYS and prefixes == []
        assert pages == 5


def test_v1_pagination_with_markers(s3, filled):
    keys = []
    for page in s3.get_paginator("list_objects").paginate(
        Bucket=filled, PaginationConfig={"PageSize": 333}
    ):
        keys += [o["Key"] for o in page.get("Contents", [])]
    assert keys == KEYS


def test_default_page_is_1000(s3, filled):
    page = s3.list_objects_v2(Bucket=filled)
    assert page["KeyCount"] == 1000 and page["IsTruncated"]
    assert page["NextContinuationToken"]
    rest = s3.list_objects_v2(Bucket=filled, ContinuationToken=page["NextContinuationToken"])
    assert [o["Key"] for o in page["Contents"] + rest["Contents"]] == KEYS
    assert not rest["IsTruncated"]


def test_delimiter_and_prefix(s3, filled):
    keys, prefixes, _ = _all_v2(s3, filled, Delimiter="/")
    assert prefixes == ["docs/", "photos/"]
    assert keys == [k for k in KEYS if k.startswith("top-")]

    keys, prefixes, _ = _all_v2(s3, filled, Prefix="photos/", Delimiter="/")
    assert prefixes == ["photos/2024/", "photos/2025/"] and keys == []

    keys, prefixes, _ = _all_v2(s3, filled, Prefix="docs/", Delimiter="/")
    assert keys == ["docs/a.txt", "docs/b.txt"] and prefixes == ["docs/sub/"]


def test_common_prefix_paging_never_repeats(s3, filled):
    """One entry per page: each CommonPrefix and key shows up exactly once."""
    keys, prefixes, pages = _all_v2(s3, filled, Delimiter="/", PaginationConfig={"PageSize": 1})
    assert prefixes == ["docs/", "photos/"]
    assert len(keys) == 150 and pages == 152
    v1 = []
    for page in s3.get_paginator("list_objects").paginate(
        Bucket=filled, Delimiter="/", PaginationConfig={"PageSize": 1}
    ):
        v1 += [p["Prefix"] for p in page.get("CommonPrefixes", [])]
    assert v1 == ["docs/", "photos/"]


def test_start_after_and_max_keys(s3, filled):
    page = s3.list_objects_v2(Bucket=filled, StartAfter="photos/2025/0297.jpg", MaxKeys=5)
    assert [o["Key"] for o in page["Contents"]] == [
        "photos/2025/0298.jpg",
        "photos/2025/0299.jpg",
        "top-0",
        "top-1",
        "top-10",
    ]
    empty = s3.list_objects_v2(Bucket=filled, MaxKeys=0)
    assert empty["KeyCount"] == 0 and "Contents" not in empty
    assert empty["IsTruncated"] is False  # nothing asked for, nothing cut off
    assert s3.list_objects(Bucket=filled, MaxKeys=0)["IsTruncated"] is False
    versions = s3.list_object_versions(Bucket=filled, MaxKeys=0)
    assert versions["IsTruncated"] is False and "Versions" not in versions


def test_list_after_write_and_delete(s3_clients, bucket):
    writer, reader = s3_clients[0], s3_clients[-1]
    writer.put_object(Bucket=bucket, Key="fresh", Body=b"1")
    assert [o["Key"] for o in reader.list_objects_v2(Bucket=bucket)["Contents"]] == ["fresh"]
    reader.delete_object(Bucket=bucket, Key="fresh")
    assert "Contents" not in writer.list_objects_v2(Bucket=bucket)
    entry = None
    writer.put_object(Bucket=bucket, Key="sized", Body=b"12345")
    entry = reader.list_objects_v2(Bucket=bucket)["Contents"][0]
    assert entry["Size"] == 5 and entry["ETag"] == '"827ccb0eea8a706c4c34a16891f84e7b"'
    assert entry["StorageClass"] == "STANDARD"


def test_url_encoded_listings_write_a_space_as_percent_20(s3, bucket):
    """encoding-type=url: '%20' for a space (a '+' would be a plus to clients that only
    percent-decode), '%2B' for a plus."""
    import urllib.request

    from botocore.auth import S3SigV4Auth
    from botocore.awsrequest import AWSRequest

    for key in ("a b/c", "a+b/c"):
        s3.put_object(Bucket=bucket, Key=key, Body=b"x")
    url = f"{s3.meta.endpoint_url}/{bucket}?list-type=2&encoding-type=url&delimiter=%2F"
    request = AWSRequest(method="GET", url=url)
    S3SigV4Auth(s3._request_signer._credentials, "s3", s3.meta.region_name).add_auth(request)
    with urllib.request.urlopen(
        urllib.request.Request(url, headers=dict(request.headers)), timeout=10
    ) as reply:
        body = reply.read()
    assert b"<Prefix>a%20b/</Prefix>" in body and b"<Prefix>a%2Bb/</Prefix>" in body
    listed = s3.list_objects_v2(Bucket=bucket, Delimiter="/")["CommonPrefixes"]
    assert sorted(p["Prefix"] for p in listed) == ["a b/", "a+b/"]  # botocore decodes both
