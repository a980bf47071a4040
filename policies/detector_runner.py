"""Where content detectors run, and what a failing one does.

Detectors are synchronous and CPU-bound. Small texts are scanned inline (a thread hop costs
more than the scan); large ones, and every scan that goes through presidio's analyzer, in a
bounded thread pool so the event loop keeps serving. A detector that raises or overruns
`timeout_seconds` follows `on_error`: `fail_closed` refuses the request with a 503,
`fail_open` lets it through unchecked by that stage; both are logged and audited, never a
500.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from concurrent.futures import Executor
from typing import Literal, TypeVar

from gateway.context import RequestContext
from gateway.errors import ServiceUnavailableError
from policies.audit import AuditLog

log = logging.getLogger("gateway.policies")
T = TypeVar("T")
# Below this many characters a scan runs on the event loop.
INLINE_CHARS = 4096


class DetectorFailed(Exception):
    """A detector failed and `on_error` is `fail_open`: the stage lets the request pass."""


class DetectorRunner:
    def __init__(
        self,
        executor: Executor | None,
        audit: AuditLog,
        on_error: Literal["fail_closed", "fail_open"] = "fail_closed",
        timeout: float = 2.0,
    ) -> None:
        self._executor = executor
        self._audit = audit
        self._on_error = on_error
        self._timeout = timeout

    async def run(
        self,
        stage: str,
        work: Callable[[], T],
        ctx: RequestContext,
        size: int,
        offload: bool = False,
    ) -> T:
        """`work()`'s result; raises `DetectorFailed` (fail_open) or a 503 (fail_closed)."""
        try:
            if self._executor is None or (size < INLINE_CHARS and not offload):
                return work()
            loop = asyncio.get_running_loop()
            # `asyncio.timeout`, not `wait_for`: no task of its own per scan.
            async with asyncio.timeout(self._timeout):
                return await loop.run_in_executor(self._executor, work)
        except Exception as exc:
            reason = "timed out" if isinstance(exc, TimeoutError) else type(exc).__name__
            log.warning(
                "content policy `%s` failed (%s); %s",
                stage,
                reason,
                "request refused" if self._on_error == "fail_closed" else "request let through",
                extra={"request_id": ctx.request_id},
            )
            self._audit.event(ctx, stage, "error", detail=f"{reason}; {self._on_error}")
            if self._on_error == "fail_open":
                raise DetectorFailed(stage) from exc
            raise ServiceUnavailableError(
                f"The `{stage}` content check is unavailable right now; retry shortly.",
                code="policy_unavailable",
            ) from None
