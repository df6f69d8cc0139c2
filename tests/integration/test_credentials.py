"""`tessera credential` against a real cluster: keys made by the CLI work through every
gateway, disabling or deleting a key is refused everywhere within seconds, and etcd never
holds a secret in plaintext."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from coordinator import credentials, keys
from coordinator.etcd import connect
from tests.helpers import aws_chunked_request, make_client, multipart_form
from tools.cluster import ClusterInfo

_ROOT = Path(__file__).resolve().parents[2]
REJECT_WITHIN = 5.0
# Gateways publish their usage reports every second here (default 15 s), so `credential
# stats` sees a request within moments.
CLUSTER_ENV = {"TESSERA_USAGE_INTERVAL": "1"}


def tessera(cluster: ClusterInfo, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("TESSERA_ETCD", "TESSERA_CLUSTER_KEY", "TESSERA_CLUSTER_KEY_FILE")
    }
    result = subprocess.run(
        [sys.executable, "-m", "tools.cli", "credential", *args],
        cwd=_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    if check:
        assert result.returncode == 0, result.stderr
    return result


def local(cluster: ClusterInfo) -> list[str]:
    return ["--data-dir", str(cluster.data_dir)]


def clients(cluster: ClusterInfo, access: str, secret: str) -> list[Any]:
    return [make_client(url, access, secret, cluster.region) for url in cluster.endpoints]


def error_code(client: Any) -> str | None:
    """None when the key is accepted, else the S3 error code."""
    try:
        client.list_buckets()
        return None
    except ClientError as exc:
        return exc.response["Error"]["Code"]


def wait_rejected(s3s: list[Any], since: float) -> list[float]:
    """Poll every gateway until each refuses the key; seconds from `since` per gateway."""
    delays: list[float | None] = [None] * len(s3s)
    deadline = time.monotonic() + REJECT_WITHIN + 5
    while None in delays and time.monotonic() < deadline:
        for i, client in enumerate(s3s):
            if delays[i] is None:
                code = error_code(client)
                if code is not None:
                    assert code == "InvalidAccessKeyId", code
                    delays[i] = time.monotonic() - since
        time.sleep(0.01)
    assert None not in delays, f"still accepted after {REJECT_WITHIN + 5}s: {delays}"
    return delays  # type: ignore[return-value]


def wait_accepted(s3s: list[Any]) -> None:
    deadline = time.monotonic() + REJECT_WITHIN
    while time.monotonic() < deadline:
        if all(error_code(c) is None for c in s3s):
            return
        time.sleep(0.02)
    pytest.fail("key not accepted by every gateway")


def test_generated_key_lifecycle(cluster: ClusterInfo) -> None:
    out = tessera(
        cluster,
        "generate",
        "--json",
        "--description",
        "ci key",
        "--policy",
        "readwrite",
        *local(cluster),
    )
    new = json.loads(out.stdout)
    access, secret = new["access_key"], new["secret_key"]

    # Works through both gateways (the watch brings it to each within moments).
    s3s = clients(cluster, access, secret)
    wait_accepted(s3s)
    bucket = f"creds-{access.lower()}"
    s3s[0].create_bucket(Bucket=bucket)
    s3s[1].put_object(Bucket=bucket, Key="k", Body=b"hello")
    assert s3s[0].get_object(Bucket=bucket, Key="k")["Body"].read() == b"hello"

    # A wrong secret for the same key is refused (the last character always changes).
    last = "y" if secret.endswith("x") else "x"
    wrong = make_client(cluster.endpoints[0], access, secret[:-1] + last, cluster.region)
    assert error_code(wrong) == "SignatureDoesNotMatch"

    # list --json parses and shows the key without its secret; show reports it.
    rows = json.loads(tessera(cluster, "list", "--json", *local(cluster)).stdout)
    row = next(r for r in rows if r["access_key"] == access)
    assert row["enabled"] is True and row["policy"] == "readwrite"
    assert row["description"] == "ci key"
    assert "secret_key" not in row
    shown = json.loads(
        tessera(cluster, "show", access, "--json", "--show-secrets", *local(cluster)).stdout
    )
    assert shown["secret_key"] == secret
    table = tessera(cluster, "list", *local(cluster)).stdout
    assert access in table and secret not in table and "ACCESS KEY" in table

    # Disable: every gateway refuses it, fast.
    before = time.monotonic()
    tessera(cluster, "disable", access, *local(cluster))
    written = time.monotonic()
    delays = wait_rejected(s3s, written)
    print(
        f"\ndisable→reject per gateway: {', '.join(f'{d * 1000:.0f} ms' for d in delays)} "
        f"after the CLI returned ({(written - before) * 1000:.0f} ms CLI run)"
    )
    assert max(delays) < REJECT_WITHIN
    assert (
        json.loads(tessera(cluster, "show", access, "--json", *local(cluster)).stdout)["enabled"]
        is False
    )

    # Enable again, then delete.
    tessera(cluster, "enable", access, *local(cluster))
    wait_accepted(s3s)
    s3s[0].delete_object(Bucket=bucket, Key="k")
    s3s[0].delete_bucket(Bucket=bucket)
    tessera(cluster, "delete", access, *local(cluster))
    written = time.monotonic()
    delays = wait_rejected(s3s, written)
    print(f"delete→reject per gateway: {', '.join(f'{d * 1000:.0f} ms' for d in delays)}")
    rows = json.loads(tessera(cluster, "list", "--json", *local(cluster)).stdout)
    assert access not in {r["access_key"] for r in rows}

    # The root key still works everywhere.
    for client in clients(cluster, cluster.access_key, cluster.secret_key):
        assert error_code(client) is None


def test_add_and_no_plaintext_in_etcd(cluster: ClusterInfo) -> None:
    access, secret = "CIADDEDKEY0001", "a-chosen-secret-0123456789"
    tessera(cluster, "add", "--access-key", access, "--secret-key", secret, *local(cluster))
    # Adding it twice is refused with one line.
    again = tessera(
        cluster,
        "add",
        "--access-key",
        access,
        "--secret-key",
        secret,
        *local(cluster),
        check=False,
    )
    assert again.returncode != 0
    assert again.stderr.strip().count("\n") == 0 and "already exists" in again.stderr
    wait_accepted(clients(cluster, access, secret))

    client = connect(cluster.etcd_endpoint)
    try:
        values = [value for value, _ in client.get_prefix(keys.CREDENTIALS)]
    finally:
        client.close()
    assert len(values) >= 2
    for value in values:
        for plain in (secret, cluster.secret_key):
            assert plain.encode() not in value
        assert b"secret_enc" in value
    tessera(cluster, "delete", access, *local(cluster))


def test_display_name_and_email_show_in_s3(cluster: ClusterInfo, s3) -> None:
    """`credential add --display-name --email`: Owner elements show the name, and an ACL
    grant by that email address becomes a grant to the key."""
    access, secret = "CINAMEDKEY0001", "a-chosen-secret-0123456789"
    named = ["--display-name", "Named User", "--email", "Named@Example.com"]
    tessera(cluster, "add", "--access-key", access, "--secret-key", secret, *named, *local(cluster))
    taken = tessera(
        cluster,
        "add",
        "--access-key",
        "CINAMEDKEY0002",
        "--secret-key",
        secret,
        "--email",
        "named@example.com",
        *local(cluster),
        check=False,
    )
    assert taken.returncode == 1 and "already has the email address" in taken.stderr
    shown = json.loads(tessera(cluster, "show", access, "--json", *local(cluster)).stdout)
    assert (shown["display_name"], shown["email"]) == ("Named User", "named@example.com")
    wait_accepted(clients(cluster, access, secret))
    named_s3 = clients(cluster, access, secret)[0]
    bucket = f"named-{int(time.time() * 1000)}"
    named_s3.create_bucket(Bucket=bucket)
    try:
        assert named_s3.list_buckets()["Owner"] == {"ID": access, "DisplayName": "Named User"}
        named_s3.put_bucket_acl(Bucket=bucket, GrantRead='emailAddress="NAMED@example.com"')
        grants = named_s3.get_bucket_acl(Bucket=bucket)["Grants"]
        assert grants == [
            {
                "Grantee": {"Type": "CanonicalUser", "ID": access, "DisplayName": "Named User"},
                "Permission": "READ",
            }
        ]
    finally:
        named_s3.delete_bucket(Bucket=bucket)
        tessera(cluster, "delete", access, *local(cluster))


def test_errors_are_one_line(cluster: ClusterInfo) -> None:
    for args in (["show", "NOSUCHKEY"], ["disable", "NOSUCHKEY"], ["delete", "NOSUCHKEY"]):
        result = tessera(cluster, *args, *local(cluster), check=False)
        assert result.returncode == 1
        assert result.stderr.strip() == "tessera credential: error: no such access key: NOSUCHKEY"
    result = tessera(cluster, "list", "--etcd", "127.0.0.1:1", *local(cluster), check=False)
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "cannot reach etcd at 127.0.0.1:1" in lines[0], result.stderr
    # Encrypting needs the cluster key: a wrong key file is refused before etcd is touched.
    result = tessera(
        cluster,
        "generate",
        "--etcd",
        cluster.etcd_endpoint,
        "--cluster-key-file",
        str(cluster.data_dir / "nope.key"),
        check=False,
    )
    assert result.returncode == 1 and "cannot read cluster key file" in result.stderr


def test_gateway_refuses_to_start_without_or_with_wrong_key(
    cluster: ClusterInfo, tmp_path: Path
) -> None:
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("TESSERA_CLUSTER_KEY", "TESSERA_CLUSTER_KEY_FILE")
    }
    argv = [
        sys.executable,
        "-m",
        "tools.cli",
        "gateway",
        "--etcd",
        cluster.etcd_endpoint,
        "--listen",
        "127.0.0.1:1",
    ]
    result = subprocess.run(argv, cwd=_ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert "no cluster key" in result.stderr

    from coordinator.secrets import write_key_file

    wrong = tmp_path / "wrong.key"
    write_key_file(wrong)
    result = subprocess.run(
        [*argv, "--cluster-key-file", str(wrong)],
        cwd=_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "decrypt with this cluster key" in result.stderr


def _new_key(cluster: ClusterInfo, *options: str) -> tuple[str, str]:
    result = tessera(cluster, "generate", "--json", *local(cluster), *options)
    created = json.loads(result.stdout)
    return created["access_key"], created["secret_key"]


def _denied(call) -> bool:
    try:
        call()
        return False
    except ClientError as exc:
        return exc.response["Error"]["Code"] == "AccessDenied"


def test_policies_limit_what_a_key_sees_and_touches(cluster: ClusterInfo, s3) -> None:
    import uuid

    suffix = uuid.uuid4().hex[:8]
    root_bucket, shared = f"root-{suffix}", f"shared-{suffix}"
    s3.create_bucket(Bucket=root_bucket)
    s3.create_bucket(Bucket=shared)
    s3.put_object(Bucket=shared, Key="doc", Body=b"shared doc")
    try:
        # readwrite with no patterns: only the buckets it creates.
        access, secret = _new_key(cluster, "--policy", "readwrite")
        writer = clients(cluster, access, secret)[0]
        own = f"own-{suffix}"
        writer.create_bucket(Bucket=own)
        writer.put_object(Bucket=own, Key="k", Body=b"mine")
        assert writer.get_object(Bucket=own, Key="k")["Body"].read() == b"mine"
        assert [b["Name"] for b in writer.list_buckets()["Buckets"]] == [own]
        assert _denied(lambda: writer.list_objects_v2(Bucket=root_bucket))
        assert _denied(lambda: writer.put_object(Bucket=root_bucket, Key="x", Body=b"x"))
        assert _denied(
            lambda: writer.copy_object(
                Bucket=own, Key="stolen", CopySource={"Bucket": shared, "Key": "doc"}
            )
        )
        # The admin (root) still sees everything, including the new bucket.
        assert own in [b["Name"] for b in s3.list_buckets()["Buckets"]]

        # readonly limited to shared-*: reads there, nothing else.
        access, secret = _new_key(cluster, "--policy", "readonly", "--buckets", "shared-*")
        reader = clients(cluster, access, secret)[-1]
        assert reader.get_object(Bucket=shared, Key="doc")["Body"].read() == b"shared doc"
        assert [b["Name"] for b in reader.list_buckets()["Buckets"]] == [shared]
        assert _denied(lambda: reader.put_object(Bucket=shared, Key="x", Body=b"x"))
        assert _denied(lambda: reader.delete_object(Bucket=shared, Key="doc"))
        assert _denied(lambda: reader.create_bucket(Bucket=f"shared-new-{suffix}"))
        assert _denied(lambda: reader.get_object(Bucket=own, Key="k"))
        writer.delete_object(Bucket=own, Key="k")
        writer.delete_bucket(Bucket=own)
    finally:
        s3.delete_object(Bucket=shared, Key="doc")
        for name in (root_bucket, shared):
            s3.delete_bucket(Bucket=name)


# --- rotation ------------------------------------------------------------------------------


def _raw(method: str, url: str, body: bytes = b"", headers: dict | None = None) -> int:
    request = urllib.request.Request(url, data=body or None, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            response.read()
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code


def _rotate(cluster: ClusterInfo, access: str, grace: str) -> tuple[dict[str, Any], str]:
    result = tessera(cluster, "rotate", access, "--grace", grace, "--json", *local(cluster))
    return json.loads(result.stdout), result.stderr


def wait_code(s3s: list[Any], code: str | None, within: float = REJECT_WITHIN) -> None:
    """Poll until every client gets `code` (None: accepted)."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if all(error_code(c) == code for c in s3s):
            return
        time.sleep(0.02)
    pytest.fail(f"not every gateway answers {code}: {[error_code(c) for c in s3s]}")


