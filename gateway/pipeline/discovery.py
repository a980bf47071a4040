"""Models discovered from backends that list them (`discover_models: true`, local models).

Listed at startup and, when a client names an unknown model, again in the background at
most once per `min_interval` seconds, so a model loaded into Ollama or vLLM (or a new GGUF
file) appears without a restart. A client that named an unknown model waits for that
refresh at most `miss_wait` seconds: a typo gets its 404 at once, never after a slow
upstream's listing timeout. The catalog reads these models (`DiscoveredModels`); only this
object changes them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Mapping

from gateway.backends.base import ModelDescriber, ModelLister
from gateway.errors import GatewayError
from routers.catalog import CatalogEntry

log = logging.getLogger("gateway.discovery")


class ModelDiscovery:
    def __init__(
        self,
        listers: Mapping[str, ModelLister],
        *,
        min_interval: float = 5.0,
        miss_wait: float = 0.5,
    ) -> None:
        self._listers = dict(listers)
        self._min_interval = min_interval
        self._miss_wait = miss_wait
        self._last = float("-inf")
        self._models: dict[str, dict[str, CatalogEntry]] = {}
        self._running: asyncio.Task[bool] | None = None

    @property
    def enabled(self) -> bool:
        return bool(self._listers)

    def by_backend(self) -> Mapping[str, Mapping[str, CatalogEntry]]:
        return self._models

    async def refresh(self) -> bool:
        """Re-list every backend now (or join the refresh under way); True if anything
        changed."""
        return await asyncio.shield(self._start())

    async def after_miss(self) -> bool:
        if not self._listers:
            return False
        running = self._running is not None and not self._running.done()
        if not running and time.monotonic() - self._last < self._min_interval:
            return False
        refresh = self._start()
        # Measured from the refresh's start: during a slow listing, later misses wait less.
        wait = self._last + self._miss_wait - time.monotonic()
        if wait <= 0:
            return False
        try:
            return await asyncio.wait_for(asyncio.shield(refresh), wait)
        except TimeoutError:
            return False  # it goes on in the background; the next request sees its result

    def _start(self) -> asyncio.Task[bool]:
        if self._running is None or self._running.done():
            self._last = time.monotonic()
            self._running = asyncio.create_task(self._refresh())
        return self._running

    async def _refresh(self) -> bool:
        changed = False
        for name, lister in self._listers.items():
            try:
                models = await lister.list_models()
                meta = (
                    await lister.describe_models(models)
                    if isinstance(lister, ModelDescriber)
                    else {}
                )
            except GatewayError as exc:
                log.warning("model discovery failed for %s: %s", name, exc.message)
                continue
            except Exception:  # a listing must never fail the request that asked for it
                log.exception("model discovery failed for %s", name)
                continue
            listed = {
                m: CatalogEntry(
                    id=m, backend=name, upstream_model=m, owned_by=name, meta=meta.get(m)
                )
                for m in models
            }
            if listed != self._models.get(name):
                changed = True
                # Replaced wholesale, never mutated: readers may hold the old mapping.
                self._models = {**self._models, name: listed}
        return changed

    async def aclose(self) -> None:
        if self._running is not None and not self._running.done():
            self._running.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._running
