"""s3fs, fsspec's S3 file system (aiobotocore underneath), against a real local cluster.

s3fs cannot live in the project's venv (aiobotocore pins a botocore older than the one
boto3 needs), so `make` installs it into a venv of its own, .venv/s3fs, and the calls run
there: tests/clients/s3fs_worker.py executes them and sends back results and exceptions.
`fs.<method>(...)` below is the real s3fs method, called in that process; file systems and
open files stay there and are driven through proxies, and exceptions come back as the
builtin class s3fs raised (FileNotFoundError, ...) or a subclass of it named as there.
"""

from __future__ import annotations

import base64
import builtins
import datetime
import functools
import hashlib
import json
import os
import queue
import random
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import delete_bucket, unique_bucket_name

WORKER = Path(__file__).with_name("s3fs_worker.py")
S3FS_PYTHON = Path(sys.executable).parent.parent / "s3fs" / "bin" / "python"
CALL_TIMEOUT = 60.0


class RemoteError(Exception):
    """An exception s3fs raised in the worker whose class is not a builtin one; the local
    class has the same name and derives from the nearest builtin base (e.g. OSError)."""


class Remote:
    """A proxy for an object in the worker: `remote.name(*args)` calls its method there."""

    def __init__(self, worker: S3fsWorker, number: int) -> None:
        self._worker = worker
        self._number = number

    def __getattr__(self, name: str):
        if name.startswith("_"):
            raise AttributeError(name)
        return functools.partial(self._worker.call, self._number, name)

    def __enter__(self) -> Remote:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._worker.call(self._number, "close")


class S3fsWorker:
    """The worker process, and the JSON-lines calls to it."""

    def __init__(self, env: dict[str, str], stderr_path: Path) -> None:
        self._stderr_path = stderr_path
        self._stderr = open(stderr_path, "wb")
        self._proc = subprocess.Popen(
            [str(S3FS_PYTHON), str(WORKER)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._stderr,
            env=env,
            text=True,
        )
        self._replies: queue.Queue[str] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()
        self.root = Remote(self, 0)  # the s3fs module

    def _read(self) -> None:
        for line in self._proc.stdout:
            self._replies.put(line)
        self._replies.put("")

    def call(self, target: int, method: str, *args: Any, **kwargs: Any) -> Any:
        request = {"target": target, "method": method, "args": args, "kwargs": kwargs}
        self._proc.stdin.write(json.dumps(self._encode(request)) + "\n")
        self._proc.stdin.flush()
        try:
            line = self._replies.get(timeout=CALL_TIMEOUT)
        except queue.Empty:
            self.close()
            pytest.fail(f"s3fs {method}{args} took over {CALL_TIMEOUT}s\n{self._log()}")
        if not line:
            pytest.fail(f"the s3fs worker exited during {method}{args}\n{self._log()}")
        reply = json.loads(line)
        if "error" in reply:
            raise self._exception(reply["error"])
        return self._decode(reply["result"])

    def close(self) -> None:
        if self._proc.poll() is None:
            self._proc.stdin.close()
            try:
                self._proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
        self._stderr.close()

    def _log(self) -> str:
        return "worker stderr:\n" + self._stderr_path.read_text(errors="replace")[-3000:]

    def _encode(self, value: Any) -> Any:
        if isinstance(value, bytes):
            return {"$bytes": base64.b64encode(value).decode()}
        if isinstance(value, Remote):
            return {"$object": value._number}
        if isinstance(value, list | tuple):
            return [self._encode(item) for item in value]
        if isinstance(value, dict):
            return {key: self._encode(item) for key, item in value.items()}
        return value

    def _decode(self, value: Any) -> Any:
        if isinstance(value, list):
            return [self._decode(item) for item in value]
        if isinstance(value, dict):
            if "$bytes" in value:
                return base64.b64decode(value["$bytes"])
            if "$datetime" in value:
                return datetime.datetime.fromisoformat(value["$datetime"])
            if "$object" in value:
                return Remote(self, value["$object"])
            return {key: self._decode(item) for key, item in value.items()}
        return value

    @staticmethod
    def _exception(error: dict) -> BaseException:
        base = next(
            (getattr(builtins, name) for name in error["bases"] if hasattr(builtins, name)),
            Exception,
        )
        if base.__name__ == error["type"]:
            return base(error["message"])
        return type(error["type"], (RemoteError, base), {})(error["message"])


@pytest.fixture(scope="module")
def s3fs_module(cluster, tmp_path_factory) -> Iterator[Remote]:
    """The s3fs module, in a worker process whose environment holds the key, as a
    user's would."""
    if not S3FS_PYTHON.exists():
        pytest.fail(
            f"no s3fs venv at {S3FS_PYTHON.parent.parent}: `make .venv/bin/.test-tools` "
            "creates it from tests/clients/s3fs-requirements.txt"
        )
    home = tmp_path_factory.mktemp("s3fs-home")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "BOTO_"))}
    no_proxy = ",".join(filter(None, [env.get("NO_PROXY"), "127.0.0.1", "localhost"]))
    env.update(
        AWS_ACCESS_KEY_ID=cluster.access_key,
        AWS_SECRET_ACCESS_KEY=cluster.secret_key,
        AWS_DEFAULT_REGION=cluster.region,
        AWS_CONFIG_FILE=str(home / "none"),
        AWS_SHARED_CREDENTIALS_FILE=str(home / "none"),
        AWS_EC2_METADATA_DISABLED="true",
        HOME=str(home),
        NO_PROXY=no_proxy,
        no_proxy=no_proxy,
    )
    worker = S3fsWorker(env, home / "worker.log")
    try:
        yield worker.root
    finally:
        worker.close()


