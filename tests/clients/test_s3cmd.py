"""s3cmd (the long-lived Python S3 tool) against a real local cluster.

s3cmd reads everything from a config file: `host_base` and `host_bucket` both name the
gateway, so every request is path-style. Most tests run twice, signing with SigV4 and
with SigV2 (`signature_v2 = True`), which s3cmd still offers for legacy stores; listing
and sync, whose requests sign like the others', run with SigV4 only.
"""

from __future__ import annotations

import hashlib
import os
import random
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers import delete_bucket, unique_bucket_name

S3CMD_TIMEOUT = 120.0
S3CMD = Path(sys.executable).with_name("s3cmd")
MiB = 1024 * 1024

# s3cmd's exit codes (S3/ExitCodes.py).
EX_NOTFOUND = 12
EX_CONFLICT = 13
EX_USAGE = 64

_no_proxy = urllib.request.build_opener(urllib.request.ProxyHandler({}))


class S3cmd:
    """Runs `s3cmd -c <config> ...` with an isolated HOME and environment."""

    def __init__(self, config: Path, env: dict[str, str], signature: str) -> None:
        self.config = config
        self.env = env
        self.signature = signature

    def run(self, *args: str, check: bool = True):
        argv = [str(S3CMD), "-c", str(self.config), "--no-progress", *args]
        done = subprocess.run(
            argv, env=self.env, capture_output=True, text=True, timeout=S3CMD_TIMEOUT
        )
        if check:
            assert done.returncode == 0, (
                f"s3cmd {' '.join(args)} exited {done.returncode}\n"
                f"stdout: {done.stdout}\nstderr: {done.stderr}"
            )
        return done

    def fails(self, *args: str, code: int) -> str:
        """Runs a command that must exit with `code`; returns its stderr."""
        done = self.run(*args, check=False)
        assert done.returncode == code, (
            f"s3cmd {' '.join(args)} exited {done.returncode}, expected {code}\n"
            f"stdout: {done.stdout}\nstderr: {done.stderr}"
        )
        return done.stderr

    def ls(self, *args: str) -> tuple[set[str], dict[str, int]]:
        """(DIR URLs, object URL → size) that `s3cmd ls ...` prints."""
        dirs, objects = set(), {}
        for line in self.run("ls", *args).stdout.splitlines():
            fields = line.split(maxsplit=3)
            if len(fields) == 2 and fields[0] == "DIR":
                dirs.add(fields[1])
            elif len(fields) == 4:
                objects[fields[3]] = int(fields[2])
        return dirs, objects

    def info(self, url: str) -> dict[str, str]:
        """`s3cmd info` as field → value ('MIME type', 'MD5 sum', 'x-amz-meta-...', ...).
        Repeated fields (ACL) are joined with '; '."""
        fields: dict[str, str] = {}
        for line in self.run("info", url).stdout.splitlines()[1:]:
            name, _, value = line.strip().partition(":")
            value = value.strip()
            fields[name] = f"{fields[name]}; {value}" if name in fields else value
        return fields


def _config(cluster, signature_v2: bool) -> str:
    host = cluster.endpoints[0].removeprefix("http://")
    return (
        "[default]\n"
        f"access_key = {cluster.access_key}\n"
        f"secret_key = {cluster.secret_key}\n"
        f"host_base = {host}\n"
        f"host_bucket = {host}\n"
        f"bucket_location = {cluster.region}\n"
        "use_https = False\n"
        f"signature_v2 = {signature_v2}\n"
        "proxy_host =\n"
        "max_retries = 1\n"
        "socket_timeout = 60\n"
    )


def _s3cmd(cluster, tmp_path_factory, signature: str) -> S3cmd:
    if not S3CMD.exists():
        pytest.fail(f"s3cmd not found at {S3CMD} (pip package `s3cmd`)")
    home = tmp_path_factory.mktemp(f"s3cmd-home-{signature}")
    config = home / ".s3cfg"
    config.write_text(_config(cluster, signature_v2=signature == "sigv2"))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "S3CMD"))}
    no_proxy = ",".join(filter(None, [env.get("NO_PROXY"), "127.0.0.1", "localhost"]))
    env.update(HOME=str(home), NO_PROXY=no_proxy, no_proxy=no_proxy)
    return S3cmd(config, env, signature)


@pytest.fixture(scope="module", params=["sigv4", "sigv2"])
def s3cmd(cluster, tmp_path_factory, request) -> S3cmd:
    """s3cmd signing with SigV4, then (a second run of the test) with SigV2."""
    return _s3cmd(cluster, tmp_path_factory, request.param)


