"""The web console in a real browser (Debian's headless Chromium) against a real cluster:
sign in, buckets, upload through the page, download and compare bytes, delete; what a
readonly key may not do; refused cookies and CSRF; the cluster and credential pages.
Every page visited is written as a screenshot to build/console-screenshots/."""

from __future__ import annotations

import hashlib
import json
import os
import re
import time
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError
from playwright.sync_api import expect

from gateway.console import session
from tests.helpers import error_code, unique_bucket_name
from tools.cluster import ClusterInfo

from .conftest import SCREENSHOTS

MiB = 1 << 20


def _shot(page: Any, name: str) -> None:
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


def _no_sideways_scroll(page: Any) -> None:
    """Usable on a laptop screen: the page never scrolls sideways at 1280x800."""
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 1280, f"page is {width}px wide"


def _open(context: Any, cluster: ClusterInfo, errors: list[str] | None = None) -> Any:
    page = context.new_page()
    if errors is not None:
        page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(cluster.endpoints[0] + "/console")
    return page


def _sign_in(page: Any, access_key: str, secret_key: str) -> None:
    page.fill("#access-key", access_key)
    page.fill("#secret-key", secret_key)
    page.click("#sign-in")
    page.wait_for_selector("#sign-out")


def _new_key(page: Any, policy: str, buckets: list[str]) -> tuple[str, str]:
    """A key made through the signed-in admin page's own API session."""
    made = page.evaluate(
        """async ([policy, buckets]) => {
            const s = await (await fetch('/console/api/session')).json();
            const r = await fetch('/console/api/credentials', {method: 'POST',
                headers: {'Content-Type': 'application/json', 'X-Tessera-CSRF': s.csrf},
                body: JSON.stringify({policy, buckets})});
            return await r.json();
        }""",
        [policy, buckets],
    )
    return made["access_key"], made["secret_key"]


@pytest.fixture
def admin_page(context: Any, cluster: ClusterInfo) -> Any:
    page = _open(context, cluster)
    _sign_in(page, cluster.access_key, cluster.secret_key)
    return page


def test_sign_in_by_keyboard(context: Any, cluster: ClusterInfo) -> None:
    errors: list[str] = []
    page = _open(context, cluster, errors)
    page.wait_for_selector("#access-key")
    _shot(page, "sign-in")
    _no_sideways_scroll(page)
    page.focus("#access-key")
    page.keyboard.type(cluster.access_key)
    page.keyboard.press("Tab")
    page.keyboard.type(cluster.secret_key)
    page.keyboard.press("Enter")
    page.wait_for_selector("#sign-out")
    cookies = {c["name"]: c for c in context.cookies()}
    assert cookies[session.COOKIE]["httpOnly"] is True
    assert cookies[session.COOKIE]["sameSite"] == "Strict"
    # Page script cannot read the session cookie.
    assert session.COOKIE not in page.evaluate("document.cookie")
    assert not errors


def test_a_wrong_secret_is_shown_and_signs_nobody_in(context: Any, cluster: ClusterInfo) -> None:
    page = _open(context, cluster)
    page.fill("#access-key", cluster.access_key)
    page.fill("#secret-key", "not-the-secret")
    page.click("#sign-in")
    page.wait_for_selector("#alert:visible")
    assert "InvalidCredentials" in page.inner_text("#alert") or "Wrong" in page.inner_text("#alert")
    assert not page.locator("#sign-out").is_visible()


