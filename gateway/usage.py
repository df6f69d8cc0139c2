"""This gateway's usage report (coordinator/usage.py), published in the background.

Requests are counted on the request path in memory only (`Gateway.note_use`); this task
copies the counts every `--usage-interval` seconds and writes them to etcd from a worker
thread, so a slow or absent etcd never delays a request. The last report is written when
the gateway stops.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import trio

from coordinator import usage
from gateway.state import Gateway

log = logging.getLogger(__name__)


class UsagePublisher:
    def __init__(self, gateway: Gateway, interval: float = usage.DEFAULT_INTERVAL) -> None:
        if interval <= 0:
            raise ValueError(f"usage interval must be positive, not {interval}")
        self.gateway = gateway
        self.interval = interval
        self.reporter = usage.Reporter(gateway.gateway_id)

    def report(self) -> dict[str, Any]:
        """The record to publish now (runs in the trio thread, like the counting)."""
        gw = self.gateway
        known = set(gw.credentials.items())  # forget keys deleted since they were used
        return usage.record(
            gw.gateway_id,
            gw.usage.snapshot(known),
            gw.credentials.state(),
            started=gw.started,
            interval=self.interval,
            now=time.time(),
        )

    async def run(self) -> None:
        """Carry on from this gateway's report before a restart, then publish at once (so
        `tessera credential stats` sees the cache state) and every interval."""
        try:
            earlier = await self.gateway.etcd_call(self.reporter.load)
        except Exception as exc:
            log.warning("could not read the previous usage report: %s", exc)
        else:
            if earlier:
                self.gateway.usage.carry_on(earlier)
        while True:
            await self.publish()
            await trio.sleep(self.interval)

    async def publish(self) -> None:
        record = self.report()
        try:
            await self.gateway.etcd_call(self.reporter.publish, record)
        except Exception as exc:  # never take the gateway down for a report
            self.reporter.last_error = str(exc)
            log.warning("usage report not published: %s", exc)

    def publish_final(self) -> None:
        """The last report, when the gateway stops (blocking; trio has ended by then)."""
        try:
            self.reporter.publish(self.gateway.etcd, self.report())
        except Exception as exc:
            log.warning("last usage report not published: %s", exc)
