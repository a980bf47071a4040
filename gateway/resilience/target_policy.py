"""How one target is called before the commit point: through its circuit breaker (an open
one refuses without a network call), with its retries (honouring the backend's
`retry-after`) inside the request's deadline. Built per target by the composition root."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

from gateway.context import RequestContext
from gateway.errors import CircuitOpenError, DeadlineExceededError, GatewayError
from gateway.resilience.breaker import TargetBreaker
from gateway.resilience.retry import is_retryable, with_retries
from gateway.settings.schema import Retries

T = TypeVar("T")


class TargetPolicy:
    __slots__ = ("breaker", "retries", "target")

    def __init__(
        self, retries: Retries, breaker: TargetBreaker | None = None, target: str = ""
    ) -> None:
        self.retries = retries
        self.breaker = breaker
        self.target = target

    async def call(self, attempt: Callable[[], Awaitable[T]], ctx: RequestContext) -> T:
        breaker = self.breaker
        if breaker is None:
            return await self._retried(attempt, ctx)
        admission = breaker.admit()
        if admission is None:
            raise CircuitOpenError(
                f"target `{self.target}` is failing; its circuit breaker is open",
                retry_after=breaker.retry_after() or 1.0,
            )
        try:
            result = await self._retried(attempt, ctx)
        except GatewayError as exc:
            if _counts_against_the_target(exc):
                breaker.failed(admission)
            else:
                breaker.release(admission)
            raise
        except BaseException:
            breaker.release(admission)  # cancelled: says nothing about the target
            raise
        breaker.succeeded(admission)
        return result

    async def _retried(self, attempt: Callable[[], Awaitable[T]], ctx: RequestContext) -> T:
        if ctx.deadline is None:
            return await with_retries(attempt, self.retries)

        async def bounded() -> T:
            return await within_deadline(attempt, ctx)

        return await with_retries(bounded, self.retries, ctx.remaining)


def _counts_against_the_target(exc: GatewayError) -> bool:
    """Upstream failures (5xx, 429, timeouts, unreachable) count; the client's own errors
    and our own deadline do not."""
    return is_retryable(exc) and not isinstance(exc, DeadlineExceededError | CircuitOpenError)


async def within_deadline(attempt: Callable[[], Awaitable[T]], ctx: RequestContext) -> T:
    """One attempt, cut off (and its work cancelled) when the request's deadline passes."""
    left = ctx.remaining()
    if left is None:
        return await attempt()
    if left <= 0:
        raise _expired()
    try:
        async with asyncio.timeout(left) as timer:
            return await attempt()
    except TimeoutError:
        if timer.expired():
            raise _expired() from None
        raise


def _expired() -> DeadlineExceededError:
    return DeadlineExceededError(
        "The request's deadline passed before a backend answered; raise the client's "
        "timeout (or `defaults.deadline_seconds`) if the model needs longer."
    )
