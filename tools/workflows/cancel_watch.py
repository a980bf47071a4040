"""Stops this process's interpreters of runs cancelled by another process, within one tick.

A cancel is a DBOS status change (`cancel_workflow`) and nothing wakes the process running the
run: DBOS notices it when the run next takes a step id (each checks the status) or, for a
step in flight, when its preemptible-step watcher polls, every `_PREEMPTIBLE_POLL_INTERVAL_SEC`
(1.0 s, a constant in dbos/_core.py with no setting), so a step called just after a cancel
from another replica ran on for up to a second, and a run waiting at an approval until its
wait ended. This watcher reads, every `every` seconds and only while this process has runs,
which of them are CANCELLED (one primary-key query) and cancels their interpreter tasks, the
same stop `WorkflowEngine.cancel` makes in the process it is called in.

The read runs on a worker thread of its own, bounded by a timeout; a failed read is logged and
the next tick reads again. Only a task seen live before the read began is cancelled, so a run
resumed since (by whichever process) is never stopped by a stale read.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Collection, Mapping
from typing import Any

from tools.workflows.background import BoundedWorker, Ticker

log = logging.getLogger("tools.workflows.cancel_watch")


def dbos_cancelled(run_ids: list[str]) -> set[str]:
    from dbos import DBOS

    found = DBOS.list_workflows(
        workflow_ids=run_ids, status="CANCELLED", load_input=False, load_output=False
    )
    return {s.workflow_id for s in found}


class CancelWatcher:
    def __init__(
        self,
        live: Mapping[str, asyncio.Task[Any]],
        *,
        every_seconds: float,
        cancelled: Callable[[list[str]], Collection[str]] = dbos_cancelled,
        call_timeout_seconds: float = 5.0,
    ) -> None:
        self._live = live
        self._cancelled = cancelled
        self._worker = BoundedWorker("wf-cancel-watch", call_timeout_seconds)
        self._ticker = Ticker(
            "workflow-cancel-watch",
            every_seconds,
            self.tick,
            log,
            failed="workflows: reading cancelled runs failed",
        )

    async def start(self) -> None:
        self._ticker.start()

    async def aclose(self) -> None:
        await self._ticker.aclose()
        self._worker.close()

    async def tick(self) -> list[str]:
        """The runs stopped: cancelled in the database, their interpreters live here."""
        # A copy: recovered runs register on DBOS's own loop thread while this one reads.
        seen = dict(self._live)
        if not seen:
            return []
        found = await self._worker.call(self._cancelled, list(seen))
        stopped = []
        for run_id in found:
            task = seen.get(run_id)
            if task is not None and self._live.get(run_id) is task and not task.done():
                task.get_loop().call_soon_threadsafe(task.cancel)
                stopped.append(run_id)
        return stopped
