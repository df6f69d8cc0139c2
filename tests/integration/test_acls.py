"""ACLs grant by grant against a real cluster: x-amz-grant-* headers on every request
that takes them, AccessControlPolicy documents, canned ACLs as AWS expands them, the
errors AWS gives, and what grants let anonymous requests and other keys do."""

from __future__ import annotations

import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from botocore.auth import S3SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.exceptions import ClientError

from coordinator import credentials
from coordinator.etcd import connect
from coordinator.secrets import Cipher, read_key_file
from tests.helpers import delete_bucket, error_code, make_client, unique_bucket_name
from tools.cluster import ClusterInfo

ALL_USERS = "http://acs.amazonaws.com/groups/global/AllUsers"
AUTHENTICATED_USERS = "http://acs.amazonaws.com/groups/global/AuthenticatedUsers"
LOG_DELIVERY = "http://acs.amazonaws.com/groups/s3/LogDelivery"


def _fails(expected: tuple[int, str], call: Callable[..., Any], **kwargs: Any) -> ClientError:
    with pytest.raises(ClientError) as info:
        call(**kwargs)
    assert error_code(info) == expected
    return info.value


# Display names of the keys made here (a key without one shows its ID).
_NAMES: dict[str, str] = {}


def _user(key: str, permission: str) -> dict[str, Any]:
    grantee = {"Type": "CanonicalUser", "ID": key, "DisplayName": _NAMES.get(key, key)}
    return {"Grantee": grantee, "Permission": permission}


def _group(uri: str, permission: str) -> dict[str, Any]:
    return {"Grantee": {"Type": "Group", "URI": uri}, "Permission": permission}


def _email(address: str, permission: str) -> dict[str, Any]:
    grantee = {"Type": "AmazonCustomerByEmail", "EmailAddress": address}
    return {"Grantee": grantee, "Permission": permission}


def _acl(response: dict[str, Any]) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    return response["Owner"], response["Grants"]


class Key:
    """A credential other than the cluster's admin, with a client per gateway."""

    def __init__(
        self, cluster: ClusterInfo, policy: str, display_name: str = "", email: str = ""
    ) -> None:
        self.access_key, secret = credentials.generate_keypair()
        self.email = email
        if display_name:
            _NAMES[self.access_key] = display_name
        cipher = Cipher(read_key_file(cluster.key_file))
        record = credentials.record(
            self.access_key,
            secret,
            cipher,
            policy=policy,
            description="test_acls",
            display_name=display_name,
            email=email,
        )
        credentials.put(connect(cluster.etcd_endpoint), record)
        self.clients = [
            make_client(url, self.access_key, secret, cluster.region) for url in cluster.endpoints
        ]
        deadline = time.monotonic() + 10
        for client in self.clients:  # every gateway learns keys by etcd watch
            while True:
                try:
                    client.list_buckets()
                    break
                except ClientError:
                    assert time.monotonic() < deadline, "new key not accepted"
                    time.sleep(0.05)

    @property
    def s3(self) -> Any:
        return self.clients[0]


@pytest.fixture(scope="module")
def other(cluster: ClusterInfo) -> Key:
    """A readwrite key: by its policy, only the buckets it creates. It has a display name
    and an email address (grants by email address resolve to it)."""
    return Key(cluster, "readwrite", "Other Key", "Other.Key@example.com")


@pytest.fixture(scope="module")
def reader(cluster: ClusterInfo) -> Key:
    """A readonly key of no bucket."""
    return Key(cluster, "readonly")


@pytest.fixture
def own_bucket(other: Key, request: pytest.FixtureRequest) -> Iterator[str]:
    """A bucket the `other` key created (and so owns)."""
    name = unique_bucket_name(f"own-{request.node.name}")
    other.s3.create_bucket(Bucket=name)
    try:
        yield name
    finally:
        delete_bucket(other.s3, name)


def _anonymous(
    method: str, url: str, body: bytes | None = None, headers: dict[str, str] | None = None
) -> tuple[int, bytes]:
    request = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def _signed(
    cluster: ClusterInfo, method: str, path: str, body: bytes, headers: dict[str, str] | None = None
) -> tuple[int, bytes]:
    """A request signed with the admin key, with a body no SDK would send."""
    url = f"{cluster.endpoints[0]}{path}"
    request = AWSRequest(method=method, url=url, data=body, headers=headers or {})
    credentials_ = Credentials(cluster.access_key, cluster.secret_key)
    S3SigV4Auth(credentials_, "s3", cluster.region).add_auth(request)
    return _anonymous(method, url, body, dict(request.headers.items()))


