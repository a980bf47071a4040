"""Retries of one target before the commit point; tenacity stays behind this function.

The first attempt runs without tenacity (the common case costs nothing extra); only a
retryable failure hands the remaining attempts to tenacity's backoff.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

from tenacity import (
    AsyncRetrying,
    retry_if_exception,
    stop_after_attempt,
    wait_exponential_jitter,
)

from gateway.errors import GatewayError, GatewayTimeoutError
from gateway.settings.schema import Retries

T = TypeVar("T")


def is_retryable(exc: BaseException) -> bool:
    """Whether the next target (a fallback) may succeed where this one failed."""
    return isinstance(exc, GatewayError) and exc.retryable_upstream


def retry_same_target(exc: BaseException) -> bool:
    """Whether the same target is worth another attempt. Not after a timeout: a stalled
    upstream usually stalls again, and a retry would double the time the client waits."""
    return is_retryable(exc) and not isinstance(exc, GatewayTimeoutError)


async def with_retries(attempt: Callable[[], Awaitable[T]], policy: Retries) -> T:
    try:
        return await attempt()
    except GatewayError as exc:
        if policy.attempts <= 1 or not retry_same_target(exc):
            raise
    await asyncio.sleep(policy.backoff_seconds)
    retrying = AsyncRetrying(
        stop=stop_after_attempt(policy.attempts - 1),
        wait=wait_exponential_jitter(initial=policy.backoff_seconds, max=5.0),
        retry=retry_if_exception(retry_same_target),
        reraise=True,
    )
    async for state in retrying:
        with state:
            return await attempt()
    raise AssertionError("unreachable: tenacity either returns or re-raises")
