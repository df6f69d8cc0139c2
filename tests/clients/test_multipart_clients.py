"""Real clients uploading large files as parallel multipart uploads whose
connections a round-robin proxy spreads over both gateways; content compared
byte for byte after download, ETags equal to what AWS computes. Also rclone's
versioned overwrite and restore, through the same proxy."""

from __future__ import annotations

import datetime
import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import wait_for_versioning
from tests.proxy import RoundRobinProxy

MiB = 1024 * 1024
BIN = Path(sys.executable).parent


def _aws_etag(path: Path, part_size: int) -> str:
    digests = []
    with open(path, "rb") as handle:
        while chunk := handle.read(part_size):
            digests.append(hashlib.md5(chunk).digest())
    return f'"{hashlib.md5(b"".join(digests)).hexdigest()}-{len(digests)}"'


def _random_file(path: Path, size: int) -> Path:
    block = os.urandom(MiB)
    with open(path, "wb") as handle:
        for index in range(size // MiB):
            handle.write(index.to_bytes(8, "big") + block[8:])
    return path


def _same(a: Path, b: Path) -> bool:
    return hashlib.sha256(a.read_bytes()).digest() == hashlib.sha256(b.read_bytes()).digest()


@pytest.fixture(scope="module")
def proxy(cluster):
    balancer = RoundRobinProxy(cluster.endpoints)
    yield balancer
    balancer.close()


def _env(cluster, tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "RCLONE_"))}
    config = tmp_path / "aws-config"
    config.write_text(
        "[default]\ns3 =\n  multipart_threshold = 8MB\n  multipart_chunksize = 8MB\n"
        "  max_concurrent_requests = 4\n"
    )
    env.update(
        AWS_ACCESS_KEY_ID=cluster.access_key,
        AWS_SECRET_ACCESS_KEY=cluster.secret_key,
        AWS_DEFAULT_REGION=cluster.region,
        AWS_CONFIG_FILE=str(config),
        AWS_SHARED_CREDENTIALS_FILE=str(tmp_path / "none"),
        NO_PROXY="127.0.0.1,localhost",
        HOME=str(tmp_path),
    )
    return env


def _run(argv: list[str], env: dict[str, str]) -> subprocess.CompletedProcess:
    done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, f"{argv[:3]} failed:\n{done.stdout}\n{done.stderr}"
    return done


def test_aws_cli_100mib_in_8mib_parts(cluster, proxy, s3, bucket, tmp_path):
    source = _random_file(tmp_path / "big.bin", 100 * MiB)
    env = _env(cluster, tmp_path)
    aws = [str(BIN / "aws"), "--endpoint-url", proxy.endpoint]
    before = list(proxy.connections)
    _run(aws + ["s3", "cp", str(source), f"s3://{bucket}/big.bin"], env)
    assert all(after > b for after, b in zip(proxy.connections, before, strict=True))
    assert s3.head_object(Bucket=bucket, Key="big.bin")["ETag"] == _aws_etag(source, 8 * MiB)
    back = tmp_path / "back.bin"
    _run(aws + ["s3", "cp", f"s3://{bucket}/big.bin", str(back)], env)
    assert _same(source, back)


def test_aws_cli_s3api_multipart_by_hand(cluster, proxy, bucket, tmp_path):
    env = _env(cluster, tmp_path)
    aws = [str(BIN / "aws"), "--endpoint-url", proxy.endpoint, "s3api"]
    parts = [_random_file(tmp_path / f"p{i}", 5 * MiB) for i in (1, 2)]
    parts.append(tmp_path / "p3")
    parts[-1].write_bytes(b"tail" * 1000)
    created = _run(aws + ["create-multipart-upload", "--bucket", bucket, "--key", "hand"], env)
    upload_id = json.loads(created.stdout)["UploadId"]
    etags = []
    for number, part in enumerate(parts, start=1):
        done = _run(
            aws
            + ["upload-part", "--bucket", bucket, "--key", "hand", "--upload-id", upload_id]
            + ["--part-number", str(number), "--body", str(part)],
            env,
        )
        etags.append(json.loads(done.stdout)["ETag"])
    listed = _run(
        aws + ["list-parts", "--bucket", bucket, "--key", "hand", "--upload-id", upload_id], env
    )
    assert [p["ETag"] for p in json.loads(listed.stdout)["Parts"]] == etags
    manifest = tmp_path / "parts.json"
    manifest.write_text(
        json.dumps({"Parts": [{"PartNumber": n, "ETag": e} for n, e in enumerate(etags, start=1)]})
    )
    _run(
        aws
        + ["complete-multipart-upload", "--bucket", bucket, "--key", "hand"]
        + ["--upload-id", upload_id, "--multipart-upload", f"file://{manifest}"],
        env,
    )
    back = tmp_path / "hand.bin"
    _run(aws + ["get-object", "--bucket", bucket, "--key", "hand", str(back)], env)
    assert back.read_bytes() == b"".join(p.read_bytes() for p in parts)


def test_s5cmd_multipart(cluster, proxy, s3, bucket, tmp_path):
    source = _random_file(tmp_path / "s5.bin", 30 * MiB)
    env = _env(cluster, tmp_path)
    s5 = [str(BIN / "s5cmd"), "--endpoint-url", proxy.endpoint]
    _run(s5 + ["cp", "-p", "5", "-c", "4", str(source), f"s3://{bucket}/s5.bin"], env)
    assert s3.head_object(Bucket=bucket, Key="s5.bin")["ETag"] == _aws_etag(source, 5 * MiB)
    back = tmp_path / "s5-back.bin"
    _run(s5 + ["cp", f"s3://{bucket}/s5.bin", str(back)], env)
    assert _same(source, back)