def test_bucket_upload_download_and_delete(
    admin_page: Any, cluster: ClusterInfo, s3: Any, tmp_path: Path
) -> None:
    page = admin_page
    name = unique_bucket_name("console-ui")
    page.goto(cluster.endpoints[0] + "/console#/buckets")
    page.fill("#new-bucket-name", name)
    page.click("#create-bucket")
    page.wait_for_selector(f'tr[data-bucket="{name}"]')
    s3.head_bucket(Bucket=name)
    _shot(page, "buckets")
    _no_sideways_scroll(page)

    page.click(f'tr[data-bucket="{name}"] a:text-is("{name}")')
    page.wait_for_selector("#upload-input", state="attached")
    small = tmp_path / "hello world.txt"
    small.write_bytes(os.urandom(3000))
    page.set_input_files("#upload-input", str(small))
    row = f'tr[data-key="{small.name}"]'
    page.wait_for_selector(row)
    assert s3.get_object(Bucket=name, Key=small.name)["Body"].read() == small.read_bytes()

    # Drag and drop onto the listing, as a person would drop a file from the desktop.
    dropped = b"dropped bytes " * 100
    page.evaluate(
        """(text) => {
            const data = new DataTransfer();
            data.items.add(new File([text], 'dropped.txt', {type: 'text/plain'}));
            const target = document.querySelector('#listing');
            for (const type of ['dragenter', 'dragover', 'drop'])
                target.dispatchEvent(new DragEvent(type, {bubbles: true, cancelable: true, dataTransfer: data}));
        }""",
        dropped.decode(),
    )
    page.wait_for_selector('tr[data-key="dropped.txt"]')
    assert s3.get_object(Bucket=name, Key="dropped.txt")["Body"].read() == dropped
    _shot(page, "browse")
    _no_sideways_scroll(page)

    with page.expect_download() as download:
        page.click(f'{row} [data-action="download"]')
    saved = tmp_path / "downloaded"
    download.value.save_as(saved)
    assert saved.read_bytes() == small.read_bytes()

    page.click(f'{row} [data-action="details"]')
    page.wait_for_selector("#details")
    page.select_option("#presign-expiry", index=0)
    page.click("#presign")
    expect(page.locator("#presign-url")).to_have_value(re.compile("^http"))
    link = page.input_value("#presign-url")
    assert "X-Amz-Signature=" in link
    _shot(page, "details")
    page.click("#close-details")

    page.click(f'{row} [data-action="delete"]')
    page.click("#confirm-yes")
    page.wait_for_selector(row, state="detached")
    with pytest.raises(s3.exceptions.NoSuchKey):
        s3.get_object(Bucket=name, Key=small.name)


def test_a_large_upload_goes_multipart_with_progress(
    admin_page: Any, cluster: ClusterInfo, s3: Any, bucket: str, tmp_path: Path
) -> None:
    page = admin_page
    big = tmp_path / "big.bin"
    big.write_bytes(os.urandom(20 * MiB))
    page.goto(f"{cluster.endpoints[0]}/console#/browse/{bucket}/")
    page.wait_for_selector("#upload-input", state="attached")
    page.set_input_files("#upload-input", str(big))
    page.wait_for_selector('[data-upload="big.bin"]')
    page.wait_for_selector('tr[data-key="big.bin"]', timeout=120_000)
    head = s3.head_object(Bucket=bucket, Key="big.bin")
    assert head["ContentLength"] == 20 * MiB
    assert head["ETag"].strip('"').endswith("-3")  # three 8 MiB parts
    got = s3.get_object(Bucket=bucket, Key="big.bin")["Body"].read()
    assert hashlib.sha256(got).digest() == hashlib.sha256(big.read_bytes()).digest()
    assert s3.list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []


def test_a_readonly_key_sees_no_delete_and_is_refused(
    admin_page: Any, browser: Any, cluster: ClusterInfo, s3: Any, bucket: str
) -> None:
    from .conftest import VIEWPORT

    s3.put_object(Bucket=bucket, Key="kept.txt", Body=b"kept")
    access_key, secret = _new_key(admin_page, "readonly", ["*"])
    context = browser.new_context(viewport=VIEWPORT)
    try:
        page = _open(context, cluster)
        deadline = time.monotonic() + 10  # the new key reaches the gateway by a watch
        while True:
            page.fill("#access-key", access_key)
            page.fill("#secret-key", secret)
            page.click("#sign-in")
            try:
                page.wait_for_selector("#sign-out", timeout=2000)
                break
            except Exception:
                assert time.monotonic() < deadline
        page.goto(f"{cluster.endpoints[0]}/console#/browse/{bucket}/")
        page.wait_for_selector('tr[data-key="kept.txt"]')
        assert page.locator('[data-action="delete"]').count() == 0
        assert page.locator("#upload-input").count() == 0
        _shot(page, "browse-readonly")
        status = page.evaluate(
            """async (path) => {
                const s = await (await fetch('/console/api/session')).json();
                const r = await fetch(path, {method: 'DELETE', headers: {'X-Tessera-CSRF': s.csrf}});
                return r.status;
            }""",
            f"/console/s3/{bucket}/kept.txt",
        )
        assert status == 403
        assert s3.get_object(Bucket=bucket, Key="kept.txt")["Body"].read() == b"kept"
    finally:
        context.close()


