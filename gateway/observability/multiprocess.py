"""Metrics across uvicorn workers (`gateway serve --workers N`), through prometheus-client's
multiprocess mode.

`gateway serve` points `PROMETHEUS_MULTIPROC_DIR` at a fresh directory before the workers
start (and removes it at exit). prometheus-client reads the variable when it is imported:
in each worker, every counter and histogram then lives in a small memory-mapped file of
that process, and a scrape of any worker merges the files of all of them, so the counters
it reports are sums over the workers whichever one answers.

Scrape-time collectors (breaker states, queue depth, shared-state health, cache size) read
live objects of their own process, which another worker cannot see. `LiveSnapshot` copies
them into the shared files: gauges with a `multiprocess_mode` that says how workers'
values merge (an open breaker anywhere is open: `livemax`; queue depths add up:
`livesum`), counters by their increase. Every worker refreshes its copy every few seconds
off the request path, and the answering worker right before the scrape.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import Callable, Iterable
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, generate_latest
from prometheus_client.core import Metric
from prometheus_client.metrics import MetricWrapperBase
from prometheus_client.multiprocess import MultiProcessCollector, mark_process_dead

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
# How often each worker copies its scrape-time values: a few seconds' staleness in the
# other workers' share of a gauge, against a few microseconds of work per copy.
SNAPSHOT_SECONDS = 2.0
# How workers' values of a scrape-time gauge merge; anything unnamed adds up.
_MODES = {
    "gateway_breaker_state": "livemax",
    "gateway_state_degraded": "livemax",
    "gateway_state_redis_up": "livemin",
    "gateway_queue_limit": "livemax",
}


def multiprocess_dir() -> str | None:
    return os.environ.get(MULTIPROC_ENV) or None


class LiveRegistry(CollectorRegistry):
    """A registry that also remembers its scrape-time collectors (anything that is not a
    prometheus-client metric), so multiprocess mode can copy them."""

    def __init__(self) -> None:
        super().__init__(auto_describe=True)
        self.live: list[Any] = []

    def register(self, collector: Any) -> None:
        super().register(collector)
        if not isinstance(collector, MetricWrapperBase):
            self.live.append(collector)


class LiveSnapshot:
    def __init__(self, live: Callable[[], Iterable[Any]]) -> None:
        self._live = live
        self._gauges: dict[str, Gauge] = {}
        self._counters: dict[str, Counter] = {}
        # Label sets written last time, per gauge (one that disappears is set to 0), and
        # each counter's last value (the next copy adds the increase).
        self._written: dict[str, set[tuple[str, ...]]] = {}
        self._counted: dict[tuple[str, tuple[str, ...]], float] = {}
        self._task: asyncio.Task[None] | None = None

    def copy(self) -> None:
        for collector in self._live():
            for family in collector.collect():
                if family.type == "gauge":
                    self._copy_gauge(family)
                elif family.type == "counter":
                    self._copy_counter(family)

    def render(self) -> bytes:
        self.copy()
        registry = CollectorRegistry()
        MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        return generate_latest(registry)

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="metrics-snapshot")

    async def aclose(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        self.mark_dead()

    def mark_dead(self) -> None:
        """This worker's `live*` gauges leave the merge; its counters stay in the sums."""
        directory = multiprocess_dir()
        if directory is not None and os.path.isdir(directory):
            mark_process_dead(os.getpid(), directory)  # type: ignore[no-untyped-call]

    async def _run(self) -> None:
        while True:
            self.copy()
            await asyncio.sleep(SNAPSHOT_SECONDS)

    def _copy_gauge(self, family: Metric) -> None:
        if not family.samples and family.name not in self._gauges:
            return
        seen: set[tuple[str, ...]] = set()
        for sample in family.samples:
            gauge = self._gauges.get(family.name)
            if gauge is None:
                gauge = self._gauges[family.name] = Gauge(
                    family.name,
                    family.documentation,
                    tuple(sample.labels),
                    registry=None,
                    multiprocess_mode=_MODES.get(family.name, "livesum"),  # type: ignore[arg-type]
                )
            values = tuple(sample.labels.values())
            seen.add(values)
            (gauge.labels(*values) if values else gauge).set(sample.value)
        gauge = self._gauges.get(family.name)
        if gauge is not None:
            for gone in self._written.get(family.name, set()) - seen:
                (gauge.labels(*gone) if gone else gauge).set(0)
        self._written[family.name] = seen

    def _copy_counter(self, family: Metric) -> None:
        for sample in family.samples:
            if not sample.name.endswith("_total"):
                continue  # `_created`
            counter = self._counters.get(family.name)
            if counter is None:
                counter = self._counters[family.name] = Counter(
                    family.name, family.documentation, tuple(sample.labels), registry=None
                )
            values = tuple(sample.labels.values())
            last = self._counted.get((family.name, values), 0.0)
            # A value below the last one is a reset (its object was rebuilt): count it anew.
            increase = sample.value - last if sample.value >= last else sample.value
            if increase > 0:
                (counter.labels(*values) if values else counter).inc(increase)
            self._counted[(family.name, values)] = sample.value
