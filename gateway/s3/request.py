"""What a handler receives and returns; free of any web framework."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from gateway.s3.auth.sigv4 import AuthResult
from gateway.s3.body import BodyPipeline
from gateway.s3.errors import S3Error

if TYPE_CHECKING:
    from gateway.state import Gateway


@dataclass
class RequestContext:
    gateway: Gateway
    request_id: str
    operation: str
    method: str
    bucket: str | None
    key: str | None
    query: dict[str, str]
    headers: dict[str, str]
    auth: AuthResult | None
    wire_body: AsyncIterator[bytes]
    bytes_in: int = 0
    # The bucket policy allowed this request: an anonymous read needs no ACL grant.
    policy_allowed: bool = False

    async def body(self, pipeline: BodyPipeline | None = None) -> AsyncIterator[bytes]:
        """The verified payload; raises S3Error at the end if verification fails."""
        pipeline = pipeline or BodyPipeline(self.headers, self.auth)
        async for data in self.wire_body:
            self.bytes_in += len(data)
            for piece in pipeline.feed(data):
                if piece:
                    yield piece
        pipeline.finish()

    async def read_small_body(
        self, limit: int = 1 << 20, *, object_checksums: bool = False
    ) -> bytes:
        """A whole (small, XML) request body, verified. With ``object_checksums`` the
        request's x-amz-checksum-* headers describe the object it acts on (as on
        CompleteMultipartUpload), not this body, and are left to the handler."""
        pipeline = None
        if object_checksums:
            headers = {
                name: value
                for name, value in self.headers.items()
                if not name.startswith("x-amz-checksum-")
            }
            pipeline = BodyPipeline(headers, self.auth)
        data = bytearray()
        async for piece in self.body(pipeline):
            data += piece
            if len(data) > limit:
                raise S3Error("MaxMessageLengthExceeded")
        return bytes(data)


@dataclass
class Reply:
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes | AsyncIterator[bytes] = b""
