"""Erasure-coded objects: the stripe arithmetic, the codec and the layout record.

An object of a bucket in `erasure` (or, above its threshold, `hybrid`) mode is cut into
stripes of k x FRAGMENT_DATA bytes; each stripe is coded into k data and m parity
fragments (pyeclib with Intel ISA-L's Reed-Solomon, the library OpenStack Swift uses).
Fragment i of every stripe goes, concatenated in stripe order, to one storage node as a
plain object of its own: namespace `.ec/<bucket>`, key `<set id>/<i>` (bucket names cannot
start with '.'). Such a fragment set is a segment; an object is one segment, or one per
part when it was uploaded in parts (a part's set id begins with its upload id). Every fragment but the last of its set has the same length, so stripe j
of fragment i sits at offset j x fragment_size: a ranged GET reads only the stripes it
needs. Each fragment carries pyeclib's header (its index, its length) and the node keeps
a CRC per block of it, like every object's data.

The object's own version (ETag, metadata, tags, versioning, listing) is an ordinary
version on the key's R replicas with no bytes; its metadata carries the layout below,
naming the node of every fragment, so a read goes straight to them whatever the placement
map does later.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import msgpack

from coordinator.namespaces import fragments_namespace

__all__ = [
    "Codec",
    "Layout",
    "Segment",
    "codec",
    "fragment_key",
    "fragments_namespace",
    "layout_of",
]

# Object data per fragment per stripe: a stripe of a k+m object holds k times this. Big
# enough that the codec and the RPCs amortise their per-call cost, small enough that a
# GET holds only a few stripes in memory.
FRAGMENT_DATA = 256 * 1024
# Where the layout sits in an object's metadata (a msgpack map; gateway/s3/objectmeta.py
# keeps the key through every rewrite of the metadata).
LAYOUT_KEY = "x"
_ENCODED_KEY = msgpack.packb(LAYOUT_KEY)
EC_TYPES = ("isa_l_rs_vand", "liberasurecode_rs_vand")


def fragment_key(set_id: str, index: int) -> str:
    return f"{set_id}/{index:02d}"


@dataclass(frozen=True)
class Segment:
    """Bytes coded as one fragment set: a whole object, or one part of a multipart one.
    Where its fragments are and how to read them."""

    size: int  # the object's bytes
    data: int  # k
    parity: int  # m
    stripe: int  # object bytes per stripe (k x FRAGMENT_DATA)
    fragment_size: int  # bytes of one fragment of a full stripe, header included
    last_fragment_size: int  # bytes of one fragment of the last stripe
    set_id: str  # the fragments' keys are <set_id>/<index>
    nodes: tuple[str, ...]  # node id of fragment i; "" where it was not stored
    ec_type: str = EC_TYPES[0]  # the pyeclib backend that coded it

    @property
    def fragments(self) -> int:
        return self.data + self.parity

    @property
    def stripe_count(self) -> int:
        return max(1, -(-self.size // self.stripe))

    def stripe_length(self, stripe: int) -> int:
        """Object bytes in stripe (the last one may be short)."""
        return min(self.stripe, self.size - stripe * self.stripe)

    def fragment_length(self, stripe: int) -> int:
        """Bytes of one fragment of stripe."""
        return self.last_fragment_size if stripe == self.stripe_count - 1 else self.fragment_size

    def stripes_for(self, offset: int, length: int) -> range:
        """The stripes holding object bytes [offset, offset + length)."""
        if length <= 0:
            return range(0)
        return range(offset // self.stripe, (offset + length - 1) // self.stripe + 1)

    def fragment_range(self, stripes: range) -> tuple[int, int]:
        """(offset, length) within each fragment object of those stripes' fragments."""
        last = stripes.stop - 1
        length = (last - stripes.start) * self.fragment_size + self.fragment_length(last)
        return stripes.start * self.fragment_size, length

    def to_record(self) -> dict[str, Any]:
        return {
            "s": self.size,
            "k": self.data,
            "m": self.parity,
            "b": self.stripe,
            "f": self.fragment_size,
            "l": self.last_fragment_size,
            "i": self.set_id,
            "n": list(self.nodes),
            "t": self.ec_type,
        }

    @classmethod
    def from_record(cls, record: Mapping[str, Any]) -> Segment:
        return cls(
            size=record["s"],
            data=record["k"],
            parity=record["m"],
            stripe=record["b"],
            fragment_size=record["f"],
            last_fragment_size=record["l"],
            set_id=record["i"],
            nodes=tuple(record["n"]),
            ec_type=record.get("t", EC_TYPES[0]),
        )