def _file_system(s3fs_module: Remote, cluster, **options: Any) -> Remote:
    """An s3fs.S3FileSystem for the first gateway, configured as a user would: the
    gateway's URL as endpoint_url."""
    return s3fs_module.S3FileSystem(
        endpoint_url=cluster.endpoints[0],
        # The tests also write with boto3, behind s3fs's back: no listing cache.
        use_listings_cache=False,
        skip_instance_cache=True,
        config_kwargs={
            "connect_timeout": 5,
            "read_timeout": 60,
            "retries": {"mode": "standard", "total_max_attempts": 2},
        },
        **options,
    )


@pytest.fixture(scope="module")
def fs(s3fs_module: Remote, cluster) -> Remote:
    return _file_system(s3fs_module, cluster)


@pytest.fixture
def new_bucket(s3) -> Iterator[str]:
    """A bucket name that does not exist yet; removed (best effort) afterwards."""
    name = unique_bucket_name("s3fs-mkdir")
    yield name
    delete_bucket(s3, name)


def _data(size: int, seed: int = 0) -> bytes:
    return random.Random(seed).randbytes(size)


def test_mkdir_ls_rmdir(fs: Remote, new_bucket: str) -> None:
    fs.mkdir(new_bucket)
    assert new_bucket in fs.ls("", detail=False)
    assert fs.exists(new_bucket) and fs.isdir(new_bucket)
    assert fs.ls(new_bucket) == []

    fs.pipe_file(f"{new_bucket}/only.txt", b"x")
    with pytest.raises(OSError) as caught:  # BucketNotEmpty, as ENOTEMPTY
        fs.rmdir(new_bucket)
    assert "[Errno 39] The bucket you tried to delete is not empty" in str(caught.value)

    fs.rm_file(f"{new_bucket}/only.txt")
    fs.rmdir(new_bucket)
    assert not fs.exists(new_bucket)
    assert new_bucket not in fs.ls("", detail=False)
    with pytest.raises(FileNotFoundError):
        fs.ls(new_bucket)


def test_write_with_metadata_and_tags(fs: Remote, s3, bucket: str) -> None:
    content = _data(200_000, seed=1)
    path = f"{bucket}/reports/2024.bin"
    fs.pipe_file(
        path, content, ContentType="application/x-tessera-report", Metadata={"color": "blue"}
    )
    # A streamed write: open() in "wb" mode, written in pieces, committed on close.
    streamed = f"{bucket}/reports/streamed.txt"
    with fs.open(streamed, "wb", ContentType="text/plain", Metadata={"writer": "s3fs"}) as f:
        for line in range(100):
            f.write(f"line {line}\n".encode())
    expected_lines = "".join(f"line {line}\n" for line in range(100)).encode()

    info = fs.info(path)
    assert info["type"] == "file" and info["size"] == len(content)
    assert info["ETag"] == f'"{hashlib.md5(content).hexdigest()}"'
    assert info["ContentType"] == "application/x-tessera-report"
    assert isinstance(info["LastModified"], datetime.datetime)
    assert fs.metadata(path) == {"color": "blue"}
    assert fs.metadata(streamed) == {"writer": "s3fs"}
    assert fs.cat_file(streamed) == expected_lines

    head = s3.head_object(Bucket=bucket, Key="reports/streamed.txt")
    assert head["ContentType"] == "text/plain"
    assert head["ContentLength"] == len(expected_lines)

    fs.put_tags(path, {"team": "storage", "tier": "hot"})
    assert fs.get_tags(path) == {"team": "storage", "tier": "hot"}
    fs.put_tags(path, {"tier": "cold"}, mode="m")  # merge
    assert fs.get_tags(path) == {"team": "storage", "tier": "cold"}
    tagging = s3.get_object_tagging(Bucket=bucket, Key="reports/2024.bin")
    assert {t["Key"]: t["Value"] for t in tagging["TagSet"]} == {"team": "storage", "tier": "cold"}

    assert fs.cat_file(path) == content
    with pytest.raises(FileNotFoundError):
        fs.info(f"{bucket}/reports/none.bin")
    with pytest.raises(FileNotFoundError):
        fs.cat_file(f"{bucket}/reports/none.bin")
    with pytest.raises(FileNotFoundError):
        fs.open(f"{bucket}/reports/none.bin", "rb")


