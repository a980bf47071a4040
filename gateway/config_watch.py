"""Hot reload of the policy file: on `SIGHUP`, and when the file changes (its mtime, size
and inode are polled every `interval` seconds). A file that does not validate is rejected
with every problem logged, and the running configuration keeps serving; `server:` settings
(address, workers, body limits) are read only at startup."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path

from gateway.settings.loader import ConfigError, load_settings
from gateway.settings.schema import Settings

log = logging.getLogger("gateway.reload")
Stamp = tuple[int, int, int] | None


class ConfigWatcher:
    def __init__(
        self,
        path: str | Path,
        current: Callable[[], Settings],
        apply: Callable[[Settings], Awaitable[None]],
        *,
        env: Mapping[str, str] | None = None,
        interval: float = 1.0,
    ) -> None:
        self._path = Path(path)
        self._current = current
        self._apply = apply
        self._env = env
        self._interval = interval
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._stamp: Stamp = None
        self.reloads = 0
        self.rejected = 0

    async def start(self) -> None:
        self._stamp = _stamp(self._path)
        loop = asyncio.get_running_loop()
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            loop.add_signal_handler(signal.SIGHUP, self._wake.set)
        self._task = asyncio.create_task(self._run())

    async def aclose(self) -> None:
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            asyncio.get_running_loop().remove_signal_handler(signal.SIGHUP)
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _run(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self._interval)
            woken = self._wake.is_set()
            self._wake.clear()
            stamp = _stamp(self._path)
            if woken or stamp != self._stamp:
                self._stamp = stamp
                await self.reload_now()

    async def reload_now(self) -> bool:
        """Read, validate and apply the file; False (and the old config kept) if invalid."""
        try:
            settings = await asyncio.to_thread(load_settings, self._path, self._env)
        except ConfigError as exc:
            self.rejected += 1
            log.error(
                "policy file rejected; the previous configuration keeps serving",
                extra={"path": str(self._path), "problems": exc.problems},
            )
            return False
        if settings.server != self._current().server:
            log.warning("`server:` settings changed: they take effect after a restart")
        try:
            await self._apply(settings)
        except ConfigError as exc:
            self.rejected += 1
            log.error(
                "policy file could not be applied; the previous configuration keeps serving",
                extra={"path": str(self._path), "problems": exc.problems},
            )
            return False
        except Exception:  # a backend that failed to start: the watch must go on
            self.rejected += 1
            log.exception("policy file could not be applied; the previous one keeps serving")
            return False
        self.reloads += 1
        return True


def _stamp(path: Path) -> Stamp:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_mtime_ns, st.st_size, st.st_ino)
