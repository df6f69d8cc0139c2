"""quorum.Round: whom a quorum call asks, when, and when it has heard enough."""

from __future__ import annotations

from gateway.cluster.quorum import Round


def test_a_write_asks_every_node_and_is_met_at_its_quorum() -> None:
    round_: Round[str, int] = Round(["a", "b", "c"], need=2)
    assert round_.first() == ["a", "b", "c"]
    assert not round_.can_hedge
    round_.answered("a", 1)
    assert not round_.met
    round_.answered("c", 3)
    assert round_.met and not round_.settled
    round_.answered("b", 2)
    assert round_.settled
    assert round_.answers == [("a", 1), ("c", 3), ("b", 2)]


def test_a_read_asks_its_quorum_and_a_spare_for_each_failure() -> None:
    round_: Round[str, int] = Round(["a", "b", "c", "d"], need=2, ask=2)
    assert round_.first() == ["a", "b"]
    assert round_.failed("a") == "c"
    assert round_.failed("c") == "d"
    assert round_.failed("d") is None  # no spare left
    round_.answered("b", 2)
    assert round_.settled and not round_.met
    assert round_.failures == ["a", "c", "d"]


def test_a_hedge_asks_a_spare_only_while_the_quorum_is_short() -> None:
    round_: Round[str, int] = Round(["a", "b", "c"], need=2, ask=2)
    round_.first()
    assert round_.can_hedge
    round_.answered("a", 1)
    assert round_.hedge() == ["c"]  # b is slow
    assert not round_.can_hedge and round_.hedge() == []
    round_.answered("c", 3)
    assert round_.met and not round_.settled  # b still outstanding
    round_.answered("b", 2)
    assert round_.settled

    met: Round[str, int] = Round(["a", "b", "c"], need=1, ask=1)
    met.first()
    met.answered("a", 1)
    assert met.hedge() == [] and met.settled

    two_slow: Round[str, int] = Round(["a", "b", "c", "d", "e"], need=3, ask=3)
    two_slow.first()
    two_slow.answered("a", 1)
    assert two_slow.hedge() == ["d", "e"]  # b and c are slow: one spare for each


def test_no_live_node_is_settled_at_once() -> None:
    round_: Round[str, int] = Round([], need=2)
    assert round_.first() == [] and round_.settled and not round_.met
