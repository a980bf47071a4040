"""Models discovered from upstreams that list them (`discover_models: true`).

Refreshed at startup and, when a client names an unknown model, at most once per
`min_interval` seconds, so a model loaded into Ollama or vLLM appears without a restart.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping

from gateway.backends.base import ModelDescriber, ModelLister
from gateway.errors import GatewayError
from routers.catalog import ModelCatalog

log = logging.getLogger("gateway.discovery")


class ModelDiscovery:
    def __init__(
        self, catalog: ModelCatalog, listers: Mapping[str, ModelLister], min_interval: float = 5.0
    ) -> None:
        self._catalog = catalog
        self._listers = dict(listers)
        self._min_interval = min_interval
        self._last = float("-inf")
        self._lock = asyncio.Lock()

    @property
    def enabled(self) -> bool:
        return bool(self._listers)

    async def refresh(self) -> bool:
        """Re-list every upstream; True if the catalog changed."""
        async with self._lock:
            self._last = time.monotonic()
            before = {e.id for e in self._catalog.entries()}
            for name, lister in self._listers.items():
                try:
                    models = await lister.list_models()
                    meta = (
                        await lister.describe_models(models)
                        if isinstance(lister, ModelDescriber)
                        else None
                    )
                except GatewayError as exc:
                    log.warning("model discovery failed for %s: %s", name, exc.message)
                    continue
                self._catalog.set_discovered(name, models, meta)
            return {e.id for e in self._catalog.entries()} != before

    async def refresh_if_stale(self) -> bool:
        if not self._listers or time.monotonic() - self._last < self._min_interval:
            return False
        return await self.refresh()
