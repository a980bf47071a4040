"""The composition root: the only module that knows the concrete classes.

It builds every shared object once from the settings (HTTP pool, backends, catalog, router,
executor, pipeline, metrics); everything else receives what it needs. Tests build a container
from a settings object with fake backends instead of patching globals.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sys
import time
from collections import OrderedDict
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import BinaryIO

from gateway.backend_factory import build_backends, discovers
from gateway.backends.base import Backend, ModelLister
from gateway.backends.http_pool import HTTPPool
from gateway.backends.llama_cpp import LlamaCppBackend
from gateway.backends.onnx_embedder import OnnxEmbedderBackend
from gateway.cache.coalesce import Coalescer
from gateway.cache.metrics import CacheMetrics
from gateway.cache.response_cache import ResponseCache
from gateway.cache.semantic_factory import build_semantic_layer, embedder_spec, uses_semantic
from gateway.cache.semantic_layer import SemanticLayer
from gateway.cache.store import AnswerStore, build_store
from gateway.keys import KeyTable
from gateway.model_files import ModelFileError
from gateway.observability.inference_log import InferenceLogService
from gateway.observability.metrics import GatewayMetrics
from gateway.observability.queue_metrics import local_prompt_counts, queue_depths
from gateway.observability.tool_metrics import ToolMetrics
from gateway.observability.tracing import Tracing, build_tracing
from gateway.pipeline.discovery import ModelDiscovery
from gateway.pipeline.executor import Executor, PolicyFor
from gateway.pipeline.pipeline import Pipeline
from gateway.pipeline.policy_book import DetectorFactory, PolicyBook
from gateway.pipeline.policy_registry import detector_builders, output_stages
from gateway.quota.admission import Admission
from gateway.quota.ledger import Ledger
from gateway.quota.memory import MemoryQuotaStore
from gateway.quota.redis_store import RedisQuotaStore
from gateway.quota.shared import SharedQuota
from gateway.resilience.breaker import BreakerRegistry, BreakerState
from gateway.resilience.concurrency import RouteLimit
from gateway.resilience.target_policy import TargetPolicy
from gateway.response_store import ResponseStore
from gateway.route_catalog import catalog_entry, route_choosers
from gateway.settings.backend_types import OpenAIBackendSpec
from gateway.settings.loader import ConfigError
from gateway.settings.schema import Settings
from gateway.state_wiring import breaker_sync, state_redis
from gateway.tool_wiring import GatewayToolSet
from middleware.background_writer import BackgroundWriter
from policies.audit import AuditLog
from routers.balance import TargetLoad
from routers.base import Router, Target
from routers.catalog import ModelCatalog
from routers.classifying import ClassifyingRouter
from routers.static import StaticRouter, target_keys

log = logging.getLogger("gateway")
# How long a backend a reload let go keeps serving the requests that were using it.
_RETIRE_AFTER_SECONDS = 120.0
# Client-named targets (behind prefix routes) that keep a breaker at one time.
_MAX_CLIENT_NAMED_TARGETS = 256


class Container:
    def __init__(
        self,
        settings: Settings,
        env: Mapping[str, str] | None = None,
        tracing: Tracing | None = None,
    ) -> None:
        self._env = os.environ if env is None else env
        # Off unless configured; when on, it wraps stages here, at build time only.
        self.tracing = tracing or build_tracing(settings.server.tracing, self._env)
        self.created = int(time.time())
        self.metrics = GatewayMetrics()
        self.pool = HTTPPool()
        # Shared by every config a reload installs: requests in flight and latency per
        # target (the executor reports, balancers read), and the circuit breakers, so the
        # state of an unchanged target survives a reload.
        self.target_load = TargetLoad()
        self.breakers = BreakerRegistry(settings.defaults.breaker)
        self.metrics.watch_breakers(self._named_breaker_states)
        # One client for every piece of shared state (breakers, keys).
        self.redis = state_redis(settings, self._env)
        self.breaker_sync = None if self.redis is None else breaker_sync(self.redis, self.breakers)
        if self.breaker_sync is not None:
            publish = self.breaker_sync.on_transition
            self.breakers.add_listener(
                lambda key, state: None if key in self._client_named else publish(key, state)
            )
            self.metrics.watch_shared_state(self.breaker_sync.health)
        self.target_policies: dict[str, TargetPolicy] = {}
        # Targets named by clients (prefix routes): the most recent few keep a policy.
        self._client_named: OrderedDict[str, TargetPolicy] = OrderedDict()
        self._route_limits: dict[str, RouteLimit] = {}
        self.response_cache: ResponseCache | None = None
        # Counts outlive reloads; the limits of each installed config are read over them.
        self.quota_local = MemoryQuotaStore()
        self.quota_shared = None if self.redis is None else RedisQuotaStore(self.redis)
        self.ledger = Ledger()
        self.quota = self._shared_quota(settings)
        self.metrics.watch_degraded(lambda: self.quota.degraded)
        # Content policies: detectors built once per configuration and kept across
        # reloads, scanned off the event loop in a small pool, events to the audit log.
        self._audit_file = _audit_file(settings.audit.destination)
        self.audit_writer = BackgroundWriter(
            sys.stderr.buffer if self._audit_file is None else self._audit_file,
            name="audit-log",
        )
        stage_metrics = self.tracing.stage_metrics(self.metrics) if self.tracing else self.metrics
        self.audit = AuditLog(self.audit_writer, stage_metrics)
        self.inference_log = InferenceLogService(settings.inference_log, self.metrics.registry)
        # Cached answers and calls in flight outlive reloads; each config reads them.
        self.coalescer = Coalescer()
        self.cache_metrics = CacheMetrics(self.metrics.registry)
        self._answer_store: tuple[object, AnswerStore] | None = None
        self._semantic: SemanticLayer | None = None
        self.tool_set = GatewayToolSet(
            settings, self._env, ToolMetrics(self.metrics.registry), lambda: self.pipeline
        )
        self.detectors = DetectorFactory(detector_builders())
        self.policy_pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="content-policy")
        self._install(
            settings, build_backends(settings, self._env, self.pool), self._policy_book(settings)
        )
        self.metrics.watch_local_prompts(lambda: local_prompt_counts(self.backends))
        self.metrics.watch_queues(lambda: queue_depths(self._route_limits, self.backends))
        self.keys = KeyTable.from_settings(settings, self.redis)
        # Built once: stored responses outlive reloads (their limits are read at startup).
        self.responses = ResponseStore.build(
            settings.state.responses, self.redis, settings.state.timeout_seconds
        )
        self._retired: set[asyncio.Task[None]] = set()
        self._started = False

    def _policy_book(self, settings: Settings) -> PolicyBook:
        """The content policy sets of `settings`; built before anything live changes, since
        a detector this process cannot build (a missing spaCy model) rejects the file."""
        return PolicyBook(settings, self.detectors, self.audit, self.policy_pool, output_stages)

    def _install(
        self, settings: Settings, backends: dict[str, Backend], policies: PolicyBook
    ) -> None:
        """Build the routes of `settings` over `backends` and make them the live ones. No
        await in here: a request sees either the old config or the new one, never a mix, and
        one that started keeps the pipeline it started with."""
        listers: dict[str, ModelLister] = {
            name: backend
            for name, backend in backends.items()
            if isinstance(backend, ModelLister) and discovers(settings, name)
        }
        discovery = ModelDiscovery(listers)
        catalog = ModelCatalog((catalog_entry(m) for m in settings.models), discovered=discovery)
        static_router = StaticRouter(catalog, self.target_load)
        choosers = route_choosers(settings)
        router: Router = ClassifyingRouter(static_router, choosers) if choosers else static_router
        policy_for: PolicyFor = self._target_policy
        if self.tracing is not None:
            router, policy_for = self.tracing.router(router), self.tracing.policy_for(policy_for)
        executor = Executor(backends, policy_for, self.target_load)
        route_limits: dict[str, RouteLimit] = {}
        for m in settings.models:
            if m.max_concurrency is None:
                continue
            old = self._route_limits.get(m.id)
            if old is not None and old.shape == (m.max_concurrency, m.queue_timeout_seconds, None):
                route_limits[m.id] = old  # requests still holding its slots keep counting
            else:
                route_limits[m.id] = RouteLimit(m.id, m.max_concurrency, m.queue_timeout_seconds)
        self._route_limits = route_limits
        self.settings = settings
        self.backends = backends
        self.discovery = discovery
        self.catalog = catalog
        self.router = router
        self.executor = executor
        self.pipeline = Pipeline(
            router,
            executor,
            stages=(),
            response_stages=(),
            route_limits=route_limits,
            admission=Admission(settings, self.quota, self.ledger),
            policies=policies,
            cache=self._response_cache(settings),
            **self.tool_set.pipeline_args(settings),
            inference_log=self.inference_log.stage,
        )
        self.detectors.sweep()  # what the previous file alone used is let go
        # New retries apply to new calls; breakers (by target key) carry over, except those
        # of client-named targets, which are let go (they stay bounded across reloads).
        self.target_policies.clear()
        for key in self._client_named:
            self.breakers.forget(key)
        self._client_named.clear()
        self.breakers.reconfigure(settings.defaults.breaker)
        # Configured targets get their breaker now (so /readyz and /metrics list them).
        for entry in catalog.configured():
            for key in target_keys(entry):
                self._policy_for(key)

    async def reload(self, settings: Settings) -> None:
        """Serve `settings` from now on. Backends whose spec did not change are kept (local
        models stay loaded); new or changed ones start first; the ones let go are closed
        once the requests still using them had time to finish."""
        old_settings, old_backends, old_discovery = self.settings, self.backends, self.discovery
        same_defaults = old_settings.defaults.timeouts == settings.defaults.timeouts
        keep = {
            name: backend
            for name, backend in old_backends.items()
            if old_settings.backends.get(name) == settings.backends.get(name)
            # An upstream's timeouts may come from `defaults`.
            and (same_defaults or not isinstance(settings.backends[name], OpenAIBackendSpec))
        }
        policies = self._policy_book(settings)
        fresh_tools = self.tool_set.prepare(settings)
        fresh = build_backends(settings, self._env, self.pool, keep=keep)
        started: list[Backend] = []
        try:
            for name, backend in fresh.items():
                if name not in keep:
                    await backend.start()
                    started.append(backend)
        except BaseException:
            for backend in started:
                await backend.aclose()  # nothing of the rejected config stays behind
            raise
        if settings.state != old_settings.state:
            self.quota = self._shared_quota(settings)
        await self.tool_set.install(settings, fresh_tools)
        self._install(settings, fresh, policies)
        self.keys.replace_file_keys(settings.keys)
        if self.discovery.enabled:
            await self.discovery.refresh()
        let_go = [b for n, b in old_backends.items() if fresh.get(n) is not b]
        task = asyncio.create_task(self._retire(old_discovery, let_go))
        self._retired.add(task)
        task.add_done_callback(self._retired.discard)
        log.info("configuration reloaded", extra={"models": len(settings.models)})

    async def _retire(self, discovery: ModelDiscovery, backends: list[Backend]) -> None:
        await discovery.aclose()
        if backends:
            await asyncio.sleep(_RETIRE_AFTER_SECONDS)
        for backend in backends:
            await backend.aclose()

    def _response_cache(self, settings: Settings) -> ResponseCache | None:
        if not any(m.cache.mode != "off" or m.coalesce for m in settings.models):
            self.response_cache = None
            return None
        spec = settings.cache
        shape = (spec.backend, spec.max_entries, spec.max_bytes)
        if self._answer_store is None or self._answer_store[0] != shape:
            store = build_store(spec, self.redis, settings.state.timeout_seconds)
            self._answer_store = (shape, store)
            self.cache_metrics.watch_size(store.size)
        if uses_semantic(settings) and self._semantic is None:
            embedder = embedder_spec(settings)
            assert embedder is not None  # the config check requires one
            self._semantic = build_semantic_layer(embedder, settings)
        self.response_cache = ResponseCache(
            settings,
            self._answer_store[1],
            self.coalescer,
            self.cache_metrics,
            semantic=self._semantic if uses_semantic(settings) else None,
        )
        if self.tracing is not None:
            self.tracing.cache(self.response_cache)
        return self.response_cache

    def _shared_quota(self, settings: Settings) -> SharedQuota:
        state = settings.state
        return SharedQuota(
            self.quota_local,
            self.quota_shared,
            mode=state.on_unavailable,
            timeout=state.timeout_seconds,
        )

    def _policy_for(self, key: str) -> TargetPolicy:
        policy = self.target_policies.get(key)
        if policy is None:
            retries = self.settings.defaults.retries
            policy = TargetPolicy(retries, self.breakers.get(key), key)
            self.target_policies[key] = policy
        return policy

    def _target_policy(self, target: Target) -> TargetPolicy:
        configured = self.target_policies.get(target.key)
        if configured is not None:
            return configured  # a client naming a configured target gets its own policy
        if not target.dynamic:
            return self._policy_for(target.key)
        policy = self._client_named.get(target.key)
        if policy is not None:
            self._client_named.move_to_end(target.key)
            return policy
        policy = TargetPolicy(
            self.settings.defaults.retries, self.breakers.get(target.key), target.key
        )
        self._client_named[target.key] = policy
        if len(self._client_named) > _MAX_CLIENT_NAMED_TARGETS:
            old_key, _ = self._client_named.popitem(last=False)
            self.breakers.forget(old_key)
        return policy

    def _named_breaker_states(self) -> dict[str, BreakerState]:
        """Breakers of targets the policy file or a backend's listing named (metric labels
        and /readyz never carry names a client chose)."""
        return {k: v for k, v in self.breakers.states().items() if k not in self._client_named}

    def breaker_states(self) -> dict[str, str]:
        return {key: state.name.lower() for key, state in self._named_breaker_states().items()}

    async def start(self) -> None:
        if self.settings.auth.required:  # without auth no request reads a key: no polling
            await self.keys.start()
        if self.breaker_sync is not None:
            await self.breaker_sync.start()
        await self.ledger.start()
        await self.pool.start()
        for backend in self.backends.values():
            await backend.start()
        if self.discovery.enabled:
            await self.discovery.refresh()
        await self.tool_set.start()
        self.inference_log.start()
        self.metrics.start()
        self._started = True
        log.info(
            "gateway ready",
            extra={"backends": sorted(self.backends), "models": len(self.catalog.entries())},
        )

    def preflight(self) -> None:
        """Check local model files before serving; raises `ConfigError` naming each file."""
        problems: list[str] = []
        for name, backend in self.backends.items():
            if isinstance(backend, LlamaCppBackend | OnnxEmbedderBackend):
                try:
                    backend.preflight()
                except ModelFileError as exc:
                    problems.append(f"$.backends.{name}: {exc}")
        if problems:
            raise ConfigError("the model files", problems)

    def not_ready(self) -> list[str]:
        if not self._started:
            return ["starting up"]
        return [f"backend `{n}` is not ready" for n, b in self.backends.items() if not b.ready()]

    async def aclose(self) -> None:
        for task in list(self._retired):
            task.cancel()
        await self.discovery.aclose()
        if self.breaker_sync is not None:
            await self.breaker_sync.aclose()
        for backend in self.backends.values():
            await backend.aclose()
        await self.tool_set.aclose()
        await self.pool.aclose()
        await self.ledger.aclose()  # usage still pending is written before Redis closes
        if self.response_cache is not None:
            await self.response_cache.drain()  # answers being stored go in before Redis closes
        if self._semantic is not None:
            await self._semantic.aclose()
        self.policy_pool.shutdown(wait=False, cancel_futures=True)
        await self.audit_writer.aclose()
        await self.inference_log.aclose()  # the queued records are written
        if self._audit_file is not None:
            self._audit_file.close()
        await self.keys.aclose()
        if self.redis is not None:
            await self.redis.aclose()
        await self.metrics.aclose()
        if self.tracing is not None:
            await asyncio.to_thread(self.tracing.shutdown)  # exports the last spans


def _audit_file(destination: str) -> BinaryIO | None:
    """The audit log's file, or None for stderr."""
    if destination == "stderr":
        return None
    try:
        return open(destination, "ab")  # closed by `aclose`
    except OSError as exc:
        raise ConfigError(
            "the audit log", [f"$.audit.destination: cannot open `{destination}`: {exc}"]
        ) from None