def _every_auth_path(cluster: ClusterInfo, access: str, secret: str, bucket: str) -> None:
    """SigV4 header, SigV2 header, presigned V4 and V2, aws-chunked signing and POST policies
    (V4 and V2), each through every gateway, signed with `secret`."""
    data = uuid.uuid4().bytes * 5000
    for i, endpoint in enumerate(cluster.endpoints):
        v4 = make_client(endpoint, access, secret, cluster.region)
        v2 = make_client(endpoint, access, secret, cluster.region, signature_version="s3")
        v4.put_object(Bucket=bucket, Key=f"v4-{i}", Body=b"four")
        v2.put_object(Bucket=bucket, Key=f"v2-{i}", Body=b"two")
        assert v2.get_object(Bucket=bucket, Key=f"v4-{i}")["Body"].read() == b"four"
        for client in (v4, v2):
            url = client.generate_presigned_url(
                "get_object", Params={"Bucket": bucket, "Key": f"v2-{i}"}, ExpiresIn=60
            )
            assert _raw("GET", url) == 200, url
        headers, body = aws_chunked_request(
            endpoint, cluster.region, access, secret, f"/{bucket}/chunked-{i}", data, 64 * 1024
        )
        assert _raw("PUT", f"{endpoint}/{bucket}/chunked-{i}", body, headers) == 200
        for client in (v4, v2):
            post = client.generate_presigned_post(bucket, "posted/${filename}", ExpiresIn=60)
            form, content_type = multipart_form(post["fields"], f"{i}.txt", b"posted")
            status = _raw("POST", post["url"], form, {"Content-Type": content_type})
            assert status == 204, (client.meta.config.signature_version, status)
    assert len(v4.list_objects_v2(Bucket=bucket)["Contents"]) == 4 * len(cluster.endpoints)