@pytest.fixture(scope="module")
def s3cmd_v4(cluster, tmp_path_factory) -> S3cmd:
    """s3cmd with SigV4 only, for tests whose requests sign like the others'."""
    return _s3cmd(cluster, tmp_path_factory, "sigv4")


@pytest.fixture
def new_bucket(s3) -> Iterator[str]:
    """A bucket name that does not exist yet; removed (best effort) afterwards."""
    name = unique_bucket_name("s3cmd-mb")
    yield name
    delete_bucket(s3, name)


def _data(size: int, seed: int = 0) -> bytes:
    return random.Random(seed).randbytes(size)


def _fetch(url: str) -> tuple[int, bytes]:
    try:
        with _no_proxy.open(url, timeout=30) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def test_signs_as_configured(s3cmd: S3cmd, bucket: str) -> None:
    done = s3cmd.run("--debug", "ls", f"s3://{bucket}")
    scheme = "AWS4-HMAC-SHA256 " if s3cmd.signature == "sigv4" else "AWS "
    assert f"'Authorization': '{scheme}" in done.stderr


def test_mb_ls_rb(s3cmd: S3cmd, new_bucket: str, tmp_path: Path) -> None:
    done = s3cmd.run("mb", f"s3://{new_bucket}")
    assert f"Bucket 's3://{new_bucket}/' created" in done.stdout
    assert f"s3://{new_bucket}" in s3cmd.run("ls").stdout.split()

    again = s3cmd.run("mb", f"s3://{new_bucket}")  # us-east-1: the owner's re-create is 200
    assert f"Bucket 's3://{new_bucket}/' created" in again.stdout

    info = s3cmd.info(f"s3://{new_bucket}")
    assert info["Versioning"] == "none"
    assert info["Policy"] == "none"

    src = tmp_path / "keep.txt"
    src.write_bytes(b"keep me")
    s3cmd.run("put", str(src), f"s3://{new_bucket}/keep.txt")
    assert "BucketNotEmpty" in s3cmd.fails("rb", f"s3://{new_bucket}", code=EX_CONFLICT)

    s3cmd.run("del", f"s3://{new_bucket}/keep.txt")
    done = s3cmd.run("rb", f"s3://{new_bucket}")
    assert f"Bucket 's3://{new_bucket}/' removed" in done.stdout
    assert f"s3://{new_bucket}" not in s3cmd.run("ls").stdout.split()
    assert "NoSuchBucket" in s3cmd.fails("ls", f"s3://{new_bucket}", code=EX_NOTFOUND)


def test_put_with_metadata_tags_and_info(s3cmd: S3cmd, s3, bucket: str, tmp_path: Path) -> None:
    content = _data(100_000, seed=1)
    md5 = hashlib.md5(content).hexdigest()
    src = tmp_path / "report.bin"
    src.write_bytes(content)
    url = f"s3://{bucket}/reports/2024/report.bin"

    s3cmd.run(
        "put", str(src), url, "--mime-type=application/x-tessera-report",
        "--add-header=x-amz-meta-color:blue", "--add-header=Cache-Control:max-age=60",
        "--add-header=x-amz-tagging:team=storage&tier=hot",
    )  # fmt: skip

    info = s3cmd.info(url)
    assert info["File size"] == str(len(content))
    assert info["MIME type"] == "application/x-tessera-report"
    assert info["MD5 sum"] == md5
    assert info["x-amz-meta-color"] == "blue"
    # s3cmd keeps the file's attributes (and its MD5) in a metadata header of its own.
    assert f"md5:{md5}" in info["x-amz-meta-s3cmd-attrs"]

    head = s3.head_object(Bucket=bucket, Key="reports/2024/report.bin")
    assert head["ETag"] == f'"{md5}"'
    assert head["ContentType"] == "application/x-tessera-report"
    assert head["CacheControl"] == "max-age=60"
    assert head["Metadata"]["color"] == "blue"

    tags = s3cmd.run("gettagging", url).stdout
    assert "team:\tstorage" in tags and "tier:\thot" in tags

    s3cmd.run("settagging", url, "project=tessera")
    tagging = s3.get_object_tagging(Bucket=bucket, Key="reports/2024/report.bin")
    assert tagging["TagSet"] == [{"Key": "project", "Value": "tessera"}]
    s3cmd.run("deltagging", url)
    assert s3.get_object_tagging(Bucket=bucket, Key="reports/2024/report.bin")["TagSet"] == []

    assert "NoSuchKey" in s3cmd.fails("info", f"s3://{bucket}/reports/none", code=EX_NOTFOUND)


