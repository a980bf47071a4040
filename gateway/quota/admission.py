"""Rate limits and budgets on the request path: which scopes a request counts in (its key,
its tenant, its route), what it reserves before the model call, and the settlement with the
real usage afterwards.

A request reserves its prompt (estimated from the body's size: about 4 bytes per token,
which over-counts rather than under-counts) plus its output limit (`max_tokens`, else
`defaults.estimated_completion_tokens`) and the cost of both at the route's price; when it
ends, the real usage corrects the reservation and the spend. A request that failed before
any usage was reported gives everything back.
"""

from __future__ import annotations

import itertools
import os
import time
from dataclasses import dataclass

from gateway.context import RequestContext
from gateway.protocol.chat import ChatCompletionRequest
from gateway.protocol.completions import CompletionRequest
from gateway.protocol.embeddings import EmbeddingRequest
from gateway.protocol.raw import RawFields
from gateway.quota.ledger import Ledger
from gateway.quota.model import (
    Ask,
    QuotaStore,
    Refused,
    ScopeLimits,
    Settlement,
    UsageRecord,
    usd_to_nano,
)
from gateway.quota.refusals import refusal_error
from gateway.quota.shared import SharedQuota
from gateway.settings.schema import Budget, Limits, Price, Settings

# A replica that dies holding a parallel slot frees it after this (a longer stream's slot
# frees early: the limit then under-counts, it never blocks forever).
LEASE_SECONDS = 900.0
# The fields whose size estimates the prompt, by request kind.
_PROMPT_FIELDS = ("messages", "prompt", "input", "tools")
_BYTES_PER_TOKEN = 4
_MAX_CACHED_KEYS = 100_000
ANONYMOUS = "anonymous"
DEFAULT_TENANT = "default"

AnyRequest = ChatCompletionRequest | CompletionRequest | EmbeddingRequest


