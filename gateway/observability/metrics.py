"""Prometheus metrics in a registry owned by the container (no global registry state)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any, Protocol

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from prometheus_client.registry import Collector

from gateway.context import RequestContext

_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120)
_OVERHEAD_BUCKETS = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1)


class GatewayMetrics:
    content_type = CONTENT_TYPE_LATEST

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter(
            "gateway_requests",
            "Requests answered, by route, model and status.",
            ("route", "model", "status"),
            registry=self.registry,
        )
        self.latency = Histogram(
            "gateway_request_duration_seconds",
            "Time from request to the end of the response, by route, model and status.",
            ("route", "model", "status"),
            buckets=_LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.overhead = Histogram(
            "gateway_overhead_seconds",
            "The gateway's own time per request: total minus time waiting on backends.",
            ("route",),
            buckets=_OVERHEAD_BUCKETS,
            registry=self.registry,
        )
        self.tokens = Counter(
            "gateway_tokens",
            "Tokens reported by backends, by model and kind (prompt, completion).",
            ("model", "kind"),
            registry=self.registry,
        )
        self.policy_verdicts = Counter(
            "gateway_policy_verdicts",
            "Content policy stage runs, by stage and verdict (allow, block, redact, flag, ...).",
            ("stage", "verdict"),
            registry=self.registry,
        )
        self.policy_latency = Histogram(
            "gateway_policy_duration_seconds",
            "Time a content policy stage took, by stage.",
            ("stage",),
            buckets=_OVERHEAD_BUCKETS,
            registry=self.registry,
        )
        self._children: dict[tuple[str, str, int], tuple[Any, Any, Any]] = {}

    def observe(self, route: str, status: int, seconds: float, ctx: RequestContext | None) -> None:
        model = ctx.route_id if ctx else ""
        key = (route, model, status)
        children = self._children.get(key)
        if children is None:
            # `labels()` takes a lock and builds tuples: resolve each label set once.
            labels = (route, model, str(status))
            children = (
                self.requests.labels(*labels),
                self.latency.labels(*labels),
                self.overhead.labels(route),
            )
            self._children[key] = children
        requests, latency, overhead = children
        requests.inc()
        latency.observe(seconds)
        if ctx is not None:
            overhead.observe(max(0.0, seconds - ctx.backend_seconds))
            if ctx.usage is not None:
                self.tokens.labels(model, "prompt").inc(ctx.usage.prompt_tokens)
                self.tokens.labels(model, "completion").inc(ctx.usage.completion_tokens)

    def watch_breakers(self, states: Callable[[], Mapping[str, int]]) -> None:
        """`gateway_breaker_state{target}`: 0 closed, 1 half-open, 2 open, read at scrape."""
        self.registry.register(_BreakerCollector(states))

    def watch_shared_state(self, sync: SharedStateStatus) -> None:
        """`gateway_state_redis_up` (1 connected) and `gateway_state_redis_errors_total`."""
        self.registry.register(_SharedStateCollector(sync))

    def policy_verdict(self, stage: str, verdict: str, seconds: float) -> None:
        self.policy_verdicts.labels(stage, verdict).inc()
        self.policy_latency.labels(stage).observe(seconds)

    def watch_degraded(self, degraded: Callable[[], bool]) -> None:
        """`gateway_state_degraded`: 1 while limits and budgets are counted per replica
        because the shared Redis is down (`state.on_unavailable: fail_open`)."""
        self.registry.register(_DegradedCollector(degraded))

    def render(self) -> bytes:
        return generate_latest(self.registry)


class _BreakerCollector(Collector):
    def __init__(self, states: Callable[[], Mapping[str, int]]) -> None:
        self._states = states

    def collect(self) -> Iterable[Metric]:
        gauge = GaugeMetricFamily(
            "gateway_breaker_state",
            "Circuit breaker state per target: 0 closed, 1 half-open, 2 open.",
            labels=["target"],
        )
        for target, state in sorted(self._states().items()):
            gauge.add_metric([target], int(state))
        yield gauge


class SharedStateStatus(Protocol):
    connected: bool
    errors: int


class _SharedStateCollector(Collector):
    def __init__(self, sync: SharedStateStatus) -> None:
        self._sync = sync

    def collect(self) -> Iterable[Metric]:
        up = GaugeMetricFamily(
            "gateway_state_redis_up", "Whether the shared-state Redis is reachable (1) or not."
        )
        up.add_metric([], 1.0 if self._sync.connected else 0.0)
        yield up
        errors = CounterMetricFamily(
            "gateway_state_redis_errors", "Failed calls to the shared-state Redis."
        )
        errors.add_metric([], float(self._sync.errors))
        yield errors


class _DegradedCollector(Collector):
    def __init__(self, degraded: Callable[[], bool]) -> None:
        self._degraded = degraded

    def collect(self) -> Iterable[Metric]:
        gauge = GaugeMetricFamily(
            "gateway_state_degraded",
            "Whether limits and budgets are counted per replica because shared state is down.",
        )
        gauge.add_metric([], 1.0 if self._degraded() else 0.0)
        yield gauge
