"""Stored `/v1/responses` answers: the response object (for `GET /v1/responses/{id}`) and
the conversation up to it as chat messages (for `previous_response_id`), per tenant.

On the cache's stores (this process's bounded memory, or the shared Redis), under
`sy:resp:<tenant hex>:<response id>`: a tenant can read and chain only its own responses.
A store that cannot be reached fails the request that needs a stored response (503); a
response that cannot be stored is logged and answered all the same.
"""

from __future__ import annotations

import logging
from typing import Any

import msgspec
import redis.asyncio as aioredis

from gateway.cache.store import AnswerStore, MemoryAnswerStore, RedisAnswerStore
from gateway.errors import ServiceUnavailableError
from gateway.settings.schema import StoredResponses

log = logging.getLogger("gateway.responses")
_PREFIX = "sy:resp:"
_STORE_ERRORS = (OSError, TimeoutError, aioredis.RedisError)


class StoredResponse(msgspec.Struct, frozen=True):
    response: dict[str, Any]
    # The chat messages of the conversation through this response, without instructions
    # (which `previous_response_id` does not carry over).
    history: list[dict[str, Any]]


_decoder = msgspec.json.Decoder(StoredResponse)
_encoder = msgspec.json.Encoder()


def _key(tenant: str | None, response_id: str) -> str:
    return f"{_PREFIX}{(tenant or '').encode().hex()}:{response_id}"


class ResponseStore:
    def __init__(self, store: AnswerStore, ttl_seconds: float) -> None:
        self._store = store
        self._ttl = ttl_seconds

    @classmethod
    def build(
        cls, spec: StoredResponses, redis: aioredis.Redis | None, timeout: float
    ) -> ResponseStore:
        store: AnswerStore = (
            MemoryAnswerStore(spec.max_entries, spec.max_bytes)
            if redis is None
            else RedisAnswerStore(redis, timeout)
        )
        return cls(store, spec.ttl_seconds)

    async def get(self, tenant: str | None, response_id: str) -> StoredResponse | None:
        try:
            data = await self._store.get(_key(tenant, response_id))
        except _STORE_ERRORS as exc:
            raise _unavailable(exc) from None
        if data is None:
            return None
        try:
            return _decoder.decode(data)
        except (msgspec.DecodeError, msgspec.ValidationError):
            log.warning("stored response %s is unreadable; treated as missing", response_id)
            return None

    async def put(self, tenant: str | None, response_id: str, record: StoredResponse) -> None:
        try:
            await self._store.set(_key(tenant, response_id), _encoder.encode(record), self._ttl)
        except _STORE_ERRORS as exc:
            log.warning("response %s was not stored: %s", response_id, type(exc).__name__)

    async def delete(self, tenant: str | None, response_id: str) -> bool:
        try:
            return await self._store.delete(_key(tenant, response_id))
        except _STORE_ERRORS as exc:
            raise _unavailable(exc) from None


def _unavailable(exc: BaseException) -> ServiceUnavailableError:
    return ServiceUnavailableError(
        f"The response store is unreachable ({type(exc).__name__}); try again shortly.",
        code="state_unavailable",
    )
