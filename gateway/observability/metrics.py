"""Prometheus metrics in a registry owned by the container (no global registry state).

Labels carry only names the gateway owns (route templates, catalog route ids, key ids,
configured stage and tool names), each capped (`LabelCap`); never a model name, user field
or key a client sent. With several workers the registry's values live in shared files
(`gateway.observability.multiprocess`) and any worker's scrape reports the sums."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any, Protocol

from prometheus_client import Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from prometheus_client.registry import Collector

from gateway.context import RequestContext
from gateway.observability.label_cap import LabelCap
from gateway.observability.multiprocess import LiveRegistry, LiveSnapshot, multiprocess_dir
from gateway.observability.queue_metrics import QueueCollector, QueueDepth

_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120)
_OVERHEAD_BUCKETS = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1)
_TTFT_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 4, 8, 15, 30, 60)
# Cost is settled in nano-USD (`gateway.quota`); the metric is in USD.
_NANO = 1e-9
# The key label of requests without a key (auth off).
_NO_KEY = "none"


class GatewayMetrics:
    content_type = CONTENT_TYPE_LATEST

    def __init__(self) -> None:
        self.registry = LiveRegistry()
        # Set by `gateway serve --workers N`: values in shared files, merged at scrape.
        self._snapshot = LiveSnapshot(lambda: self.registry.live) if multiprocess_dir() else None
        self._model_label = LabelCap()
        self._key_label = LabelCap()
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
            "Tokens reported by backends, by model route, key id and kind (prompt, completion).",
            ("model", "key", "kind"),
            registry=self.registry,
        )
        self.cost = Counter(
            "gateway_cost_usd",
            "Cost at the policy file's prices (USD), by model route and key id.",
            ("model", "key"),
            registry=self.registry,
        )
        self.ttft = Histogram(
            "gateway_time_to_first_token_seconds",
            "Streams: time from the request to the first event sent, by model route.",
            ("model",),
            buckets=_TTFT_BUCKETS,
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
        self._children: dict[tuple[str, str, int], tuple[Any, Any, Any, Any]] = {}
        self._usage_children: dict[tuple[str, str], tuple[Any, Any, Any]] = {}

    def observe(self, route: str, status: int, seconds: float, ctx: RequestContext | None) -> None:
        # `route` is a route template or `other` (the access log bounds it).
        model = self._model_label(ctx.route_id) if ctx else ""
        key = (route, model, status)
        children = self._children.get(key)
        if children is None:
            # `labels()` takes a lock and builds tuples: resolve each label set once.
            labels = (route, model, str(status))
            children = (
                self.requests.labels(*labels),
                self.latency.labels(*labels),
                self.overhead.labels(route),
                self.ttft.labels(model),
            )
            self._children[key] = children
        requests, latency, overhead, ttft = children
        requests.inc()
        latency.observe(seconds)
        if ctx is not None:
            overhead.observe(max(0.0, seconds - ctx.backend_seconds))
            if ctx.first_frame_seconds is not None:
                ttft.observe(ctx.first_frame_seconds)
            if ctx.usage is not None or ctx.cost_nano:
                self._usage(model, ctx)

    def _usage(self, model: str, ctx: RequestContext) -> None:
        key_id = self._key_label(ctx.principal or _NO_KEY)
        children = self._usage_children.get((model, key_id))
        if children is None:
            children = self._usage_children[(model, key_id)] = (
                self.tokens.labels(model, key_id, "prompt"),
                self.tokens.labels(model, key_id, "completion"),
                self.cost.labels(model, key_id),
            )
        prompt, completion, cost = children
        if ctx.usage is not None:
            prompt.inc(ctx.usage.prompt_tokens)
            completion.inc(ctx.usage.completion_tokens)
        if ctx.cost_nano:
            cost.inc(ctx.cost_nano * _NANO)

    def watch_queues(self, queues: Callable[[], Iterable[QueueDepth]]) -> None:
        """`gateway_queue_waiting`, `gateway_queue_in_flight` and `gateway_queue_limit`
        `{kind, name}`: route concurrency limits and local model queues, read at scrape."""
        self.registry.register(QueueCollector(queues))

    def start(self) -> None:
        """In multiprocess mode, start copying this worker's scrape-time values."""
        if self._snapshot is not None:
            self._snapshot.start()

    async def aclose(self) -> None:
        if self._snapshot is not None:
            await self._snapshot.aclose()

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

    def watch_local_prompts(self, counts: Callable[[], Mapping[str, tuple[int, int]]]) -> None:
        """`gateway_local_prefix_hit_tokens_total{model}` (prompt tokens found in a local
        model's KV cache) and `gateway_local_prefill_tokens_total{model}` (prompt tokens it
        decoded), read from the batch engines at scrape."""
        self.registry.register(_LocalPromptCollector(counts))

    def render(self) -> bytes:
        if self._snapshot is not None:
            return self._snapshot.render()
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


class _LocalPromptCollector(Collector):
    def __init__(self, counts: Callable[[], Mapping[str, tuple[int, int]]]) -> None:
        self._counts = counts

    def collect(self) -> Iterable[Metric]:
        hits = CounterMetricFamily(
            "gateway_local_prefix_hit_tokens",
            "Prompt tokens a local model found in its KV cache (not decoded again), by model.",
            labels=["model"],
        )
        prefill = CounterMetricFamily(
            "gateway_local_prefill_tokens",
            "Prompt tokens a local model decoded, by model.",
            labels=["model"],
        )
        for model, (hit, read) in sorted(self._counts().items()):
            hits.add_metric([model], float(hit))
            prefill.add_metric([model], float(read))
        yield hits
        yield prefill


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
