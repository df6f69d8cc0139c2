"""ACLs: the grants requests ask for (headers, AccessControlPolicy bodies), their stored
form, the document Get*Acl renders (read back through a real botocore client) and what
the grants allow."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import msgpack
import pytest

from gateway.s3 import acl
from gateway.s3.acl import ACL, Grant
from gateway.s3.errors import S3Error
from gateway.s3.objectmeta import ObjectMeta

OWNER = "OWNERKEY"
OTHER = "OTHERKEY"
XSI = "{http://www.w3.org/2001/XMLSchema-instance}type"


def code(info: pytest.ExceptionInfo[S3Error]) -> tuple[int, str]:
    return info.value.status, info.value.code


def user(value: str, permission: str) -> Grant:
    return Grant(acl.CANONICAL_USER, value, permission)


def group(uri: str, permission: str) -> Grant:
    return Grant(acl.GROUP, uri, permission)


# -- headers -------------------------------------------------------------------------------


def test_no_acl_headers():
    assert acl.from_headers({"content-type": "text/plain"}) is None


@pytest.mark.parametrize("name", acl.CANNED)
def test_canned_header(name):
    assert acl.from_headers({"x-amz-acl": f" {name.upper()} "}) == ACL(canned=name)


def test_unknown_canned_acl():
    with pytest.raises(S3Error) as info:
        acl.from_headers({"x-amz-acl": "world-writable"})
    assert code(info) == (400, "InvalidArgument")
    assert info.value.extra == {"ArgumentName": "x-amz-acl", "ArgumentValue": "world-writable"}


def test_canned_and_grant_headers_together():
    with pytest.raises(S3Error) as info:
        acl.from_headers({"x-amz-acl": "private", "x-amz-grant-read": 'id="A"'})
    assert code(info) == (400, "InvalidRequest")


def test_grant_headers_in_header_order_then_left_to_right():
    headers = {
        "x-amz-grant-full-control": f'id="{OWNER}"',
        "x-amz-grant-read": (f'uri="{acl.ALL_USERS}", id={OTHER} ,emailAddress="a.b@example.com"'),
        "x-amz-grant-write-acp": f'ID="{OTHER}"',
        "x-amz-grant-read-acp": f"uri={acl.LOG_DELIVERY}",
        "x-amz-grant-write": f'uri="{acl.AUTHENTICATED_USERS}"',
    }
    assert acl.from_headers(headers) == ACL(
        canned=None,
        grants=(
            group(acl.ALL_USERS, "READ"),
            user(OTHER, "READ"),
            Grant(acl.BY_EMAIL, "a.b@example.com", "READ"),
            group(acl.AUTHENTICATED_USERS, "WRITE"),
            group(acl.LOG_DELIVERY, "READ_ACP"),
            user(OTHER, "WRITE_ACP"),
            user(OWNER, "FULL_CONTROL"),
        ),
    )


@pytest.mark.parametrize(
    "value, argument",
    [
        ('uri="http://acs.amazonaws.com/groups/global/Everyone"', "Group/URI"),
        ('id="has space"', "CanonicalUser/ID"),
        ('id=""', "x-amz-grant-read"),
        ('emailAddress="not-an-address"', "AmazonCustomerByEmail/EmailAddress"),
        ('name="x"', "x-amz-grant-read"),
        ("id", "x-amz-grant-read"),
        ('id="A",', "x-amz-grant-read"),
        ('id="A', "x-amz-grant-read"),
        ("", "x-amz-grant-read"),
    ],
)
def test_bad_grantee_in_header(value, argument):
    with pytest.raises(S3Error) as info:
        acl.from_headers({"x-amz-grant-read": value})
    assert code(info) == (400, "InvalidArgument")
    assert info.value.extra["ArgumentName"] == argument


def test_commas_within_quotes_do_not_split():
    # An email address cannot hold a comma, so the grantee is refused as a whole.
    with pytest.raises(S3Error) as info:
        acl.from_headers({"x-amz-grant-read": 'emailAddress="a,b@example.com"'})
    assert info.value.extra["ArgumentValue"] == "a,b@example.com"


def test_too_many_header_grants():
    value = ",".join(f'id="K{i:03d}"' for i in range(acl.MAX_GRANTS + 1))
    with pytest.raises(S3Error) as info:
        acl.from_headers({"x-amz-grant-read": value})
    assert code(info) == (400, "MalformedACLError")


# -- AccessControlPolicy documents -----------------------------------------------------------


def sent_policy(fake_s3, grants: list[dict], owner: dict | None = None) -> bytes:
    """The body botocore sends for put_bucket_acl with an AccessControlPolicy."""
    policy: dict = {"Grants": grants}
    if owner is not None:
        policy["Owner"] = owner
    fake_s3.reply(b"")
    fake_s3.client.put_bucket_acl(Bucket="bkt", AccessControlPolicy=policy)
    return fake_s3.requests[-1].body


def test_policy_from_botocore_with_every_grantee_type(fake_s3):
    body = sent_policy(
        fake_s3,
        [
            {
                "Grantee": {"Type": "CanonicalUser", "ID": OWNER, "DisplayName": "me"},
                "Permission": "FULL_CONTROL",
            },
            {"Grantee": {"Type": "Group", "URI": acl.ALL_USERS}, "Permission": "READ"},
            {
                "Grantee": {"Type": "AmazonCustomerByEmail", "EmailAddress": "x@example.org"},
                "Permission": "WRITE_ACP",
            },
            {"Grantee": {"Type": "CanonicalUser", "ID": OTHER}, "Permission": "READ_ACP"},
            {"Grantee": {"Type": "Group", "URI": acl.LOG_DELIVERY}, "Permission": "WRITE"},
        ],
        owner={"ID": OWNER, "DisplayName": "me"},
    )
    assert acl.from_policy(body) == ACL(
        canned=None,
        grants=(
            user(OWNER, "FULL_CONTROL"),
            group(acl.ALL_USERS, "READ"),
            Grant(acl.BY_EMAIL, "x@example.org", "WRITE_ACP"),
            user(OTHER, "READ_ACP"),
            group(acl.LOG_DELIVERY, "WRITE"),
        ),
        owner=OWNER,
    )


def test_policy_without_owner_or_grants(fake_s3):
    assert acl.from_policy(sent_policy(fake_s3, [])) == ACL(canned=None, grants=())


def policy_doc(acl_list: str, owner: str = f"<Owner><ID>{OWNER}</ID></Owner>") -> bytes:
    return (
        '<AccessControlPolicy xmlns="http://s3.amazonaws.com/doc/2006-03-01/" '
        'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">'
        f"{owner}<AccessControlList>{acl_list}</AccessControlList></AccessControlPolicy>"
    ).encode()


def grant_doc(grantee: str, permission: str = "READ", kind: str | None = "Group") -> str:
    attr = f' xsi:type="{kind}"' if kind else ""
    return f"<Grant><Grantee{attr}>{grantee}</Grantee><Permission>{permission}</Permission></Grant>"


ALL_USERS_URI = f"<URI>{acl.ALL_USERS}</URI>"


def test_policy_grantee_type_follows_its_element_without_xsi_type():
    body = policy_doc(
        grant_doc(ALL_USERS_URI, kind=None)
        + grant_doc(f"<ID>{OTHER}</ID><DisplayName>x</DisplayName>", "WRITE", kind=None)
    )
    assert acl.from_policy(body).grants == (
        group(acl.ALL_USERS, "READ"),
        user(OTHER, "WRITE"),
    )


@pytest.mark.parametrize(
    "body",
    [
        b"<AccessControlPolicy><AccessControlList>",  # not well-formed
        b"not xml at all",
        b"<Tagging><TagSet/></Tagging>",  # another document
        policy_doc(grant_doc(ALL_USERS_URI, "READ_WRITE")),  # unknown permission
        policy_doc(grant_doc(ALL_USERS_URI, "")),
        policy_doc(grant_doc(ALL_USERS_URI, kind="Everyone")),  # unknown grantee type
        policy_doc(grant_doc(f"<ID>{OTHER}</ID>", kind="Group")),  # a group needs a URI
        policy_doc(grant_doc(ALL_USERS_URI + f"<ID>{OTHER}</ID>")),  # extra element
        policy_doc(grant_doc(ALL_USERS_URI + ALL_USERS_URI)),  # two URIs
        policy_doc(grant_doc("", kind=None)),  # a grantee naming no one
        policy_doc("<Grant><Permission>READ</Permission></Grant>"),  # no grantee
        policy_doc(f"<Grant><Grantee>{ALL_USERS_URI}</Grantee></Grant>"),  # no permission
        policy_doc("<Rule/>"),  # not a grant
        policy_doc("", owner="<Owner><DisplayName>x</DisplayName></Owner>"),  # owner without ID
        policy_doc("", owner="<Owner><ID>a</ID></Owner><Owner><ID>b</ID></Owner>"),
        b"<AccessControlPolicy><Owner><ID>a</ID></Owner></AccessControlPolicy>",  # no list
        b"<AccessControlPolicy><AccessControlList/><AccessControlList/></AccessControlPolicy>",
        b"<AccessControlPolicy><AccessControlList/><Extra/></AccessControlPolicy>",
        policy_doc(grant_doc(ALL_USERS_URI) * (acl.MAX_GRANTS + 1)),
    ],
)
def test_malformed_policy(body):
    with pytest.raises(S3Error) as info:
        acl.from_policy(body)
    assert code(info) == (400, "MalformedACLError")


@pytest.mark.parametrize(
    "grantee, kind, argument",
    [
        ("<URI>http://acs.amazonaws.com/groups/global/Nobody</URI>", "Group", "Group/URI"),
        ("<ID></ID>", "CanonicalUser", "CanonicalUser/ID"),
        ("<ID>bad id</ID>", "CanonicalUser", "CanonicalUser/ID"),
        (
            "<EmailAddress>nobody</EmailAddress>",
            "AmazonCustomerByEmail",
            "AmazonCustomerByEmail/EmailAddress",
        ),
    ],
)
def test_impossible_grantee_in_policy(grantee, kind, argument):
    with pytest.raises(S3Error) as info:
        acl.from_policy(policy_doc(grant_doc(grantee, kind=kind)))
    assert code(info) == (400, "InvalidArgument")
    assert info.value.extra["ArgumentName"] == argument


def test_put_acl_request_needs_exactly_one_source():
    body = policy_doc(grant_doc(ALL_USERS_URI))
    with pytest.raises(S3Error) as info:
        acl.requested({"x-amz-acl": "private"}, body)
    assert code(info) == (400, "UnexpectedContent")
    with pytest.raises(S3Error) as info:
        acl.requested({"x-amz-grant-read": f'id="{OTHER}"'}, body)
    assert code(info) == (400, "UnexpectedContent")
    with pytest.raises(S3Error) as info:
        acl.requested({}, b"  \n")
    assert code(info) == (400, "MissingSecurityHeader")
    assert acl.requested({"x-amz-acl": "public-read"}, b"") == ACL(canned="public-read")
    assert acl.requested({}, body).grants == (group(acl.ALL_USERS, "READ"),)


def _no_email(address: str) -> None:
    return None


def test_grantee_ids_must_be_known():
    asked = ACL(canned=None, grants=(user(OTHER, "READ"), user(acl.EC2_ID, "READ")))
    assert acl.resolve_grantees(asked, lambda key: key == OTHER, _no_email) == asked
    with pytest.raises(S3Error) as info:
        acl.resolve_grantees(asked, lambda key: False, _no_email)
    assert code(info) == (400, "InvalidArgument")
    assert info.value.extra == {"ArgumentName": "CanonicalUser/ID", "ArgumentValue": OTHER}


def test_grants_by_email_become_grants_to_the_key():
    by_email = acl.Grant(acl.BY_EMAIL, "alt@example.com", "WRITE")
    asked = ACL(canned=None, grants=(by_email, user(OTHER, "READ")))
    resolved = acl.resolve_grantees(asked, lambda key: True, {"alt@example.com": "ALTKEY"}.get)
    assert resolved.grants == (user("ALTKEY", "WRITE"), user(OTHER, "READ"))
    with pytest.raises(S3Error) as info:
        acl.resolve_grantees(asked, lambda key: True, _no_email)
    assert code(info) == (400, "UnresolvableGrantByEmailAddress")


def test_rendered_names_come_from_the_lookup():
    stored = ACL(canned=None, grants=(user(OTHER, "READ"),))
    names = {OWNER: "Main User", OTHER: "Alt User"}
    body = acl.render(stored, OWNER, lambda key: names[key])
    assert b"<DisplayName>Main User</DisplayName>" in body
    assert b"<ID>" + OTHER.encode() + b"</ID><DisplayName>Alt User</DisplayName>" in body


# -- canned ACLs, owners, storage ------------------------------------------------------------

OWNER_FC = user(OWNER, "FULL_CONTROL")


@pytest.mark.parametrize(
    "name, object_owner, grants",
    [
        ("private", None, [OWNER_FC]),
        ("public-read", None, [group(acl.ALL_USERS, "READ"), OWNER_FC]),
        (
            "public-read-write",
            None,
            [group(acl.ALL_USERS, "READ"), group(acl.ALL_USERS, "WRITE"), OWNER_FC],
        ),
        ("authenticated-read", None, [group(acl.AUTHENTICATED_USERS, "READ"), OWNER_FC]),
        ("aws-exec-read", None, [OWNER_FC, user(acl.EC2_ID, "READ")]),
        ("bucket-owner-read", None, [OWNER_FC]),
        ("bucket-owner-read", OTHER, [user(OTHER, "FULL_CONTROL"), user(OWNER, "READ")]),
        ("bucket-owner-full-control", None, [OWNER_FC]),
        (
            "bucket-owner-full-control",
            OTHER,
            [user(OTHER, "FULL_CONTROL"), user(OWNER, "FULL_CONTROL")],
        ),
        (
            "log-delivery-write",
            None,
            [group(acl.LOG_DELIVERY, "WRITE"), group(acl.LOG_DELIVERY, "READ_ACP"), OWNER_FC],
        ),
    ],
)
def test_canned_acls_expand_as_aws(name, object_owner, grants):
    canned = ACL(canned=name, owner=object_owner)
    assert acl.expand(canned, OWNER) == grants
    # The same grants, given explicitly, are stored as the canned name again.
    explicit = ACL(canned=None, grants=tuple(grants), owner=object_owner)
    assert acl.expand(acl.compact(explicit, OWNER), OWNER) == grants


def test_compact_keeps_what_no_canned_acl_is():
    explicit = ACL(canned=None, grants=(OWNER_FC, user(OTHER, "READ")))
    assert acl.compact(explicit, OWNER) == explicit
    assert acl.compact(ACL(canned=None), OWNER) == ACL(canned=None)  # revoke-all stays empty
    reordered = ACL(canned=None, grants=(OWNER_FC, group(acl.ALL_USERS, "READ")))
    assert acl.compact(reordered, OWNER) == reordered  # order is part of an ACL


def test_owned_keeps_the_owner_and_refuses_another():
    body = ACL(canned=None, grants=(OWNER_FC,), owner=OWNER)
    assert acl.owned(body, None, OWNER) == ACL(canned="private")
    assert acl.owned(ACL(canned="public-read"), OTHER, OWNER) == ACL("public-read", (), OTHER)
    assert acl.owned(ACL(), OWNER, OWNER) == ACL()  # the bucket's owner is not stored
    with pytest.raises(S3Error) as info:
        acl.owned(body, OTHER, OWNER)
    assert code(info) == (403, "AccessDenied")


@pytest.mark.parametrize(
    "value",
    [
        ACL(),
        ACL(canned="public-read"),
        ACL(canned="bucket-owner-full-control", owner=OTHER),
        ACL(canned=None),
        ACL(canned=None, owner=OTHER),
        ACL(
            canned=None,
            grants=(
                user(OTHER, "READ"),
                group(acl.AUTHENTICATED_USERS, "WRITE"),
                Grant(acl.BY_EMAIL, "a@b.example", "READ_ACP"),
            ),
        ),
    ],
)
def test_encode_round_trip(value):
    stored = msgpack.unpackb(msgpack.packb(acl.encode(value)), raw=False)
    assert acl.decode(stored) == value


def test_stored_forms_are_compact_and_old_records_still_read():
    assert acl.encode(ACL()) == "private"
    assert acl.encode(ACL(canned="public-read")) == "public-read"
    assert acl.encode(ACL(canned=None, grants=(user(OTHER, "READ"),))) == {
        "g": [["READ", "id", OTHER]]
    }
    # Records from before explicit grants: a canned name, or nothing.
    assert acl.decode("public-read-write") == ACL(canned="public-read-write")
    assert acl.decode(None) == ACL()
    assert acl.decode({"g": [["READ", "bogus", "x"]]}) == ACL(canned="private")  # unreadable


def test_object_meta_stores_nothing_for_a_private_object():
    private = ObjectMeta(etag="e", acl=ACL())
    assert "a" not in msgpack.unpackb(private.encode(), raw=False)
    assert ObjectMeta.decode(private.encode()).acl is None
    shared = ObjectMeta(etag="e", acl=ACL(canned=None, grants=(user(OTHER, "READ"),)))
    assert ObjectMeta.decode(shared.encode()).acl == shared.acl
    legacy = msgpack.packb({"e": "e", "t": "text/plain", "a": "public-read"})
    assert ObjectMeta.decode(legacy).acl == ACL(canned="public-read")


# -- rendering -----------------------------------------------------------------------------


def test_render_reads_back_through_botocore(fake_s3):
    stored = ACL(
        canned=None,
        grants=(
            user(OTHER, "READ"),
            group(acl.ALL_USERS, "READ_ACP"),
            Grant(acl.BY_EMAIL, "x@example.org", "WRITE"),
            user(acl.EC2_ID, "FULL_CONTROL"),
        ),
        owner=OTHER,
    )
    fake_s3.reply(acl.render(stored, OWNER))
    out = fake_s3.client.get_object_acl(Bucket="bkt", Key="k")
    assert out["Owner"] == {"ID": OTHER, "DisplayName": OTHER}
    assert out["Grants"] == [
        {
            "Grantee": {"Type": "CanonicalUser", "ID": OTHER, "DisplayName": OTHER},
            "Permission": "READ",
        },
        {"Grantee": {"Type": "Group", "URI": acl.ALL_USERS}, "Permission": "READ_ACP"},
        {
            "Grantee": {"Type": "AmazonCustomerByEmail", "EmailAddress": "x@example.org"},
            "Permission": "WRITE",
        },
        {
            "Grantee": {"Type": "CanonicalUser", "ID": acl.EC2_ID, "DisplayName": "za-team"},
            "Permission": "FULL_CONTROL",
        },
    ]


def test_render_document_shape():
    body = acl.render(ACL(canned="log-delivery-write"), OWNER)
    assert body.startswith(b'<?xml version="1.0" encoding="UTF-8"?>\n<AccessControlPolicy xmlns=')
    root = ET.fromstring(body)
    ns = "{http://s3.amazonaws.com/doc/2006-03-01/}"
    assert root.tag == f"{ns}AccessControlPolicy"
    assert root.findtext(f"{ns}Owner/{ns}ID") == OWNER
    grantees = root.findall(f"{ns}AccessControlList/{ns}Grant/{ns}Grantee")
    assert [g.get(XSI) for g in grantees] == ["Group", "Group", "CanonicalUser"]
    assert [p.text for p in root.iter(f"{ns}Permission")] == ["WRITE", "READ_ACP", "FULL_CONTROL"]
    # Rendered and parsed back, an ACL is the same ACL.
    assert acl.from_policy(body) == ACL(
        canned=None, grants=tuple(acl.expand(ACL(canned="log-delivery-write"), OWNER)), owner=OWNER
    )


# -- what grants allow ---------------------------------------------------------------------

ANYONE = acl.principals(None)
STRANGER = acl.principals("STRANGER")
GRANTEE = acl.principals(OTHER)


def test_grants_allow_their_grantees():
    shared = ACL(
        canned=None,
        grants=(
            user(OTHER, "READ"),
            group(acl.AUTHENTICATED_USERS, "READ_ACP"),
            group(acl.ALL_USERS, "WRITE"),
            Grant(acl.BY_EMAIL, "x@example.org", "FULL_CONTROL"),
        ),
    )
    assert acl.allows(shared, OWNER, GRANTEE, "READ")
    assert not acl.allows(shared, OWNER, STRANGER, "READ")
    assert acl.allows(shared, OWNER, STRANGER, "READ_ACP")
    assert not acl.allows(shared, OWNER, ANYONE, "READ_ACP")
    assert acl.allows(shared, OWNER, ANYONE, "WRITE")
    assert not acl.allows(shared, OWNER, GRANTEE, "WRITE_ACP")  # email grants match no key


def test_full_control_and_the_owner():
    assert acl.allows(
        ACL(canned=None, grants=(user(OTHER, "FULL_CONTROL"),)), OWNER, GRANTEE, "WRITE"
    )
    # The owner may always read and change the ACL, even with every grant revoked.
    revoked = ACL(canned=None)
    owner = acl.principals(OWNER)
    assert acl.allows(revoked, OWNER, owner, "READ_ACP")
    assert acl.allows(revoked, OWNER, owner, "WRITE_ACP")
    assert not acl.allows(revoked, OWNER, owner, "READ")
    assert acl.allows(ACL(owner=OTHER), OWNER, GRANTEE, "READ")  # a writer's own object


def test_readable_by_anyone():
    assert acl.readable_by_anyone(ACL(canned="public-read"))
    assert acl.readable_by_anyone(ACL(canned=None, grants=(group(acl.ALL_USERS, "FULL_CONTROL"),)))
    assert not acl.readable_by_anyone(ACL(canned="authenticated-read"))
    assert not acl.readable_by_anyone(None)


def test_operations_each_need_one_permission():
    assert acl.BUCKET_OPERATIONS["ListObjectsV2"] == acl.OBJECT_OPERATIONS["GetObject"] == "READ"
    assert acl.BUCKET_OPERATIONS["PutObject"] == "WRITE"
    assert acl.OBJECT_OPERATIONS["GetObjectAcl"] == acl.BUCKET_OPERATIONS["GetBucketAcl"]
    assert not set(acl.BUCKET_OPERATIONS) & set(acl.OBJECT_OPERATIONS)
