"""The policy file's routes: the model's own target, then its fallbacks in order."""

from __future__ import annotations

from gateway.context import RequestContext
from gateway.errors import ModelNotFoundError
from routers.base import RouteDecision, RouteRequest, Target
from routers.catalog import CatalogEntry, ModelCatalog


class StaticRouter:
    def __init__(self, catalog: ModelCatalog) -> None:
        self._catalog = catalog

    async def route(self, request: RouteRequest, ctx: RequestContext) -> RouteDecision:
        resolved = await self._catalog.find(request.model)
        if resolved is None:
            raise ModelNotFoundError(request.model)
        entry = resolved.entry
        targets = [_target(entry, resolved.upstream_model)]
        for fallback_id in entry.fallbacks:
            fallback = self._catalog.get(fallback_id)
            if fallback is not None:
                targets.append(_target(fallback, fallback.upstream_model))
        reason = "prefix" if entry.is_prefix else "alias"
        return RouteDecision(targets=tuple(targets), reason=reason)


def _target(entry: CatalogEntry, upstream_model: str) -> Target:
    return Target(entry.backend, upstream_model, entry.id, entry.context_overflow)
