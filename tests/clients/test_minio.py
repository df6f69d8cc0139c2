"""minio-py, MinIO's S3 SDK for Python, against a real local cluster.

The SDK signs with SigV4 and addresses path-style when given an IP endpoint; its
urllib3 pool here retries connection errors once and never on a status, so a server
error shows up as itself.
"""

from __future__ import annotations

import datetime
import hashlib
import io
import random
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
import urllib3
from minio import Minio
from minio.commonconfig import REPLACE, ComposeSource, CopySource, Tags
from minio.deleteobjects import DeleteObject
from minio.error import S3Error, ServerError
from minio.versioningconfig import ENABLED, VersioningConfig

from tests.helpers import delete_bucket, unique_bucket_name

MiB = 1024 * 1024

_no_proxy = urllib.request.build_opener(urllib.request.ProxyHandler({}))


@pytest.fixture(scope="module")
def mc(cluster) -> Iterator[Minio]:
    pool = urllib3.PoolManager(
        timeout=urllib3.Timeout(connect=5, read=60),
        retries=urllib3.Retry(total=1, connect=1, read=0, status=0, redirect=0),
    )
    client = Minio(
        cluster.endpoints[0].removeprefix("http://"),
        access_key=cluster.access_key,
        secret_key=cluster.secret_key,
        region=cluster.region,
        secure=False,
        http_client=pool,
    )
    yield client
    pool.clear()


@pytest.fixture
def new_bucket(s3) -> Iterator[str]:
    """A bucket name that does not exist yet; removed (best effort) afterwards."""
    name = unique_bucket_name("minio-mb")
    yield name
    delete_bucket(s3, name)


def _data(size: int, seed: int = 0) -> bytes:
    return random.Random(seed).randbytes(size)


def _get(mc: Minio, bucket: str, key: str, **kwargs) -> bytes:
    response = mc.get_object(bucket, key, **kwargs)
    try:
        return response.read()
    finally:
        response.close()
        response.release_conn()


def _put(mc: Minio, bucket: str, key: str, body: bytes, **kwargs):
    return mc.put_object(bucket, key, io.BytesIO(body), len(body), **kwargs)


def _s3_error(call, *args, **kwargs) -> S3Error:
    with pytest.raises(S3Error) as caught:
        call(*args, **kwargs)
    return caught.value


def test_make_list_remove_bucket(mc: Minio, cluster, new_bucket: str) -> None:
    assert not mc.bucket_exists(new_bucket)
    mc.make_bucket(new_bucket, location=cluster.region)
    assert mc.bucket_exists(new_bucket)
    assert new_bucket in {b.name for b in mc.list_buckets()}
    assert list(mc.list_objects(new_bucket)) == []

    mc.make_bucket(new_bucket, location=cluster.region)  # us-east-1: the owner's re-create is 200
    assert mc.bucket_exists(new_bucket)

    _put(mc, new_bucket, "only.txt", b"x")
    not_empty = _s3_error(mc.remove_bucket, new_bucket)
    assert (not_empty.code, not_empty.response.status) == ("BucketNotEmpty", 409)

    mc.remove_object(new_bucket, "only.txt")
    mc.remove_bucket(new_bucket)
    assert not mc.bucket_exists(new_bucket)
    assert new_bucket not in {b.name for b in mc.list_buckets()}
    assert _s3_error(lambda: list(mc.list_objects(new_bucket))).code == "NoSuchBucket"
    assert _s3_error(mc.remove_bucket, new_bucket).code == "NoSuchBucket"