# -- round trips -------------------------------------------------------------------------


def test_grant_headers_on_create_bucket_and_put_bucket_acl(s3, cluster, other):
    name = unique_bucket_name("grant-headers")
    s3.create_bucket(
        Bucket=name,
        GrantRead=f'id="{other.access_key}", uri="{ALL_USERS}"',
        GrantWriteACP=f"id={cluster.access_key}",
        GrantFullControl='emailAddress="other.key@example.com"',
    )
    try:
        owner, grants = _acl(s3.get_bucket_acl(Bucket=name))
        assert owner == {"ID": cluster.access_key, "DisplayName": cluster.access_key}
        assert grants == [
            _user(other.access_key, "READ"),
            _group(ALL_USERS, "READ"),
            _user(cluster.access_key, "WRITE_ACP"),
            _user(other.access_key, "FULL_CONTROL"),  # by its email address
        ]
        s3.put_bucket_acl(
            Bucket=name,
            GrantWrite=f'uri="{LOG_DELIVERY}"',
            GrantReadACP=f'uri="{LOG_DELIVERY}"',
            GrantFullControl=f'id="{cluster.access_key}"',
        )
        # Exactly log-delivery-write's grants, but in the order the headers gave them.
        assert _acl(s3.get_bucket_acl(Bucket=name))[1] == [
            _group(LOG_DELIVERY, "WRITE"),
            _group(LOG_DELIVERY, "READ_ACP"),
            _user(cluster.access_key, "FULL_CONTROL"),
        ]
    finally:
        delete_bucket(s3, name)


def test_grant_headers_on_object_writes(s3, cluster, bucket, other):
    me, them = cluster.access_key, other.access_key
    s3.put_object(
        Bucket=bucket, Key="put", Body=b"x", GrantRead=f'id="{them}"', GrantReadACP=f'id="{me}"'
    )
    assert _acl(s3.get_object_acl(Bucket=bucket, Key="put")) == (
        {"ID": me, "DisplayName": me},
        [_user(them, "READ"), _user(me, "READ_ACP")],
    )
    s3.copy_object(
        Bucket=bucket,
        Key="copy",
        CopySource={"Bucket": bucket, "Key": "put"},
        GrantFullControl=f'id="{me}"',
        GrantRead=f'uri="{AUTHENTICATED_USERS}"',
    )
    # As canned authenticated-read would, in the order of the headers.
    assert _acl(s3.get_object_acl(Bucket=bucket, Key="copy"))[1] == [
        _group(AUTHENTICATED_USERS, "READ"),
        _user(me, "FULL_CONTROL"),
    ]
    upload = s3.create_multipart_upload(
        Bucket=bucket, Key="mp", GrantWriteACP=f'id="{them}"', GrantFullControl=f'id="{me}"'
    )
    etag = s3.upload_part(
        Bucket=bucket, Key="mp", UploadId=upload["UploadId"], PartNumber=1, Body=b"part"
    )["ETag"]
    s3.complete_multipart_upload(
        Bucket=bucket,
        Key="mp",
        UploadId=upload["UploadId"],
        MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": etag}]},
    )
    assert _acl(s3.get_object_acl(Bucket=bucket, Key="mp"))[1] == [
        _user(them, "WRITE_ACP"),
        _user(me, "FULL_CONTROL"),
    ]
    s3.put_object_acl(Bucket=bucket, Key="mp", GrantRead=f'emailAddress="{other.email}"')
    assert _acl(s3.get_object_acl(Bucket=bucket, Key="mp"))[1] == [_user(them, "READ")]
    # An address no key has is refused, and changes nothing.
    _fails(
        (400, "UnresolvableGrantByEmailAddress"),
        s3.put_object_acl,
        Bucket=bucket,
        Key="mp",
        GrantRead='emailAddress="nobody@example.org"',
    )
    assert _acl(s3.get_object_acl(Bucket=bucket, Key="mp"))[1] == [_user(them, "READ")]