def test_ls_prefix_and_delimiter(s3cmd_v4: S3cmd, s3, bucket: str) -> None:
    objects = {
        "a.txt": b"a",
        "dir/b.txt": b"bb",
        "dir/sub/c.txt": b"ccc",
        "dir2/d.txt": b"dddd",
        "with space.txt": b"eeeee",
    }
    for key, body in objects.items():
        s3.put_object(Bucket=bucket, Key=key, Body=body)
    root = f"s3://{bucket}/"

    assert s3cmd_v4.ls(root) == (
        {f"{root}dir/", f"{root}dir2/"},
        {f"{root}a.txt": 1, f"{root}with space.txt": 5},
    )
    assert s3cmd_v4.ls(f"{root}dir/") == ({f"{root}dir/sub/"}, {f"{root}dir/b.txt": 2})
    # Without a trailing slash the argument is a key prefix, still listed one level deep.
    assert s3cmd_v4.ls(f"{root}dir") == ({f"{root}dir/", f"{root}dir2/"}, {})
    assert s3cmd_v4.ls("--recursive", root) == (
        set(),
        {f"{root}{key}": len(body) for key, body in objects.items()},
    )
    assert s3cmd_v4.ls("--recursive", f"{root}dir/") == (
        set(),
        {f"{root}dir/b.txt": 2, f"{root}dir/sub/c.txt": 3},
    )

    # `la` lists every bucket's objects, `du` adds up a bucket.
    assert f"{root}dir/sub/c.txt" in s3cmd_v4.run("la", "--recursive").stdout
    du = s3cmd_v4.run("du", root).stdout.split()
    assert du[:3] == [str(sum(map(len, objects.values()))), str(len(objects)), "objects"]


def test_get_whole_and_continued(s3cmd: S3cmd, s3, bucket: str, tmp_path: Path) -> None:
    content = _data(300_000, seed=2)
    s3.put_object(Bucket=bucket, Key="data/blob.bin", Body=content)
    url = f"s3://{bucket}/data/blob.bin"

    whole = tmp_path / "whole.bin"
    s3cmd.run("get", url, str(whole))
    assert whole.read_bytes() == content

    # --continue resumes a partial download with a Range request from the local size.
    partial = tmp_path / "partial.bin"
    partial.write_bytes(content[:123_457])
    done = s3cmd.run("--debug", "get", "--continue", url, str(partial))
    assert "Range: 123457 .. end" in done.stderr
    assert f"'content-range': 'bytes 123457-{len(content) - 1}/{len(content)}'" in done.stderr
    assert partial.read_bytes() == content

    # stdout as the destination.
    argv = [str(S3CMD), "-c", str(s3cmd.config), "--no-progress", "get", url, "-"]
    streamed = subprocess.run(argv, env=s3cmd.env, capture_output=True, timeout=S3CMD_TIMEOUT)
    assert streamed.returncode == 0, streamed.stderr
    assert streamed.stdout == content

    stderr = s3cmd.fails("get", f"s3://{bucket}/data/none.bin", str(tmp_path / "x"), code=EX_USAGE)
    assert "does not exist" in stderr
    assert not (tmp_path / "x").exists()


def test_multipart_put(s3cmd: S3cmd, s3, bucket: str, tmp_path: Path) -> None:
    content = _data(12 * MiB, seed=3)
    src = tmp_path / "big.bin"
    src.write_bytes(content)
    url = f"s3://{bucket}/big.bin"

    s3cmd.run(
        "put", "--multipart-chunk-size-mb=5", "--add-header=x-amz-meta-kind:big", str(src), url
    )

    head = s3.head_object(Bucket=bucket, Key="big.bin")
    parts = [content[i : i + 5 * MiB] for i in range(0, len(content), 5 * MiB)]
    digests = b"".join(hashlib.md5(part).digest() for part in parts)
    assert head["ETag"] == f'"{hashlib.md5(digests).hexdigest()}-3"'
    assert head["Metadata"]["kind"] == "big"
    # s3cmd records the whole file's MD5 and checks it on download.
    assert s3cmd.info(url)["MD5 sum"] == hashlib.md5(content).hexdigest()

    back = tmp_path / "back.bin"
    s3cmd.run("get", url, str(back))
    assert back.read_bytes() == content