def test_rotate_keeps_the_old_secret_for_its_grace_period(cluster: ClusterInfo) -> None:
    access, first = _new_key(cluster, "--policy", "readwrite")
    wait_accepted(clients(cluster, access, first))
    bucket = f"rotate-{access.lower()}"
    clients(cluster, access, first)[0].create_bucket(Bucket=bucket)

    # A long grace period: both gateways take the new secret and still the old one, on
    # every way a request can be signed.
    rotated, _ = _rotate(cluster, access, "1h")
    second = rotated["secret_key"]
    assert second != first and rotated["previous_valid_until"] is not None
    assert 3590 < rotated["previous_valid_until_epoch"] - time.time() <= 3600
    wait_accepted(clients(cluster, access, second))
    _every_auth_path(cluster, access, first, bucket)
    _every_auth_path(cluster, access, second, bucket)
    shown = json.loads(tessera(cluster, "show", access, "--json", *local(cluster)).stdout)
    assert shown["previous_valid_until"] == rotated["previous_valid_until"]
    assert "previous_secret_key" not in shown and "secret_key" not in shown

    # Rotating again during the grace period ends the oldest secret at once; a 2 s grace
    # for the one just replaced.
    rotated, note = _rotate(cluster, access, "2s")
    third, until = rotated["secret_key"], rotated["previous_valid_until_epoch"]
    assert "is refused from now on" in note
    wait_code(clients(cluster, access, third), None)
    wait_code(clients(cluster, access, first), "SignatureDoesNotMatch")
    during = clients(cluster, access, second)
    if time.time() < until - 0.5:  # the CLI and the watch took less than 1.5 s, as usual
        assert [error_code(c) for c in during] == [None] * len(during)

    # Refused by both gateways once the 2 s are over: each checks the expiry itself, at
    # request time (nothing in etcd changes when the grace period ends).
    refused: list[float | None] = [None] * len(during)
    deadline = until + REJECT_WITHIN
    while None in refused and time.time() < deadline:
        for i, client in enumerate(during):
            if refused[i] is None:
                code = error_code(client)
                if code is not None:
                    assert code == "SignatureDoesNotMatch", code
                    refused[i] = time.time()
        time.sleep(0.02)
    assert None not in refused, "the old secret still works after its grace period"
    # Not before the grace period ended, and within moments after (a request is signed,
    # sent and checked in a few ms; the slack covers a busy machine).
    late = [t - until for t in refused]  # type: ignore[operator]
    print(
        f"\nold secret refused after its grace period: {', '.join(f'{d * 1000:.0f} ms' for d in late)}"
    )
    assert all(-0.05 <= d <= 1.5 for d in late), late
    client = connect(cluster.etcd_endpoint)
    try:
        stored = credentials.get(client, access)
    finally:
        client.close()
    assert stored is not None and stored["previous_expires"] == until  # no write at expiry
    for c in clients(cluster, access, third):
        assert error_code(c) is None

    # --grace 0: the replaced secret is refused as soon as the record reaches the gateways.
    rotated, _ = _rotate(cluster, access, "0")
    assert rotated["previous_valid_until"] is None
    fourth = rotated["secret_key"]
    wait_code(clients(cluster, access, third), "SignatureDoesNotMatch")
    wait_code(clients(cluster, access, fourth), None)
    text = tessera(cluster, "show", access, *local(cluster)).stdout
    assert "Old secret      -" in text and "Rotated" in text

    s3 = clients(cluster, access, fourth)[0]
    for obj in s3.list_objects_v2(Bucket=bucket)["Contents"]:
        s3.delete_object(Bucket=bucket, Key=obj["Key"])
    s3.delete_bucket(Bucket=bucket)
    tessera(cluster, "delete", access, *local(cluster))


