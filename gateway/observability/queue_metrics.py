"""Queue depth, read at scrape time (nothing on the request path): the waiters, holders and
queue limit of every route concurrency limit (`max_concurrency`) and every loaded local
model's queue. `kind` is `route` or `local_model`; `name` is a route id from the policy
file or `<backend>/<model>` of a model file it names."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from gateway.backends.base import Backend
from gateway.backends.llama_cpp import LlamaCppBackend
from gateway.resilience.concurrency import RouteLimit


@dataclass(frozen=True, slots=True)
class QueueDepth:
    kind: str
    name: str
    waiting: int
    running: int
    limit: int


class QueueCollector(Collector):
    def __init__(self, queues: Callable[[], Iterable[QueueDepth]]) -> None:
        self._queues = queues

    def collect(self) -> Iterable[Metric]:
        labels = ["kind", "name"]
        waiting = GaugeMetricFamily(
            "gateway_queue_waiting", "Requests waiting for a slot, by queue.", labels=labels
        )
        running = GaugeMetricFamily(
            "gateway_queue_in_flight", "Requests holding a slot, by queue.", labels=labels
        )
        limit = GaugeMetricFamily(
            "gateway_queue_limit",
            "Waiters a queue holds before it refuses with 429, by queue.",
            labels=labels,
        )
        for queue in self._queues():
            key = [queue.kind, queue.name]
            waiting.add_metric(key, queue.waiting)
            running.add_metric(key, queue.running)
            limit.add_metric(key, queue.limit)
        yield waiting
        yield running
        yield limit


def queue_depths(
    route_limits: Mapping[str, RouteLimit], backends: Mapping[str, Backend]
) -> list[QueueDepth]:
    """The queues of the configuration live now (a reload swaps both mappings)."""
    depths = [
        QueueDepth("route", route, limit.gate.waiting, limit.gate.running, limit.gate.queue_size)
        for route, limit in sorted(route_limits.items())
    ]
    for name, backend in sorted(backends.items()):
        if not isinstance(backend, LlamaCppBackend):
            continue
        for model_name, model in sorted(backend.models.loaded().items()):
            gate = model.gate
            depths.append(
                QueueDepth(
                    "local_model",
                    f"{name}/{model_name}",
                    gate.waiting,
                    gate.running,
                    gate.queue_size,
                )
            )
    return depths


def local_prompt_counts(backends: Mapping[str, Backend]) -> dict[str, tuple[int, int]]:
    """(prefix-hit, prefilled) prompt tokens per local model, summed over backends."""
    totals: dict[str, tuple[int, int]] = {}
    for backend in backends.values():
        if isinstance(backend, LlamaCppBackend):
            for model, counts in backend.models.counts.items():
                hit, read = totals.get(model, (0, 0))
                totals[model] = (hit + counts.prefix_hit_tokens, read + counts.prefill_tokens)
    return totals