def test_a_cookie_from_another_cluster_is_refused(context: Any, cluster: ClusterInfo) -> None:
    foreign = session.issue(
        session.derive_key(os.urandom(32)), cluster.access_key, cluster.secret_key, time.time()
    )
    context.add_cookies(
        [{"name": session.COOKIE, "value": foreign, "url": cluster.endpoints[0] + "/console"}]
    )
    page = _open(context, cluster)
    page.wait_for_selector("#access-key")
    assert not page.locator("#sign-out").is_visible()
    status = page.evaluate("async () => (await fetch('/console/api/session')).status")
    assert status == 401


def test_a_write_without_the_csrf_token_is_refused(admin_page: Any, s3: Any, bucket: str) -> None:
    results = admin_page.evaluate(
        """async (bucket) => {
            const put = await fetch(`/console/s3/${bucket}/sneaky.txt`, {method: 'PUT', body: 'x'});
            const api = await fetch('/console/api/credentials', {method: 'POST',
                headers: {'Content-Type': 'application/json'}, body: '{"policy": "admin"}'});
            return [put.status, api.status, await api.text()];
        }""",
        bucket,
    )
    assert results[0] == 403 and results[1] == 403
    assert json.loads(results[2])["error"] == "InvalidCsrfToken"
    with pytest.raises(s3.exceptions.NoSuchKey):
        s3.get_object(Bucket=bucket, Key="sneaky.txt")


def test_cluster_page_shows_nodes_jobs_and_live_charts(
    admin_page: Any, cluster: ClusterInfo
) -> None:
    page = admin_page
    page.goto(cluster.endpoints[0] + "/console#/cluster")
    for node in ("node1", "node2", "node3"):
        page.wait_for_selector(f'tr[data-node="{node}"]')
    page.wait_for_selector("tr[data-gateway]")
    page.wait_for_selector("tr[data-job]")
    assert "ok" in page.inner_text("#cluster-health").lower()
    # Charts are drawn from samples a couple of seconds apart: wait for lines to appear.
    page.wait_for_selector("#chart-requests canvas")
    expect(page.locator("#chart-requests-latest")).to_contain_text(
        re.compile(r"\d"), timeout=30_000
    )
    _shot(page, "cluster")
    _no_sideways_scroll(page)


def test_credentials_page_generates_a_key_shown_once(admin_page: Any, cluster: ClusterInfo) -> None:
    page = admin_page
    page.goto(cluster.endpoints[0] + "/console#/credentials")
    page.wait_for_selector(f'tr[data-access-key="{cluster.access_key}"]')
    page.select_option("#new-credential-policy", "readonly")
    page.click("#create-credential")
    page.wait_for_selector("#new-secret")
    access_key = page.input_value("#new-access-key")
    secret = page.input_value("#new-secret")
    assert len(secret) == 40
    page.wait_for_selector(f'tr[data-access-key="{access_key}"]')
    _shot(page, "credentials")
    _no_sideways_scroll(page)
    page.click("#dismiss-secret")
    assert page.locator("#new-secret").count() == 0
    page.reload()
    page.wait_for_selector(f'tr[data-access-key="{access_key}"]')
    assert secret not in page.content()


def test_bucket_settings_page(admin_page: Any, cluster: ClusterInfo, s3: Any, bucket: str) -> None:
    page = admin_page
    page.goto(f"{cluster.endpoints[0]}/console#/bucket/{bucket}")
    page.wait_for_selector("#versioning-status")
    page.select_option("#versioning-status", "Enabled")
    page.click("#save-versioning")
    deadline = time.monotonic() + 10
    while s3.get_bucket_versioning(Bucket=bucket).get("Status") != "Enabled":
        assert time.monotonic() < deadline
        time.sleep(0.2)
    _shot(page, "bucket-settings")
    _no_sideways_scroll(page)


def test_an_html_object_cannot_act_as_the_signed_in_admin(
    admin_page: Any, cluster: ClusterInfo, s3: Any, bucket: str
) -> None:
    """A user's page opened on the console's origin (a presigned link) would run with the
    admin's cookie; it is sandboxed: its script does not run."""
    evil = (
        b"<html><body><script>fetch('/console/api/session').then(r => r.json())"
        b".then(s => fetch('/console/api/credentials', {method: 'POST', headers: "
        b"{'Content-Type': 'application/json', 'X-Tessera-CSRF': s.csrf}, "
        b"body: '{\"policy\": \"admin\"}'})).then(r => { document.title = 'RAN ' + r.status; })"
        b"</script></body></html>"
    )
    s3.put_object(Bucket=bucket, Key="evil.html", Body=evil, ContentType="text/html")
    link = s3.generate_presigned_url(
        "get_object", Params={"Bucket": bucket, "Key": "evil.html"}, ExpiresIn=60
    )
    before = len(s3_keys(admin_page))
    admin_page.goto(link)
    admin_page.wait_for_timeout(1500)
    assert not admin_page.title().startswith("RAN")
    assert len(s3_keys(admin_page, cluster)) == before