class Admission:
    """The limits of one installed policy file over the quota store (which outlives
    reloads: counts carry over)."""

    def __init__(self, settings: Settings, quota: SharedQuota, ledger: Ledger) -> None:
        self._quota = quota
        self._ledger = ledger
        self._default_output = settings.defaults.estimated_completion_tokens
        self._prices = settings.prices
        self._tenants = {
            name: _scope(f"tenant:{name}", f"tenant `{name}`", t.limits, t.budget)
            for name, t in settings.tenants.items()
        }
        self._routes = {
            m.id: _scope(f"route:{m.id}", f"model `{m.id}`", m.limits, None)
            for m in settings.models
            if m.limits is not None
        }
        # Request ids for the stores: unique across replicas (a random prefix per
        # admission) without a uuid per request. Never the client's x-request-id: it may
        # repeat, and a repeat would overwrite another request's entry.
        self._id_prefix = os.urandom(8).hex()
        self._ids = itertools.count()
        self._day = ("", 0.0)  # the UTC day and when it ends
        self._month = ""
        # A key's scope, built once per key record (a key changed at run time is a new
        # record, so its new limits apply at once).
        self._key_scopes: dict[str, tuple[object, ScopeLimits | None]] = {}
        # Each key's scopes by (key id, tenant, route), with the record they were built for.
        self._scope_sets: dict[
            tuple[str, str | None, str], tuple[object, tuple[ScopeLimits, ...]]
        ] = {}
        # The one `Ask` of every request without limits on a given UTC day.
        self._free: Ask | None = None

    async def admit(
        self, request: AnyRequest, fields: RawFields, ctx: RequestContext, upstream_model: str
    ) -> Ticket:
        scopes = self._scopes(ctx)
        if not scopes:
            # Nothing limits it: no reservation to make, only its usage to record.
            day = self._utc_day(time.time())
            free = self._free
            if free is None or free.day != day:
                free = self._free = Ask("", (), 0, 0, day, day[:7], LEASE_SECONDS)
            return Ticket(self, free, self._quota.usage_store, ctx)
        tokens = _prompt_estimate(fields)
        output = 0
        if not isinstance(request, EmbeddingRequest):
            limit = request.output_token_limit
            output = (limit if limit is not None else self._default_output) * _choices(request)
        price = self._price(upstream_model, ctx)
        now = time.time()
        day = self._utc_day(now)
        ask = Ask(
            request_id=f"{self._id_prefix}{next(self._ids)}",
            scopes=scopes,
            tokens=tokens + output,
            cost=_cost(price, tokens, output),
            day=day,
            month=self._month,
            lease_seconds=LEASE_SECONDS,
        )
        quota = self._quota
        store: QuotaStore
        if quota.shared is None:  # counted here: no await, no coroutine
            decision, store = quota.local.admit_now(ask), quota.local
        else:
            decision, store = await quota.admit(ask)
        ctx.rate_limits = decision
        if isinstance(decision, Refused):
            raise refusal_error(decision, ask.tokens, now)
        return Ticket(self, ask, store, ctx)

    def _utc_day(self, now: float) -> str:
        day, ends = self._day
        if now >= ends:
            day = time.strftime("%Y-%m-%d", time.gmtime(now))
            self._day = (day, (now // 86_400 + 1) * 86_400)
            self._month = day[:7]
        return day

    def _scopes(self, ctx: RequestContext) -> tuple[ScopeLimits, ...]:
        """The scopes a request counts in, built once per (key record, tenant, route)."""
        record = ctx.key
        if record is None:
            return self._unkeyed(ctx)
        memo = self._scope_sets.get((record.id, ctx.tenant, ctx.route_id))
        if memo is not None and memo[0] is record:
            return memo[1]
        scopes = self._build_scopes(ctx)
        if len(self._scope_sets) >= _MAX_CACHED_KEYS:
            self._scope_sets.clear()
        self._scope_sets[(record.id, ctx.tenant, ctx.route_id)] = (record, scopes)
        return scopes

    def _unkeyed(self, ctx: RequestContext) -> tuple[ScopeLimits, ...]:
        route = self._routes.get(ctx.route_id)
        return () if route is None else (route,)

    def _build_scopes(self, ctx: RequestContext) -> tuple[ScopeLimits, ...]:
        scopes: list[ScopeLimits] = []
        record = ctx.key
        if record is not None:
            cached = self._key_scopes.get(record.id)
            if cached is None or cached[0] is not record:
                scope = _scope(
                    f"key:{record.id}", f"key `{record.id}`", record.limits, record.budget
                )
                if len(self._key_scopes) >= _MAX_CACHED_KEYS:
                    self._key_scopes.clear()
                cached = self._key_scopes[record.id] = (record, scope)
            if cached[1] is not None:
                scopes.append(cached[1])
        tenant = self._tenants.get(ctx.tenant) if ctx.tenant is not None else None
        if tenant is not None:
            scopes.append(tenant)
        route = self._routes.get(ctx.route_id)
        if route is not None:
            scopes.append(route)
        return tuple(scopes)

    def _price(self, upstream_model: str | None, ctx: RequestContext) -> Price | None:
        prices = self._prices
        if not prices:
            return None
        for name in (upstream_model, ctx.route_id, ctx.model):
            if name and name in prices:
                return prices[name]
        return None

    def settle(self, ticket: Ticket, failed: bool) -> None:
        """Correct the reservation with the real usage and record it (off the request path
        when the store is Redis)."""
        ctx, ask = ticket.ctx, ticket.ask
        usage = ctx.usage
        if usage is not None:
            prompt, completion = usage.prompt_tokens, usage.completion_tokens
            real_tokens = usage.total_tokens or prompt + completion
            real_cost = _cost(self._price(ctx.upstream_model, ctx), prompt, completion)
            if ctx.cached:
                # Answered without a model call of its own: its tokens are reported (they
                # were the original's) but neither spent nor counted against `tpm`.
                real_tokens = real_cost = 0
        elif failed:
            prompt = completion = real_tokens = real_cost = 0
        else:
            # Served, but the backend reported no usage: the reservation stands.
            prompt = completion = 0
            real_tokens, real_cost = ask.tokens, ask.cost
        ctx.cost_nano = real_cost  # for `gateway_cost_usd_total`
        settlement = None
        if ask.scopes:
            settlement = Settlement(
                ask.request_id,
                ask.scopes,
                real_tokens - ask.tokens,
                real_cost - ask.cost,
                ask.day,
                ask.month,
            )
        record = UsageRecord(
            day=ask.day,
            tenant=ctx.tenant or DEFAULT_TENANT,
            key=ctx.principal or ANONYMOUS,
            # The model asked for (`openai/gpt-4o`, not the `openai/*` route): only served
            # requests get a row, so client-chosen names cannot grow it without bound.
            model=ctx.model or ctx.route_id,
            prompt_tokens=prompt,
            completion_tokens=completion,
            cost=real_cost,
            cached=ctx.cached,
        )
        nothing_used = usage is None and failed
        self._ledger.submit(ticket.store, settlement, None if nothing_used else record)


@dataclass(slots=True)
class Ticket:
    """One admitted request: settled exactly once, when it ends."""

    admission: Admission
    ask: Ask
    store: QuotaStore
    ctx: RequestContext
    _settled: bool = False

    def settle(self, failed: bool = False) -> None:
        if self._settled:
            return
        self._settled = True
        self.admission.settle(self, failed)


def _scope(
    name: str, label: str, limits: Limits | None, budget: Budget | None
) -> ScopeLimits | None:
    if limits is None and budget is None:
        return None
    limits = limits or Limits()
    day = budget.usd_per_day if budget is not None else None
    month = budget.usd_per_month if budget is not None else None
    return ScopeLimits(
        name,
        label,
        rpm=limits.rpm,
        tpm=limits.tpm,
        max_parallel=limits.max_parallel,
        day_budget=None if day is None else usd_to_nano(day),
        month_budget=None if month is None else usd_to_nano(month),
    )


def _prompt_estimate(fields: RawFields) -> int:
    size = 0
    for name in _PROMPT_FIELDS:
        value = fields.get(name)
        if value is not None:
            size += len(value)
    return -(-size // _BYTES_PER_TOKEN)


def _choices(request: ChatCompletionRequest | CompletionRequest) -> int:
    n = request.n
    return n if isinstance(n, int) and n > 0 else 1


def _cost(price: Price | None, prompt: int, completion: int) -> int:
    if price is None:
        return 0
    # Prices are per 1M tokens; nano-USD per token is then price * 1000.
    return round(prompt * price.input * 1000 + completion * price.output * 1000)