def test_put_with_metadata_and_tags(mc: Minio, s3, bucket: str, tmp_path: Path) -> None:
    content = _data(200_000, seed=1)
    tags = Tags.new_object_tags()
    tags.update({"team": "storage", "tier": "hot"})
    put = _put(
        mc, bucket, "reports/2024.bin", content,
        content_type="application/x-tessera-report",
        metadata={"color": "blue", "x-amz-meta-owner": "minio", "Cache-Control": "max-age=60"},
        tags=tags,
    )  # fmt: skip
    md5 = hashlib.md5(content).hexdigest()
    assert (put.bucket_name, put.object_name, put.etag) == (bucket, "reports/2024.bin", md5)

    stat = mc.stat_object(bucket, "reports/2024.bin")
    assert (stat.size, stat.etag) == (len(content), md5)
    assert stat.content_type == "application/x-tessera-report"
    assert stat.metadata["x-amz-meta-color"] == "blue"
    assert stat.metadata["x-amz-meta-owner"] == "minio"
    assert stat.metadata["Cache-Control"] == "max-age=60"
    assert stat.metadata["x-amz-tagging-count"] == "2"
    age = datetime.datetime.now(datetime.UTC) - stat.last_modified
    assert datetime.timedelta(seconds=-5) < age < datetime.timedelta(minutes=5)

    head = s3.head_object(Bucket=bucket, Key="reports/2024.bin")
    assert head["Metadata"] == {"color": "blue", "owner": "minio"}

    assert dict(mc.get_object_tags(bucket, "reports/2024.bin")) == {
        "team": "storage",
        "tier": "hot",
    }
    new_tags = Tags.new_object_tags()
    new_tags["project"] = "tessera"
    mc.set_object_tags(bucket, "reports/2024.bin", new_tags)
    assert dict(mc.get_object_tags(bucket, "reports/2024.bin")) == {"project": "tessera"}
    mc.delete_object_tags(bucket, "reports/2024.bin")
    assert mc.get_object_tags(bucket, "reports/2024.bin") is None

    # Files on disk both ways.
    src = tmp_path / "local.bin"
    src.write_bytes(content[:5000])
    mc.fput_object(bucket, "files/local.bin", str(src), content_type="application/x-local")
    assert mc.stat_object(bucket, "files/local.bin").content_type == "application/x-local"
    back = tmp_path / "back.bin"
    mc.fget_object(bucket, "files/local.bin", str(back))
    assert back.read_bytes() == content[:5000]

    missing = _s3_error(mc.stat_object, bucket, "reports/none.bin")
    assert (missing.code, missing.response.status) == ("NoSuchKey", 404)
    missing = _s3_error(mc.get_object, bucket, "reports/none.bin")
    assert (missing.code, missing.object_name) == ("NoSuchKey", "reports/none.bin")
    assert _s3_error(mc.get_object_tags, bucket, "reports/none.bin").code == "NoSuchKey"


def test_multipart_put_of_unknown_length(mc: Minio, s3, bucket: str) -> None:
    """length=-1: the SDK cuts the stream in part_size parts, uploaded in parallel."""
    content = _data(12 * MiB, seed=2)
    put = mc.put_object(
        bucket, "big.bin", io.BytesIO(content), -1,
        part_size=5 * MiB, metadata={"kind": "big"},
    )  # fmt: skip
    parts = [content[i : i + 5 * MiB] for i in range(0, len(content), 5 * MiB)]
    digests = b"".join(hashlib.md5(part).digest() for part in parts)
    assert put.etag == f"{hashlib.md5(digests).hexdigest()}-3"

    stat = mc.stat_object(bucket, "big.bin")
    assert stat.size == len(content)
    assert stat.metadata["x-amz-meta-kind"] == "big"
    assert _get(mc, bucket, "big.bin") == content
    assert s3.list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []


