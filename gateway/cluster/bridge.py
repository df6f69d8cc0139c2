"""A bridge from trio to grpc.aio.

grpc.aio needs an asyncio event loop; the gateway runs trio. One daemon
thread runs an asyncio loop that owns every grpc.aio channel, and trio tasks
await coroutines on it. Unlike the synchronous stubs this costs no thread
per call, and the trio thread does no gRPC work.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

import trio

T = TypeVar("T")


class AsyncioBridge:
    """Runs coroutines on a private asyncio loop; `await bridge.run(...)` from trio."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._serve, name="grpc-aio", daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_forever()

    async def run(
        self,
        factory: Callable[..., Coroutine[Any, Any, T]],
        *args: Any,
        cancel_on_abandon: bool = True,
    ) -> T:
        """Run factory(*args) on the asyncio loop and wait for its result.

        If the trio caller is cancelled, the coroutine is cancelled too,
        unless cancel_on_abandon is False (a replica write that should still
        land after the client got its answer)."""
        token = trio.lowlevel.current_trio_token()
        done = trio.Event()
        future = asyncio.run_coroutine_threadsafe(factory(*args), self.loop)

        def wake(_: Any) -> None:
            try:
                token.run_sync_soon(done.set)
            except trio.RunFinishedError:
                pass

        future.add_done_callback(wake)
        try:
            await done.wait()
        except trio.Cancelled:
            if cancel_on_abandon:
                future.cancel()
            raise
        return future.result()

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