@dataclass(frozen=True)
class Layout:
    """An erasure-coded object: its segments in order (one, or one per part of a
    multipart upload, whose Complete copies no bytes)."""

    segments: tuple[Segment, ...]

    @property
    def size(self) -> int:
        return sum(segment.size for segment in self.segments)

    def pieces(self, offset: int, length: int) -> list[tuple[Segment, int, int]]:
        """(segment, offset in it, length) for the object bytes [offset, offset+length)."""
        found = []
        start = 0
        for segment in self.segments:
            end = start + segment.size
            if offset < end and offset + length > start:
                first = max(offset, start)
                last = min(offset + length, end)
                found.append((segment, first - start, last - first))
            start = end
        return found

    def to_record(self) -> list[dict[str, Any]]:
        return [segment.to_record() for segment in self.segments]

    @classmethod
    def from_record(cls, record: Any) -> Layout:
        return cls(tuple(Segment.from_record(r) for r in record))


def layout_of(meta: bytes) -> Layout | None:
    """The layout an object's metadata names, or None for an object stored as replicas.
    Cheap for the common case: the map is unpacked only when the key's bytes occur."""
    if not meta or _ENCODED_KEY not in meta:
        return None
    record = msgpack.unpackb(meta, raw=False)
    found = record.get(LAYOUT_KEY) if isinstance(record, dict) else None
    return Layout.from_record(found) if found else None


def with_layout(meta: bytes, layout: Layout | None) -> bytes:
    """meta (a msgpack map) with the layout set, or removed when layout is None."""
    if layout is None and (not meta or _ENCODED_KEY not in meta):
        return meta
    record = msgpack.unpackb(meta, raw=False) if meta else {}
    if layout is None:
        if LAYOUT_KEY not in record:
            return meta
        del record[LAYOUT_KEY]
    else:
        record[LAYOUT_KEY] = layout.to_record()
    return msgpack.packb(record, use_bin_type=True)


class Codec:
    """Reed-Solomon k+m coding of one stripe at a time with one pyeclib backend (its
    fragments decode only with the same one, so a segment records it). Thread-safe: one
    driver per thread, as liberasurecode instances keep state."""

    def __init__(self, data: int, parity: int, ec_type: str) -> None:
        self.data = data
        self.parity = parity
        self.ec_type = ec_type
        self._local = threading.local()

    def _driver(self) -> Any:
        driver = getattr(self._local, "driver", None)
        if driver is None:
            driver = self._local.driver = _new_driver(self.data, self.parity, self.ec_type)
        return driver

    def encode(self, stripe: bytes) -> list[bytes]:
        """The k+m fragments of one stripe, in index order."""
        return list(self._driver().encode(stripe))

    def decode(self, fragments: list[bytes]) -> bytes:
        """A stripe from any k of its fragments (each knows its own index)."""
        return bytes(self._driver().decode(fragments))

    @functools.cached_property
    def header_size(self) -> int:
        """Bytes of the header before each fragment's payload (liberasurecode's)."""
        probe = self._driver().encode(bytes(self.data * 64))
        return len(probe[0]) - 64

    def join(self, data_fragments: list[bytes | memoryview], length: int) -> bytes:
        """A stripe of `length` bytes from its k data fragments, in index order: the
        codes are systematic, so their payloads are the stripe itself (no decoding)."""
        header = self.header_size
        return b"".join(memoryview(f)[header:] for f in data_fragments)[:length]


def _new_driver(data: int, parity: int, ec_type: str) -> Any:
    from pyeclib.ec_iface import ECDriver

    return ECDriver(k=data, m=parity, ec_type=ec_type)


@functools.lru_cache(maxsize=64)
def codec(data: int, parity: int, ec_type: str | None = None) -> Codec:
    """The shared codec for k+m with that backend; without one, the first of EC_TYPES
    this machine has (ISA-L, which the pyeclib wheel bundles, else the portable one)."""
    if ec_type is not None:
        return Codec(data, parity, ec_type)
    failure: Exception | None = None
    for candidate in EC_TYPES:
        try:
            _new_driver(data, parity, candidate)
        except Exception as exc:
            failure = exc
            continue
        return Codec(data, parity, candidate)
    raise RuntimeError(f"no erasure code backend for {data}+{parity}: {failure}")
