"""The policy file's routes: the model's targets (in the order its `balance` picks), then
its fallbacks' targets, each fallback balanced the same way."""

from __future__ import annotations

import random

from gateway.context import RequestContext
from gateway.errors import ModelNotFoundError
from routers.balance import TargetLoad, ordered_targets
from routers.base import RouteDecision, RouteRequest, Target
from routers.catalog import CatalogEntry, ModelCatalog


class StaticRouter:
    def __init__(
        self,
        catalog: ModelCatalog,
        load: TargetLoad | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self._catalog = catalog
        self._load = load or TargetLoad()
        self._rng = rng or random.Random()

    async def route(self, request: RouteRequest, ctx: RequestContext) -> RouteDecision:
        return await self.route_to(request.model)

    async def route_to(self, model: str) -> RouteDecision:
        """The decision for one model id (a classifying router's pick, or the client's)."""
        resolved = await self._catalog.find(model)
        if resolved is None:
            raise ModelNotFoundError(model)
        entry = resolved.entry
        targets = self._targets(entry, resolved.upstream_model)
        for fallback_id in entry.fallbacks:
            fallback = self._catalog.get(fallback_id)
            if fallback is not None:
                targets += self._targets(fallback, fallback.upstream_model)
        reason = "prefix" if entry.is_prefix else "alias"
        return RouteDecision(targets=tuple(targets), reason=reason)

    def _targets(self, entry: CatalogEntry, upstream_model: str) -> list[Target]:
        if not entry.targets:
            return [
                Target(
                    entry.backend,
                    upstream_model,
                    entry.id,
                    entry.context_overflow,
                    key=f"{entry.backend}/{upstream_model}",
                    dynamic=entry.is_prefix,
                )
            ]
        targets = [
            Target(
                t.backend,
                t.upstream_model,
                entry.id,
                entry.context_overflow,
                key=f"{t.backend}/{t.upstream_model}",
                declared=t.declared,
            )
            for t in entry.targets
        ]
        weights = [t.weight for t in entry.targets]
        return ordered_targets(entry.balance, targets, weights, self._load, self._rng)


def target_keys(entry: CatalogEntry) -> list[str]:
    """The keys (breakers, load, metrics) of an entry's targets, known before any request:
    `<backend>/<upstream model>`. None for a prefix route, whose upstream names come from
    clients."""
    if (entry.is_prefix and not entry.targets) or entry.route_by is not None:
        return []
    return [f"{t.backend}/{t.upstream_model}" for t in entry.all_targets()]
