"""What finished requests write (token and cost settlements, parallel slots given back, usage
rows), off the request path: a bounded queue that one task drains in batches. A store that
fails keeps its batch for the next try while the queue has room; beyond that, records are
dropped and counted, never allowed to grow memory or block a request."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque

import msgspec

from gateway.quota.memory import MemoryQuotaStore
from gateway.quota.model import QuotaStore, Settlement, UsageRecord

log = logging.getLogger("gateway.quota")


class _Item(msgspec.Struct, frozen=True, gc=False):
    store: QuotaStore
    settlement: Settlement | None
    usage: UsageRecord | None


class Ledger:
    def __init__(
        self, max_pending: int = 50_000, batch: int = 512, write_timeout: float = 2.0
    ) -> None:
        self._pending: deque[_Item] = deque()
        self._max_pending = max_pending
        self._batch = batch
        self._write_timeout = write_timeout
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.dropped = 0
        self._failing = False

    def submit(
        self, store: QuotaStore, settlement: Settlement | None, usage: UsageRecord | None
    ) -> None:
        if isinstance(store, MemoryQuotaStore):
            store.apply_now(settlement, usage)  # nothing to wait for: counted at once
            return
        if len(self._pending) >= self._max_pending:
            self.dropped += 1
            if self.dropped == 1 or self.dropped % 10_000 == 0:
                log.warning("usage ledger full: %d records dropped", self.dropped)
            return
        self._pending.append(_Item(store, settlement, usage))
        self._wake.set()

    async def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="usage-ledger")

    async def flush(self) -> None:
        """Write everything pending now (tests, shutdown)."""
        while self._pending:
            if not await self._write_batch():
                return

    async def aclose(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        try:
            async with asyncio.timeout(self._write_timeout):
                await self.flush()
        except TimeoutError:
            log.warning("usage ledger: %d records not written at shutdown", len(self._pending))

    async def _run(self) -> None:
        backoff = 0.0
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._pending:
                if await self._write_batch():
                    backoff = 0.0
                    continue
                backoff = min(5.0, max(0.25, backoff * 2))
                await asyncio.sleep(backoff)

    async def _write_batch(self) -> bool:
        batch = [self._pending.popleft() for _ in range(min(self._batch, len(self._pending)))]
        by_store: dict[int, list[_Item]] = {}
        for item in batch:
            by_store.setdefault(id(item.store), []).append(item)
        try:
            async with asyncio.timeout(self._write_timeout):
                for items in by_store.values():
                    store = items[0].store
                    settled = [i.settlement for i in items if i.settlement is not None]
                    await store.settle(settled)
                    await store.record([i.usage for i in items if i.usage is not None])
        except Exception as exc:
            # Back in front, in order, while there is room: the next try writes them.
            room = self._max_pending - len(self._pending)
            keep = batch[:room]
            self.dropped += len(batch) - len(keep)
            self._pending.extendleft(reversed(keep))
            if not self._failing:
                self._failing = True
                log.warning(
                    "usage ledger: write failed (%s: %s); retrying", type(exc).__name__, exc
                )
            return False
        if self._failing:
            self._failing = False
            log.warning("usage ledger: writing again")
        return True
