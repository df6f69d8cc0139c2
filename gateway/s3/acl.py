"""Canned ACLs (sans-IO). Tessera keeps an ACL as its canned name; owners have
FULL_CONTROL, and public-read (or public-read-write) lets anyone read: an
object's ACL governs reading it, a bucket's governs listing it."""

from __future__ import annotations

from gateway.s3 import xml
from gateway.s3.errors import S3Error

PRIVATE = "private"
CANNED = frozenset(
    {
        "private",
        "public-read",
        "public-read-write",
        "authenticated-read",
        "aws-exec-read",
        "bucket-owner-read",
        "bucket-owner-full-control",
        "log-delivery-write",
    }
)
_PUBLIC = frozenset({"public-read", "public-read-write"})
_ALL_USERS = "http://acs.amazonaws.com/groups/global/AllUsers"
_AUTHENTICATED = "http://acs.amazonaws.com/groups/global/AuthenticatedUsers"


def from_headers(headers: dict[str, str]) -> str:
    """The canned ACL a request asks for (x-amz-acl); private by default."""
    if any(name.startswith("x-amz-grant-") for name in headers):
        raise S3Error("NotImplemented", "Explicit x-amz-grant-* headers are not supported")
    canned = headers.get("x-amz-acl", PRIVATE).strip().lower()
    if canned not in CANNED:
        raise S3Error(
            "InvalidArgument", None, extra={"ArgumentName": "x-amz-acl", "ArgumentValue": canned}
        )
    return canned


def from_policy(body: bytes) -> str:
    """The canned ACL an AccessControlPolicy document amounts to: the owner's
    FULL_CONTROL, plus READ (and WRITE) for AllUsers or READ for
    AuthenticatedUsers. Other grants are not supported."""
    root = xml.parse_xml(body)
    if xml._local(root.tag) != "AccessControlPolicy":
        raise S3Error("MalformedACLError")
    grants: set[tuple[str, str]] = set()
    for element in root.iter():
        if xml._local(element.tag) != "Grant":
            continue
        grantee = next((c for c in element if xml._local(c.tag) == "Grantee"), None)
        permission = next((c.text for c in element if xml._local(c.tag) == "Permission"), None)
        if grantee is None or permission is None:
            raise S3Error("MalformedACLError")
        uri = next((c.text for c in grantee if xml._local(c.tag) == "URI"), None)
        grants.add((uri or "owner", permission.strip()))
    others = grants - {("owner", "FULL_CONTROL")}
    if not others:
        return PRIVATE
    if others == {(_ALL_USERS, "READ")}:
        return "public-read"
    if others == {(_ALL_USERS, "READ"), (_ALL_USERS, "WRITE")}:
        return "public-read-write"
    if others == {(_AUTHENTICATED, "READ")}:
        return "authenticated-read"
    raise S3Error("NotImplemented", "Only grants that match a canned ACL are supported")


def readable_by_anyone(canned: str | None) -> bool:
    return canned in _PUBLIC


def render(owner: tuple[str, str], canned: str | None) -> bytes:
    """The AccessControlPolicy document of a canned ACL."""
    grants: list[tuple[str | None, str]] = [(None, "FULL_CONTROL")]
    if canned in _PUBLIC:
        grants.append((_ALL_USERS, "READ"))
    if canned == "public-read-write":
        grants.append((_ALL_USERS, "WRITE"))
    if canned == "authenticated-read":
        grants.append((_AUTHENTICATED, "READ"))
    doc = xml._Doc()
    doc.open("AccessControlPolicy", ns=True)
    doc.owner(owner)
    doc.open("AccessControlList")
    for uri, permission in grants:
        kind = "Group" if uri else "CanonicalUser"
        doc._parts.append(
            '<Grant><Grantee xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" '
            f'xsi:type="{kind}">'
        )
        if uri:
            doc.elem("URI", uri)
        else:
            doc.elem("ID", owner[0])
            doc.elem("DisplayName", owner[1])
        doc.close("Grantee")
        doc.elem("Permission", permission)
        doc.close("Grant")
    doc.close("AccessControlList")
    doc.close("AccessControlPolicy")
    return doc.to_bytes()
