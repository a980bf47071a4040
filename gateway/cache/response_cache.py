"""The response cache on the request path: per request, whether its answer may come from
the cache, be stored in it, or be shared with identical requests in flight; the lookups,
the stores (off the request path) and the bypass when the store is unreachable.

Cacheable: chat and legacy completions on a route with `cache.mode` exact or semantic,
deterministic sampling (temperature 0; omitted counts as 1.0) unless `cache_sampled`, no
logprobs (they are not replayed). The answer cached is the upstream's own, before the
response stages, so redaction, pseudonym restoring and identity run on every hit as on a
live answer. Coalescing follows the same sampling rule: two sampled requests expect two
samples.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from dataclasses import dataclass
from typing import Any, Protocol

import msgspec

from gateway.cache.coalesce import Coalescer
from gateway.cache.entry import CachedAnswer, reply_fields, reply_template
from gateway.cache.key import cache_key
from gateway.cache.metrics import CacheMetrics
from gateway.cache.store import AnswerStore, entry_key
from gateway.context import RequestContext
from gateway.protocol.chat import ChatCompletionRequest
from gateway.protocol.completions import CompletionRequest
from gateway.protocol.raw import RawFields
from gateway.resilience.breaker_wire import REDIS_ERRORS
from gateway.resilience.redis_health import RedisHealth
from gateway.settings.cache_types import RouteCache
from gateway.settings.schema import Settings

log = logging.getLogger("gateway.cache")
DEFAULT_TENANT = "default"
_encoder = msgspec.json.Encoder()
_decoder = msgspec.json.Decoder(CachedAnswer)
_BACKOFF_INITIAL, _BACKOFF_MAX = 0.25, 5.0
_FAILED = object()
_MEMO_SIZE = 4096


class SemanticLookup(Protocol):
    """The semantic cache's side (`gateway.cache.semantic_layer`)."""

    async def lookup(self, plan: CachePlan, route: RouteCache) -> tuple[str, float] | None:
        """The exact-cache digest of a paraphrase's answer and its similarity."""
        ...

    async def add(self, plan: CachePlan, route: RouteCache, digest: str, ttl: float) -> None: ...

    async def clear(self, tenant: str | None, route: str | None) -> int: ...


@dataclass(slots=True, kw_only=True)
class CachePlan:
    """One request's use of the cache."""

    request: ChatCompletionRequest | CompletionRequest
    fields: RawFields
    tenant: str
    route: str
    model: str
    digest: str
    lookup: bool
    store: bool
    ttl: float
    coalesce_key: str | None
    # The answer's key in the store.
    entry: str