def test_access_control_policy_round_trip(s3, cluster, bucket, other):
    me, them = cluster.access_key, other.access_key
    grants = [
        _group(AUTHENTICATED_USERS, "READ_ACP"),
        _user(them, "WRITE"),
        _email(other.email, "READ"),
        _user(me, "FULL_CONTROL"),
        _user(them, "READ"),  # a second grant to the same grantee is kept
    ]
    owner = {"ID": me, "DisplayName": me}
    s3.put_bucket_acl(Bucket=bucket, AccessControlPolicy={"Owner": owner, "Grants": grants})
    # A grant by email address is shown as a grant to the key that has it.
    grants[2] = _user(them, "READ")
    assert _acl(s3.get_bucket_acl(Bucket=bucket)) == (owner, grants)

    s3.put_object(Bucket=bucket, Key="k", Body=b"x", ACL="public-read")
    # A display name the client sends is not kept: a key's display name is its own.
    named = {"Grantee": {"Type": "CanonicalUser", "ID": them, "DisplayName": "Them"}}
    s3.put_object_acl(
        Bucket=bucket,
        Key="k",
        AccessControlPolicy={"Owner": owner, "Grants": [{**named, "Permission": "READ"}]},
    )
    assert _acl(s3.get_object_acl(Bucket=bucket, Key="k")) == (owner, [_user(them, "READ")])
    # Every grant revoked: the owner can still read and change the ACL.
    s3.put_object_acl(Bucket=bucket, Key="k", AccessControlPolicy={"Owner": owner, "Grants": []})
    assert _acl(s3.get_object_acl(Bucket=bucket, Key="k")) == (owner, [])
    # What Get*Acl returns can be put back as it is (what tools that edit ACLs do).
    s3.put_bucket_acl(Bucket=bucket, ACL="public-read")
    current = s3.get_bucket_acl(Bucket=bucket)
    policy = {"Owner": current["Owner"], "Grants": current["Grants"]}
    s3.put_bucket_acl(Bucket=bucket, ACL="private")
    s3.put_bucket_acl(Bucket=bucket, AccessControlPolicy=policy)
    assert _acl(s3.get_bucket_acl(Bucket=bucket)) == (owner, current["Grants"])


@pytest.mark.parametrize(
    "canned, extra",
    [
        ("private", []),
        ("public-read", [_group(ALL_USERS, "READ")]),
        ("public-read-write", [_group(ALL_USERS, "READ"), _group(ALL_USERS, "WRITE")]),
        ("authenticated-read", [_group(AUTHENTICATED_USERS, "READ")]),
        (
            "aws-exec-read",
            [
                {
                    "Grantee": {
                        "Type": "CanonicalUser",
                        "ID": "6aa5a366c34c1cbe25dc49211496e913e0351eb0e8c37aa3477e40942ec6b97c",
                        "DisplayName": "za-team",
                    },
                    "Permission": "READ",
                }
            ],
        ),
        ("bucket-owner-read", []),  # the bucket's owner owns the object: nothing to add
        ("bucket-owner-full-control", []),
        ("log-delivery-write", [_group(LOG_DELIVERY, "WRITE"), _group(LOG_DELIVERY, "READ_ACP")]),
    ],
)
def test_canned_acls_expand_as_aws(s3, cluster, bucket, canned, extra):
    # Group grants first, then the owner's, then other users' (as S3-compatible stores list them).
    groups = [g for g in extra if g["Grantee"]["Type"] == "Group"]
    users = [g for g in extra if g["Grantee"]["Type"] != "Group"]
    expected = [*groups, _user(cluster.access_key, "FULL_CONTROL"), *users]
    s3.put_bucket_acl(Bucket=bucket, ACL=canned)
    assert _acl(s3.get_bucket_acl(Bucket=bucket))[1] == expected
    s3.put_object(Bucket=bucket, Key="k", Body=b"x", ACL=canned)
    assert _acl(s3.get_object_acl(Bucket=bucket, Key="k"))[1] == expected


def test_objects_of_other_writers_are_theirs(s3, cluster, bucket, other):
    me, them = cluster.access_key, other.access_key
    s3.put_bucket_acl(Bucket=bucket, GrantWrite=f'id="{them}"', GrantFullControl=f'id="{me}"')
    other.s3.put_object(Bucket=bucket, Key="full", Body=b"f", ACL="bucket-owner-full-control")
    assert _acl(s3.get_object_acl(Bucket=bucket, Key="full")) == (
        {"ID": them, "DisplayName": "Other Key"},
        [_user(them, "FULL_CONTROL"), _user(me, "FULL_CONTROL")],
    )
    other.s3.put_object(Bucket=bucket, Key="read", Body=b"r", ACL="bucket-owner-read")
    assert _acl(s3.get_object_acl(Bucket=bucket, Key="read"))[1] == [
        _user(them, "FULL_CONTROL"),
        _user(me, "READ"),
    ]
    # The writer owns what it wrote: it reads it and its ACL though the bucket is not its.
    other.s3.put_object(Bucket=bucket, Key="mine", Body=b"m")
    assert other.s3.get_object(Bucket=bucket, Key="mine")["Body"].read() == b"m"
    assert other.s3.get_object_acl(Bucket=bucket, Key="mine")["Owner"]["ID"] == them
    _fails((403, "AccessDenied"), other.s3.list_objects_v2, Bucket=bucket)
    # A policy document cannot hand the object to someone else.
    _fails(
        (403, "AccessDenied"),
        s3.put_object_acl,
        Bucket=bucket,
        Key="mine",
        AccessControlPolicy={
            "Owner": {"ID": me},
            "Grants": [_user(me, "FULL_CONTROL")],
        },
    )


