"""Access control lists (sans-IO): the ACL a request sets, the compact form it is
stored in, the AccessControlPolicy document Get*Acl renders, and what its grants
let a requester do.

An ACL is either a canned name (``private``, ``public-read``, ...), expanded to
AWS's grant list when rendered or evaluated, or an explicit list of grants, kept
in the order the request gave them. It also names the resource's owner when that
is not the bucket's owner (an object written by another key). Canonical user IDs
are access keys; a key's display name is its credential's (the ID when it has none),
and a grant by email address is stored as a grant to the key with that address.

Requests set an ACL in exactly one of three ways: ``x-amz-acl``, the
``x-amz-grant-*`` headers, or (Put*Acl only) an ``AccessControlPolicy`` body.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from gateway.s3 import xml
from gateway.s3.errors import S3Error
from gateway.s3.xmlcore import Doc, local_name

READ, WRITE, READ_ACP, WRITE_ACP, FULL_CONTROL = (
    "READ",
    "WRITE",
    "READ_ACP",
    "WRITE_ACP",
    "FULL_CONTROL",
)
PERMISSIONS = (READ, WRITE, READ_ACP, WRITE_ACP, FULL_CONTROL)

# Grantee types, as xsi:type names them.
CANONICAL_USER = "CanonicalUser"
GROUP = "Group"
BY_EMAIL = "AmazonCustomerByEmail"

ALL_USERS = "http://acs.amazonaws.com/groups/global/AllUsers"
AUTHENTICATED_USERS = "http://acs.amazonaws.com/groups/global/AuthenticatedUsers"
LOG_DELIVERY = "http://acs.amazonaws.com/groups/s3/LogDelivery"
GROUPS = frozenset({ALL_USERS, AUTHENTICATED_USERS, LOG_DELIVERY})
# The canonical user that aws-exec-read grants READ (Amazon EC2, fetching AMI bundles).
EC2_ID = "6aa5a366c34c1cbe25dc49211496e913e0351eb0e8c37aa3477e40942ec6b97c"
_DISPLAY_NAMES = {EC2_ID: "za-team"}

PRIVATE = "private"
# In this order a list of grants is matched against canned ACLs to store it compactly.
CANNED = (
    PRIVATE,
    "public-read",
    "public-read-write",
    "authenticated-read",
    "aws-exec-read",
    "bucket-owner-read",
    "bucket-owner-full-control",
    "log-delivery-write",
)
# AWS refuses ACLs with more grants than this.
MAX_GRANTS = 100

# The x-amz-grant-* headers and the permission each grants, in the order their grants
# are stored (and so rendered).
GRANT_HEADERS = {
    "x-amz-grant-read": READ,
    "x-amz-grant-write": WRITE,
    "x-amz-grant-read-acp": READ_ACP,
    "x-amz-grant-write-acp": WRITE_ACP,
    "x-amz-grant-full-control": FULL_CONTROL,
}
_HEADER_TYPES = {"id": CANONICAL_USER, "uri": GROUP, "emailaddress": BY_EMAIL}

# What a grant lets its grantee do, by operation (AWS's mapping of ACL permissions to
# actions). A bucket's grants decide bucket operations and writes of objects into it...
BUCKET_OPERATIONS: dict[str, str] = {
    "HeadBucket": READ,
    "ListObjects": READ,
    "ListObjectsV2": READ,
    "ListObjectVersions": READ,
    "ListMultipartUploads": READ,
    "PutObject": WRITE,
    "CopyObject": WRITE,
    "DeleteObject": WRITE,
    "DeleteObjects": WRITE,
    "CreateMultipartUpload": WRITE,
    "UploadPart": WRITE,
    "UploadPartCopy": WRITE,
    "CompleteMultipartUpload": WRITE,
    "AbortMultipartUpload": WRITE,
    "ListParts": WRITE,
    "GetBucketAcl": READ_ACP,
    "PutBucketAcl": WRITE_ACP,
}
# ...an object's grants decide reading it and its ACL.
OBJECT_OPERATIONS: dict[str, str] = {
    "GetObject": READ,
    "HeadObject": READ,
    "GetObjectAcl": READ_ACP,
    "PutObjectAcl": WRITE_ACP,
}
GRANTABLE_OPERATIONS = frozenset(BUCKET_OPERATIONS) | frozenset(OBJECT_OPERATIONS)

_XSI_NAMESPACE = "http://www.w3.org/2001/XMLSchema-instance"
_XSI_TYPE = "{" + _XSI_NAMESPACE + "}type"
_EMAIL = re.compile(r"[^@\s,\"]+@[^@\s,\"]+\.[^@\s,\"]+")
_ID = re.compile(r"[A-Za-z0-9._-]{1,128}")


@dataclass(frozen=True)
class Grant:
    kind: str  # CANONICAL_USER, GROUP or BY_EMAIL
    value: str  # the canonical ID, group URI or email address
    permission: str


@dataclass(frozen=True)
class ACL:
    """A canned ACL (``grants`` empty) or, with ``canned`` None, explicit grants."""

    canned: str | None = PRIVATE
    grants: tuple[Grant, ...] = ()
    # The resource's owner; None: the bucket's owner. An ACL parsed from a policy
    # document carries the Owner the document names.
    owner: str | None = None


# -- what grants allow -------------------------------------------------------------------


def principals(access_key: str | None) -> frozenset[tuple[str, str]]:
    """The grantees a requester is: everyone is AllUsers; a signed request is also an
    AuthenticatedUser and its key's canonical user. (Grants by email address are stored
    as grants to the key with that address.)"""
    if access_key is None:
        return frozenset({(GROUP, ALL_USERS)})
    return frozenset(
        {(GROUP, ALL_USERS), (GROUP, AUTHENTICATED_USERS), (CANONICAL_USER, access_key)}
    )


ANONYMOUS = principals(None)


def owner_of(acl: ACL | None, bucket_owner: str) -> str:
    return acl.owner if acl is not None and acl.owner else bucket_owner


def expand(acl: ACL | None, bucket_owner: str) -> list[Grant]:
    """The grants of an ACL, a canned one expanded as AWS does."""
    acl = acl or ACL()
    if acl.canned is None:
        return list(acl.grants)
    owner = owner_of(acl, bucket_owner)
    canned = acl.canned
    # Group grants come before the owner's, as S3-compatible stores list them (and the
    # S3 conformance suites expect, e.g. the owner third on public-read-write).
    grants = []
    if canned in ("public-read", "public-read-write"):
        grants.append(Grant(GROUP, ALL_USERS, READ))
    if canned == "public-read-write":
        grants.append(Grant(GROUP, ALL_USERS, WRITE))
    if canned == "authenticated-read":
        grants.append(Grant(GROUP, AUTHENTICATED_USERS, READ))
    if canned == "log-delivery-write":
        grants.append(Grant(GROUP, LOG_DELIVERY, WRITE))
        grants.append(Grant(GROUP, LOG_DELIVERY, READ_ACP))
    grants.append(Grant(CANONICAL_USER, owner, FULL_CONTROL))
    if canned == "aws-exec-read":
        grants.append(Grant(CANONICAL_USER, EC2_ID, READ))
    # On a bucket, or an object the bucket's owner owns, these add nothing (AWS ignores them).
    if canned == "bucket-owner-read" and bucket_owner != owner:
        grants.append(Grant(CANONICAL_USER, bucket_owner, READ))
    if canned == "bucket-owner-full-control" and bucket_owner != owner:
        grants.append(Grant(CANONICAL_USER, bucket_owner, FULL_CONTROL))
    return grants


def allows(
    acl: ACL | None, bucket_owner: str, who: frozenset[tuple[str, str]], permission: str
) -> bool:
    """Whether the ACL grants ``permission`` to one of ``who`` (see :func:`principals`).
    FULL_CONTROL includes every permission, and the owner may always read and change
    the ACL, whatever its grants say."""
    if permission in (READ_ACP, WRITE_ACP) and (CANONICAL_USER, owner_of(acl, bucket_owner)) in who:
        return True
    return any(
        (g.kind, g.value) in who and g.permission in (permission, FULL_CONTROL)
        for g in expand(acl, bucket_owner)
    )


def is_public(acl: ACL | None) -> bool:
    """Whether the ACL grants anything to AllUsers or AuthenticatedUsers."""
    return any(g.kind == GROUP and g.value in _PUBLIC for g in expand(acl, ""))


_PUBLIC = (ALL_USERS, AUTHENTICATED_USERS)


def in_force(
    acl: ACL | None, bucket_owner: str, *, enforced: bool, ignore_public: bool
) -> ACL | None:
    """The ACL authorisation goes by: none but the owner's with BucketOwnerEnforced
    (ACLs are off), its public grants dropped with IgnorePublicAcls."""
    if enforced:
        return ACL()
    if not ignore_public or not is_public(acl):
        return acl
    assert acl is not None
    kept = tuple(
        g for g in expand(acl, bucket_owner) if not (g.kind == GROUP and g.value in _PUBLIC)
    )
    return ACL(canned=None, grants=kept, owner=acl.owner)


def readable_by_anyone(acl: ACL | None) -> bool:
    """Whether an unsigned request may read the object (list the bucket)."""
    return allows(acl, "", ANONYMOUS, READ)


# -- what a request asks for -------------------------------------------------------------


def _invalid(message: str, name: str, value: str) -> S3Error:
    return S3Error("InvalidArgument", message, extra={"ArgumentName": name, "ArgumentValue": value})


def _check_grantee(kind: str, value: str) -> None:
    """InvalidArgument for a grantee no one could be: a malformed ID or email address,
    or a group S3 does not have."""
    if kind == CANONICAL_USER and not _ID.fullmatch(value):
        raise _invalid("Invalid id", "CanonicalUser/ID", value)
    if kind == GROUP and value not in GROUPS:
        raise _invalid("Invalid group uri", "Group/URI", value)
    if kind == BY_EMAIL and not _EMAIL.fullmatch(value):
        raise _invalid("Invalid email address", "AmazonCustomerByEmail/EmailAddress", value)


def _split_grantees(header: str, value: str) -> list[str]:
    """The comma-separated grantees of a grant header (commas in quotes do not count)."""
    items: list[str] = []
    current: list[str] = []
    quoted = False
    for char in value:
        if char == '"':
            quoted = not quoted
        if char == "," and not quoted:
            items.append("".join(current).strip())
            current = []
        else:
            current.append(char)
    items.append("".join(current).strip())
    if quoted or not all(items):
        raise _invalid(f"Malformed {header} header", header, value)
    return items


def _header_grants(header: str, value: str) -> list[Grant]:
    grants = []
    for item in _split_grantees(header, value):
        kind_name, sep, grantee = item.partition("=")
        kind = _HEADER_TYPES.get(kind_name.strip().lower())
        grantee = grantee.strip()
        if len(grantee) >= 2 and grantee[0] == grantee[-1] == '"':
            grantee = grantee[1:-1]
        if not sep or kind is None or not grantee or '"' in grantee:
            raise _invalid(f"Malformed {header} header", header, value)
        _check_grantee(kind, grantee)
        grants.append(Grant(kind, grantee, GRANT_HEADERS[header]))
    return grants


def from_headers(headers: Mapping[str, str]) -> ACL | None:
    """The ACL ``x-amz-acl`` or the ``x-amz-grant-*`` headers ask for; None if neither
    is present. Both together are an InvalidRequest, as in AWS."""
    named = [name for name in GRANT_HEADERS if name in headers]
    if "x-amz-acl" in headers:
        if named:
            raise S3Error(
                "InvalidRequest", "Specifying both Canned ACLs and Header Grants is not allowed"
            )
        canned = headers["x-amz-acl"].strip().lower()
        if canned not in CANNED:
            raise _invalid("Invalid canned ACL", "x-amz-acl", canned)
        return ACL(canned=canned)
    if not named:
        return None
    grants = [grant for name in named for grant in _header_grants(name, headers[name])]
    if len(grants) > MAX_GRANTS:
        raise S3Error("MalformedACLError", f"An ACL may have at most {MAX_GRANTS} grants")
    return ACL(canned=None, grants=tuple(grants))


def _children(element: ET.Element) -> dict[str, list[ET.Element]]:
    found: dict[str, list[ET.Element]] = {}
    for child in element:
        found.setdefault(local_name(child.tag), []).append(child)
    return found


def _only(found: dict[str, list[ET.Element]], name: str) -> str:
    """The text of the one ``name`` child; MalformedACLError if there are none or several."""
    elements = found.get(name, [])
    if len(elements) != 1:
        raise S3Error("MalformedACLError")
    return (elements[0].text or "").strip()


# The element naming each type of grantee.
_GRANTEE_FIELDS = {CANONICAL_USER: "ID", GROUP: "URI", BY_EMAIL: "EmailAddress"}


def _grantee_of(element: ET.Element) -> tuple[str, str]:
    found = _children(element)
    kind = element.get(_XSI_TYPE)
    if kind is None:  # without xsi:type, the element the grantee has tells its type
        kinds = [k for k, name in _GRANTEE_FIELDS.items() if name in found]
        kind = kinds[0] if len(kinds) == 1 else None
    field = _GRANTEE_FIELDS.get(kind or "")
    if kind is None or field is None:
        raise S3Error("MalformedACLError")
    allowed = {field, "DisplayName"} if kind == CANONICAL_USER else {field}
    if set(found) - allowed:
        raise S3Error("MalformedACLError")
    value = _only(found, field)
    _check_grantee(kind, value)
    return kind, value


def from_policy(body: bytes) -> ACL:
    """The ACL of an ``AccessControlPolicy`` document, grants in document order, with the
    Owner it names (None without one). Anything that is not such a document is a
    MalformedACLError; a grantee that cannot exist is an InvalidArgument."""
    try:
        root = xml.parse_xml(body)
    except S3Error as exc:
        raise S3Error("MalformedACLError") from exc
    found = _children(root)
    if local_name(root.tag) != "AccessControlPolicy" or set(found) - {"Owner", "AccessControlList"}:
        raise S3Error("MalformedACLError")
    owner = None
    if "Owner" in found:
        if len(found["Owner"]) > 1:
            raise S3Error("MalformedACLError")
        owner_fields = _children(found["Owner"][0])
        if set(owner_fields) - {"ID", "DisplayName"}:
            raise S3Error("MalformedACLError")
        owner = _only(owner_fields, "ID")
        if not owner:
            raise S3Error("MalformedACLError")
    lists = found.get("AccessControlList", [])
    if len(lists) != 1:
        raise S3Error("MalformedACLError")
    grants: list[Grant] = []
    for element in lists[0]:
        fields = _children(element)
        if local_name(element.tag) != "Grant" or set(fields) != {"Grantee", "Permission"}:
            raise S3Error("MalformedACLError")
        permission = _only(fields, "Permission")
        if permission not in PERMISSIONS or len(fields["Grantee"]) != 1:
            raise S3Error("MalformedACLError")
        kind, value = _grantee_of(fields["Grantee"][0])
        grants.append(Grant(kind, value, permission))
    if len(grants) > MAX_GRANTS:
        raise S3Error("MalformedACLError", f"An ACL may have at most {MAX_GRANTS} grants")
    return ACL(canned=None, grants=tuple(grants), owner=owner)


def requested(headers: Mapping[str, str], body: bytes) -> ACL:
    """The ACL a PutBucketAcl or PutObjectAcl asks for: its body or its headers, never
    both (UnexpectedContent), never neither (MissingSecurityHeader)."""
    from_head = from_headers(headers)
    if body.strip():
        if from_head is not None:
            raise S3Error("UnexpectedContent")
        return from_policy(body)
    if from_head is None:
        raise S3Error(
            "MissingSecurityHeader",
            "Your request was missing a required header",
            extra={"MissingHeaderName": "x-amz-acl"},
        )
    return from_head


def resolve_grantees(
    acl: ACL, known: Callable[[str], bool], by_email: Callable[[str], str | None]
) -> ACL:
    """The ACL with each grant by email address turned into a grant to the key with that
    address (UnresolvableGrantByEmailAddress when no key has it), as S3 stores and shows
    it; InvalidArgument for a canonical user grantee that is no key (``known`` says)."""
    grants = []
    for grant in acl.grants:
        if grant.kind == BY_EMAIL:
            found = by_email(grant.value)
            if found is None:
                raise S3Error(
                    "UnresolvableGrantByEmailAddress", extra={"EmailAddress": grant.value}
                )
            grant = Grant(CANONICAL_USER, found, grant.permission)
        elif grant.kind == CANONICAL_USER and grant.value != EC2_ID and not known(grant.value):
            raise _invalid("Invalid id", "CanonicalUser/ID", grant.value)
        grants.append(grant)
    return replace(acl, grants=tuple(grants)) if acl.grants else acl


def owned(acl: ACL, owner: str | None, bucket_owner: str) -> ACL:
    """The ACL to store for a resource owned by ``owner`` (None: the bucket's owner) that
    a request asks to get ``acl``. An ACL does not change who owns what: a policy naming
    another Owner is refused (AccessDenied, as AWS answers)."""
    owner = owner or bucket_owner
    if acl.owner is not None and acl.owner != owner:
        raise S3Error("AccessDenied")
    return compact(replace(acl, owner=None if owner == bucket_owner else owner), bucket_owner)


def compact(acl: ACL, bucket_owner: str) -> ACL:
    """The same ACL, as its canned name when its grants are exactly a canned ACL's
    (most explicit ACLs are: clients that set ACLs by document resend the owner's grant)."""
    if acl.canned is not None:
        return acl
    grants = list(acl.grants)
    for name in CANNED:
        candidate = ACL(canned=name, owner=acl.owner)
        if expand(candidate, bucket_owner) == grants:
            return candidate
    return acl


# -- storage -----------------------------------------------------------------------------

# Grantee types in stored records, in the words of the grant headers.
_KIND_CODES = {CANONICAL_USER: "id", GROUP: "uri", BY_EMAIL: "email"}
_CODE_KINDS = {code: kind for kind, code in _KIND_CODES.items()}


def encode(acl: ACL) -> str | dict[str, Any]:
    """The msgpack-ready form of an ACL: a canned ACL of the bucket's owner is just its
    name (what records held before explicit grants existed); otherwise a map with the
    canned name ``c`` or the grants ``g`` ([permission, id|uri|email, value] each), and
    the owner ``o`` when it is not the bucket's."""
    if acl.canned is not None and acl.owner is None:
        return acl.canned
    record: dict[str, Any] = {}
    if acl.canned is not None:
        record["c"] = acl.canned
    else:
        record["g"] = [[g.permission, _KIND_CODES[g.kind], g.value] for g in acl.grants]
    if acl.owner is not None:
        record["o"] = acl.owner
    return record


def decode(value: Any) -> ACL:
    """An ACL from :func:`encode`'s form; None (or anything unreadable) is private."""
    if isinstance(value, str):
        return ACL(canned=value if value in CANNED else PRIVATE)
    if not isinstance(value, dict):
        return ACL()
    owner = value.get("o")
    if "c" in value:
        return ACL(canned=value["c"] if value["c"] in CANNED else PRIVATE, owner=owner)
    try:
        grants = tuple(
            Grant(_CODE_KINDS[kind], grantee, permission)
            for permission, kind, grantee in value.get("g", [])
        )
    except (KeyError, TypeError, ValueError):
        return ACL(owner=owner)
    return ACL(canned=None, grants=grants, owner=owner)


# -- rendering ---------------------------------------------------------------------------


def render(acl: ACL | None, bucket_owner: str, display_name: Callable[[str], str] = str) -> bytes:
    """The ``AccessControlPolicy`` document of Get*Acl, as AWS renders it, each canonical
    user shown with the name ``display_name`` gives it."""

    def _display_name(canonical_id: str) -> str:
        return _DISPLAY_NAMES.get(canonical_id) or display_name(canonical_id)

    owner = owner_of(acl, bucket_owner)
    doc = Doc()
    doc.open("AccessControlPolicy", ns=True)
    doc.owner((owner, _display_name(owner)))
    doc.open("AccessControlList")
    for grant in expand(acl, bucket_owner):
        doc.open("Grant")
        doc.open("Grantee", attrs={"xmlns:xsi": _XSI_NAMESPACE, "xsi:type": grant.kind})
        if grant.kind == CANONICAL_USER:
            doc.elem("ID", grant.value)
            doc.elem("DisplayName", _display_name(grant.value))
        elif grant.kind == GROUP:
            doc.elem("URI", grant.value)
        else:
            doc.elem("EmailAddress", grant.value)
        doc.close("Grantee")
        doc.elem("Permission", grant.permission)
        doc.close("Grant")
    doc.close("AccessControlList")
    doc.close("AccessControlPolicy")
    return doc.to_bytes()
