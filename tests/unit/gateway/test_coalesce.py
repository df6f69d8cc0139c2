"""The Coalescer: a lone call goes at once; calls made while batches are in flight go
together; errors reach the callers they belong to; a caller that leaves strands no one,
and a write made with send_if_abandoned is sent all the same."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import trio
import trio.testing

from gateway.cluster.coalesce import Coalescer


class Node:
    """A fake batch RPC: records each batch, answers when released."""

    def __init__(self) -> None:
        self.batches: list[list[int]] = []
        self.release = trio.Event()
        self.fail: Exception | None = None

    def send(self, requests: list[int], finished: Callable[[Any], None]) -> None:
        self.batches.append(list(requests))

        async def answer() -> None:
            await self.release.wait()
            if self.fail is not None:
                finished(self.fail)
            else:
                finished([ValueError(f"no {r}") if r == 13 else r * 10 for r in requests])

        trio.lowlevel.spawn_system_task(answer)


async def _ask_all(coalescer: Coalescer[int, object], numbers: range, node: Node) -> dict:
    outcomes: dict[int, object] = {}

    async def ask(n: int) -> None:
        try:
            outcomes[n] = await coalescer.call(n)
        except Exception as exc:  # noqa: BLE001 - the outcome under test
            outcomes[n] = f"{type(exc).__name__}: {exc}"

    async with trio.open_nursery() as nursery:
        for n in numbers:
            nursery.start_soon(ask, n)
            await trio.testing.wait_all_tasks_blocked()
        node.release.set()
    return outcomes


async def test_a_lone_call_is_sent_at_once() -> None:
    node = Node()
    node.release.set()
    assert await Coalescer(node.send).call(7) == 70
    assert node.batches == [[7]]


async def test_calls_made_while_batches_are_in_flight_go_together() -> None:
    node = Node()
    outcomes = await _ask_all(Coalescer(node.send, max_in_flight=2), range(10), node)
    assert outcomes == {n: n * 10 for n in range(10)}
    assert node.batches == [[0], [1], list(range(2, 10))]


async def test_a_batch_is_bounded_by_its_cost() -> None:
    node = Node()
    await _ask_all(Coalescer(node.send, max_in_flight=1, max_cost=3), range(7), node)
    assert node.batches == [[0], [1, 2, 3], [4, 5, 6]]


async def test_errors_reach_the_callers_they_belong_to() -> None:
    node = Node()
    outcomes = await _ask_all(Coalescer(node.send, max_in_flight=1), range(12, 15), node)
    assert outcomes == {12: 120, 13: "ValueError: no 13", 14: 140}
    node = Node()
    node.fail = ConnectionError("node down")
    outcomes = await _ask_all(Coalescer(node.send, max_in_flight=1), range(3), node)
    assert set(outcomes.values()) == {"ConnectionError: node down"}


@pytest.mark.parametrize("send_if_abandoned", [False, True])
async def test_a_caller_that_leaves_strands_no_one(send_if_abandoned: bool) -> None:
    node = Node()
    coalescer: Coalescer[int, object] = Coalescer(node.send, max_in_flight=1)
    answers: list[object] = []
    scopes: dict[int, trio.CancelScope] = {}

    async def ask(n: int) -> None:
        with trio.CancelScope() as scope:
            scopes[n] = scope
            answers.append(await coalescer.call(n, send_if_abandoned=send_if_abandoned))

    async with trio.open_nursery() as nursery:
        for n in range(3):
            nursery.start_soon(ask, n)
            await trio.testing.wait_all_tasks_blocked()
        scopes[0].cancel()  # the caller of the batch in flight leaves
        scopes[1].cancel()  # and one still waiting
        await trio.testing.wait_all_tasks_blocked()
        node.release.set()
    assert answers == [20]  # 2 was answered though 0's caller, in its batch's way, left
    assert node.batches == ([[0], [1, 2]] if send_if_abandoned else [[0], [2]])


async def test_a_send_that_cannot_start_fails_its_batch_alone() -> None:
    def broken(requests: list[int], finished: Callable[[Any], None]) -> None:
        raise ConnectionError("no channel")

    coalescer: Coalescer[int, object] = Coalescer(broken)
    with pytest.raises(ConnectionError):
        await coalescer.call(1)
    with pytest.raises(ConnectionError):  # nothing left in flight: the next goes too
        await coalescer.call(2)


async def test_submit_calls_back_without_a_waiting_task() -> None:
    node = Node()
    coalescer: Coalescer[int, object] = Coalescer(node.send)
    seen: dict[int, object] = {}
    coalescer.submit(4, lambda call: seen.update({4: call.result()}))
    coalescer.submit(13, lambda call: seen.update({13: call.error}))
    node.release.set()
    await trio.testing.wait_all_tasks_blocked()
    assert seen[4] == 40 and isinstance(seen[13], ValueError)