def test_list_objects_prefix_and_delimiter(mc: Minio, bucket: str) -> None:
    objects = {
        "a.txt": b"a",
        "dir/b.txt": b"bb",
        "dir/sub/c.txt": b"ccc",
        "dir2/d.txt": b"dddd",
        "with space.txt": b"eeeee",
    }
    for key, body in objects.items():
        _put(mc, bucket, key, body)

    def listed(**kwargs) -> list[tuple[str, bool, int | None]]:
        return [(o.object_name, o.is_dir, o.size) for o in mc.list_objects(bucket, **kwargs)]

    # Without recursive=True the SDK lists with delimiter "/": a page's objects, then its
    # common prefixes as directories.
    assert listed() == [
        ("a.txt", False, 1),
        ("with space.txt", False, 5),
        ("dir/", True, None),
        ("dir2/", True, None),
    ]
    assert sorted(listed(prefix="dir/")) == [("dir/b.txt", False, 2), ("dir/sub/", True, None)]
    assert sorted(listed(prefix="dir")) == [("dir/", True, None), ("dir2/", True, None)]
    assert listed(prefix="dir/", recursive=True) == [
        ("dir/b.txt", False, 2),
        ("dir/sub/c.txt", False, 3),
    ]
    everything = listed(recursive=True)
    assert everything == [(key, False, len(body)) for key, body in sorted(objects.items())]
    assert listed(recursive=True, start_after="dir/sub/c.txt") == everything[3:]
    # The same through ListObjects (v1).
    assert sorted(listed(prefix="dir/", use_api_v1=True)) == sorted(listed(prefix="dir/"))
    assert listed(recursive=True, use_api_v1=True) == everything

    etags = {o.object_name: o.etag for o in mc.list_objects(bucket, recursive=True)}
    assert etags == {key: hashlib.md5(body).hexdigest() for key, body in objects.items()}


def test_ranged_and_conditional_get(mc: Minio, cluster, bucket: str) -> None:
    content = _data(300_000, seed=3)
    etag = _put(mc, bucket, "blob.bin", content).etag
    last_modified = mc.stat_object(bucket, "blob.bin").last_modified

    assert _get(mc, bucket, "blob.bin", offset=10, length=20) == content[10:30]
    assert _get(mc, bucket, "blob.bin", offset=299_990) == content[299_990:]
    response = mc.get_object(bucket, "blob.bin", offset=1000, length=500)
    try:
        assert response.status == 206
        assert response.headers["Content-Range"] == f"bytes 1000-1499/{len(content)}"
        assert response.read() == content[1000:1500]
    finally:
        response.close()
        response.release_conn()
    beyond = _s3_error(mc.get_object, bucket, "blob.bin", offset=len(content), length=10)
    assert (beyond.code, beyond.response.status) == ("InvalidRange", 416)

    def http_date(moment: datetime.datetime) -> str:
        return moment.strftime("%a, %d %b %Y %H:%M:%S GMT")

    hour = datetime.timedelta(hours=1)
    assert _get(mc, bucket, "blob.bin", request_headers={"If-Match": f'"{etag}"'}) == content
    # 304 Not Modified has no body, so the SDK has no S3 error code to give.
    for not_modified in (
        {"If-None-Match": f'"{etag}"'},
        {"If-Modified-Since": http_date(last_modified + hour)},
    ):
        with pytest.raises(ServerError) as caught:
            mc.get_object(bucket, "blob.bin", request_headers=not_modified)
        assert caught.value.status_code == 304, not_modified
    for failing in (
        {"If-Match": '"0123456789abcdef0123456789abcdef"'},
        {"If-Unmodified-Since": http_date(last_modified - hour)},
    ):
        failed = _s3_error(mc.get_object, bucket, "blob.bin", request_headers=failing)
        assert (failed.code, failed.response.status) == ("PreconditionFailed", 412), failing
    # A condition and a range together.
    ranged = _get(
        mc, bucket, "blob.bin", offset=5, length=5,
        request_headers={"If-Modified-Since": http_date(last_modified - hour)},
    )  # fmt: skip
    assert ranged == content[5:10]

    url = mc.presigned_get_object(bucket, "blob.bin", expires=datetime.timedelta(minutes=5))
    assert url.startswith(f"{cluster.endpoints[0]}/{bucket}/blob.bin?")
    with _no_proxy.open(url, timeout=30) as reply:
        assert reply.read() == content
    with pytest.raises(urllib.error.HTTPError) as caught:
        _no_proxy.open(url.replace("/blob.bin?", "/other.bin?"), timeout=30)
    assert caught.value.code == 403
    assert b"SignatureDoesNotMatch" in caught.value.read()