# -- errors --------------------------------------------------------------------------------


def test_canned_acl_and_grant_headers_together(s3, bucket, other):
    grant = f'id="{other.access_key}"'
    for call, kwargs in [
        (s3.put_object, {"Bucket": bucket, "Key": "k", "Body": b"x"}),
        (s3.create_multipart_upload, {"Bucket": bucket, "Key": "k"}),
        (s3.put_bucket_acl, {"Bucket": bucket}),
        (s3.create_bucket, {"Bucket": unique_bucket_name("both")}),
    ]:
        _fails((400, "InvalidRequest"), call, ACL="public-read", GrantRead=grant, **kwargs)
    s3.put_object(Bucket=bucket, Key="k", Body=b"x")
    _fails(
        (400, "InvalidRequest"),
        s3.copy_object,
        Bucket=bucket,
        Key="c",
        CopySource=f"{bucket}/k",
        ACL="private",
        GrantRead=grant,
    )
    _fails(
        (400, "InvalidRequest"),
        s3.put_object_acl,
        Bucket=bucket,
        Key="k",
        ACL="private",
        GrantRead=grant,
    )


def test_body_and_headers_together(s3, cluster, bucket):
    s3.put_object(Bucket=bucket, Key="k", Body=b"x")
    policy = {
        "Owner": {"ID": cluster.access_key},
        "Grants": [_user(cluster.access_key, "FULL_CONTROL")],
    }
    _fails(
        (400, "UnexpectedContent"),
        s3.put_bucket_acl,
        Bucket=bucket,
        ACL="private",
        AccessControlPolicy=policy,
    )
    _fails(
        (400, "UnexpectedContent"),
        s3.put_object_acl,
        Bucket=bucket,
        Key="k",
        GrantRead=f'uri="{ALL_USERS}"',
        AccessControlPolicy=policy,
    )
    _fails((400, "MissingSecurityHeader"), s3.put_object_acl, Bucket=bucket, Key="k")
    _fails((400, "MissingSecurityHeader"), s3.put_bucket_acl, Bucket=bucket)


@pytest.mark.parametrize(
    "body",
    [
        b"<AccessControlPolicy><AccessControlList><Grant>",
        b"<CORSConfiguration/>",
        b"<AccessControlPolicy><Owner><ID>x</ID></Owner></AccessControlPolicy>",
    ],
)
def test_malformed_policy_documents(s3, cluster, bucket, body):
    s3.put_object(Bucket=bucket, Key="k", Body=b"x")
    for path in (f"/{bucket}?acl", f"/{bucket}/k?acl"):
        status, reply = _signed(cluster, "PUT", path, body)
        assert status == 400 and b"<Code>MalformedACLError</Code>" in reply


