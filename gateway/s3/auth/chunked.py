"""Incremental decoder for ``Content-Encoding: aws-chunked`` request bodies.

Wire format (signed)::

    <hex-size>;chunk-signature=<64 hex>\\r\\n<data>\\r\\n   ...repeated...
    0;chunk-signature=<64 hex>\\r\\n
    [<trailer-name>:<value>\\r\\n ... x-amz-trailer-signature:<64 hex>\\r\\n]
    \\r\\n

Unsigned (``STREAMING-UNSIGNED-PAYLOAD-TRAILER``) bodies use bare ``<hex-size>\\r\\n``
chunk headers. Each chunk signature chains from the previous one, starting at the seed
signature of the request's ``Authorization`` header.
"""

from __future__ import annotations

import hashlib
import hmac
import re

from .errors import AuthError
from .sigv4 import EMPTY_SHA256, AuthResult, sign

_HEADER, _DATA, _DATA_CRLF, _TRAILER, _DONE = range(5)

_MAX_LINE = 4096  # a chunk header is ~90 bytes; anything this long is not framing
_MAX_TRAILER_BYTES = 16 * 1024
_HEX_SIZE = re.compile(rb"[0-9a-fA-F]{1,16}")
_HEX64 = re.compile(rb"[0-9a-fA-F]{64}")
_TRAILER_SIGNATURE = "x-amz-trailer-signature"


def _invalid(message: str) -> AuthError:
    return AuthError("InvalidRequest", message)


def _mismatch(what: str) -> AuthError:
    return AuthError(
        "SignatureDoesNotMatch",
        f"The {what} signature we calculated does not match the signature you provided.",
    )


