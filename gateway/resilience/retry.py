"""Retries of one target before the commit point; tenacity stays behind this module.

The first attempt runs without tenacity (the common case costs nothing extra); only a
retryable failure hands the remaining attempts to tenacity. A retry waits at least as long
as the backend asked (`retry-after`); when that is longer than `max_retry_after_seconds`,
or would pass the request's deadline, the target is given up at once so the next one (a
fallback) can answer instead.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception,
    stop_after_attempt,
    wait_random_exponential,
)
from tenacity.stop import stop_base

from gateway.errors import GatewayError, GatewayTimeoutError
from gateway.settings.schema import Retries

T = TypeVar("T")
Remaining = Callable[[], float | None]


def is_retryable(exc: BaseException) -> bool:
    """Whether the next target (a fallback) may succeed where this one failed."""
    return isinstance(exc, GatewayError) and exc.retryable_upstream


def retry_same_target(exc: BaseException) -> bool:
    """Whether the same target is worth another attempt. Not after a timeout: a stalled
    upstream usually stalls again, and a retry would double the time the client waits."""
    return (
        is_retryable(exc)
        and isinstance(exc, GatewayError)
        and exc.retry_same_target
        and not isinstance(exc, GatewayTimeoutError)
    )


def asked_wait(exc: BaseException | None) -> float:
    """The wait the backend asked for before trying it again (0 when it did not say)."""
    if isinstance(exc, GatewayError) and exc.retry_after_given and exc.retry_after:
        return exc.retry_after
    return 0.0


class _Wait:
    """Exponential backoff with full jitter, never shorter than the backend's
    `retry-after`."""

    def __init__(self, policy: Retries) -> None:
        # Full jitter: a uniform wait up to the exponential bound, so that clients retrying
        # a shared upstream spread out instead of arriving together.
        self._backoff = wait_random_exponential(multiplier=policy.backoff_seconds, max=5.0)

    def __call__(self, state: RetryCallState) -> float:
        failure = state.outcome.exception() if state.outcome is not None else None
        return max(self._backoff(state), asked_wait(failure))


def _gives_up(policy: Retries, asked: float, wait: float, left: float | None) -> bool:
    """A backend that asks for a longer wait than allowed, or a wait that would pass the
    deadline: better the next target now than this one later."""
    return asked > policy.max_retry_after_seconds or (left is not None and wait >= left)


class _GiveUp(stop_base):
    def __init__(self, policy: Retries, remaining: Remaining) -> None:
        self._policy = policy
        self._remaining = remaining

    def __call__(self, state: RetryCallState) -> bool:
        failure = state.outcome.exception() if state.outcome is not None else None
        return _gives_up(self._policy, asked_wait(failure), state.upcoming_sleep, self._remaining())


async def with_retries(
    attempt: Callable[[], Awaitable[T]], policy: Retries, remaining: Remaining = lambda: None
) -> T:
    try:
        return await attempt()
    except GatewayError as exc:
        if policy.attempts <= 1 or not retry_same_target(exc):
            raise
        asked = asked_wait(exc)
        first_wait = max(policy.backoff_seconds, asked)
        if _gives_up(policy, asked, first_wait, remaining()):
            raise
    await asyncio.sleep(first_wait)
    retrying = AsyncRetrying(
        stop=stop_after_attempt(policy.attempts - 1) | _GiveUp(policy, remaining),
        wait=_Wait(policy),
        retry=retry_if_exception(retry_same_target),
        reraise=True,
    )
    async for state in retrying:
        with state:
            return await attempt()
    raise AssertionError("unreachable: tenacity either returns or re-raises")