def test_cp_mv_modify(s3cmd: S3cmd, s3, bucket: str, tmp_path: Path) -> None:
    content = _data(50_000, seed=4)
    src = tmp_path / "orig.bin"
    src.write_bytes(content)
    root = f"s3://{bucket}"
    s3cmd.run(
        "put", str(src), f"{root}/orig.bin",
        "--mime-type=application/x-orig", "--add-header=x-amz-meta-owner:s3cmd",
    )  # fmt: skip

    done = s3cmd.run("cp", f"{root}/orig.bin", f"{root}/copies/one.bin")
    assert "remote copy:" in done.stdout
    copy = s3.head_object(Bucket=bucket, Key="copies/one.bin")
    assert copy["ETag"] == f'"{hashlib.md5(content).hexdigest()}"'
    assert copy["ContentType"] == "application/x-orig"
    assert copy["Metadata"]["owner"] == "s3cmd"

    done = s3cmd.run("mv", f"{root}/copies/one.bin", f"{root}/moved/one.bin")
    assert "move:" in done.stdout
    assert s3cmd.ls("--recursive", f"{root}/")[1] == {
        f"{root}/orig.bin": len(content),
        f"{root}/moved/one.bin": len(content),
    }

    # `modify` rewrites the metadata with a copy onto itself.
    s3cmd.run("modify", "--add-header=x-amz-meta-owner:someone-else", f"{root}/moved/one.bin")
    info = s3cmd.info(f"{root}/moved/one.bin")
    assert info["x-amz-meta-owner"] == "someone-else"
    assert info["MD5 sum"] == hashlib.md5(content).hexdigest()
    body = s3.get_object(Bucket=bucket, Key="moved/one.bin")["Body"].read()
    assert body == content

    stderr = s3cmd.fails("cp", f"{root}/none.bin", f"{root}/x.bin", code=EX_NOTFOUND)
    assert f"Key not found {root}/none.bin" in stderr


def test_sync_up_and_down(s3cmd_v4: S3cmd, bucket: str, tmp_path: Path) -> None:
    up = tmp_path / "up"
    files = {"a.txt": b"alpha\n", "docs/b.md": b"# beta\n" * 50, "docs/deep/c.bin": _data(9000)}
    for rel, content in files.items():
        (up / rel).parent.mkdir(parents=True, exist_ok=True)
        (up / rel).write_bytes(content)

    done = s3cmd_v4.run("sync", f"{up}/", f"s3://{bucket}/tree/")
    assert done.stdout.count("upload:") == 3

    # A second sync compares sizes and MD5s from the listing: only the changed file goes up.
    (up / "a.txt").write_bytes(b"alpha, changed\n")
    done = s3cmd_v4.run("sync", f"{up}/", f"s3://{bucket}/tree/")
    assert done.stdout.count("upload:") == 1 and "a.txt" in done.stdout

    down = tmp_path / "down"
    s3cmd_v4.run("sync", f"s3://{bucket}/tree/", f"{down}/")
    got = {p.relative_to(down).as_posix(): p.read_bytes() for p in down.rglob("*") if p.is_file()}
    assert got == {**files, "a.txt": b"alpha, changed\n"}


def test_del_and_batch_del(s3cmd: S3cmd, s3, bucket: str, served) -> None:
    for i in range(12):
        s3.put_object(Bucket=bucket, Key=f"logs/{i:02d}.log", Body=b"x" * i)
    s3.put_object(Bucket=bucket, Key="keep/me.txt", Body=b"keep")
    s3.put_object(Bucket=bucket, Key="single.txt", Body=b"one")
    root = f"s3://{bucket}"

    done = s3cmd.run("del", f"{root}/single.txt")
    assert f"delete: '{root}/single.txt'" in done.stdout

    # A recursive del sends the keys it listed in one multi-object DeleteObjects request.
    singles, batches = served("DeleteObject"), served("DeleteObjects")
    done = s3cmd.run("del", "--recursive", f"{root}/logs/")
    assert done.stdout.count("delete:") == 12
    assert (served("DeleteObject"), served("DeleteObjects")) == (singles, batches + 1)
    assert s3cmd.ls("--recursive", f"{root}/")[1] == {f"{root}/keep/me.txt": 4}

    # rb --recursive empties the bucket first.
    s3cmd.run("rb", "--recursive", "--force", root)
    assert root not in s3cmd.run("ls").stdout.split()
    assert "NoSuchBucket" in s3cmd.fails("ls", f"{root}/", code=EX_NOTFOUND)