class ChunkedDecoder:
    """Decode an aws-chunked body fed in arbitrary slices, verifying chunk signatures.

    Payload bytes are returned as soon as they arrive, before the enclosing chunk's
    signature is checked, so callers must not commit anything until :meth:`finish`
    returns. Memory use is bounded by one header line plus the data of the current call.
    """

    def __init__(
        self, *, signed: bool, auth: AuthResult | None = None, trailer: bool = False
    ) -> None:
        if signed and auth is None:
            raise ValueError("a signed aws-chunked body needs the request's AuthResult")
        self._signed = signed
        self._auth = auth
        self._trailer = trailer
        self._state = _HEADER
        self._line = bytearray()
        self._remaining = 0
        self._crlf_pos = 0
        self._hash = hashlib.sha256()
        self._chunk_signature = ""
        self._previous = auth.signature if auth is not None else ""
        self._trailers: dict[str, str] = {}
        self._trailer_signature: str | None = None
        self._trailer_bytes = 0
        self._decoded = 0
        self._error: AuthError | None = None

    @property
    def trailers(self) -> dict[str, str]:
        """Trailing headers received so far (lower-cased names), without the signature."""
        return dict(self._trailers)

    @property
    def decoded_length(self) -> int:
        """Number of payload bytes decoded so far."""
        return self._decoded

    def feed(self, data: bytes) -> list[bytes]:
        """Consume the next slice of the wire body and return the payload pieces in it."""
        if self._error is not None:
            raise self._error
        try:
            return self._feed(bytes(data))
        except AuthError as exc:
            self._error = exc  # the framing position is lost; refuse further input
            raise

    def finish(self) -> None:
        """Signal end of body; raise unless the final chunk (and trailers) were complete."""
        if self._error is not None:
            raise self._error
        try:
            if self._state == _TRAILER:
                # Tolerate a missing final CRLF (and a last trailer line without one).
                line = bytes(self._line).rstrip(b"\r")
                self._line.clear()
                if line:
                    self._on_trailer_line(line)
                if self._state == _TRAILER:
                    self._on_trailer_line(b"")
            if self._state != _DONE:
                raise AuthError(
                    "IncompleteBody",
                    "The request body ended before the final aws-chunked chunk.",
                )
        except AuthError as exc:
            self._error = exc
            raise

    # ------------------------------------------------------------------ state machine

    def _feed(self, data: bytes) -> list[bytes]:
        out: list[bytes] = []
        i, n = 0, len(data)
        while i < n:
            state = self._state
            if state == _DATA:
                take = min(self._remaining, n - i)
                piece = data[i : i + take]
                if self._signed:
                    self._hash.update(piece)
                out.append(piece)
                self._decoded += take
                self._remaining -= take
                i += take
                if self._remaining == 0:
                    self._verify_chunk()
                    self._state, self._crlf_pos = _DATA_CRLF, 0
            elif state == _DATA_CRLF:
                if data[i] != b"\r\n"[self._crlf_pos]:
                    raise _invalid("aws-chunked chunk data is not followed by CRLF")
                i += 1
                self._crlf_pos += 1
                if self._crlf_pos == 2:
                    self._state = _HEADER
            elif state in (_HEADER, _TRAILER):
                end = data.find(b"\n", i)
                if end < 0:
                    self._line += data[i:]
                    if len(self._line) > _MAX_LINE:
                        raise _invalid("aws-chunked header line is too long")
                    break
                self._line += data[i:end]
                i = end + 1
                if len(self._line) > _MAX_LINE:
                    raise _invalid("aws-chunked header line is too long")
                line = bytes(self._line)
                self._line.clear()
                if line.endswith(b"\r"):
                    line = line[:-1]
                if state == _HEADER:
                    self._on_chunk_header(line)
                else:
                    self._on_trailer_line(line)
            else:  # _DONE: only stray line breaks may follow
                if data[i:].strip(b"\r\n"):
                    raise _invalid("Unexpected data after the final aws-chunked chunk")
                break
        return out

    def _on_chunk_header(self, line: bytes) -> None:
        size_text, _, extensions = line.partition(b";")
        size_text = size_text.strip()
        if not _HEX_SIZE.fullmatch(size_text):
            raise _invalid(f"Invalid aws-chunked chunk size {size_text[:32]!r}")
        size = int(size_text, 16)
        if self._signed:
            signature = None
            for extension in extensions.split(b";"):
                name, _, value = extension.partition(b"=")
                if name.strip() == b"chunk-signature":
                    signature = value.strip()
            if signature is None or not _HEX64.fullmatch(signature):
                raise _invalid("Missing or malformed chunk-signature in aws-chunked body")
            self._chunk_signature = signature.decode("ascii").lower()
            self._hash = hashlib.sha256()
        self._remaining = size
        if size == 0:
            self._verify_chunk()  # the final, empty chunk is signed too
            self._state = _TRAILER
        else:
            self._state = _DATA

    def _verify_chunk(self) -> None:
        if not self._signed:
            return
        assert self._auth is not None
        to_sign = "\n".join(
            [
                "AWS4-HMAC-SHA256-PAYLOAD",
                self._auth.amz_date,
                self._auth.scope,
                self._previous,
                EMPTY_SHA256,
                self._hash.hexdigest(),
            ]
        )
        expected = sign(self._auth.signing_key, to_sign)
        if not hmac.compare_digest(expected, self._chunk_signature):
            raise _mismatch("chunk")
        self._previous = self._chunk_signature

    def _on_trailer_line(self, line: bytes) -> None:
        if not line:
            self._verify_trailers()
            self._state = _DONE
            return
        if self._signed and not self._trailer:
            # Unsigned trailers must not ride along on a body whose chunks are signed.
            raise _invalid("Unexpected trailer in an aws-chunked body without x-amz-trailer")
        self._trailer_bytes += len(line)
        if self._trailer_bytes > _MAX_TRAILER_BYTES:
            raise _invalid("aws-chunked trailers are too large")
        name_bytes, sep, value_bytes = line.partition(b":")
        try:
            name = name_bytes.strip().decode("ascii").lower()
            value = value_bytes.strip().decode("utf-8")
        except UnicodeDecodeError:
            raise _invalid("Malformed aws-chunked trailer") from None
        if not sep or not name:
            raise _invalid("Malformed aws-chunked trailer")
        if name == _TRAILER_SIGNATURE:
            self._trailer_signature = value.lower()
        else:
            self._trailers[name] = value

    def _verify_trailers(self) -> None:
        if not (self._signed and self._trailer):
            return
        assert self._auth is not None
        if self._trailer_signature is None:
            raise _invalid("Missing x-amz-trailer-signature in aws-chunked trailers")
        # Signers hash "name:value\n" lines; most send them sorted, so try the received
        # order and, if different, the sorted one.
        orders = [list(self._trailers.items())]
        if orders[0] != sorted(orders[0]):
            orders.append(sorted(orders[0]))
        for items in orders:
            canonical = "".join(f"{name}:{value}\n" for name, value in items)
            to_sign = "\n".join(
                [
                    "AWS4-HMAC-SHA256-TRAILER",
                    self._auth.amz_date,
                    self._auth.scope,
                    self._previous,
                    hashlib.sha256(canonical.encode("utf-8")).hexdigest(),
                ]
            )
            expected = sign(self._auth.signing_key, to_sign)
            if hmac.compare_digest(expected.encode(), self._trailer_signature.encode()):
                return
        raise _mismatch("trailer")
