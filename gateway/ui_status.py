"""What the status page shows, read from the live gateway at request time: plain data, so
the template only formats and the tests can check values without parsing HTML.

Read, never written: the catalog and breaker states the container holds, the per-target
latency and in-flight counts the executor keeps (`TargetLoad`), the request and cache
counters of the metrics registry, the local models loaded and their queues, the recent
errors, and the workflow runs waiting on a person. A reload swaps the catalog and backends;
each page reads the ones live at that moment.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from prometheus_client import Counter, Histogram

from gateway.backends.base import Backend
from gateway.backends.llama_cpp import LlamaCppBackend
from gateway.observability.recent_errors import RecentError, RecentErrors
from gateway.workflow_service import WorkflowService
from routers.balance import TargetLoad
from routers.catalog import ModelCatalog
from routers.static import target_keys

# Runs listed as waiting at most (newest first): the page stays small whatever piles up.
MAX_APPROVALS = 50


class _Metrics(Protocol):
    @property
    def latency(self) -> Histogram: ...


class _CacheMetrics(Protocol):
    @property
    def lookups(self) -> Counter: ...


class _ToolSet(Protocol):
    @property
    def workflows(self) -> WorkflowService: ...


class StatusSource(Protocol):
    """The parts of the composition root the page reads (the container satisfies it)."""

    @property
    def catalog(self) -> ModelCatalog: ...
    @property
    def backends(self) -> Mapping[str, Backend]: ...
    @property
    def target_load(self) -> TargetLoad: ...
    @property
    def metrics(self) -> _Metrics: ...
    @property
    def cache_metrics(self) -> _CacheMetrics: ...
    @property
    def tool_set(self) -> _ToolSet: ...
    def breaker_states(self) -> dict[str, str]: ...


@dataclass(frozen=True, slots=True)
class TargetRow:
    key: str
    breaker: str
    latency_ms: float | None
    in_flight: int


@dataclass(frozen=True, slots=True)
class RouteRow:
    id: str
    # `ordered`, `weighted`, ...; or why targets are not listed (prefix, classifying).
    kind: str
    targets: list[TargetRow]
    fallbacks: list[str]
    requests: int
    mean_latency_ms: float | None


@dataclass(frozen=True, slots=True)
class LocalModelRow:
    backend: str
    name: str
    size_mb: float
    context: int
    running: bool
    waiting: int
    leases: int


@dataclass(frozen=True, slots=True)
class CacheRow:
    route: str
    hits: int
    misses: int
    bypassed: int

    @property
    def hit_rate(self) -> float | None:
        looked_up = self.hits + self.misses
        return self.hits / looked_up if looked_up else None


@dataclass(frozen=True, slots=True)
class Approval:
    run_id: str
    workflow: str
    tenant: str | None
    step: str
    question: str


@dataclass(frozen=True, slots=True)
class StatusView:
    routes: list[RouteRow]
    other_targets: list[TargetRow]
    local_models: list[LocalModelRow]
    local_backends: list[str]
    cache: list[CacheRow]
    errors: list[RecentError]
    approvals: list[Approval]
    workflows_enabled: bool
    notes: list[str] = field(default_factory=list)

    @property
    def cache_total(self) -> CacheRow:
        return CacheRow(
            "all",
            sum(r.hits for r in self.cache),
            sum(r.misses for r in self.cache),
            sum(r.bypassed for r in self.cache),
        )


async def status_view(source: StatusSource, errors: RecentErrors) -> StatusView:
    breakers = source.breaker_states()
    load = source.target_load
    requests, latency = _route_latency(source.metrics.latency)
    listed: set[str] = set()
    routes: list[RouteRow] = []
    for entry in source.catalog.configured():
        keys = target_keys(entry)
        listed.update(keys)
        if entry.route_by is not None:
            kind = f"picks a model by {entry.route_by}"
        elif entry.is_prefix:
            kind = "prefix: targets named by clients"
        else:
            kind = entry.balance
        routes.append(
            RouteRow(
                id=entry.id,
                kind=kind,
                targets=[_target(k, breakers, load) for k in keys],
                fallbacks=list(entry.fallbacks),
                requests=requests.get(entry.id, 0),
                mean_latency_ms=latency.get(entry.id),
            )
        )
    # Targets of discovered models (named by an upstream's listing, not by clients).
    others = [_target(k, breakers, load) for k in sorted(breakers) if k not in listed]
    locals_, local_backends = _local_models(source.backends)
    workflows = source.tool_set.workflows
    return StatusView(
        routes=routes,
        other_targets=others,
        local_models=locals_,
        local_backends=local_backends,
        cache=_cache_rows(source.cache_metrics.lookups),
        errors=errors.entries(),
        approvals=await awaiting_approval(workflows),
        workflows_enabled=workflows.engine is not None,
    )


def _target(key: str, breakers: Mapping[str, str], load: TargetLoad) -> TargetRow:
    seconds = load.latency(key)
    return TargetRow(
        key=key,
        breaker=breakers.get(key, "closed"),
        latency_ms=None if seconds is None else round(seconds * 1000, 1),
        in_flight=load.in_flight(key),
    )


def _samples(metric: Counter | Histogram) -> Iterable[Any]:
    for family in metric.collect():
        yield from family.samples


def _route_latency(histogram: Histogram) -> tuple[dict[str, int], dict[str, float]]:
    """Requests and mean latency (ms) per model route since start, all statuses."""
    counts: dict[str, float] = {}
    sums: dict[str, float] = {}
    for sample in _samples(histogram):
        model = sample.labels.get("model", "")
        if sample.name.endswith("_count"):
            counts[model] = counts.get(model, 0.0) + sample.value
        elif sample.name.endswith("_sum"):
            sums[model] = sums.get(model, 0.0) + sample.value
    means = {m: round(sums.get(m, 0.0) / n * 1000, 1) for m, n in counts.items() if n}
    return {m: int(n) for m, n in counts.items()}, means


def _cache_rows(lookups: Counter) -> list[CacheRow]:
    by_route: dict[str, dict[str, float]] = {}
    for sample in _samples(lookups):
        if not sample.name.endswith("_total"):
            continue  # `_created` timestamps
        results = by_route.setdefault(sample.labels["route"], {})
        results[sample.labels["result"]] = sample.value
    return [
        CacheRow(
            route,
            int(r.get("hit", 0) + r.get("semantic-hit", 0)),
            int(r.get("miss", 0)),
            int(r.get("bypass", 0)),
        )
        for route, r in sorted(by_route.items())
    ]


def _local_models(backends: Mapping[str, Backend]) -> tuple[list[LocalModelRow], list[str]]:
    rows: list[LocalModelRow] = []
    names: list[str] = []
    for name, backend in sorted(backends.items()):
        if not isinstance(backend, LlamaCppBackend):
            continue
        names.append(name)
        for model_name, model in sorted(backend.models.loaded().items()):
            rows.append(
                LocalModelRow(
                    backend=name,
                    name=model_name,
                    size_mb=round(model.size_bytes / (1024 * 1024), 1),
                    context=model.n_ctx,
                    running=model.gate.busy,
                    waiting=model.gate.waiting,
                    leases=model.leases,
                )
            )
    return rows, names


async def awaiting_approval(workflows: WorkflowService) -> list[Approval]:
    """Runs with an approval step open, of every tenant (the page is the admin's)."""
    engine = workflows.engine
    if engine is None:
        return []
    from dbos import DBOS  # only with workflows configured (as the engine itself)

    from tools.workflows.engine import WORKFLOW_NAME

    # DBOS keeps a run PENDING while it waits on a person; the state says on what.
    pending = await DBOS.list_workflows_async(
        name=WORKFLOW_NAME,
        status="PENDING",
        limit=MAX_APPROVALS,
        sort_desc=True,
        load_input=False,
        load_output=False,
    )
    found: list[Approval] = []
    for status in pending:
        state = await engine.get_run(status.workflow_id)
        if state.get("status") != "waiting_for_approval":
            continue
        spec = engine.specs.get(state["workflow"])
        for step, record in state["steps"].items():
            if record["state"] != "waiting_for_approval":
                continue
            question = ""
            if spec is not None and step in spec.steps:
                question = str(spec.steps[step].body.get("approval", ""))
            found.append(
                Approval(status.workflow_id, state["workflow"], state["tenant"], step, question)
            )
    return found
