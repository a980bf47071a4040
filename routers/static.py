"""The policy file's routes: the model's own target, then its fallbacks in order."""

from __future__ import annotations

from gateway.context import RequestContext
from gateway.errors import ModelNotFoundError
from routers.base import RouteDecision, Target
from routers.catalog import ModelCatalog


class StaticRouter:
    def __init__(self, catalog: ModelCatalog) -> None:
        self._catalog = catalog

    def route(self, model: str, ctx: RequestContext) -> RouteDecision:
        resolved = self._catalog.resolve(model)
        if resolved is None:
            raise ModelNotFoundError(model)
        entry = resolved.entry
        targets = [Target(entry.backend, resolved.upstream_model, entry.id, entry.context_overflow)]
        for fallback_id in entry.fallbacks:
            fallback = self._catalog.get(fallback_id)
            if fallback is not None:
                targets.append(
                    Target(
                        fallback.backend,
                        fallback.upstream_model,
                        fallback.id,
                        fallback.context_overflow,
                    )
                )
        reason = "prefix" if entry.is_prefix else "alias"
        return RouteDecision(targets=tuple(targets), reason=reason)
