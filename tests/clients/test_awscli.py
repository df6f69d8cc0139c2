"""The aws CLI (v1) against a real local cluster: the session a new user types first.

Each command runs in a subprocess with the cluster's key in the environment and empty
config and credentials files of its own, so the developer's ~/.aws cannot interfere.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers import delete_bucket, unique_bucket_name, wait_for_versioning

CLI_TIMEOUT = 120.0
# The CLI switches to multipart uploads above 8 MiB; Tessera has no multipart yet.
CONFIG = "[default]\ns3 =\n  multipart_threshold = 64MB\n"
CONFIG_S3V4 = CONFIG + "  signature_version = s3v4\n"

_no_proxy = urllib.request.build_opener(urllib.request.ProxyHandler({}))


class AwsCli:
    """Runs `aws --endpoint-url <gateway> ...` with an isolated environment."""

    def __init__(self, endpoint: str, env: dict[str, str]) -> None:
        self.endpoint = endpoint
        self.env = env

    def run(self, *args: str, check: bool = True, cwd: Path | None = None):
        argv = [sys.executable, "-m", "awscli", "--endpoint-url", self.endpoint, *args]
        done = subprocess.run(
            argv,
            env=self.env,
            cwd=cwd,
            capture_output=True,
            text=True,
            timeout=CLI_TIMEOUT,
        )
        if check:
            assert done.returncode == 0, (
                f"aws {' '.join(args)} exited {done.returncode}\n"
                f"stdout: {done.stdout}\nstderr: {done.stderr}"
            )
        return done

    def json(self, *args: str) -> dict:
        return json.loads(self.run(*args).stdout)

    def with_config(self, config_file: Path) -> AwsCli:
        return AwsCli(self.endpoint, {**self.env, "AWS_CONFIG_FILE": str(config_file)})


def _isolated_env(cluster, home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "BOTO_"))}
    config = home / "config"
    config.write_text(CONFIG)
    credentials = home / "credentials"
    credentials.write_text("")
    no_proxy = ",".join(filter(None, [env.get("NO_PROXY"), "127.0.0.1", "localhost"]))
    env.update(
        AWS_ACCESS_KEY_ID=cluster.access_key,
        AWS_SECRET_ACCESS_KEY=cluster.secret_key,
        AWS_DEFAULT_REGION=cluster.region,
        AWS_CONFIG_FILE=str(config),
        AWS_SHARED_CREDENTIALS_FILE=str(credentials),
        AWS_EC2_METADATA_DISABLED="true",
        AWS_PAGER="",
        NO_PROXY=no_proxy,
        no_proxy=no_proxy,
    )
    return env


@pytest.fixture(scope="module")
def aws(cluster, tmp_path_factory) -> AwsCli:
    home = tmp_path_factory.mktemp("aws-home")
    return AwsCli(cluster.endpoints[0], _isolated_env(cluster, home))


@pytest.fixture
def cli_bucket(s3) -> Iterator[str]:
    """A bucket name that does not exist yet; removed (best effort) afterwards."""
    name = unique_bucket_name("awscli-mb")
    yield name
    delete_bucket(s3, name)


def _data(size: int, seed: int = 0) -> bytes:
    return random.Random(seed).randbytes(size)


def _ls_lines(stdout: str) -> list[list[str]]:
    """`aws s3 ls` output, each line split in fields."""
    return [line.split() for line in stdout.splitlines() if line.strip()]


def _ls_objects(stdout: str) -> dict[str, int]:
    """key → size from `aws s3 ls` lines `DATE TIME SIZE KEY` (PRE lines are skipped)."""
    objects = {}
    for line in stdout.splitlines():
        fields = line.split(maxsplit=3)
        if len(fields) == 4 and fields[0] != "PRE":
            objects[fields[3]] = int(fields[2])
    return objects


def _ls_prefixes(stdout: str) -> set[str]:
    return {f[1] for f in _ls_lines(stdout) if len(f) == 2 and f[0] == "PRE"}


def _make_tree(root: Path) -> dict[str, bytes]:
    """A small directory tree; returns relative posix path → content."""
    files = {
        "top.txt": b"top level\n",
        "docs/readme.md": b"# readme\n" * 10,
        "docs/deep/nested/data.bin": _data(70_000, seed=1),
        "empty.dat": b"",
        "with space.txt": b"a name with a space\n",
    }
    for rel, content in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)
    return files


def _read_tree(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def test_mb_ls_rb(aws: AwsCli, cli_bucket: str) -> None:
    done = aws.run("s3", "mb", f"s3://{cli_bucket}")
    assert f"make_bucket: {cli_bucket}" in done.stdout

    listed = [fields[-1] for fields in _ls_lines(aws.run("s3", "ls").stdout)]
    assert cli_bucket in listed

    done = aws.run("s3", "rb", f"s3://{cli_bucket}")
    assert f"remove_bucket: {cli_bucket}" in done.stdout

    listed = [fields[-1] for fields in _ls_lines(aws.run("s3", "ls").stdout)]
    assert cli_bucket not in listed


def test_rb_refuses_a_bucket_with_objects(aws: AwsCli, bucket: str, tmp_path: Path) -> None:
    src = tmp_path / "keep.txt"
    src.write_bytes(b"keep me")
    aws.run("s3", "cp", "--no-progress", str(src), f"s3://{bucket}/keep.txt")

    done = aws.run("s3", "rb", f"s3://{bucket}", check=False)
    assert done.returncode != 0
    assert "BucketNotEmpty" in done.stderr

    out = tmp_path / "back.txt"
    aws.run("s3", "cp", "--no-progress", f"s3://{bucket}/keep.txt", str(out))
    assert out.read_bytes() == b"keep me"


def test_cp_small_file_up_and_down(aws: AwsCli, bucket: str, tmp_path: Path) -> None:
    content = b"hello tessera\n" + _data(1000, seed=2)
    src = tmp_path / "small.bin"
    src.write_bytes(content)

    done = aws.run("s3", "cp", "--no-progress", str(src), f"s3://{bucket}/dir/small.bin")
    assert f"to s3://{bucket}/dir/small.bin" in done.stdout

    dst = tmp_path / "small.down"
    done = aws.run("s3", "cp", "--no-progress", f"s3://{bucket}/dir/small.bin", str(dst))
    assert "download:" in done.stdout
    assert dst.read_bytes() == content

    # `-` streams the object to stdout.
    argv = [sys.executable, "-m", "awscli", "--endpoint-url", aws.endpoint]
    argv += ["s3", "cp", f"s3://{bucket}/dir/small.bin", "-"]
    streamed = subprocess.run(argv, env=aws.env, capture_output=True, timeout=CLI_TIMEOUT)
    assert streamed.returncode == 0, streamed.stderr
    assert streamed.stdout == content


def test_cp_20mib_file_as_single_put(aws: AwsCli, s3, bucket: str, tmp_path: Path) -> None:
    content = _data(20 * 1024 * 1024, seed=3)
    src = tmp_path / "big.bin"
    src.write_bytes(content)

    aws.run("s3", "cp", "--no-progress", str(src), f"s3://{bucket}/big.bin")

    head = s3.head_object(Bucket=bucket, Key="big.bin")
    assert head["ContentLength"] == len(content)
    # A single PUT has the MD5 as its ETag (a multipart upload would end in "-<parts>").
    assert head["ETag"].strip('"') == hashlib.md5(content).hexdigest()

    dst = tmp_path / "big.down"
    aws.run("s3", "cp", "--no-progress", f"s3://{bucket}/big.bin", str(dst))
    assert dst.stat().st_size == len(content)
    assert dst.read_bytes() == content


def test_ls_bucket_and_prefix(aws: AwsCli, s3, bucket: str) -> None:
    objects = {
        "a.txt": b"a",
        "dir/b.txt": b"bb",
        "dir/sub/c.txt": b"ccc",
        "dir2/d.txt": b"dddd",
    }
    for key, body in objects.items():
        s3.put_object(Bucket=bucket, Key=key, Body=body)

    top = aws.run("s3", "ls", f"s3://{bucket}").stdout
    assert _ls_prefixes(top) == {"dir/", "dir2/"}
    assert _ls_objects(top) == {"a.txt": 1}

    in_dir = aws.run("s3", "ls", f"s3://{bucket}/dir/").stdout
    assert _ls_prefixes(in_dir) == {"sub/"}
    assert _ls_objects(in_dir) == {"b.txt": 2}

    # Without a trailing slash, `ls` lists what starts with the prefix at this level.
    partial = aws.run("s3", "ls", f"s3://{bucket}/dir").stdout
    assert _ls_prefixes(partial) == {"dir/", "dir2/"}
    assert _ls_objects(partial) == {}

    everything = aws.run("s3", "ls", "--recursive", f"s3://{bucket}").stdout
    assert _ls_objects(everything) == {k: len(v) for k, v in objects.items()}


def test_cp_recursive_and_ls_recursive(aws: AwsCli, bucket: str, tmp_path: Path) -> None:
    src = tmp_path / "tree"
    files = _make_tree(src)

    done = aws.run("s3", "cp", "--recursive", "--no-progress", str(src), f"s3://{bucket}/up/")
    assert done.stdout.count("upload:") == len(files)

    listed = _ls_objects(aws.run("s3", "ls", "--recursive", f"s3://{bucket}/").stdout)
    assert listed == {f"up/{rel}": len(body) for rel, body in files.items()}

    dst = tmp_path / "down"
    done = aws.run("s3", "cp", "--recursive", "--no-progress", f"s3://{bucket}/up/", str(dst))
    assert done.stdout.count("download:") == len(files)
    assert _read_tree(dst) == files


def test_rm_and_rm_recursive(aws: AwsCli, s3, bucket: str, tmp_path: Path) -> None:
    src = tmp_path / "tree"
    files = _make_tree(src)
    aws.run("s3", "cp", "--recursive", "--no-progress", str(src), f"s3://{bucket}/")
    s3.put_object(Bucket=bucket, Key="other/keep.txt", Body=b"keep")

    done = aws.run("s3", "rm", f"s3://{bucket}/top.txt")
    assert f"delete: s3://{bucket}/top.txt" in done.stdout
    after_rm = _ls_objects(aws.run("s3", "ls", "--recursive", f"s3://{bucket}").stdout)
    assert set(after_rm) == (set(files) - {"top.txt"}) | {"other/keep.txt"}

    gone = aws.run("s3api", "head-object", "--bucket", bucket, "--key", "top.txt", check=False)
    assert gone.returncode != 0
    assert "404" in gone.stderr or "Not Found" in gone.stderr

    done = aws.run("s3", "rm", "--recursive", f"s3://{bucket}/docs/")
    assert done.stdout.count("delete:") == 2
    left = _ls_objects(aws.run("s3", "ls", "--recursive", f"s3://{bucket}").stdout)
    assert set(left) == {"empty.dat", "with space.txt", "other/keep.txt"}

    done = aws.run("s3", "rm", "--recursive", f"s3://{bucket}")
    assert done.stdout.count("delete:") == 3
    assert aws.run("s3", "ls", "--recursive", f"s3://{bucket}").stdout.strip() == ""


def test_s3api_put_head_get_range(aws: AwsCli, bucket: str, tmp_path: Path) -> None:
    content = _data(100_000, seed=4)
    body = tmp_path / "body.bin"
    body.write_bytes(content)
    md5 = hashlib.md5(content).hexdigest()

    put = aws.json(
        "s3api", "put-object", "--bucket", bucket, "--key", "api/obj.bin",
        "--body", str(body), "--content-type", "application/x-tessera-test",
        "--metadata", "color=blue,owner=awscli",
    )  # fmt: skip
    assert put["ETag"].strip('"') == md5

    head = aws.json("s3api", "head-object", "--bucket", bucket, "--key", "api/obj.bin")
    assert head["ContentLength"] == len(content)
    assert head["ETag"].strip('"') == md5
    assert head["ContentType"] == "application/x-tessera-test"
    assert head["Metadata"] == {"color": "blue", "owner": "awscli"}

    out = tmp_path / "range.bin"
    got = aws.json(
        "s3api", "get-object", "--bucket", bucket, "--key", "api/obj.bin",
        "--range", "bytes=0-9", str(out),
    )  # fmt: skip
    assert out.read_bytes() == content[:10]
    assert got["ContentLength"] == 10
    assert got["ContentRange"] == f"bytes 0-9/{len(content)}"

    got = aws.json(
        "s3api", "get-object", "--bucket", bucket, "--key", "api/obj.bin",
        "--range", "bytes=-5", str(out),
    )  # fmt: skip
    assert out.read_bytes() == content[-5:]
    assert got["ContentRange"] == f"bytes {len(content) - 5}-{len(content) - 1}/{len(content)}"

    missing = aws.run(
        "s3api", "get-object", "--bucket", bucket, "--key", "api/none", str(out), check=False
    )
    assert missing.returncode != 0
    assert "NoSuchKey" in missing.stderr


def _fetch(url: str) -> tuple[int, bytes]:
    try:
        with _no_proxy.open(url, timeout=30) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


@pytest.mark.parametrize("signature", ["default", "s3v4"])
def test_presign_url_fetched_with_urllib(
    aws: AwsCli, s3, bucket: str, tmp_path: Path, signature: str
) -> None:
    """`aws s3 presign` as configured out of the box (the v1 CLI signs query strings
    with SigV2) and with `signature_version = s3v4`."""
    content = _data(5000, seed=5)
    s3.put_object(Bucket=bucket, Key="shared/file.bin", Body=content)
    cli = aws
    if signature == "s3v4":
        config = tmp_path / "config-s3v4"
        config.write_text(CONFIG_S3V4)
        cli = aws.with_config(config)

    url = cli.run(
        "s3", "presign", f"s3://{bucket}/shared/file.bin", "--expires-in", "300"
    ).stdout.strip()
    assert url.startswith(f"{aws.endpoint}/{bucket}/shared/file.bin?")

    status, body = _fetch(url)
    assert status == 200, body[:500]
    assert body == content

    # The signature covers the key: the same query string on another key is refused.
    other = url.replace("/shared/file.bin?", "/shared/other.bin?")
    status, body = _fetch(other)
    assert status == 403, body[:500]
    assert b"SignatureDoesNotMatch" in body


def test_versioned_overwrite_and_restore(
    aws: AwsCli, cluster, s3_clients, bucket: str, tmp_path: Path
) -> None:
    """The CLI's own versioning: put-bucket-versioning, overwrites with `s3 cp` and
    put-object, list-object-versions, get-object --version-id (through the other
    gateway), a restore by copy-object from `key?versionId=`, and an undelete:
    delete-object leaves a delete marker, delete-object --version-id <marker> removes it.
    boto3 only checks the state between the steps."""
    other = AwsCli(cluster.endpoints[1], aws.env)
    aws.run(
        "s3api", "put-bucket-versioning", "--bucket", bucket,
        "--versioning-configuration", "Status=Enabled",
    )  # fmt: skip
    wait_for_versioning(s3_clients, bucket, "Enabled")

    key = "docs/report v1.txt"
    bodies = [b"first draft\n", b"second draft\n" + _data(3000, seed=6), b"third draft\n"]
    files = []
    for i, body in enumerate(bodies):
        files.append(tmp_path / f"draft{i}.txt")
        files[-1].write_bytes(body)
    aws.run("s3", "cp", "--no-progress", str(files[0]), f"s3://{bucket}/{key}")
    aws.run("s3", "cp", "--no-progress", str(files[1]), f"s3://{bucket}/{key}")
    put = aws.json("s3api", "put-object", "--bucket", bucket, "--key", key, "--body", str(files[2]))
    assert put["ETag"] == f'"{hashlib.md5(bodies[2]).hexdigest()}"'

    listed = aws.json("s3api", "list-object-versions", "--bucket", bucket, "--prefix", "docs/")
    assert "DeleteMarkers" not in listed
    versions = listed["Versions"]
    ids = [v["VersionId"] for v in reversed(versions)]  # oldest first, as bodies
    assert ids[2] == put["VersionId"] and len(set(ids)) == 3 and "null" not in ids
    assert [(v["Key"], v["IsLatest"], v["Size"], v["ETag"]) for v in versions] == [
        (key, i == 2, len(body), f'"{hashlib.md5(body).hexdigest()}"')
        for i, body in reversed(list(enumerate(bodies)))
    ]

    # An old version, read through the other gateway.
    out = tmp_path / "old.txt"
    got = other.json(
        "s3api", "get-object", "--bucket", bucket, "--key", key, "--version-id", ids[0], str(out)
    )
    assert out.read_bytes() == bodies[0]
    assert (got["VersionId"], got["ContentLength"]) == (ids[0], len(bodies[0]))

    # Restore it: a copy of the old version onto the key is the newest version.
    copied = aws.json(
        "s3api", "copy-object", "--bucket", bucket, "--key", key,
        "--copy-source", f"{bucket}/{key}?versionId={ids[0]}",
    )  # fmt: skip
    assert copied["CopySourceVersionId"] == ids[0]
    restored = copied["VersionId"]
    assert restored not in ids and restored != "null"
    assert copied["CopyObjectResult"]["ETag"] == f'"{hashlib.md5(bodies[0]).hexdigest()}"'
    for client in s3_clients:
        current = client.get_object(Bucket=bucket, Key=key)
        assert (current["VersionId"], current["Body"].read()) == (restored, bodies[0])
    assert len(s3_clients[0].list_object_versions(Bucket=bucket)["Versions"]) == 4

    # Delete (a marker hides every version), then undelete by removing the marker.
    deleted = aws.json("s3api", "delete-object", "--bucket", bucket, "--key", key)
    assert deleted["DeleteMarker"] is True
    marker = deleted["VersionId"]
    assert marker not in [*ids, restored, "null"]
    after = s3_clients[-1].list_object_versions(Bucket=bucket)
    assert [(m["VersionId"], m["IsLatest"]) for m in after["DeleteMarkers"]] == [(marker, True)]
    assert not any(v["IsLatest"] for v in after["Versions"])
    assert "Contents" not in s3_clients[-1].list_objects_v2(Bucket=bucket)

    undeleted = aws.json(
        "s3api", "delete-object", "--bucket", bucket, "--key", key, "--version-id", marker
    )
    assert (undeleted["DeleteMarker"], undeleted["VersionId"]) == (True, marker)
    back = tmp_path / "back.txt"
    other.run("s3", "cp", "--no-progress", f"s3://{bucket}/{key}", str(back))
    assert back.read_bytes() == bodies[0]
    final = s3_clients[0].list_object_versions(Bucket=bucket)
    assert "DeleteMarkers" not in final
    assert [(v["VersionId"], v["IsLatest"]) for v in final["Versions"]] == [
        (restored, True),
        *((version_id, False) for version_id in reversed(ids)),
    ]