def test_copy_and_compose(mc: Minio, bucket: str) -> None:
    content = _data(100_000, seed=4)
    tags = Tags.new_object_tags()
    tags["team"] = "storage"
    etag = _put(
        mc, bucket, "src.bin", content,
        content_type="application/x-src", metadata={"owner": "minio"}, tags=tags,
    ).etag  # fmt: skip

    copy = mc.copy_object(bucket, "copies/same.bin", CopySource(bucket, "src.bin"))
    assert copy.etag == etag
    stat = mc.stat_object(bucket, "copies/same.bin")
    assert stat.content_type == "application/x-src"
    assert stat.metadata["x-amz-meta-owner"] == "minio"
    assert dict(mc.get_object_tags(bucket, "copies/same.bin")) == {"team": "storage"}

    new_tags = Tags.new_object_tags()
    new_tags["team"] = "other"
    mc.copy_object(
        bucket, "copies/replaced.bin", CopySource(bucket, "src.bin", match_etag=etag),
        metadata={"owner": "someone-else", "Content-Type": "text/plain"},
        metadata_directive=REPLACE, tags=new_tags, tagging_directive=REPLACE,
    )  # fmt: skip
    stat = mc.stat_object(bucket, "copies/replaced.bin")
    assert stat.content_type == "text/plain"
    assert stat.metadata["x-amz-meta-owner"] == "someone-else"
    assert dict(mc.get_object_tags(bucket, "copies/replaced.bin")) == {"team": "other"}
    assert _get(mc, bucket, "copies/replaced.bin") == content

    stale = CopySource(bucket, "src.bin", match_etag="0123456789abcdef0123456789abcdef")
    failed = _s3_error(mc.copy_object, bucket, "copies/never.bin", stale)
    assert (failed.code, failed.response.status) == ("PreconditionFailed", 412)
    unchanged = CopySource(bucket, "src.bin", not_match_etag=etag)
    assert _s3_error(mc.copy_object, bucket, "copies/never.bin", unchanged).code == (
        "PreconditionFailed"
    )
    missing = _s3_error(mc.copy_object, bucket, "copies/never.bin", CopySource(bucket, "none"))
    assert missing.code == "NoSuchKey"
    assert not any(o.object_name == "copies/never.bin" for o in mc.list_objects(bucket, "copies/"))

    # compose_object: a multipart upload whose parts are server-side copies (UploadPartCopy),
    # here of a whole 5 MiB object and a byte range of another.
    head = _data(5 * MiB, seed=5)
    _put(mc, bucket, "parts/head.bin", head)
    composed = mc.compose_object(
        bucket, "composed.bin",
        [ComposeSource(bucket, "parts/head.bin"), ComposeSource(bucket, "src.bin", offset=100, length=1000)],
        metadata={"kind": "composed"},
    )  # fmt: skip
    assert composed.etag.endswith("-2")
    assert _get(mc, bucket, "composed.bin") == head + content[100:1100]
    assert mc.stat_object(bucket, "composed.bin").metadata["x-amz-meta-kind"] == "composed"