def test_put_and_get_local_files(fs: Remote, bucket: str, tmp_path: Path) -> None:
    src = tmp_path / "up"
    files = {"a.txt": b"alpha\n", "docs/b.md": b"# beta\n" * 20, "docs/deep/c.bin": _data(7000)}
    for rel, content in files.items():
        (src / rel).parent.mkdir(parents=True, exist_ok=True)
        (src / rel).write_bytes(content)

    fs.put(str(src), f"{bucket}/tree", recursive=True)
    assert sorted(fs.find(f"{bucket}/tree")) == sorted(f"{bucket}/tree/{rel}" for rel in files)

    down = tmp_path / "down"
    fs.get(f"{bucket}/tree", str(down), recursive=True)
    got = {p.relative_to(down).as_posix(): p.read_bytes() for p in down.rglob("*") if p.is_file()}
    assert got == files


def test_listing_prefix_and_delimiter(fs: Remote, s3, bucket: str) -> None:
    objects = {
        "a.txt": b"a",
        "dir/b.txt": b"bb",
        "dir/sub/c.txt": b"ccc",
        "dir2/d.csv": b"dddd",
        "with space.txt": b"eeeee",
    }
    for key, body in objects.items():
        s3.put_object(Bucket=bucket, Key=key, Body=body)

    # ls lists one level (a delimiter of "/"): common prefixes are directories.
    top = {e["name"]: (e["type"], e["size"]) for e in fs.ls(bucket, detail=True)}
    assert top == {
        f"{bucket}/a.txt": ("file", 1),
        f"{bucket}/with space.txt": ("file", 5),
        f"{bucket}/dir": ("directory", 0),
        f"{bucket}/dir2": ("directory", 0),
    }
    assert sorted(fs.ls(f"{bucket}/dir", detail=False)) == [
        f"{bucket}/dir/b.txt",
        f"{bucket}/dir/sub",
    ]
    assert fs.isdir(f"{bucket}/dir/sub") and not fs.isfile(f"{bucket}/dir/sub")
    assert fs.isfile(f"{bucket}/dir/b.txt")

    # find lists everything under a prefix, with no delimiter.
    assert sorted(fs.find(bucket)) == sorted(f"{bucket}/{key}" for key in objects)
    assert fs.find(f"{bucket}/dir/") == [f"{bucket}/dir/b.txt", f"{bucket}/dir/sub/c.txt"]
    assert fs.find(f"{bucket}/dir", maxdepth=1, withdirs=True) == [
        f"{bucket}/dir",
        f"{bucket}/dir/b.txt",
        f"{bucket}/dir/sub",
    ]
    assert sorted(fs.glob(f"{bucket}/**/*.txt")) == sorted(
        f"{bucket}/{key}" for key in objects if key.endswith(".txt")
    )
    assert fs.glob(f"{bucket}/dir*/*.csv") == [f"{bucket}/dir2/d.csv"]
    assert fs.du(bucket) == sum(map(len, objects.values()))
    walked = {root: sorted(names) for root, _, names in fs.walk(bucket)}
    assert walked == {
        bucket: ["a.txt", "with space.txt"],
        f"{bucket}/dir": ["b.txt"],
        f"{bucket}/dir/sub": ["c.txt"],
        f"{bucket}/dir2": ["d.csv"],
    }
    with pytest.raises(FileNotFoundError):
        fs.ls(f"{bucket}/nothing/here")