def test_bad_permissions_and_grantees(s3, cluster, bucket):
    s3.put_object(Bucket=bucket, Key="k", Body=b"x")
    owner = {"ID": cluster.access_key}

    def policy(*grants: dict[str, Any]) -> dict[str, Any]:
        return {"Owner": owner, "Grants": list(grants)}

    cases = [
        ((400, "MalformedACLError"), policy(_group(ALL_USERS, "READ_EVERYTHING"))),
        ((400, "InvalidArgument"), policy(_group(f"{ALL_USERS}-and-more", "READ"))),
        ((400, "InvalidArgument"), policy(_user("NOSUCHKEY0000", "READ"))),
        ((400, "InvalidArgument"), policy(_email("no-at-sign", "READ"))),
    ]
    for expected, document in cases:
        _fails(expected, s3.put_bucket_acl, Bucket=bucket, AccessControlPolicy=document)
        _fails(expected, s3.put_object_acl, Bucket=bucket, Key="k", AccessControlPolicy=document)
    for header in (
        'uri="http://acs.amazonaws.com/groups/global/Nobody"',
        'id="NOSUCHKEY0000"',
        "id",
        'name="x"',
    ):
        error = _fails(
            (400, "InvalidArgument"),
            s3.put_object,
            Bucket=bucket,
            Key="n",
            Body=b"",
            GrantRead=header,
        )
        assert error.response["Error"]["ArgumentName"]
        _fails((400, "InvalidArgument"), s3.put_bucket_acl, Bucket=bucket, GrantRead=header)
    _fails(
        (400, "InvalidArgument"),
        s3.create_bucket,
        Bucket=unique_bucket_name("bad-grantee"),
        GrantRead='id="NOSUCHKEY0000"',
    )
    _fails((400, "InvalidArgument"), s3.put_object_acl, Bucket=bucket, Key="k", ACL="everyone")
    # Nothing was stored by the failed writes.
    _fails((404, "404"), s3.head_object, Bucket=bucket, Key="n")
    assert _acl(s3.get_bucket_acl(Bucket=bucket))[1] == [_user(cluster.access_key, "FULL_CONTROL")]


# -- what grants allow ---------------------------------------------------------------------


def test_anonymous_requests_get_what_all_users_are_granted(s3, cluster, bucket):
    base = f"{cluster.endpoints[0]}/{bucket}"
    assert _anonymous("PUT", f"{base}/anon", b"no")[0] == 403
    s3.put_bucket_acl(Bucket=bucket, ACL="public-read-write")
    status, _ = _anonymous("PUT", f"{base}/anon", b"from anyone")
    assert status == 200
    # Written anonymously, the object is the bucket owner's, private by default.
    assert s3.get_object_acl(Bucket=bucket, Key="anon")["Owner"]["ID"] == cluster.access_key
    assert _anonymous("GET", f"{base}/anon")[0] == 403
    status, body = _anonymous("GET", f"{base}?list-type=2")
    assert status == 200 and b"<Key>anon</Key>" in body
    assert _anonymous("HEAD", base)[0] == 200
    assert _anonymous("GET", f"{base}?acl")[0] == 403  # READ_ACP was not granted
    assert _anonymous("DELETE", f"{base}/anon")[0] == 204
    assert "Contents" not in s3.list_objects_v2(Bucket=bucket)

    s3.put_bucket_acl(Bucket=bucket, GrantReadACP=f'uri="{ALL_USERS}"')
    status, body = _anonymous("GET", f"{base}?acl")
    assert status == 200 and b"<Permission>READ_ACP</Permission>" in body
    assert _anonymous("GET", f"{base}?list-type=2")[0] == 403  # no READ any more
    assert _anonymous("PUT", f"{base}?acl", headers={"x-amz-acl": "public-read"})[0] == 403
    s3.put_bucket_acl(Bucket=bucket, GrantWriteACP=f'uri="{ALL_USERS}"')
    assert _anonymous("PUT", f"{base}?acl", headers={"x-amz-acl": "public-read"})[0] == 200
    assert _acl(s3.get_bucket_acl(Bucket=bucket))[1][0] == _group(ALL_USERS, "READ")

    s3.put_object(
        Bucket=bucket,
        Key="open",
        Body=b"open",
        GrantRead=f'uri="{ALL_USERS}"',
        GrantReadACP=f'uri="{ALL_USERS}"',
    )
    assert _anonymous("GET", f"{base}/open") == (200, b"open")
    status, body = _anonymous("GET", f"{base}/open?acl")
    assert status == 200 and body.count(b"<Grant>") == 2
    s3.put_object(Bucket=bucket, Key="readable", Body=b"r", ACL="public-read")
    assert _anonymous("GET", f"{base}/readable?acl")[0] == 403


