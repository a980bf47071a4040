"""Limits, budgets and usage shared by every replica through one Redis.

Each admission is one `EVALSHA` (check and count, atomic); settlements and usage are
written in batches by the ledger. Every limit key carries the same hash tag, so the keys of
one decision sit in one slot (a Redis Cluster runs the script on one node); usage rows are
plain hashes per tenant and day, kept 400 days.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from redis.asyncio import Redis

from gateway.quota.model import (
    Admitted,
    Ask,
    Decision,
    Refused,
    ScopeLimits,
    Settlement,
    UsageRecord,
    UsageRow,
    Window,
)
from gateway.quota.redis_scripts import ADMIT, SETTLE

_SUFFIXES = ("r", "t", "w", "s", "p")
_USAGE_TTL_SECONDS = 400 * 86_400
_SEP = "\x1f"
_METRICS = ("requests", "prompt_tokens", "completion_tokens", "cost", "cached_requests")


class RedisQuotaStore:
    def __init__(self, client: Redis, prefix: str = "sy:") -> None:
        self._client = client
        self._prefix = prefix
        self._admit = client.register_script(ADMIT)
        self._settle = client.register_script(SETTLE)

    def _keys(self, scopes: Sequence[ScopeLimits], day: str, month: str) -> list[str]:
        keys: list[str] = []
        for scope in scopes:
            base = f"{self._prefix}{{q}}:{scope.name}:"
            keys.extend(base + s for s in _SUFFIXES)
            keys.append(f"{base}d:{day}")
            keys.append(f"{base}m:{month}")
        return keys

    async def admit(self, ask: Ask) -> Decision:
        args: list[Any] = [
            ask.request_id, ask.tokens, ask.cost, round(ask.lease_seconds * 1000),
            len(ask.scopes),
        ]  # fmt: skip
        for s in ask.scopes:
            args.extend(_or_none(v) for v in (s.rpm, s.tpm, s.max_parallel))
            args.extend(_or_none(v) for v in (s.day_budget, s.month_budget))
        reply = await self._admit(keys=self._keys(ask.scopes, ask.day, ask.month), args=args)
        if int(reply[0]) == 1:
            return Admitted(_window(reply[1:4]), _window(reply[4:7]))
        kind = reply[1].decode() if isinstance(reply[1], bytes) else str(reply[1])
        scope = ask.scopes[int(reply[2])]
        window = _window(reply[5:8])
        return Refused(
            kind,  # type: ignore[arg-type]  # the script returns only RefusalKind names
            scope,
            int(reply[3]),
            int(reply[4]) / 1000,
            requests=window if kind == "requests" else None,
            tokens=window if kind == "tokens" else None,
        )

    async def settle(self, items: Sequence[Settlement]) -> None:
        if not items:
            return
        async with self._client.pipeline(transaction=False) as pipe:
            for item in items:
                args: list[Any] = [item.request_id, item.token_delta, item.cost_delta]
                for s in item.scopes:
                    flags = (s.tpm, s.max_parallel, s.day_budget, s.month_budget)
                    args.extend(0 if v is None else 1 for v in flags)
                keys = self._keys(item.scopes, item.day, item.month)
                await self._settle(keys=keys, args=args, client=pipe)
            await pipe.execute()

    async def record(self, items: Sequence[UsageRecord]) -> None:
        if not items:
            return
        totals: dict[str, dict[str, int]] = {}
        for item in items:
            fields = totals.setdefault(self._usage_key(item.tenant, item.day), {})
            row = _SEP.join((item.key, item.model))
            values = (1, item.prompt_tokens, item.completion_tokens, item.cost, int(item.cached))
            for metric, value in zip(_METRICS, values, strict=True):
                name = row + _SEP + metric
                fields[name] = fields.get(name, 0) + value
        async with self._client.pipeline(transaction=False) as pipe:
            for key, fields in totals.items():
                for name, value in fields.items():
                    pipe.hincrby(key, name, value)
                pipe.expire(key, _USAGE_TTL_SECONDS)
            pipe.sadd(self._prefix + "usage-tenants", *{item.tenant for item in items})
            await pipe.execute()

    async def usage(
        self, days: Sequence[str], tenant: str | None, key: str | None
    ) -> list[UsageRow]:
        tenants = [tenant] if tenant is not None else await self._tenants()
        wanted = [(t, d) for t in tenants for d in days]
        async with self._client.pipeline(transaction=False) as pipe:
            for t, d in wanted:
                pipe.hgetall(self._usage_key(t, d))
            replies = await pipe.execute()
        rows: dict[tuple[str, str, str, str], UsageRow] = {}
        for (t, d), fields in zip(wanted, replies, strict=True):
            for name, value in fields.items():
                row_key, model, metric = name.decode().split(_SEP)
                if key is not None and row_key != key:
                    continue
                row = rows.get((d, t, row_key, model))
                if row is None:
                    row = rows[(d, t, row_key, model)] = UsageRow(d, t, row_key, model)
                setattr(row, metric, int(value))
        return [rows[k] for k in sorted(rows)]

    async def _tenants(self) -> list[str]:
        members = await self._client.smembers(self._prefix + "usage-tenants")
        return sorted(m.decode() if isinstance(m, bytes) else str(m) for m in members)

    def _usage_key(self, tenant: str, day: str) -> str:
        return f"{self._prefix}usage:{tenant}:{day}"


def _or_none(value: int | None) -> int:
    return -1 if value is None else value


def _window(values: Sequence[Any]) -> Window | None:
    limit, remaining, reset_ms = (int(v) for v in values)
    if limit < 0:
        return None
    return Window(limit, max(0, remaining), max(0.0, reset_ms / 1000))
