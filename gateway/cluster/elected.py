"""Background jobs that one gateway at a time carries out (the upload reaper, the
lifecycle worker): every gateway campaigns in an etcd election, the holder makes a pass
every so many seconds (a cluster setting), and when it dies its election lease expires
and another gateway takes over."""

from __future__ import annotations

import logging

import trio

from coordinator.election import Election
from gateway.cluster.store import StoreUnavailable
from gateway.state import Gateway

log = logging.getLogger(__name__)


class ElectedWorker:
    """A job run by the holder of its election. Subclasses name the JOB (the election
    and `tessera admin jobs`), the UNIT their passes count, the INTERVAL setting between
    passes, and make one pass in :meth:`pass_once`."""

    JOB: str
    UNIT: str
    INTERVAL: str

    def __init__(self, gateway: Gateway) -> None:
        self.gateway = gateway
        self.election = Election(gateway.connect, self.JOB, gateway.gateway_id)
        self.removed = 0  # what this gateway's passes removed, in UNIT
        self.passes = 0

    async def pass_once(self) -> int:
        """One pass; what it removed."""
        raise NotImplementedError

    async def run(self) -> None:
        """Campaign and make passes forever (a background task of the gateway)."""
        while True:
            try:
                held = await trio.to_thread.run_sync(self.election.campaign)
                if held:
                    self.removed += await self.pass_once()
                    self.passes += 1
            except (StoreUnavailable, OSError) as exc:
                log.warning("%s pass failed: %s", self.JOB, exc)
            except Exception:
                log.exception("%s pass failed", self.JOB)
            await self._pause()

    async def _pause(self) -> None:
        """Sleep for the INTERVAL setting, following changes to it meanwhile."""
        slept = 0.0
        while slept < float(self.gateway.setting(self.INTERVAL)):
            await trio.sleep(0.5)
            slept += 0.5
