"""The engine's background loops: blocking database calls on a thread of their own, each
awaited with a timeout (`BoundedWorker`), and a tick repeated every few seconds until closed
(`Ticker`: the replica heartbeat and takeover, the cross-process cancel watch)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import Any, TypeVar

T = TypeVar("T")


class BoundedWorker:
    """One thread running blocking calls in turn, each awaited at most `timeout` seconds."""

    def __init__(self, name: str, timeout: float) -> None:
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix=name)
        self._timeout = timeout

    async def call(self, fn: Callable[..., T], *args: Any) -> T:
        future = asyncio.get_running_loop().run_in_executor(self._pool, partial(fn, *args))
        return await asyncio.wait_for(future, self._timeout)

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)


class Ticker:
    """`tick` every `every` seconds in a task of its own. A failed tick is lost, not the
    loop: logged as `failed` (a warning for the first of a run of failures, then debug), and
    `recovered` (if given) is logged once a tick goes through again."""

    def __init__(
        self,
        name: str,
        every: float,
        tick: Callable[[], Awaitable[object]],
        log: logging.Logger,
        *,
        failed: str,
        recovered: str | None = None,
    ) -> None:
        self._name = name
        self._every = every
        self._tick = tick
        self._log = log
        self._failed = failed
        self._recovered = recovered
        self._task: asyncio.Task[None] | None = None
        self._closing = False
        self._failing = False
        self.ticks = 0  # ticks that went through

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._loop(), name=self._name)

    async def aclose(self) -> None:
        self._closing = True
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None

    async def _loop(self) -> None:
        # The flag as well as the cancel: on Python 3.11 `wait_for` can swallow a cancel that
        # lands as its call completes, and the loop would tick on after `aclose`.
        while not self._closing:
            try:
                await self._tick()
                self.ticks += 1
                if self._failing and self._recovered is not None:
                    self._log.info(self._recovered)
                self._failing = False
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # database trouble: this tick is lost, not the engine
                level = logging.DEBUG if self._failing else logging.WARNING
                self._log.log(level, "%s: %r", self._failed, exc)
                self._failing = True
            await asyncio.sleep(self._every)