def test_ranged_reads(fs: Remote, s3, bucket: str) -> None:
    content = _data(1_000_000, seed=2)
    s3.put_object(Bucket=bucket, Key="blob.bin", Body=content)
    path = f"{bucket}/blob.bin"

    assert fs.cat_file(path, start=10, end=20) == content[10:20]
    assert fs.cat_file(path, start=999_990) == content[999_990:]
    assert fs.cat_file(path, start=-7) == content[-7:]
    assert fs.cat_ranges([path, path, path], [0, 300_000, 999_999], [5, 300_100, 1_000_000]) == [
        content[0:5],
        content[300_000:300_100],
        content[999_999:],
    ]
    assert fs.read_block(path, 100, 50) == content[100:150]

    # A file opened for reading fetches blocks of block_size with Range requests.
    with fs.open(path, "rb", block_size=64 * 1024) as f:
        assert f.read(100) == content[:100]
        f.seek(700_000)
        assert f.read(200_000) == content[700_000:900_000]
        assert f.tell() == 900_000
        f.seek(-10, 2)
        assert f.read() == content[-10:]
        assert f.read() == b""


def test_open_file_sees_overwrite(fs: Remote, s3, bucket: str) -> None:
    """s3fs reads the blocks of an open file with If-Match: <the ETag when opened>, so a
    file overwritten while open fails instead of returning a mix of two versions."""
    old, new = _data(400_000, seed=3), _data(400_000, seed=4)
    s3.put_object(Bucket=bucket, Key="moving.bin", Body=old)

    f = fs.open(f"{bucket}/moving.bin", "rb", block_size=64 * 1024, cache_type="bytes")
    assert f.read(1000) == old[:1000]
    s3.put_object(Bucket=bucket, Key="moving.bin", Body=new)
    f.seek(300_000)
    with pytest.raises(OSError) as caught:
        f.read(1000)
    assert caught.typename == "FileExpired", caught.value
    f.close()

    with fs.open(f"{bucket}/moving.bin", "rb") as f:
        assert f.read() == new


def test_exclusive_create(fs: Remote, bucket: str) -> None:
    """mode="create" writes with If-None-Match: *, which fails if the key exists."""
    path = f"{bucket}/once.txt"
    fs.pipe_file(path, b"first", mode="create")
    with pytest.raises(FileExistsError):
        fs.pipe_file(path, b"second", mode="create")
    assert fs.cat_file(path) == b"first"
    fs.pipe_file(path, b"third")  # mode="overwrite"
    assert fs.cat_file(path) == b"third"


def test_server_side_copy_and_move(fs: Remote, s3, bucket: str, served) -> None:
    content = _data(150_000, seed=5)
    s3.put_object(
        Bucket=bucket,
        Key="src/one.bin",
        Body=content,
        ContentType="application/x-one",
        Metadata={"owner": "s3fs"},
    )
    for i in range(3):
        s3.put_object(Bucket=bucket, Key=f"src/many/{i}.txt", Body=f"file {i}".encode())

    copies = served("CopyObject")
    fs.copy(f"{bucket}/src/one.bin", f"{bucket}/dst/one.bin")
    assert served("CopyObject") == copies + 1  # no bytes through the client
    copy = s3.head_object(Bucket=bucket, Key="dst/one.bin")
    assert copy["ETag"] == f'"{hashlib.md5(content).hexdigest()}"'
    assert copy["ContentType"] == "application/x-one"
    assert copy["Metadata"] == {"owner": "s3fs"}
    assert fs.cat_file(f"{bucket}/dst/one.bin") == content

    fs.copy(f"{bucket}/src/many", f"{bucket}/dst/many", recursive=True)
    assert sorted(fs.find(f"{bucket}/dst/many")) == [f"{bucket}/dst/many/{i}.txt" for i in range(3)]
    assert fs.cat_file(f"{bucket}/dst/many/2.txt") == b"file 2"

    fs.mv(f"{bucket}/dst/one.bin", f"{bucket}/moved/one.bin")
    assert not fs.exists(f"{bucket}/dst/one.bin")
    assert fs.cat_file(f"{bucket}/moved/one.bin") == content

    with pytest.raises(FileNotFoundError):
        fs.copy(f"{bucket}/src/none.bin", f"{bucket}/dst/none.bin")


