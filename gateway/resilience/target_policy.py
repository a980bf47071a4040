"""How one target is called before the commit point: its retries (honouring the backend's
`retry-after`) inside the request's deadline. Built per target by the composition root; the
circuit breaker joins here."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

from gateway.context import RequestContext
from gateway.errors import DeadlineExceededError
from gateway.resilience.retry import with_retries
from gateway.settings.schema import Retries

T = TypeVar("T")


class TargetPolicy:
    __slots__ = ("retries",)

    def __init__(self, retries: Retries) -> None:
        self.retries = retries

    async def call(self, attempt: Callable[[], Awaitable[T]], ctx: RequestContext) -> T:
        if ctx.deadline is None:
            return await with_retries(attempt, self.retries)

        async def bounded() -> T:
            return await within_deadline(attempt, ctx)

        return await with_retries(bounded, self.retries, ctx.remaining)


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
