"""Which client-visible model ids exist and where each goes.

Exact ids from the policy file, prefix routes (`openai/*`), and models discovered from
upstreams that list them. Discovered names are replaced wholesale on each refresh.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class CatalogEntry:
    id: str
    backend: str
    upstream_model: str
    fallbacks: tuple[str, ...] = ()
    owned_by: str = "gateway"
    context_overflow: str = "error"
    meta: Mapping[str, Any] | None = None

    @property
    def is_prefix(self) -> bool:
        return self.id.endswith("/*")


@dataclass(frozen=True, slots=True)
class Resolved:
    entry: CatalogEntry
    upstream_model: str


class ModelCatalog:
    def __init__(self, entries: Iterable[CatalogEntry] = ()) -> None:
        self._exact: dict[str, CatalogEntry] = {}
        self._prefixes: list[CatalogEntry] = []
        self._discovered: dict[str, dict[str, CatalogEntry]] = {}
        for entry in entries:
            if entry.is_prefix:
                self._prefixes.append(entry)
            else:
                self._exact[entry.id] = entry
        # Longest prefix wins.
        self._prefixes.sort(key=lambda e: len(e.id), reverse=True)

    def set_discovered(
        self,
        backend: str,
        model_ids: Iterable[str],
        meta: Mapping[str, Mapping[str, Any]] | None = None,
    ) -> None:
        meta = meta or {}
        self._discovered[backend] = {
            m: CatalogEntry(
                id=m, backend=backend, upstream_model=m, owned_by=backend, meta=meta.get(m)
            )
            for m in model_ids
        }

    def meta_for(self, entry: CatalogEntry) -> Mapping[str, Any] | None:
        """The entry's facts, or those of the discovered model it routes to."""
        if entry.meta is not None:
            return entry.meta
        found = self._discovered.get(entry.backend, {}).get(entry.upstream_model)
        return found.meta if found is not None else None

    def get(self, model_id: str) -> CatalogEntry | None:
        entry = self._exact.get(model_id)
        if entry is not None:
            return entry
        for found in self._discovered.values():
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

    def entries(self) -> list[CatalogEntry]:
        """Every listable model: exact ids first, then discovered ones (no prefix routes)."""
        seen = dict(self._exact)
        for found in self._discovered.values():
            for model_id, entry in found.items():
                seen.setdefault(model_id, entry)
        return list(seen.values())
