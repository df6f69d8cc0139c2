"""PostObject: browser-based uploads with an HTML form (multipart/form-data).

The form authenticates itself (a signed policy, see :mod:`gateway.s3.postpolicy`), so the
gateway lets an anonymous PostObject request reach this handler. The fields before the file
are read and checked first; the file is then streamed into the store, hashed for its ETag and
held to the policy's content-length-range, and committed only if all of it arrived.
"""

from __future__ import annotations

import hashlib
from collections import deque
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from urllib.parse import quote, urlsplit

from gateway.s3 import acl, formdata, postpolicy, tagging, xml
from gateway.s3.checksums import Checksum
from gateway.s3.checksums import requested as requested_checksums
from gateway.s3.errors import S3Error
from gateway.s3.handlers.access import anonymous_may_write
from gateway.s3.handlers.common import MAX_OBJECT_SIZE, existing_bucket, storage_of
from gateway.s3.names import check_key
from gateway.s3.objectmeta import from_request_headers
from gateway.s3.request import Reply, RequestContext

# Form fields stored with the object like the PutObject headers of the same names.
_META_FIELDS = (
    "content-type",
    "cache-control",
    "content-disposition",
    "content-encoding",
    "expires",
)
_STATUSES = {"200": 200, "201": 201, "204": 204}


class _Form:
    """Events of the request body's form, read from the wire as they are needed."""

    def __init__(self, ctx: RequestContext, parser: formdata.FormDataParser) -> None:
        self._ctx = ctx
        self._parser = parser
        self._wire = ctx.wire_body
        self._pending: deque[formdata.Event] = deque()

    async def next(self) -> formdata.Event | None:
        """The next event; None once the body ended (after the file, or malformed)."""
        while not self._pending:
            if self._parser.done:
                return None
            try:
                data = await anext(self._wire)
            except StopAsyncIteration:
                self._parser.finish()
                return None
            self._ctx.bytes_in += len(data)
            self._pending.extend(self._parser.feed(data))
        return self._pending.popleft()


async def _read_fields(form: _Form) -> tuple[dict[str, str], formdata.FileStart]:
    fields: dict[str, str] = {}
    while True:
        event = await form.next()
        if event is None:
            raise S3Error("IncorrectNumberOfFilesInPostRequest")
        if isinstance(event, formdata.FileStart):
            return fields, event
        assert isinstance(event, formdata.Field)
        if event.name in fields:
            raise S3Error(
                "InvalidArgument",
                f"Form field {event.name!r} was given more than once.",
                extra={"ArgumentName": event.name, "ArgumentValue": event.value},
            )
        fields[event.name] = event.value


async def post_object(ctx: RequestContext) -> Reply:
    assert ctx.bucket is not None
    parser = formdata.FormDataParser(formdata.boundary_of(ctx.headers.get("content-type")))
    record = await existing_bucket(ctx)
    form = _Form(ctx, parser)
    fields, file = await _read_fields(form)
    if not fields.get("key"):
        raise postpolicy.missing_field("key")
    key = fields["key"].replace("${filename}", file.filename)
    policy: postpolicy.PostPolicy | None = None
    writer: str | None = None
    if postpolicy.has_signature(fields):
        # The policy's conditions see the key with ${filename} filled in, as S3's do.
        auth, policy = postpolicy.authorize(
            {**fields, "key": key}, ctx.bucket, ctx.gateway.lookup_secrets, datetime.now(UTC)
        )
        ctx.gateway.note_use(auth.access_key, auth.secret_index)
        writer = auth.access_key
    elif not await anonymous_may_write(ctx, key):
        # A form without a signature is an anonymous PUT: the bucket's ACL or policy
        # must let anyone write (the object is then the bucket owner's).
        raise S3Error("AccessDenied")
    if not key:
        raise S3Error(
            "InvalidArgument",
            "User key must have a length greater than 0.",
            extra={"ArgumentName": "key", "ArgumentValue": ""},
        )
    check_key(key)
    meta = from_request_headers(
        {
            name: value
            for name, value in fields.items()
            if name in _META_FIELDS or name.startswith("x-amz-meta-")
        }
    )
    # The form's acl field is a canned ACL; the object is the signer's.
    asked = acl.from_headers({"x-amz-acl": fields["acl"]} if "acl" in fields else {})
    meta.acl = acl.owned(asked or acl.ACL(), writer, record.owner)
    if fields.get("tagging"):
        meta.tags = tagging.parse_document(fields["tagging"].encode())
    md5 = hashlib.md5()
    stated = requested_checksums(fields)  # x-amz-checksum-* fields: checked like a PUT's
    running = {algorithm: Checksum(algorithm) for algorithm in stated}
    size = 0

    async def chunks() -> AsyncIterator[bytes]:
        nonlocal size
        while True:
            event = await form.next()
            if event is None or isinstance(event, formdata.FileEnd):
                break
            assert isinstance(event, formdata.FileData)
            size += len(event.data)
            if policy is not None:
                postpolicy.check_length(policy, size, final=False)
            if size > MAX_OBJECT_SIZE:
                raise S3Error("EntityTooLarge")
            md5.update(event.data)
            for checksum in running.values():
                checksum.update(event.data)
            yield event.data
        # Raising here, before the stream ends, keeps the store from committing.
        if policy is not None:
            postpolicy.check_length(policy, size, final=True)
        for algorithm, value in stated.items():
            if running[algorithm].b64() != value:
                raise S3Error(
                    "BadDigest",
                    f"The {algorithm.upper()} you specified did not match the calculated checksum.",
                )

    def make_meta(stored_size: int) -> bytes:
        meta.etag = md5.hexdigest()
        meta.checksums = {algorithm: c.b64() for algorithm, c in running.items()}
        return meta.encode()

    await ctx.gateway.store.put_object(
        ctx.bucket, key, chunks(), make_meta, mode=storage_of(record)
    )
    return _reply(ctx.bucket, key, meta.quoted_etag, fields)


def _redirect_target(fields: dict[str, str]) -> str | None:
    url = fields.get("success_action_redirect") or fields.get("redirect")
    if not url:
        return None
    parts = urlsplit(url)
    # S3 ignores a redirect that is not a URL and answers with the status instead.
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
        return None
    return url


def _reply(bucket: str, key: str, etag_quoted: str, fields: dict[str, str]) -> Reply:
    location = f"/{quote(bucket, safe='')}/{quote(key, safe='/')}"
    headers = {"ETag": etag_quoted, "Location": location}
    target = _redirect_target(fields)
    if target is not None:
        query = "&".join(
            f"{name}={quote(value, safe='')}"
            for name, value in (("bucket", bucket), ("key", key), ("etag", etag_quoted))
        )
        separator = "&" if "?" in target else "?"
        headers["Location"] = f"{target}{separator}{query}"
        return Reply(303, headers)
    status = _STATUSES.get(fields.get("success_action_status", ""), 204)
    if status == 201:
        headers["Content-Type"] = "application/xml"
        return Reply(201, headers, xml.post_response(location, bucket, key, etag_quoted))
    return Reply(status, headers)
