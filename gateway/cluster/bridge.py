"""A bridge from trio to grpc.aio.

grpc.aio needs an asyncio event loop; the gateway runs trio. One daemon
thread runs an asyncio loop that owns every grpc.aio channel; trio submits
coroutines to it and is called back with their outcomes. Unlike the synchronous
stubs this costs no thread per call, and the trio thread does no gRPC work.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

import outcome
import trio

T = TypeVar("T")


class AsyncioBridge:
    """Runs coroutines on a private asyncio loop for trio: `bridge.submit(coroutine,
    on_done)`, and trio is called back with the outcome (no task, no thread per call)."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._serve, name="grpc-aio", daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_forever()

    def submit(
        self,
        coroutine: Coroutine[Any, Any, T],
        on_done: Callable[[outcome.Outcome[T]], None],
    ) -> concurrent.futures.Future[T]:
        """Start coroutine on the asyncio loop; on_done(its outcome) runs later in the
        calling trio thread. Cancel the returned future to cancel the coroutine."""
        token = trio.lowlevel.current_trio_token()
        future = asyncio.run_coroutine_threadsafe(coroutine, self.loop)

        def wake(done: concurrent.futures.Future[T]) -> None:
            try:
                token.run_sync_soon(on_done, outcome.capture(done.result))
            except trio.RunFinishedError:
                pass

        future.add_done_callback(wake)
        return future

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
