"""Which client-visible model ids exist and where each goes: the one place model ids are
resolved (the router and `/v1/models` both ask here).

Exact ids from the policy file, prefix routes (`openai/*`), and models discovered from
upstreams that list them. Discovered models are not written into the catalog: it reads them
from a `DiscoveredModels` source, which owns them and refreshes them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Any, Protocol

from routers.base import DeclaredCapabilities


@dataclass(frozen=True, slots=True)
class CatalogTarget:
    backend: str
    upstream_model: str
    weight: float = 1.0
    declared: DeclaredCapabilities | None = None


@dataclass(frozen=True, slots=True)
class CatalogEntry:
    id: str
    # The first target (the only one of a one-target route): what `/v1/models` describes.
    backend: str
    upstream_model: str
    fallbacks: tuple[str, ...] = ()
    owned_by: str = "gateway"
    context_overflow: str = "error"
    meta: Mapping[str, Any] | None = None
    # Every target of a multi-target route, and how the first is chosen (`balance`).
    targets: tuple[CatalogTarget, ...] = ()
    balance: str = "ordered"
    # `intent` / `complexity`: a route that picks another model id per request.
    route_by: str | None = None

    @property
    def is_prefix(self) -> bool:
        return self.id.endswith("/*")

    def all_targets(self) -> tuple[CatalogTarget, ...]:
        return self.targets or (CatalogTarget(self.backend, self.upstream_model),)


@dataclass(frozen=True, slots=True)
class Resolved:
    entry: CatalogEntry
    upstream_model: str


class DiscoveredModels(Protocol):
    """Models that backends list, by backend name, each replaced wholesale on refresh."""

    def by_backend(self) -> Mapping[str, Mapping[str, CatalogEntry]]: ...

    async def after_miss(self) -> bool:
        """A client named an unknown model: refresh if stale (rate-limited, waiting only
        briefly); True if the models may have changed."""
        ...


class _NoDiscovery:
    def by_backend(self) -> Mapping[str, Mapping[str, CatalogEntry]]:
        return {}

    async def after_miss(self) -> bool:
        return False


class ModelCatalog:
    def __init__(
        self, entries: Iterable[CatalogEntry] = (), discovered: DiscoveredModels | None = None
    ) -> None:
        self._exact: dict[str, CatalogEntry] = {}
        self._prefixes: list[CatalogEntry] = []
        self._discovered = discovered or _NoDiscovery()
        for entry in entries:
            if entry.is_prefix:
                self._prefixes.append(entry)
            else:
                self._exact[entry.id] = entry
        # Longest prefix wins.
        self._prefixes.sort(key=lambda e: len(e.id), reverse=True)

    def meta_for(self, entry: CatalogEntry) -> Mapping[str, Any] | None:
        """The entry's facts, or those of the discovered model it routes to."""
        if entry.meta is not None:
            return entry.meta
        found = self._discovered.by_backend().get(entry.backend, {}).get(entry.upstream_model)
        return found.meta if found is not None else None

    def get(self, model_id: str) -> CatalogEntry | None:
        """An exact id: configured, else discovered."""
        entry = self._exact.get(model_id)
        if entry is not None:
            return entry
        for found in self._discovered.by_backend().values():
            entry = found.get(model_id)
            if entry is not None:
                return entry
        return None

    def resolve(self, model: str) -> Resolved | None:
        entry = self.get(model)
        if entry is not None:
            return Resolved(entry, entry.upstream_model)
        for prefix in self._prefixes:
            stem = prefix.id[:-1]
            if model.startswith(stem) and len(model) > len(stem):
                rest = model[len(stem) :]
                upstream = prefix.upstream_model.replace("*", rest)
                return Resolved(prefix, upstream)
        return None

    async def find(self, model: str) -> Resolved | None:
        """`resolve`, and on a miss one more try after the discovered models had a chance
        to refresh (a model just loaded into Ollama appears without a restart)."""
        resolved = self.resolve(model)
        if resolved is None and await self._discovered.after_miss():
            resolved = self.resolve(model)
        return resolved

    def describe(self, model_id: str) -> CatalogEntry | None:
        """The entry `/v1/models/{id}` shows: an exact one, or a prefix route's entry under
        the asked id (with the upstream name it maps to)."""
        resolved = self.resolve(model_id)
        if resolved is None:
            return None
        entry = resolved.entry
        if not entry.is_prefix:
            return entry
        return replace(entry, id=model_id, upstream_model=resolved.upstream_model, fallbacks=())

    def configured(self) -> list[CatalogEntry]:
        """The policy file's own entries, prefix routes included (not discovered ones)."""
        return [*self._exact.values(), *self._prefixes]

    def entries(self) -> list[CatalogEntry]:
        """Every listable model: exact ids first, then discovered ones (no prefix routes)."""
        seen = dict(self._exact)
        for found in self._discovered.by_backend().values():
            for model_id, entry in found.items():
                seen.setdefault(model_id, entry)
        return list(seen.values())