class ResponseCache:
    def __init__(
        self,
        settings: Settings,
        store: AnswerStore,
        coalescer: Coalescer,
        metrics: CacheMetrics,
        semantic: SemanticLookup | None = None,
    ) -> None:
        self._routes = {
            m.id: (m.cache, m.coalesce)
            for m in settings.models
            if m.cache.mode != "off" or m.coalesce
        }
        self._default_ttl = settings.cache.ttl_seconds
        self._max_entry_bytes = settings.cache.max_entry_bytes
        self._store = store
        self.coalescer = coalescer
        self._metrics = metrics
        self._semantic = semantic
        self._pending: set[asyncio.Task[None]] = set()
        self.health = RedisHealth("response cache", _BACKOFF_INITIAL, _BACKOFF_MAX)
        # Hot entries: the stored bytes, their decoded answer and its reply template, kept
        # while the store hands back the very same bytes (memory does; Redis never does).
        self._decoded: dict[str, tuple[bytes, CachedAnswer, RawFields]] = {}
        # Canonical keys by a digest of the request's raw bytes: a byte-identical repeat
        # skips decoding and re-encoding every field.
        self._digests: dict[bytes, str] = {}
        self._retry_at = 0.0
        self._backoff = 0.0

    def plan(self, request: Any, fields: RawFields, ctx: RequestContext) -> CachePlan | None:
        """None when the request neither uses the cache nor coalesces (then it is a
        `bypass`, or for embeddings no cache at all)."""
        if not isinstance(request, ChatCompletionRequest | CompletionRequest):
            return None
        conf = self._routes.get(ctx.route_id)
        ctx.cache_status = "bypass"
        if conf is None:
            return None
        route, coalesce = conf
        deterministic = _deterministic(request) or route.cache_sampled
        cacheable = route.mode != "off" and deterministic and not _wants_logprobs(request)
        lookup = cacheable and ctx.cache_lookup and not self._unavailable()
        store = cacheable and ctx.cache_store
        share = coalesce and deterministic
        if not (lookup or store or share):
            return None
        tenant = ctx.tenant or DEFAULT_TENANT
        digest = self._digest(tenant, ctx.route_id, ctx.model, fields)
        ttl = route.ttl_seconds or self._default_ttl
        if ctx.cache_ttl is not None:
            ttl = min(ttl, ctx.cache_ttl)
        mode = "s" if request.is_stream else "j"
        return CachePlan(
            request=request,
            fields=fields,
            tenant=tenant,
            route=ctx.route_id,
            model=ctx.model,
            digest=digest,
            lookup=lookup,
            store=store,
            ttl=ttl,
            coalesce_key=f"{digest}:{mode}" if share else None,
            entry=entry_key(tenant, ctx.route_id, digest),
        )

    async def lookup(self, plan: CachePlan, ctx: RequestContext) -> CachedAnswer | None:
        """The cached answer (the context says `hit` or `semantic-hit`), or None (`miss`,
        or `bypass` when the store failed)."""
        if not plan.lookup:
            return None
        answer = await self._get(plan.entry)
        status = "hit"
        route = self._routes[plan.route][0]
        if answer is None and self._semantic is not None and route.mode == "semantic":
            found = await self._semantic_lookup(plan, route)
            if found is not None:
                digest, similarity = found
                answer = await self._get(entry_key(plan.tenant, plan.route, digest))
                if isinstance(answer, CachedAnswer):
                    status = "semantic-hit"
                    self._metrics.similarity.observe(similarity)
        if answer is _FAILED:
            status, answer = "bypass", None  # the store failed just now: served live
        elif answer is None:
            status = "miss"
        else:
            ctx.cached = True
        ctx.cache_status = status
        self._metrics.lookup(plan.route, status)
        return answer if isinstance(answer, CachedAnswer) else None

    def reply(self, answer: CachedAnswer, key: str) -> RawFields:
        """A JSON playback of `answer` (looked up under `key`)."""
        memo = self._decoded.get(key)
        template = memo[2] if memo is not None and memo[1] is answer else None
        return reply_fields(answer, template)

    def _digest(self, tenant: str, route: str, model: str, fields: RawFields) -> str:
        # Every part length-prefixed, so that no two requests' bytes run together alike.
        parts = [tenant.encode(), route.encode(), model.encode()]
        for name, value in fields.items():
            parts.append(name.encode())
            parts.append(value)
        framed = b"".join([len(p).to_bytes(8, "big") + p for p in parts])
        quick = hashlib.blake2b(framed, digest_size=20).digest()
        digest = self._digests.get(quick)
        if digest is None:
            if len(self._digests) >= _MEMO_SIZE:
                self._digests.clear()
            digest = self._digests[quick] = cache_key(tenant, route, model, fields)
        return digest

    def shared(self, plan: CachePlan) -> None:
        self._metrics.coalesced.labels(plan.route).inc()

    def store_later(self, plan: CachePlan, answer: CachedAnswer | None) -> None:
        """Store a complete answer, off the request path."""
        if answer is None or not plan.store or self._unavailable():
            return
        data = _encoder.encode(answer)
        if len(data) > self._max_entry_bytes:
            return
        task = asyncio.create_task(self._put(plan, data))
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    async def clear(self, tenant: str | None, route: str | None) -> int:
        """The answers cleared (their semantic entries go with them)."""
        deleted = await self._store.clear(tenant, route)
        if self._semantic is not None:
            await self._semantic.clear(tenant, route)
        return deleted

    async def drain(self) -> None:
        """Wait for the stores in flight (tests, shutdown)."""
        while self._pending:
            await asyncio.gather(*list(self._pending), return_exceptions=True)

    async def _put(self, plan: CachePlan, data: bytes) -> None:
        try:
            await self._store.set(plan.entry, data, plan.ttl)
        except REDIS_ERRORS as exc:
            self._failed("set", exc)
            return
        self._succeeded()
        route = self._routes[plan.route][0]
        if self._semantic is not None and route.mode == "semantic":
            try:
                await self._semantic.add(plan, route, plan.digest, plan.ttl)
            except Exception as exc:  # the exact entry stands; only the paraphrase misses
                self._metrics.errors.labels("semantic_add").inc()
                log.warning("semantic cache: add failed (%s)", type(exc).__name__)

    async def _get(self, key: str) -> CachedAnswer | object | None:
        """The entry, None, or `_FAILED` when the store could not be read."""
        try:
            data = await self._store.get(key)
        except REDIS_ERRORS as exc:
            self._failed("get", exc)
            return _FAILED
        self._succeeded()
        if data is None:
            return None
        memo = self._decoded.get(key)
        if memo is not None and memo[0] is data:
            return memo[1]
        try:
            answer = _decoder.decode(data)
        except (msgspec.DecodeError, msgspec.ValidationError):
            return None  # written by another version: a miss, overwritten by the next store
        if len(self._decoded) >= _MEMO_SIZE:
            self._decoded.clear()
        self._decoded[key] = (data, answer, reply_template(answer))
        return answer

    async def _semantic_lookup(
        self, plan: CachePlan, route: RouteCache
    ) -> tuple[str, float] | None:
        assert self._semantic is not None
        try:
            return await self._semantic.lookup(plan, route)
        except Exception as exc:
            self._metrics.errors.labels("semantic_lookup").inc()
            log.warning("semantic cache: lookup failed (%s)", type(exc).__name__)
            return None

    def _unavailable(self) -> bool:
        return self._retry_at > 0.0 and time.monotonic() < self._retry_at

    def _failed(self, operation: str, exc: BaseException) -> None:
        self._metrics.errors.labels(operation).inc()
        self.health.failed(operation, exc)
        self._backoff = self.health.backoff(self._backoff)
        self._retry_at = time.monotonic() + self._backoff

    def _succeeded(self) -> None:
        if self._retry_at:
            self._retry_at = 0.0
            self._backoff = 0.0
        self.health.succeeded()


def _deterministic(request: ChatCompletionRequest | CompletionRequest) -> bool:
    temperature = request.temperature
    return isinstance(temperature, int | float) and temperature == 0


def _wants_logprobs(request: ChatCompletionRequest | CompletionRequest) -> bool:
    logprobs = request.logprobs
    if isinstance(request, ChatCompletionRequest):
        return logprobs is True
    return isinstance(logprobs, int) and not isinstance(logprobs, bool)
