"""Concurrent calls of one kind to one storage node, sent together as one batch RPC.

A gRPC call costs the gateway and the node about half a millisecond of CPU each,
whatever it carries. Under load many S3 requests ask the same node the same kind of
small thing at once (which version of this key do you hold? store these 4 KiB); a
Coalescer lets at most `max_in_flight` batches be outstanding per node, and whatever
arrives meanwhile waits and goes out together in the next batch. An idle node is
asked at once, so a lone request waits for nothing: batches grow only with the load,
which is when they pay (group commit).

Nothing here spawns a task: `send` starts a batch and reports back through a callback,
and a caller waits on its own call. A caller that is cancelled (its client left, or
its read quorum already answered) never strands the others in its batch. A call made
with `send_if_abandoned` (a replica write that should land anyway) is sent even if
its caller stops waiting; others are dropped if not yet sent.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

import trio

log = logging.getLogger("tessera.gateway.coalesce")

Request = TypeVar("Request")
Answer = TypeVar("Answer")


# send(requests, finished): start one batch; call finished(answers in the same order, or
# the exception that failed the whole batch) exactly once, in the trio thread.
Finished = Callable[[list[Answer] | BaseException], None]
Send = Callable[[list[Request], Finished[Answer]], None]


@dataclass(eq=False)
class Call(Generic[Request, Answer]):
    """One submitted request; `on_done(call)` runs once it has its answer or error."""

    request: Request
    cost: int
    on_done: Callable[[Call[Request, Answer]], None]
    send_if_abandoned: bool = False
    answer: Answer | None = None
    error: BaseException | None = None

    def result(self) -> Answer:
        if self.error is not None:
            raise self.error
        return self.answer  # type: ignore[return-value]


class Coalescer(Generic[Request, Answer]):
    """Sends calls through `send`; an answer that is an exception is raised to its
    caller alone, an exception for the whole batch to every caller in it."""

    def __init__(
        self,
        send: Send[Request, Answer],
        max_in_flight: int = 2,
        max_cost: int = 64,
        cost: Callable[[Request], int] = lambda _: 1,
    ) -> None:
        self._send = send
        self._max_in_flight = max_in_flight
        self._max_cost = max_cost
        self._cost = cost
        self._waiting: deque[Call[Request, Answer]] = deque()
        self._in_flight = 0

    def submit(
        self,
        request: Request,
        on_done: Callable[[Call[Request, Answer]], None],
        send_if_abandoned: bool = False,
    ) -> Call[Request, Answer]:
        """Queue request (it goes at once if the node is idle); on_done follows."""
        call = Call(request, self._cost(request), on_done, send_if_abandoned)
        self._waiting.append(call)
        self._flush()
        return call

    def withdraw(self, call: Call[Request, Answer]) -> None:
        """Its caller stopped waiting: drop the call if it has not gone yet (unless it
        was made with send_if_abandoned). A call already sent stays in its batch."""
        if not call.send_if_abandoned and call in self._waiting:
            self._waiting.remove(call)

    async def call(self, request: Request, send_if_abandoned: bool = False) -> Answer:
        """The answer to request, possibly sent in a batch with others."""
        finished = trio.Event()
        call = self.submit(request, lambda _: finished.set(), send_if_abandoned)
        try:
            await finished.wait()
        except trio.Cancelled:
            self.withdraw(call)
            raise
        return call.result()

    def _flush(self) -> None:
        while self._waiting and self._in_flight < self._max_in_flight:
            batch = [self._waiting.popleft()]
            cost = batch[0].cost
            while self._waiting and cost + self._waiting[0].cost <= self._max_cost:
                cost += self._waiting[0].cost
                batch.append(self._waiting.popleft())
            self._in_flight += 1
            self._start(batch)

    def _start(self, batch: list[Call[Request, Answer]]) -> None:
        def finished(answers: list[Answer] | BaseException) -> None:
            self._in_flight -= 1
            if not isinstance(answers, BaseException) and len(answers) != len(batch):
                answers = RuntimeError(f"{len(answers)} answers to {len(batch)} calls")
            for i, call in enumerate(batch):
                if isinstance(answers, BaseException):
                    call.error = answers
                elif isinstance(answers[i], BaseException):
                    call.error = answers[i]  # type: ignore[assignment]
                else:
                    call.answer = answers[i]
            self._flush()
            for call in batch:
                try:
                    call.on_done(call)
                except Exception:  # one caller's mistake must not strand the rest
                    log.exception("a coalesced call's callback failed")

        try:
            self._send([c.request for c in batch], finished)
        except Exception as exc:  # could not even start: fail the batch, not the caller
            finished(exc)
