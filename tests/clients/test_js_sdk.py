"""The AWS SDK for JavaScript v3 (@aws-sdk/client-s3, lib-storage, s3-request-presigner,
from tests/clients/js/package-lock.json) against a real local cluster, with its default
checksums: one scripted session (tests/clients/js/session.mjs) run by Node."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

JS_DIR = Path(__file__).parent / "js"
MiB = 1024 * 1024


def test_a_javascript_sdk_session(cluster, bucket, served) -> None:
    node = shutil.which("node")
    assert node is not None, "Node.js is missing: `make test` installs it"
    assert (JS_DIR / "node_modules" / "@aws-sdk" / "client-s3").is_dir(), (
        "the SDK is missing: `make test` runs npm ci in tests/clients/js"
    )
    env = {
        "PATH": os.environ.get("PATH", ""),
        "TESSERA_ENDPOINT": cluster.endpoints[0],
        "TESSERA_ACCESS_KEY": cluster.access_key,
        "TESSERA_SECRET_KEY": cluster.secret_key,
        "TESSERA_REGION": cluster.region,
        "TESSERA_BUCKET": bucket,
    }
    uploads_before = served("CompleteMultipartUpload")
    done = subprocess.run(
        [node, "session.mjs"], cwd=JS_DIR, env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-4000:]
    seen = json.loads(done.stdout.strip().splitlines()[-1])

    # The SDK's default CRC32 was checked and kept: HEAD with checksum mode returns it.
    assert seen["small_put_checksum"] is not None
    assert seen["small_head_checksum"] == seen["small_put_checksum"]
    assert seen["small_body_matches"] and seen["small_content_type"] == "text/plain"
    assert seen["streamed_matches"]
    # lib-storage uploaded 12 MiB as a multipart upload of three parts.
    assert seen["large_matches"] and seen["large_length"] == 12 * MiB
    assert seen["large_etag"].strip('"').endswith("-3")
    assert served("CompleteMultipartUpload") == uploads_before + 1
    assert sorted(seen["listed"]) == [
        ["js/large.bin", 12 * MiB],
        ["js/small.txt", len("hello from the JavaScript SDK\n")],
        ["js/streamed.bin", 300 * 1024],
    ]
    assert seen["presigned_get"] == [200, "hello from the JavaScript SDK\n"]
    assert seen["presigned_put_status"] == 200
    assert seen["presigned_put_body"] == "put through a presigned URL"
    assert seen["deleted"] == [
        "js/large.bin",
        "js/presigned.txt",
        "js/small.txt",
        "js/streamed.bin",
    ]
    assert seen["delete_errors"] == [] and seen["left_after_delete"] == 0