def _rclone(cluster, proxy, tmp_path: Path) -> tuple[str, dict[str, str]]:
    """The rclone binary, and an environment whose remote `tess:` is the proxy."""
    rclone = shutil.which("rclone")
    assert rclone, "rclone is installed by `make test` (see Makefile)"
    env = _env(cluster, tmp_path)
    env.update(
        RCLONE_CONFIG_TESS_TYPE="s3",
        RCLONE_CONFIG_TESS_PROVIDER="Other",
        RCLONE_CONFIG_TESS_ENDPOINT=proxy.endpoint,
        RCLONE_CONFIG_TESS_ACCESS_KEY_ID=cluster.access_key,
        RCLONE_CONFIG_TESS_SECRET_ACCESS_KEY=cluster.secret_key,
        RCLONE_CONFIG_TESS_REGION=cluster.region,
        RCLONE_CONFIG=str(tmp_path / "rclone.conf"),
    )
    return rclone, env


def test_rclone_multipart(cluster, proxy, s3, bucket, tmp_path):
    rclone, env = _rclone(cluster, proxy, tmp_path)
    source = _random_file(tmp_path / "rc.bin", 30 * MiB)
    flags = ["--s3-upload-cutoff", "5M", "--s3-chunk-size", "5M", "--s3-upload-concurrency", "4"]
    _run([rclone, "copyto", str(source), f"tess:{bucket}/rc.bin", *flags], env)
    assert s3.head_object(Bucket=bucket, Key="rc.bin")["ETag"] == _aws_etag(source, 5 * MiB)
    back = tmp_path / "rc-back.bin"
    _run([rclone, "copyto", f"tess:{bucket}/rc.bin", str(back)], env)
    assert _same(source, back)
    listing = _run([rclone, "lsl", f"tess:{bucket}"], env).stdout
    assert "rc.bin" in listing


def test_rclone_versioned_overwrite_and_restore(cluster, proxy, s3_clients, bucket, tmp_path):
    """rclone's own versioning, its requests spread over both gateways: `backend
    versioning` to enable it, overwrites, --s3-versions (old versions listed as
    `name-vYYYY-MM-DD-HHMMSS-mmm.ext`, from their LastModified in UTC), reading an old
    version by that name and with --s3-version-at, and a restore by copyto from the
    version's name, a server-side copy of `key?versionId=`. The key is at the top of
    the bucket: rclone 1.60 does not find a version by its name in a folder (it lists
    the key's versions, gets the right answer, and reports the file missing)."""
    rclone, env = _rclone(cluster, proxy, tmp_path)
    enabled = _run([rclone, "backend", "versioning", f"tess:{bucket}", "Enabled"], env)
    assert enabled.stdout.strip() == "Enabled"
    wait_for_versioning(s3_clients, bucket, "Enabled")

    bodies = [b"first draft\n", b"second draft\n" + os.urandom(3000), b"third draft\n"]
    for i, body in enumerate(bodies):
        (tmp_path / f"draft{i}.txt").write_bytes(body)
        _run([rclone, "copyto", str(tmp_path / f"draft{i}.txt"), f"tess:{bucket}/notes.txt"], env)
    versions = s3_clients[0].list_object_versions(Bucket=bucket)["Versions"][::-1]
    ids = [v["VersionId"] for v in versions]  # oldest first, as bodies
    assert len(set(ids)) == 3 and "null" not in ids
    assert [v["ETag"] for v in versions] == [f'"{hashlib.md5(b).hexdigest()}"' for b in bodies]

    def version_name(version: dict) -> str:
        when = version["LastModified"].astimezone(datetime.UTC)
        return f"notes-v{when:%Y-%m-%d-%H%M%S}-{when.microsecond // 1000:03d}.txt"

    listed = json.loads(_run([rclone, "lsjson", "--s3-versions", f"tess:{bucket}"], env).stdout)
    assert sorted((e["Path"], e["Size"]) for e in listed) == sorted(
        [("notes.txt", len(bodies[2]))]
        + [(version_name(versions[i]), len(bodies[i])) for i in (0, 1)]
    )
    assert _run([rclone, "lsf", f"tess:{bucket}"], env).stdout.split() == ["notes.txt"]

    first = f"tess:{bucket}/{version_name(versions[0])}"
    assert _run([rclone, "cat", "--s3-versions", first], env).stdout.encode() == bodies[0]
    # As the key was between the first and second writes.
    between = (
        versions[0]["LastModified"]
        + (versions[1]["LastModified"] - versions[0]["LastModified"]) / 2
    )
    at = between.astimezone(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    old = _run([rclone, "cat", "--s3-version-at", at, f"tess:{bucket}/notes.txt"], env)
    assert old.stdout.encode() == bodies[0]

    # Restore the first version by copying it, under its version name, onto the key.
    done = _run([rclone, "copyto", "-v", "--s3-versions", first, f"tess:{bucket}/notes.txt"], env)
    assert "Copied (server-side copy)" in done.stderr
    for client in s3_clients:
        current = client.get_object(Bucket=bucket, Key="notes.txt")
        assert current["Body"].read() == bodies[0]
        assert current["VersionId"] not in ids
    after = s3_clients[-1].list_object_versions(Bucket=bucket)["Versions"]
    assert [v["VersionId"] for v in after[1:]] == ids[::-1]
    assert _run([rclone, "cat", f"tess:{bucket}/notes.txt"], env).stdout.encode() == bodies[0]