def s3_keys(page: Any, cluster: ClusterInfo | None = None) -> list[str]:
    """The access keys the admin API lists, asked from a fresh console page."""
    if cluster is not None:
        page.goto(cluster.endpoints[0] + "/console#/buckets")
        page.wait_for_selector("#sign-out")
    found = page.evaluate(
        "async () => (await (await fetch('/console/api/credentials')).json()).credentials"
    )
    return [row["access_key"] for row in found]


def test_deleting_a_key_with_dot_segments_deletes_that_key_only(
    admin_page: Any, cluster: ClusterInfo, s3: Any, bucket: str
) -> None:
    other = unique_bucket_name("console-victim")
    s3.create_bucket(Bucket=other)
    try:
        s3.put_object(Bucket=other, Key="important.txt", Body=b"keep me")
        bait = f"x/../../{other}/important.txt"
        s3.put_object(Bucket=bucket, Key=bait, Body=b"bait")
        page = admin_page
        page.goto(f"{cluster.endpoints[0]}/console#/browse/{bucket}/x/../../{other}/")
        row = f'tr[data-key="{bait}"]'
        page.wait_for_selector(row)
        page.click(f'{row} [data-action="delete"]')
        page.click("#confirm-yes")
        page.wait_for_selector(row, state="detached")
        assert s3.get_object(Bucket=other, Key="important.txt")["Body"].read() == b"keep me"
        assert s3.list_objects_v2(Bucket=bucket).get("KeyCount") == 0
    finally:
        s3.delete_object(Bucket=other, Key="important.txt")
        s3.delete_bucket(Bucket=other)


def _settings(page: Any, cluster: ClusterInfo, bucket: str) -> None:
    """The bucket's settings page, every section loaded."""
    page.goto(f"{cluster.endpoints[0]}/console#/bucket/{bucket}")
    for section in ("pab", "ownership", "lock", "acl"):
        expect(page.locator(f"#{section}-current")).not_to_contain_text("Loading")


def test_settings_public_access_block(
    admin_page: Any, cluster: ClusterInfo, s3: Any, bucket: str
) -> None:
    page = admin_page
    _settings(page, cluster, bucket)
    expect(page.locator("#pab-current")).to_have_text("none")
    assert page.locator("#delete-pab").is_hidden()
    page.check("#pab-block-public-acls")
    page.focus("#pab-block-public-policy")  # a checkbox toggles by keyboard too
    page.keyboard.press("Space")
    page.click("#save-pab")
    expect(page.locator("#pab-current")).to_contain_text("Block public bucket policies")
    found = s3.get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"]
    assert found == {
        "BlockPublicAcls": True,
        "IgnorePublicAcls": False,
        "BlockPublicPolicy": True,
        "RestrictPublicBuckets": False,
    }
    page.reload()
    expect(page.locator("#pab-block-public-acls")).to_be_checked()
    expect(page.locator("#pab-ignore-public-acls")).not_to_be_checked()
    page.click("#delete-pab")
    page.click("#confirm-yes")
    expect(page.locator("#pab-current")).to_have_text("none")
    with pytest.raises(ClientError) as info:
        s3.get_public_access_block(Bucket=bucket)
    assert error_code(info) == (404, "NoSuchPublicAccessBlockConfiguration")


def test_settings_object_ownership(
    admin_page: Any, cluster: ClusterInfo, s3: Any, bucket: str
) -> None:
    page = admin_page
    _settings(page, cluster, bucket)
    expect(page.locator("#ownership-current")).to_contain_text("none")
    expect(page.locator("#acl-canned")).to_be_enabled()
    page.select_option("#ownership", "BucketOwnerEnforced")
    page.click("#save-ownership")
    expect(page.locator("#ownership-current")).to_contain_text("BucketOwnerEnforced")
    rules = s3.get_bucket_ownership_controls(Bucket=bucket)["OwnershipControls"]["Rules"]
    assert rules == [{"ObjectOwnership": "BucketOwnerEnforced"}]
    # ACLs are off now: the ACL section says so and offers no change.
    expect(page.locator("#acl-current")).to_contain_text("ACLs off")
    expect(page.locator("#acl-canned")).to_be_disabled()