def test_other_keys_get_what_they_are_granted(s3, cluster, bucket, other):
    them = other.access_key
    s3.put_object(Bucket=bucket, Key="doc", Body=b"doc")
    _fails((403, "AccessDenied"), other.s3.list_objects_v2, Bucket=bucket)
    _fails((403, "AccessDenied"), other.s3.get_object, Bucket=bucket, Key="doc")
    _fails((403, "AccessDenied"), other.s3.get_bucket_acl, Bucket=bucket)

    s3.put_bucket_acl(Bucket=bucket, GrantRead=f'id="{them}"', GrantReadACP=f'id="{them}"')
    assert [o["Key"] for o in other.s3.list_objects_v2(Bucket=bucket)["Contents"]] == ["doc"]
    assert other.s3.get_bucket_acl(Bucket=bucket)["Owner"]["ID"] == cluster.access_key
    # Listing the bucket is not reading its objects, nor writing into it.
    _fails((403, "AccessDenied"), other.s3.get_object, Bucket=bucket, Key="doc")
    _fails((404, "NoSuchKey"), other.s3.get_object, Bucket=bucket, Key="missing")
    _fails((403, "AccessDenied"), other.s3.put_object, Bucket=bucket, Key="x", Body=b"x")
    _fails((403, "AccessDenied"), other.s3.put_bucket_acl, Bucket=bucket, ACL="public-read")

    s3.put_object_acl(Bucket=bucket, Key="doc", ACL="authenticated-read")
    assert other.s3.get_object(Bucket=bucket, Key="doc")["Body"].read() == b"doc"
    assert other.s3.head_object(Bucket=bucket, Key="doc")["ContentLength"] == 3
    _fails((403, "AccessDenied"), other.s3.get_object_acl, Bucket=bucket, Key="doc")
    _fails((403, "AccessDenied"), other.s3.put_object_acl, Bucket=bucket, Key="doc", ACL="private")
    s3.put_object_acl(Bucket=bucket, Key="doc", GrantFullControl=f'id="{them}"')
    assert other.s3.get_object_acl(Bucket=bucket, Key="doc")["Grants"] == [
        _user(them, "FULL_CONTROL")
    ]
    other.s3.put_object_acl(Bucket=bucket, Key="doc", ACL="public-read")
    assert s3.get_object_acl(Bucket=bucket, Key="doc")["Owner"]["ID"] == cluster.access_key

    s3.put_bucket_acl(Bucket=bucket, GrantWrite=f'uri="{AUTHENTICATED_USERS}"')
    other.s3.put_object(Bucket=bucket, Key="theirs", Body=b"t")
    other.s3.delete_object(Bucket=bucket, Key="theirs")
    _fails((403, "AccessDenied"), other.s3.list_objects_v2, Bucket=bucket)


def test_copies_need_read_on_the_source(s3, bucket, other, own_bucket):
    s3.put_object(Bucket=bucket, Key="src", Body=b"source")

    def copy() -> Any:
        return other.s3.copy_object(
            Bucket=own_bucket, Key="dst", CopySource={"Bucket": bucket, "Key": "src"}
        )

    _fails((403, "AccessDenied"), copy)
    s3.put_object_acl(Bucket=bucket, Key="src", GrantRead=f'id="{other.access_key}"')
    copy()
    assert other.s3.get_object(Bucket=own_bucket, Key="dst")["Body"].read() == b"source"


def test_a_readonly_key_only_reads_whatever_it_is_granted(s3, bucket, reader):
    s3.put_object(Bucket=bucket, Key="doc", Body=b"doc")
    s3.put_bucket_acl(Bucket=bucket, GrantFullControl=f'id="{reader.access_key}"')
    s3.put_object_acl(Bucket=bucket, Key="doc", GrantFullControl=f'id="{reader.access_key}"')
    assert reader.s3.list_objects_v2(Bucket=bucket)["KeyCount"] == 1
    assert reader.s3.get_object(Bucket=bucket, Key="doc")["Body"].read() == b"doc"
    assert reader.s3.get_object_acl(Bucket=bucket, Key="doc")["Grants"]
    _fails((403, "AccessDenied"), reader.s3.put_object, Bucket=bucket, Key="x", Body=b"x")
    _fails((403, "AccessDenied"), reader.s3.delete_object, Bucket=bucket, Key="doc")
    _fails((403, "AccessDenied"), reader.s3.put_bucket_acl, Bucket=bucket, ACL="public-read")


def test_grants_reach_every_gateway(s3, bucket, other):
    """Bucket ACLs travel by etcd watch; object ACLs live with the object."""
    s3.put_object(Bucket=bucket, Key="doc", Body=b"doc", GrantRead=f'id="{other.access_key}"')
    far = other.clients[-1]
    assert far.get_object(Bucket=bucket, Key="doc")["Body"].read() == b"doc"
    s3.put_bucket_acl(Bucket=bucket, GrantRead=f'id="{other.access_key}"')
    deadline = time.monotonic() + 5
    while True:
        try:
            far.list_objects_v2(Bucket=bucket)
            break
        except ClientError:
            assert time.monotonic() < deadline, "the bucket's grant did not reach the gateway"
            time.sleep(0.05)
