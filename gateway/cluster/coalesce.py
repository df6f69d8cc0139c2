"""Concurrent calls of one kind to one storage node, sent together as one batch RPC.

A gRPC call costs the gateway and the node about half a millisecond of CPU each,
whatever it carries. Under load many S3 requests ask the same node the same kind of
small thing at once (which version of this key do you hold? store these 4 KiB); a
Coalescer lets at most `max_in_flight` batches be outstanding per node, and whatever
arrives meanwhile waits and goes out together in the next batch. An idle node is
asked at once, so a lone request waits for nothing: batches grow only with the load,
which is when they pay (group commit).

Batches are sent by system tasks, not by the callers: a caller that is cancelled
(its client left, or its read quorum already answered) never strands the others in
its batch. A call made with `send_if_abandoned` (a replica write that should land
anyway) is sent even if its caller stops waiting; others are dropped if not yet sent.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Generic, TypeVar

import trio

log = logging.getLogger("tessera.gateway.coalesce")

Request = TypeVar("Request")
Answer = TypeVar("Answer")


@dataclass(eq=False)
class _Call(Generic[Request, Answer]):
    request: Request
    cost: int
    finished: trio.Event = field(default_factory=trio.Event)
    answer: Answer | None = None
    error: BaseException | None = None


class Coalescer(Generic[Request, Answer]):
    """Sends calls through `send` (a batch of requests -> answers in the same order; an
    answer that is an exception is raised to its caller alone)."""

    def __init__(
        self,
        send: Callable[[list[Request]], Awaitable[list[Answer]]],
        max_in_flight: int = 2,
        max_cost: int = 64,
        cost: Callable[[Request], int] = lambda _: 1,
    ) -> None:
        self._send = send
        self._max_in_flight = max_in_flight
        self._max_cost = max_cost
        self._cost = cost
        self._waiting: deque[_Call[Request, Answer]] = deque()
        self._in_flight = 0

    async def call(self, request: Request, send_if_abandoned: bool = False) -> Answer:
        """The answer to request, possibly sent in a batch with others."""
        call: _Call[Request, Answer] = _Call(request, self._cost(request))
        self._waiting.append(call)
        self._flush()
        try:
            await call.finished.wait()
        except trio.Cancelled:
            if not send_if_abandoned and call in self._waiting:
                self._waiting.remove(call)
            raise
        if call.error is not None:
            raise call.error
        return call.answer  # type: ignore[return-value]

    def _flush(self) -> None:
        while self._waiting and self._in_flight < self._max_in_flight:
            batch = [self._waiting.popleft()]
            cost = batch[0].cost
            while self._waiting and cost + self._waiting[0].cost <= self._max_cost:
                cost += self._waiting[0].cost
                batch.append(self._waiting.popleft())
            self._in_flight += 1
            trio.lowlevel.spawn_system_task(self._send_batch, batch, name="coalesced-batch")

    async def _send_batch(self, batch: list[_Call[Request, Answer]]) -> None:
        ending = False
        try:
            answers = await self._send([c.request for c in batch])
            if len(answers) != len(batch):
                raise RuntimeError(f"{len(answers)} answers to {len(batch)} calls")
        except Exception as exc:  # every call in the batch fails alike
            for call in batch:
                call.error = exc
        except BaseException as exc:  # the run is ending: wake the callers, then go
            ending = True
            for call in batch:
                call.error = RuntimeError(f"the batch was abandoned: {exc!r}")
            raise
        else:
            for call, answer in zip(batch, answers, strict=True):
                if isinstance(answer, BaseException):
                    call.error = answer
                else:
                    call.answer = answer
        finally:
            for call in batch:
                call.finished.set()
            self._in_flight -= 1
            if not ending:
                self._flush()
