"""The `verify` tool's worker pool in the composition root: one per gateway, shared by the
tool loop and `POST /v1/tools/verify`, kept across reloads unless `tools.verify` changes
its shape (workers, memory cap), and closed with the gateway.

Workers start on first use, or at start-up when a route offers `verify` (its models will
call it, and a cold worker's ~1 s of SymPy and z3 imports should not land on a request).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from gateway.errors import RateLimitError
from gateway.settings.schema import Settings
from gateway.settings.tool_types import VerifySettings
from tools.verify.runner import Verifier

log = logging.getLogger("gateway.tools")
# Checks queued per worker before new ones are refused: a flood waits in no unbounded line.
_QUEUE_PER_WORKER = 8


class VerifierBusy(RateLimitError):
    error_code = "verifier_busy"


class VerifyService:
    def __init__(self, settings: Settings) -> None:
        self._spec = settings.tools.verify
        self._verifier: Verifier | None = None
        self._warm = _offered(settings)
        self._retired: set[asyncio.Task[None]] = set()
        self._warming: asyncio.Task[None] | None = None
        self._waiting = 0  # checks running or queued

    @property
    def endpoint(self) -> bool:
        return self._spec.endpoint

    def _pool(self) -> Verifier:
        if self._verifier is None:
            self._verifier = Verifier(workers=self._spec.workers, memory_mb=self._spec.memory_mb)
        return self._verifier

    async def verify(self, spec: dict[str, Any], timeout: float | None = None) -> dict[str, Any]:  # noqa: ASYNC109 - the check's own limit
        """The verdict of `spec` within `timeout` (default `tools.verify.timeout_seconds`,
        capped at `max_timeout_seconds`). Raises `VerifierBusy` (a 429) when more checks
        wait than the workers could start within a few timeouts."""
        if self._waiting >= self._spec.workers * _QUEUE_PER_WORKER:
            raise VerifierBusy(
                "The verifier is busy (every worker is checking and the queue is full); "
                "retry shortly."
            )
        limit = self._spec.timeout_seconds if timeout is None else timeout
        self._waiting += 1
        try:
            return await self._pool().verify(spec, min(limit, self._spec.max_timeout_seconds))
        finally:
            self._waiting -= 1

    def start(self) -> None:
        """Warm the workers in the background when a route offers the tool."""
        if self._warm and self._warming is None:
            self._warming = asyncio.create_task(self._start_pool(self._pool()))

    async def _start_pool(self, verifier: Verifier) -> None:
        try:
            await verifier.start()
        except Exception:  # the first call tries again and reports its own failure
            log.warning("verify workers did not start", exc_info=True)

    def reconfigure(self, settings: Settings) -> None:
        """Apply a reloaded file: a new pool only when the workers' shape changed."""
        spec = settings.tools.verify
        old = self._verifier
        if old is not None and _shape(spec) != _shape(self._spec):
            self._verifier = None
            # Its calls in flight finish first (each is bounded by its own timeout).
            task = asyncio.create_task(old.drain(self._spec.max_timeout_seconds + 5))
            self._retired.add(task)
            task.add_done_callback(self._retired.discard)
        self._spec = spec
        self._warm = _offered(settings)
        self._warming = None
        self.start()

    async def aclose(self) -> None:
        if self._warming is not None:
            self._warming.cancel()
        for task in list(self._retired):
            await task
        if self._verifier is not None:
            await self._verifier.aclose()
            self._verifier = None


def _shape(spec: VerifySettings) -> tuple[int, int]:
    return spec.workers, spec.memory_mb


def _offered(settings: Settings) -> bool:
    return any("verify" in m.tools for m in settings.models)