def test_batch_delete(fs: Remote, s3, bucket: str, served) -> None:
    for i in range(10):
        s3.put_object(Bucket=bucket, Key=f"logs/{i}.log", Body=b"x" * i)
    for key in ("keep/a.txt", "drop/a.txt", "drop/b.txt"):
        s3.put_object(Bucket=bucket, Key=key, Body=b"y")

    # rm of a list of paths, and rm of a prefix, each send one DeleteObjects request.
    singles, batches = served("DeleteObject"), served("DeleteObjects")
    fs.rm([f"{bucket}/drop/a.txt", f"{bucket}/drop/b.txt"])
    fs.rm(f"{bucket}/logs", recursive=True)
    assert (served("DeleteObject"), served("DeleteObjects")) == (singles, batches + 2)
    assert fs.find(bucket) == [f"{bucket}/keep/a.txt"]
    listed = s3.list_objects_v2(Bucket=bucket)
    assert [o["Key"] for o in listed["Contents"]] == ["keep/a.txt"]

    # Deleting a key that is not there succeeds, as S3's deletes do; a missing bucket fails.
    fs.rm(f"{bucket}/drop/a.txt")
    with pytest.raises(FileNotFoundError):
        fs.rm(f"{bucket}-none/a.txt")


def test_versioned_overwrite_and_restore(
    s3fs_module: Remote, cluster, s3, bucket: str, served
) -> None:
    """s3fs's own versioning, with version_aware=True: make_bucket_versioned, overwrites,
    object_version_info and ls(versions=True), reads by version_id (cat, open, info),
    and restores by a server-side copy of `path?versionId=...` onto the path. s3fs has
    no delete of one version (rm ignores the version id): an rm leaves a delete marker,
    and the restore after it is another copy."""
    vfs = _file_system(s3fs_module, cluster, version_aware=True)
    vfs.make_bucket_versioned(bucket)
    assert vfs.is_bucket_versioned(bucket)

    path = f"{bucket}/docs/report v1.bin"
    bodies = [b"first draft", _data(300_000, seed=6), b"third draft"]
    for body in bodies:
        vfs.pipe_file(path, body)
    md5 = [f'"{hashlib.md5(body).hexdigest()}"' for body in bodies]

    versions = vfs.object_version_info(path)  # newest first
    ids = [v["VersionId"] for v in reversed(versions)]
    assert len(set(ids)) == 3 and "null" not in ids
    assert [(v["IsLatest"], v["Size"], v["ETag"]) for v in versions] == [
        (i == 2, len(bodies[i]), md5[i]) for i in (2, 1, 0)
    ]
    assert sorted(vfs.ls(f"{bucket}/docs", versions=True)) == sorted(
        f"{path}?versionId={version_id}" for version_id in ids
    )

    assert vfs.cat_file(path) == bodies[2]
    assert vfs.info(path)["VersionId"] == ids[2]
    for version_id, body in zip(ids, bodies, strict=True):
        assert vfs.cat_file(path, version_id=version_id) == body
        assert vfs.cat_file(f"{path}?versionId={version_id}") == body
        info = vfs.info(path, version_id=version_id)
        assert (info["VersionId"], info["size"]) == (version_id, len(body))
    with vfs.open(path, "rb", version_id=ids[1], block_size=64 * 1024) as f:
        f.seek(200_000)
        assert f.read(1000) == bodies[1][200_000:201_000]

    # Restore the first version: s3fs copies `path?versionId=` with CopyObject.
    copies = served("CopyObject")
    vfs.cp_file(f"{path}?versionId={ids[0]}", path)
    assert served("CopyObject") == copies + 1
    restored = vfs.info(path)["VersionId"]
    assert restored not in ids
    assert vfs.cat_file(path) == bodies[0]
    assert [v["VersionId"] for v in vfs.object_version_info(path)] == [restored, *reversed(ids)]

    # rm leaves a delete marker; every version is still there to restore from.
    vfs.rm_file(path)
    assert not vfs.exists(path)
    with pytest.raises(FileNotFoundError):
        vfs.cat_file(path)
    # In the path: cat_file(path, version_id=...) first sizes the file with a HEAD of
    # the path without the version, which the delete marker answers with a 404.
    assert vfs.cat_file(f"{path}?versionId={ids[1]}") == bodies[1]
    listed = s3.list_object_versions(Bucket=bucket)
    assert [(m["Key"], m["IsLatest"]) for m in listed["DeleteMarkers"]] == [
        ("docs/report v1.bin", True)
    ]
    vfs.cp_file(f"{path}?versionId={ids[1]}", path)
    assert vfs.cat_file(path) == bodies[1]
    assert s3.get_object(Bucket=bucket, Key="docs/report v1.bin")["Body"].read() == bodies[1]
    assert len(vfs.object_version_info(path)) == 5  # and the marker, which s3fs does not list