def test_settings_object_lock_default_retention(
    admin_page: Any, cluster: ClusterInfo, s3: Any, bucket: str
) -> None:
    page = admin_page
    _settings(page, cluster, bucket)
    expect(page.locator("#lock-current")).to_contain_text("not enabled")
    assert page.locator("#lock-mode").count() == 0

    locked = unique_bucket_name("console-lock")
    where = (
        {}
        if cluster.region == "us-east-1"
        else {"CreateBucketConfiguration": {"LocationConstraint": cluster.region}}
    )
    s3.create_bucket(Bucket=locked, ObjectLockEnabledForBucket=True, **where)
    try:
        _settings(page, cluster, locked)
        expect(page.locator("#lock-current")).to_contain_text("no default retention")
        page.select_option("#lock-mode", "GOVERNANCE")
        page.fill("#lock-period", "1")
        page.select_option("#lock-unit", "days")
        page.click("#save-lock")
        expect(page.locator("#lock-current")).to_contain_text("GOVERNANCE, 1 day")
        found = s3.get_object_lock_configuration(Bucket=locked)["ObjectLockConfiguration"]
        assert found["ObjectLockEnabled"] == "Enabled"
        assert found["Rule"]["DefaultRetention"] == {"Mode": "GOVERNANCE", "Days": 1}
        _shot(page, "bucket-settings-object-lock")
        _no_sideways_scroll(page)
        # "No default retention" takes the rule away; object lock stays on.
        page.select_option("#lock-mode", "")
        expect(page.locator("#lock-period")).to_be_disabled()
        page.click("#save-lock")
        expect(page.locator("#lock-current")).to_contain_text("no default retention")
        found = s3.get_object_lock_configuration(Bucket=locked)["ObjectLockConfiguration"]
        assert found["ObjectLockEnabled"] == "Enabled" and "Rule" not in found
    finally:
        s3.delete_bucket(Bucket=locked)


def test_settings_canned_acl_and_labels(
    admin_page: Any, cluster: ClusterInfo, s3: Any, bucket: str
) -> None:
    page = admin_page
    _settings(page, cluster, bucket)
    expect(page.locator("#acl-current")).to_contain_text("private")
    expect(page.locator("#acl-current tbody tr")).to_have_count(1)  # the owner's FULL_CONTROL
    page.select_option("#acl-canned", "public-read")
    page.click("#save-acl")
    page.click("#confirm-yes")  # making a bucket public is asked first
    everyone = 'tr[data-grantee="http://acs.amazonaws.com/groups/global/AllUsers"]'
    expect(page.locator(f"#acl-current {everyone}")).to_contain_text("READ")
    expect(page.locator("#acl-current")).to_contain_text("Everyone (AllUsers)")
    grants = s3.get_bucket_acl(Bucket=bucket)["Grants"]
    assert {
        "Grantee": {"Type": "Group", "URI": "http://acs.amazonaws.com/groups/global/AllUsers"},
        "Permission": "READ",
    } in grants
    # Every control on the page has a name a screen reader says.
    unlabelled = page.evaluate(
        """() => Array.from(document.querySelectorAll('#main input, #main select, #main textarea'))
            .filter((el) => !el.labels.length && !el.getAttribute('aria-label'))
            .map((el) => el.id || el.outerHTML)"""
    )
    assert unlabelled == []
    _shot(page, "bucket-settings-access")
    _no_sideways_scroll(page)


def test_buckets_page_works_from_the_keyboard(
    admin_page: Any, cluster: ClusterInfo, s3: Any
) -> None:
    """Tab reaches the create-bucket field with a visible focus ring; Enter creates."""
    page = admin_page
    page.goto(cluster.endpoints[0] + "/console#/buckets")
    page.wait_for_selector("#new-bucket-name")
    page.evaluate("document.activeElement && document.activeElement.blur()")
    for _ in range(40):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.id") == "new-bucket-name":
            break
    else:
        raise AssertionError("Tab never reached the new bucket field")
    outline = page.evaluate(
        "(() => { const s = getComputedStyle(document.activeElement);"
        " return s.outlineStyle !== 'none' || s.boxShadow !== 'none'; })()"
    )
    assert outline, "the focused field shows no focus ring"
    name = unique_bucket_name("console-keys")
    page.keyboard.type(name)
    page.keyboard.press("Enter")
    page.wait_for_selector(f'tr[data-bucket="{name}"]')
    s3.delete_bucket(Bucket=name)
