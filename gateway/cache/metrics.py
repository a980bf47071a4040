"""The response cache's metrics, on the container's registry: lookups by result, coalesced
waiters, the similarity of semantic hits, and the entries and bytes held in memory."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily, Metric

RESULTS = ("hit", "semantic-hit", "miss", "bypass")
_SIMILARITY_BUCKETS = (0.8, 0.85, 0.88, 0.9, 0.92, 0.94, 0.96, 0.98, 0.99, 1.0)


class CacheMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.lookups = Counter(
            "gateway_cache_lookups",
            "Completion requests by cache result (hit, semantic-hit, miss, bypass), by route.",
            ("route", "result"),
            registry=registry,
        )
        self.coalesced = Counter(
            "gateway_cache_coalesced",
            "Requests that waited for an identical request's upstream call, by route.",
            ("route",),
            registry=registry,
        )
        self.similarity = Histogram(
            "gateway_cache_semantic_similarity",
            "Cosine similarity of semantic cache hits.",
            buckets=_SIMILARITY_BUCKETS,
            registry=registry,
        )
        self.errors = Counter(
            "gateway_cache_errors",
            "Cache store calls that failed (the request bypassed the cache), by operation.",
            ("operation",),
            registry=registry,
        )
        self._registry = registry
        self._size: _SizeCollector | None = None
        # `labels()` takes a lock and builds tuples: each label set is resolved once.
        self._lookup_children: dict[tuple[str, str], Any] = {}

    def lookup(self, route: str, result: str) -> None:
        child = self._lookup_children.get((route, result))
        if child is None:
            child = self._lookup_children[(route, result)] = self.lookups.labels(route, result)
        child.inc()

    def watch_size(self, size: Callable[[], tuple[int, int] | None]) -> None:
        if self._size is None:
            self._size = _SizeCollector()
            self._registry.register(self._size)
        self._size.size = size


class _SizeCollector:
    def __init__(self) -> None:
        self.size: Callable[[], tuple[int, int] | None] = lambda: None

    def collect(self) -> Iterable[Metric]:
        size = self.size()
        if size is None:
            return
        entries = GaugeMetricFamily(
            "gateway_cache_entries", "Answers held in this process's cache."
        )
        entries.add_metric([], size[0])
        held = GaugeMetricFamily("gateway_cache_bytes", "Bytes of answers held in this process.")
        held.add_metric([], size[1])
        yield entries
        yield held
