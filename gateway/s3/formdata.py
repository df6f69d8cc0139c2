"""An incremental ``multipart/form-data`` parser for POST Object (sans-IO).

Feed it the request body in slices of any size; it returns events:

* :class:`Field` for each small form field before the file (name lower-cased, as S3 treats
  form field names case-insensitively; value decoded as UTF-8),
* :class:`FileStart`, then :class:`FileData` pieces, then :class:`FileEnd` for the part
  named ``file``.

Memory stays bounded: a field may hold at most ``max_field`` bytes and everything before the
file (headers included) at most ``max_pre_data`` bytes, else ``MaxPostPreDataLengthExceeded``;
the file is passed on as it arrives, holding back only the few bytes that could start the
next boundary. Like S3, the parser stops at the end of the file: later fields are ignored.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import unquote

from gateway.s3.errors import S3Error

MAX_FIELD = 64 * 1024
MAX_PRE_DATA = 1024 * 1024
MAX_PART_HEADERS = 16 * 1024
# RFC 2046: a boundary is 1 to 70 characters.
MAX_BOUNDARY = 70
FILE_FIELD = "file"
_NOT_FORM = "Bucket POST must be of the enclosure-type multipart/form-data"


@dataclass(frozen=True)
class Field:
    name: str
    value: str


@dataclass(frozen=True)
class FileStart:
    filename: str
    content_type: str | None


@dataclass(frozen=True)
class FileData:
    data: bytes


@dataclass(frozen=True)
class FileEnd:
    pass


Event = Field | FileStart | FileData | FileEnd


def _malformed(detail: str | None = None) -> S3Error:
    return S3Error("MalformedPOSTRequest", detail)


def _split_params(value: str) -> tuple[str, dict[str, str]]:
    """``type; a=b; c="d"`` -> ``('type', {'a': 'b', 'c': 'd'})``; names lower-cased.

    In a quoted string a backslash escapes only ``"`` and ``\\`` (browsers send Windows paths
    unescaped); ``name*=UTF-8''...`` (RFC 5987) is decoded and wins over ``name``.
    """
    items: list[str] = []
    current: list[str] = []
    quoted = False
    i = 0
    while i < len(value):
        ch = value[i]
        if quoted and ch == "\\" and i + 1 < len(value) and value[i + 1] in '"\\':
            current.append(value[i : i + 2])
            i += 2
            continue
        if ch == '"':
            quoted = not quoted
        if ch == ";" and not quoted:
            items.append("".join(current))
            current = []
        else:
            current.append(ch)
        i += 1
    items.append("".join(current))
    main = items[0].strip().lower()
    params: dict[str, str] = {}
    extended: dict[str, str] = {}
    for item in items[1:]:
        name, sep, raw = item.partition("=")
        name = name.strip().lower()
        if not sep or not name:
            continue
        raw = raw.strip()
        if name.endswith("*"):
            charset, _, rest = raw.partition("'")
            _, _, encoded = rest.partition("'")
            try:
                extended[name[:-1]] = unquote(encoded, encoding=charset or "utf-8", errors="strict")
            except (LookupError, UnicodeDecodeError):
                continue
        elif len(raw) >= 2 and raw[0] == raw[-1] == '"':
            params[name] = raw[1:-1].replace('\\"', '"').replace("\\\\", "\\")
        else:
            params[name] = raw
    params.update(extended)
    return main, params


def boundary_of(content_type: str | None) -> bytes:
    """The boundary of a ``multipart/form-data`` Content-Type.

    Another content type is S3's 412 PreconditionFailed; a missing or invalid boundary is
    MalformedPOSTRequest.
    """
    kind, params = _split_params(content_type or "")
    if kind != "multipart/form-data":
        raise S3Error("PreconditionFailed", _NOT_FORM, extra={"Condition": _NOT_FORM})
    boundary = params.get("boundary", "")
    if not 1 <= len(boundary) <= MAX_BOUNDARY or not boundary.isascii():
        raise _malformed()
    return boundary.encode("ascii")


def _parse_headers(block: bytes) -> dict[str, str]:
    headers: dict[str, str] = {}
    for line in block.split(b"\r\n"):
        if not line:
            continue
        name, sep, value = line.partition(b":")
        if not sep or not name.strip():
            raise _malformed()
        try:
            text = value.decode("utf-8")
        except UnicodeDecodeError:
            text = value.decode("latin-1")
        headers[name.strip().decode("latin-1").lower()] = text.strip()
    return headers


# Parser states.
_PREAMBLE, _BOUNDARY_LINE, _HEADERS, _FIELD, _FILE, _DONE = range(6)


class FormDataParser:
    """Incremental multipart/form-data parser; see the module docstring."""

    def __init__(
        self,
        boundary: bytes,
        *,
        max_field: int = MAX_FIELD,
        max_pre_data: int = MAX_PRE_DATA,
    ) -> None:
        # Every boundary, the first included, is matched as CRLF "--" boundary: the body is
        # read as if it started with a CRLF.
        self._delimiter = b"\r\n--" + boundary
        self._buffer = bytearray(b"\r\n")
        self._state = _PREAMBLE
        self._max_field = max_field
        self._max_pre_data = max_pre_data
        self._pre_data = 0  # bytes consumed before the file started
        self._field_name = ""
        self._field_value = bytearray()
        self.file_seen = False

    @property
    def done(self) -> bool:
        """True once the file part has ended or the closing boundary was read."""
        return self._state == _DONE

    def feed(self, data: bytes) -> list[Event]:
        """Body bytes in, events out."""
        if self._state == _DONE:
            return []
        self._buffer += data
        events: list[Event] = []
        while self._step(events):
            pass
        return events

    def finish(self) -> None:
        """The body ended: raise MalformedPOSTRequest if it stopped inside a part."""
        if self._state != _DONE:
            raise _malformed()

    # ------------------------------------------------------------------ states

    def _consume(self, count: int) -> bytes:
        taken = bytes(self._buffer[:count])
        del self._buffer[:count]
        if not self.file_seen:
            self._pre_data += count
            if self._pre_data > self._max_pre_data:
                raise S3Error("MaxPostPreDataLengthExceeded")
        return taken

    def _step(self, events: list[Event]) -> bool:
        """Advance once; False when more input is needed."""
        if self._state == _PREAMBLE:
            at = self._buffer.find(self._delimiter)
            if at < 0:
                # Keep only what could be the start of the first boundary.
                keep = len(self._delimiter) - 1
                if len(self._buffer) > keep:
                    self._consume(len(self._buffer) - keep)
                return False
            self._consume(at + len(self._delimiter))
            self._state = _BOUNDARY_LINE
            return True
        if self._state == _BOUNDARY_LINE:
            if self._buffer[:2] == b"--":
                self._state = _DONE  # the closing boundary
                return False
            end = self._buffer.find(b"\r\n")
            if end < 0:
                if len(self._buffer) > MAX_BOUNDARY:
                    raise _malformed()
                return False
            # Transport padding (whitespace) may follow a boundary, nothing else.
            if self._buffer[:end].strip(b" \t"):
                raise _malformed()
            self._consume(end + 2)
            self._state = _HEADERS
            return True
        if self._state == _HEADERS:
            return self._headers(events)
        if self._state == _FIELD:
            return self._body(events, file=False)
        if self._state == _FILE:
            return self._body(events, file=True)
        return False

    def _headers(self, events: list[Event]) -> bool:
        if self._buffer[:2] == b"\r\n":
            block, skip = b"", 2
        else:
            end = self._buffer.find(b"\r\n\r\n")
            if end < 0:
                if len(self._buffer) > MAX_PART_HEADERS:
                    raise _malformed()
                return False
            block, skip = bytes(self._buffer[:end]), end + 4
        if len(block) > MAX_PART_HEADERS:
            raise _malformed()
        self._consume(skip)
        headers = _parse_headers(block)
        disposition, params = _split_params(headers.get("content-disposition", ""))
        if disposition != "form-data" or "name" not in params:
            raise _malformed()
        name = params["name"].lower()
        if name == FILE_FIELD:
            self.file_seen = True
            self._state = _FILE
            events.append(FileStart(params.get("filename", ""), headers.get("content-type")))
        else:
            self._field_name = name
            self._field_value = bytearray()
            self._state = _FIELD
        return True

    def _body(self, events: list[Event], *, file: bool) -> bool:
        at = self._buffer.find(self._delimiter)
        if at < 0:
            # Pass on all but what could be the start of the delimiter.
            ready = len(self._buffer) - (len(self._delimiter) - 1)
            if ready > 0:
                self._deliver(events, self._consume(ready), file=file)
            return False
        if at:
            self._deliver(events, self._consume(at), file=file)
        self._consume(len(self._delimiter))
        if file:
            events.append(FileEnd())
            self._state = _DONE  # S3 ignores whatever follows the file
            self._buffer.clear()
            return False
        try:
            value = self._field_value.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise _malformed() from exc
        events.append(Field(self._field_name, value))
        self._field_value = bytearray()
        self._state = _BOUNDARY_LINE
        return True

    def _deliver(self, events: list[Event], data: bytes, *, file: bool) -> None:
        if file:
            events.append(FileData(data))
            return
        self._field_value += data
        if len(self._field_value) > self._max_field:
            raise S3Error("MaxPostPreDataLengthExceeded")
