"""Replica liveness and takeover: several engines sharing one database (issue 16).

At launch DBOS recovers only the pending runs of its own executor id, so a replica that dies
and never returns under the same id (a Deployment pod replaced under a new name) would strand
its runs. DBOS's answer is Conductor, a hosted service; this is the offline one. Every engine
upserts a heartbeat row (executor id, app version, last seen on the database's clock) in a
small table of ours each tick, and on the same tick looks for executors that are gone: a
heartbeat older than `takeover_after_seconds`, or pending runs of this version with no
heartbeat row at all and nothing updated within that bound (replicas from before this table).
Their runs go to `DBOS._recover_pending_workflows`, which re-enqueues each PENDING row of
exactly those executor ids on DBOS's internal queue; the queue's ENQUEUED->PENDING claim (a
conditional UPDATE, `FOR UPDATE SKIP LOCKED` on Postgres) admits one replica, which stamps
its own executor id on the row, so replicas asking for the same takeover at once (or a
stable-id replica recovering itself at launch meanwhile) re-enqueue and run it once. A
heartbeat row is forgotten once it is stale and nothing of its executor is pending.
Liveness is a timeout, not a lease: a replica alive but silent for the bound (a long pause, a
partition from the database) can see a run it still holds taken over; there is no fencing.

Every database call runs on a single-thread worker of this module's own (never the event
loop, nor DBOS's executor), bounded by a timeout; a failing tick is logged and the next one
retries. A timed-out call may still hold its worker, which only delays that worker's later
calls: the heartbeat and the DBOS calls have one worker each, so a stuck DBOS query never
stops the heartbeat.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import TypeVar

from tools.workflows.background import BoundedWorker, Ticker
from tools.workflows.heartbeats import HeartbeatTable

log = logging.getLogger("tools.workflows.replicas")

# What SQLite users get unless DBOS__VMID says otherwise: a SQLite file is one host's, so a
# restarted gateway is the same replica and DBOS resumes its runs at launch, as before.
SQLITE_EXECUTOR_ID = "local"
T = TypeVar("T")


def executor_id(env: Mapping[str, str], database_url: str) -> str:
    """`DBOS__VMID` (a stable id: a StatefulSet pod's name), else `local` on SQLite, else a
    fresh id per process, so that two replicas never share one and each is taken over alone."""
    stable = env.get("DBOS__VMID", "").strip()
    if stable:
        return stable
    if database_url.startswith("sqlite"):
        return SQLITE_EXECUTOR_ID
    return f"sy-{socket.gethostname()[:40]}-{uuid.uuid4().hex[:12]}"


def check_timing(heartbeat_seconds: float, takeover_after_seconds: float) -> None:
    # One late heartbeat must not count as a death (the settings check says so by key path).
    if heartbeat_seconds <= 0 or takeover_after_seconds <= 2 * heartbeat_seconds:
        raise ValueError(
            f"takeover_after_seconds ({takeover_after_seconds:g}) must exceed twice "
            f"heartbeat_seconds ({heartbeat_seconds:g}), which must be positive"
        )


@dataclass(frozen=True)
class PendingRun:
    run_id: str
    executor_id: str
    app_version: str | None
    updated_at_ms: int | None


@dataclass(frozen=True)
class Takeover:
    recover: tuple[str, ...]  # executor ids whose pending runs of this version go to a live one
    forget: tuple[str, ...]  # stale heartbeat rows with nothing pending


def decide(
    heartbeats: Mapping[str, int],
    pending: Iterable[PendingRun],
    *,
    me: str,
    app_version: str,
    now_ms: int,
    takeover_after_ms: int,
) -> Takeover:
    """Which executors are gone (`heartbeats`: executor id -> last seen, ms on the database
    clock). Only runs of `app_version` are recovered: DBOS replays a run through the code
    that started it, and another version's replicas take their own over."""
    stale = {e for e, seen in heartbeats.items() if now_ms - seen > takeover_after_ms}
    newest: dict[str, int] = {}
    busy: set[str] = set()
    for run in pending:
        busy.add(run.executor_id)
        if run.app_version == app_version:
            seen = max(newest.get(run.executor_id, 0), run.updated_at_ms or 0)
            newest[run.executor_id] = seen
    recover = {
        e
        for e, updated in newest.items()
        if e != me
        and (e in stale or (e not in heartbeats and now_ms - updated > takeover_after_ms))
    }
    forget = {e for e in stale if e not in busy and e != me}
    return Takeover(tuple(sorted(recover)), tuple(sorted(forget)))


def dbos_pending(app_name: str) -> list[PendingRun]:
    from dbos import DBOS

    found = DBOS.list_workflows(
        status="PENDING", application_name=app_name, load_input=False, load_output=False
    )
    return [
        PendingRun(s.workflow_id, s.executor_id, s.app_version, s.updated_at)
        for s in found
        if s.executor_id
    ]


def dbos_recover(executor_ids: list[str]) -> int:
    from dbos import DBOS

    return len(DBOS._recover_pending_workflows(executor_ids=executor_ids))


class ReplicaMonitor:
    def __init__(
        self,
        database_url: str,
        *,
        executor_id: str,
        app_version: str,
        heartbeat_seconds: float,
        takeover_after_seconds: float,
        pending: Callable[[], list[PendingRun]],
        recover: Callable[[list[str]], int] = dbos_recover,
        call_timeout_seconds: float | None = None,
    ) -> None:
        check_timing(heartbeat_seconds, takeover_after_seconds)
        self.executor_id = executor_id
        self._version = app_version
        self._after_ms = int(takeover_after_seconds * 1000)
        self._pending = pending
        self._recover = recover
        # A call slower than a tick is late already; the floor keeps sub-second test ticks
        # from timing out a cold first connection.
        timeout = call_timeout_seconds or max(heartbeat_seconds, 2.0)
        self._table = HeartbeatTable(database_url, timeout)
        self._beats = BoundedWorker("wf-heartbeat", timeout)
        self._dbos = BoundedWorker("wf-takeover", timeout)
        self._ready = False
        self._ticker = Ticker(
            "workflow-replicas",
            heartbeat_seconds,
            self.tick,
            log,
            failed="workflows: replica heartbeat or takeover failed",
            recovered="workflows: replica heartbeat works again",
        )
        self.taken_over: list[str] = []  # executor ids recovered by this replica, in order

    @property
    def ticks(self) -> int:
        """Ticks that went through: whether this replica is seen alive."""
        return self._ticker.ticks

    async def start(self) -> None:
        self._ticker.start()

    async def aclose(self) -> None:
        # No farewell row change: runs this process stopped stay PENDING under its id until
        # its heartbeat goes stale, so no peer can start one while it is still unwinding.
        await self._ticker.aclose()
        self._beats.close()
        self._dbos.close()
        await asyncio.to_thread(self._table.dispose)

    async def tick(self) -> Takeover:
        if not self._ready:
            await self._beats.call(self._table.ensure)
            self._ready = True
        await self._beats.call(self._table.beat, self.executor_id, self._version)
        now, heartbeats = await self._beats.call(self._table.read)
        pending = await self._dbos.call(self._pending)
        decision = decide(
            heartbeats,
            pending,
            me=self.executor_id,
            app_version=self._version,
            now_ms=now,
            takeover_after_ms=self._after_ms,
        )
        if decision.recover:
            count = await self._dbos.call(self._recover, list(decision.recover))
            self.taken_over.extend(decision.recover)
            log.warning(
                "workflows: took over the runs of gone replicas",
                extra={"executors": list(decision.recover), "runs": count},
            )
        if decision.forget:
            await self._beats.call(self._table.forget, decision.forget, self._after_ms)
        return decision