def test_remove_objects_in_one_request(mc: Minio, bucket: str, served) -> None:
    for i in range(15):
        _put(mc, bucket, f"logs/{i:02d}.log", b"x" * i)
    _put(mc, bucket, "keep/me.txt", b"keep")
    _put(mc, bucket, "single.txt", b"one")

    mc.remove_object(bucket, "single.txt")
    mc.remove_object(bucket, "single.txt")  # deleting a missing key succeeds

    batches = served("DeleteObjects")
    doomed = [DeleteObject(o.object_name) for o in mc.list_objects(bucket, "logs/", recursive=True)]
    errors = list(mc.remove_objects(bucket, doomed + [DeleteObject("logs/never-existed")]))
    assert errors == []
    assert served("DeleteObjects") == batches + 1
    assert [o.object_name for o in mc.list_objects(bucket, recursive=True)] == ["keep/me.txt"]

    gone = _s3_error(lambda: list(mc.remove_objects(f"{bucket}-none", [DeleteObject("a")])))
    assert gone.code == "NoSuchBucket"


def test_versioned_overwrite_and_restore(mc: Minio, bucket: str) -> None:
    """The SDK's own versioning: set_bucket_versioning, overwrites, list_objects with
    include_version, reads and stats by version_id, a restore by copy_object from a
    CopySource with version_id, and remove_object of a delete marker and of a version."""
    mc.set_bucket_versioning(bucket, VersioningConfig(ENABLED))
    assert mc.get_bucket_versioning(bucket).status == ENABLED

    key = "docs/report v1.bin"
    bodies = [b"first draft", _data(70_000, seed=6), b"third draft"]
    ids = [_put(mc, bucket, key, body).version_id for body in bodies]
    assert len(set(ids)) == 3 and "null" not in ids

    def versions() -> list[tuple[str, str, bool, int | None, str | None]]:
        listed = mc.list_objects(bucket, prefix="docs/", recursive=True, include_version=True)
        return [(o.version_id, o.is_latest, o.is_delete_marker, o.size, o.etag) for o in listed]

    md5 = [hashlib.md5(body).hexdigest() for body in bodies]
    assert versions() == [
        (ids[i], "true" if i == 2 else "false", False, len(bodies[i]), md5[i]) for i in (2, 1, 0)
    ]
    assert _get(mc, bucket, key) == bodies[2]
    for version_id, body in zip(ids, bodies, strict=True):
        assert _get(mc, bucket, key, version_id=version_id) == body
        stat = mc.stat_object(bucket, key, version_id=version_id)
        assert (stat.version_id, stat.size, stat.etag) == (
            version_id,
            len(body),
            md5[ids.index(version_id)],
        )
    assert _get(mc, bucket, key, version_id=ids[1], offset=100, length=10) == bodies[1][100:110]

    # Restore the first version by copying it onto the key.
    copy = mc.copy_object(bucket, key, CopySource(bucket, key, version_id=ids[0]))
    restored = copy.version_id
    assert restored not in ids and copy.etag == md5[0]
    assert _get(mc, bucket, key) == bodies[0]
    assert mc.stat_object(bucket, key).version_id == restored

    # remove_object without a version leaves a delete marker; removing the marker undeletes.
    mc.remove_object(bucket, key)
    missing = _s3_error(mc.stat_object, bucket, key)
    assert (missing.code, missing.response.status) == ("NoSuchKey", 404)
    assert list(mc.list_objects(bucket, prefix="docs/", recursive=True)) == []
    # The SDK lists a page's versions first, then its delete markers.
    *older, marker = versions()
    assert marker[1:] == ("true", True, None, None)
    assert [(entry[0], entry[1]) for entry in older] == [
        (version_id, "false") for version_id in (restored, *reversed(ids))
    ]
    mc.remove_object(bucket, key, version_id=marker[0])
    assert _get(mc, bucket, key) == bodies[0]

    # Removing the restored copy by its version makes the last overwrite current again.
    mc.remove_object(bucket, key, version_id=restored)
    assert _get(mc, bucket, key) == bodies[2]
    assert [entry[0] for entry in versions()] == list(reversed(ids))
    gone = _s3_error(mc.get_object, bucket, key, version_id=restored)
    assert (gone.code, gone.response.status) == ("NoSuchVersion", 404)