def test_setacl_public_and_signurl(s3cmd: S3cmd, bucket: str, cluster, tmp_path: Path) -> None:
    content = _data(5000, seed=5)
    src = tmp_path / "shared.bin"
    src.write_bytes(content)
    url = f"s3://{bucket}/shared.bin"
    plain = f"{cluster.endpoints[0]}/{bucket}/shared.bin"
    s3cmd.run("put", str(src), url)

    status, body = _fetch(plain)
    assert status == 403, body[:300]
    assert b"AccessDenied" in body

    done = s3cmd.run("setacl", "--acl-public", url)
    assert "ACL set to Public" in done.stdout
    info = s3cmd.info(url)
    assert "*anon*: READ" in info["ACL"]
    assert info["URL"] == plain
    assert _fetch(plain) == (200, content)

    s3cmd.run("setacl", "--acl-private", url)
    assert _fetch(plain)[0] == 403

    # A presigned URL (query-string SigV2 in both modes: s3cmd signs URLs only that way).
    signed = s3cmd.run("signurl", url, "+300").stdout.strip()
    assert signed.startswith(f"{plain}?")
    assert _fetch(signed) == (200, content)
    status, body = _fetch(signed.replace("/shared.bin?", "/other.bin?"))
    assert status == 403 and b"SignatureDoesNotMatch" in body


def test_versioned_overwrite_and_restore(s3cmd: S3cmd, s3, bucket: str, tmp_path: Path) -> None:
    """s3cmd's versioning is `setversioning` and the Versioning line of `info`; it has
    no listing of versions, no get or copy or delete of a version. So s3cmd enables
    versioning, overwrites (`put`), reads the newest (`ls`, `get`) and deletes (`del`,
    a delete marker), and boto3 does what s3cmd lacks: list the versions and read
    one, restore by copy_object from a VersionId, and remove the delete marker."""
    root = f"s3://{bucket}"
    done = s3cmd.run("setversioning", root, "enable")
    assert f"{root}/: Versioning status updated" in done.stdout
    assert s3cmd.info(root)["Versioning"] == "Enabled"

    key = "docs/report v1.txt"
    url = f"{root}/{key}"
    bodies = [b"first draft\n", b"second draft\n" + _data(3000, seed=6), b"third draft\n"]
    md5 = [hashlib.md5(body).hexdigest() for body in bodies]
    for i, body in enumerate(bodies):
        (tmp_path / f"draft{i}.txt").write_bytes(body)
        s3cmd.run("put", str(tmp_path / f"draft{i}.txt"), url)

    # boto3: every write kept a version.
    versions = s3.list_object_versions(Bucket=bucket)["Versions"][::-1]
    ids = [v["VersionId"] for v in versions]  # oldest first, as bodies
    assert len(set(ids)) == 3 and "null" not in ids
    assert [(v["ETag"], v["IsLatest"]) for v in versions] == [
        (f'"{md5[i]}"', i == 2) for i in range(3)
    ]
    old = s3.get_object(Bucket=bucket, Key=key, VersionId=ids[0])
    assert (old["VersionId"], old["Body"].read()) == (ids[0], bodies[0])

    # s3cmd sees the newest version only.
    assert s3cmd.ls("--recursive", f"{root}/")[1] == {url: len(bodies[2])}
    got = tmp_path / "got.txt"
    s3cmd.run("get", url, str(got))
    assert got.read_bytes() == bodies[2]

    # boto3: restore the first version, then s3cmd reads it as the object.
    copied = s3.copy_object(
        Bucket=bucket, Key=key, CopySource={"Bucket": bucket, "Key": key, "VersionId": ids[0]}
    )
    assert copied["CopySourceVersionId"] == ids[0] and copied["VersionId"] not in ids
    s3cmd.run("get", "--force", url, str(got))
    assert got.read_bytes() == bodies[0]
    assert s3cmd.info(url)["MD5 sum"] == md5[0]

    # s3cmd deletes (a delete marker); boto3 removes the marker; s3cmd reads again.
    s3cmd.run("del", url)
    assert s3cmd.ls("--recursive", f"{root}/")[1] == {}
    assert "does not exist" in s3cmd.fails("get", url, str(tmp_path / "x"), code=EX_USAGE)
    (marker,) = s3.list_object_versions(Bucket=bucket)["DeleteMarkers"]
    assert marker["IsLatest"] is True
    s3.delete_object(Bucket=bucket, Key=key, VersionId=marker["VersionId"])
    s3cmd.run("get", "--force", url, str(got))
    assert got.read_bytes() == bodies[0]

    # Suspended: s3cmd's `disable`. A put replaces the null version, older ones stay.
    s3cmd.run("setversioning", root, "disable")
    assert s3cmd.info(root)["Versioning"] == "Suspended"
    s3cmd.run("put", str(tmp_path / "draft2.txt"), url)
    listed = s3.list_object_versions(Bucket=bucket)["Versions"]
    assert [(v["VersionId"], v["IsLatest"]) for v in listed] == [
        ("null", True),
        (copied["VersionId"], False),
        *((version_id, False) for version_id in reversed(ids)),
    ]
    s3cmd.run("get", "--force", url, str(got))
    assert got.read_bytes() == bodies[2]