def test_rotate_errors(cluster: ClusterInfo) -> None:
    result = tessera(cluster, "rotate", "NOSUCHKEY", *local(cluster), check=False)
    assert result.returncode == 1
    assert result.stderr.strip() == "tessera credential: error: no such access key: NOSUCHKEY"
    result = tessera(cluster, "rotate", "NOSUCHKEY", "--grace", "soon", check=False)
    assert result.returncode == 2 and "not a duration" in result.stderr


# --- stats ---------------------------------------------------------------------------------


def _stats(cluster: ClusterInfo) -> dict[str, Any]:
    return json.loads(tessera(cluster, "stats", "--json", *local(cluster)).stdout)


def _key_stats(cluster: ClusterInfo, access: str, until: Any, within: float = 20) -> Any:
    """Poll `credential stats --json` until until(report, key row) holds; (report, row)."""
    deadline = time.monotonic() + within
    while True:
        report = _stats(cluster)
        key = next(k for k in report["keys"] if k["access_key"] == access)
        if until(report, key):
            return report, key
        assert time.monotonic() < deadline, json.dumps(report, indent=2)
        time.sleep(0.2)


def test_stats_show_last_use_through_each_gateway(cluster: ClusterInfo) -> None:
    access, secret = _new_key(cluster, "--description", "stats")
    s3s = clients(cluster, access, secret)
    wait_accepted(s3s)
    gateway_ids = sorted(cluster.gateways)
    # Every gateway has reported the key (wait_accepted used it through each).
    _, key = _key_stats(cluster, access, lambda r, k: set(k["by_gateway"]) >= set(gateway_ids))
    before = {g: key["by_gateway"][g]["requests"] for g in gateway_ids}

    # One more request through each gateway shows in the next reports.
    for client in s3s:
        client.list_buckets()

    def caught_up(report: dict[str, Any], key: dict[str, Any]) -> bool:
        caches = {g["id"]: g for g in report["gateways"]}
        return all(
            key["by_gateway"].get(g, {}).get("requests", 0) > before[g]
            and caches.get(g, {}).get("in_sync")
            for g in gateway_ids
        )

    report, key = _key_stats(cluster, access, caught_up)
    seen = key["by_gateway"]
    caches = {g["id"]: g for g in report["gateways"]}
    assert key["requests"] == sum(seen[g]["requests"] for g in gateway_ids) >= 2
    assert key["last_gateway"] in gateway_ids and key["last_used"] is not None
    assert key["description"] == "stats" and key["enabled"] is True
    records = json.loads(tessera(cluster, "list", "--json", *local(cluster)).stdout)
    counts = report["credentials"]
    assert counts["total"] == len(records)
    assert counts["enabled"] == sum(r["enabled"] for r in records)
    for gateway_id in gateway_ids:
        gw = caches[gateway_id]
        assert gw["live"] is True and gw["watch_healthy"] is True, gw
        assert gw["credentials_loaded"] == len(records)
        assert gw["interval_seconds"] == 1.0
        assert gw["report_age_seconds"] < 10

    # Disabled keys are counted as such; the table names the key and each gateway.
    tessera(cluster, "disable", access, *local(cluster))
    table = tessera(cluster, "stats", *local(cluster)).stdout
    assert table.startswith(f"Credentials: {len(records)} (")
    assert f"{counts['enabled'] - 1} enabled, {counts['disabled'] + 1} disabled" in table
    row = next(line for line in table.splitlines() if line.strip().startswith(access))
    assert "DISABLED" in row and "ago" in row
    for gateway_id in gateway_ids:
        assert any(line.strip().startswith(gateway_id) for line in table.splitlines())
    tessera(cluster, "delete", access, *local(cluster))
