"""Stripe and fragment arithmetic, the codec and the layout record of erasure-coded
objects (gateway/cluster/erasure.py)."""

from __future__ import annotations

import os

import msgpack
import pytest
from pyeclib.ec_iface import ECInsufficientFragments

from gateway.cluster.erasure import FRAGMENT_DATA, Layout, Segment, codec, layout_of, with_layout
from gateway.s3.objectmeta import ObjectMeta


def _segment(size: int, data: int = 4, parity: int = 2, set_id: str = "set") -> Segment:
    """The segment a write of `size` bytes makes, with real fragment sizes from the codec."""
    stripe = data * FRAGMENT_DATA
    coder = codec(data, parity)
    full = len(coder.encode(bytes(min(size, stripe)))[0])
    last = len(coder.encode(bytes(size - (max(1, -(-size // stripe)) - 1) * stripe))[0])
    return Segment(size, data, parity, stripe, full, last, set_id, tuple(f"n{i}" for i in range(6)))


def test_stripes_cover_exactly_the_range_asked() -> None:
    layout = _segment(10 * FRAGMENT_DATA + 5)  # 4+2: stripes of 1 MiB, the third short
    assert layout.stripe == 4 * FRAGMENT_DATA
    assert layout.stripe_count == 3
    assert layout.stripe_length(2) == 2 * FRAGMENT_DATA + 5
    assert layout.stripes_for(0, layout.size) == range(0, 3)
    assert layout.stripes_for(0, 1) == range(0, 1)
    assert layout.stripes_for(layout.stripe - 1, 2) == range(0, 2)  # crosses a boundary
    assert layout.stripes_for(layout.stripe, layout.stripe) == range(1, 2)
    assert layout.stripes_for(layout.size - 1, 1) == range(2, 3)
    assert layout.stripes_for(5, 0) == range(0)


def test_fragment_ranges_follow_the_stripes() -> None:
    layout = _segment(10 * FRAGMENT_DATA + 5)
    full, last = layout.fragment_size, layout.last_fragment_size
    assert last < full  # the last stripe is short
    assert layout.fragment_length(0) == full and layout.fragment_length(2) == last
    assert layout.fragment_range(range(0, 3)) == (0, 2 * full + last)
    assert layout.fragment_range(range(1, 2)) == (full, full)
    assert layout.fragment_range(range(1, 3)) == (full, full + last)

    single = _segment(1000)
    assert single.stripe_count == 1
    assert single.fragment_range(range(0, 1)) == (0, single.last_fragment_size)


@pytest.mark.parametrize(("data", "parity"), [(2, 1), (4, 2), (8, 4)])
def test_any_k_fragments_give_the_stripe_back(data: int, parity: int) -> None:
    coder = codec(data, parity)
    for size in (1, 1000, data * FRAGMENT_DATA - 3, data * FRAGMENT_DATA):
        stripe = os.urandom(size)
        fragments = coder.encode(stripe)
        assert len(fragments) == data + parity
        assert len({len(f) for f in fragments}) == 1
        assert coder.decode(fragments[:data]) == stripe  # the data fragments alone
        assert coder.decode(fragments[parity:]) == stripe  # the first m lost
        spread = fragments[::2] + fragments[1::2]
        assert coder.decode(spread[-data:]) == stripe


@pytest.mark.parametrize(("data", "parity"), [(2, 1), (4, 2), (8, 4)])
def test_the_data_fragments_joined_are_the_stripe(data: int, parity: int) -> None:
    coder = codec(data, parity)
    for size in (1, 7, 4095, 65537, data * FRAGMENT_DATA - 1, data * FRAGMENT_DATA):
        stripe = os.urandom(size)
        fragments = coder.encode(stripe)
        assert coder.join(fragments[:data], size) == stripe


def test_fewer_than_k_fragments_cannot_decode() -> None:
    coder = codec(4, 2)
    fragments = coder.encode(os.urandom(5000))
    with pytest.raises(ECInsufficientFragments):
        coder.decode(fragments[:3])


def test_the_layout_rides_in_the_object_metadata() -> None:
    layout = Layout((_segment(3 * FRAGMENT_DATA),))
    meta = ObjectMeta(etag="abc", user={"who": "x"})
    plain = meta.encode()
    assert layout_of(plain) is None
    coded = with_layout(plain, layout)
    assert layout_of(coded) == layout
    # The S3 metadata is untouched, and a rewrite of it (tags, ACL) keeps the layout.
    decoded = ObjectMeta.decode(coded)
    assert decoded.etag == "abc" and decoded.user == {"who": "x"}
    decoded.tags = {"t": "1"}
    assert layout_of(decoded.encode()) == layout
    # Stored as replicas again (a copy), the layout goes.
    assert layout_of(with_layout(coded, None)) is None
    assert with_layout(plain, None) is plain


def test_pieces_of_a_range_over_the_segments_of_parts() -> None:
    parts = Layout(
        (_segment(5000, set_id="a"), _segment(100, set_id="b"), _segment(7000, set_id="c"))
    )
    assert parts.size == 12100
    a, b, c = parts.segments
    assert parts.pieces(0, 12100) == [(a, 0, 5000), (b, 0, 100), (c, 0, 7000)]
    assert parts.pieces(4990, 20) == [(a, 4990, 10), (b, 0, 10)]
    assert parts.pieces(5050, 100) == [(b, 50, 50), (c, 0, 50)]
    assert parts.pieces(12099, 1) == [(c, 6999, 1)]
    assert parts.pieces(0, 0) == []
    assert Layout.from_record(parts.to_record()) == parts


def test_a_user_value_like_the_layout_key_is_no_layout() -> None:
    meta = msgpack.packb({"e": "x", "u": {"x": "x"}})
    assert layout_of(meta) is None
    assert with_layout(meta, None) == meta
