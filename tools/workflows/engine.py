"""WorkflowEngine: validated specs run durably on DBOS Transact (see the package docstring).

DBOS is a process-wide singleton (one `DBOS` instance, one registry of workflow functions), so
a process holds at most one started engine; `aclose()` destroys DBOS with its registry, after
which a new engine may be built (tests do this). The one generic workflow function is
registered by `start()` as a closure over the engine, so no module-level state is ours.
"""

from __future__ import annotations

import asyncio
import os
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from pathlib import Path
from typing import Any, cast

from dbos import DBOS, SetWorkflowID

from tools.workflows.attempts import Work
from tools.workflows.cancel_watch import CancelWatcher
from tools.workflows.contract import application_version, describe_version
from tools.workflows.errors import (
    EngineStateError,
    RunNotFoundError,
    RunStateError,
    UnknownWorkflowError,
)
from tools.workflows.inputs import check_inputs
from tools.workflows.interpreter import EVENTS_STREAM, STATE_EVENT, Interpreter, approval_topic
from tools.workflows.replicas import ReplicaMonitor, check_timing, dbos_pending
from tools.workflows.replicas import executor_id as default_executor_id
from tools.workflows.run_state import PAUSED_OR_DONE, TERMINAL_RUN, as_cancelled, initial_state
from tools.workflows.runners import StepContext, StepRunners
from tools.workflows.spec import WorkflowSpec

WORKFLOW_NAME = "switchyard.workflow_run"
DEFAULT_DB_FILE = "workflows.sqlite"
DECISION_WAIT_SECONDS = 5.0


def database_url(env: Mapping[str, str], env_name: str, data_dir: Path) -> str:
    """`workflows.database_url_env`'s value, or a SQLite file under `data_dir` when unset."""
    url = env.get(env_name, "").strip()
    if url:
        return url
    data_dir.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{(data_dir / DEFAULT_DB_FILE).resolve()}"


class WorkflowEngine:
    def __init__(
        self,
        specs: Mapping[str, WorkflowSpec],
        database_url: str,
        runners: StepRunners,
        *,
        max_parallel_steps: int = 4,
        app_name: str = "switchyard",
        poll_seconds: float = 0.05,
        executor_id: str | None = None,
        heartbeat_seconds: float = 5.0,
        takeover_after_seconds: float = 30.0,
        app_version: str | None = None,
        cancel_poll_seconds: float = 0.2,
    ) -> None:
        self.specs = dict(specs)
        # The durable contract's version (`tools.workflows.contract`): which runs this process
        # may replay. Another value only to act as a gateway of another contract (tests).
        self.app_version = app_version or application_version()
        self._url = database_url
        self._runners = runners
        self._max_parallel = max_parallel_steps
        self._app_name = app_name
        self._poll = poll_seconds
        self._loop: asyncio.AbstractEventLoop | None = None
        self._workflow: Callable[..., Awaitable[dict[str, Any]]] | None = None
        # Interpreters running in this process, by run id: cancel() stops them at once.
        self._live: dict[str, asyncio.Task[Any]] = {}
        # This process's DBOS executor id (`tools.workflows.replicas.executor_id`); replicas
        # sharing a database take over the runs of one whose heartbeat stops.
        self.executor_id = executor_id or default_executor_id(os.environ, database_url)
        check_timing(heartbeat_seconds, takeover_after_seconds)
        self._heartbeat = heartbeat_seconds
        self._takeover_after = takeover_after_seconds
        self.replicas: ReplicaMonitor | None = None
        # A cancel from another process reaches this one's runs within a tick of it.
        self._cancel_poll = cancel_poll_seconds
        self._cancels: CancelWatcher | None = None

    # -- lifecycle -------------------------------------------------------------------------

    async def start(self) -> None:
        """Launch DBOS (it resumes this executor id's interrupted runs of this contract by
        itself), then beat a heartbeat and take over the runs of replicas that stopped beating."""
        if self._workflow is not None:
            return
        self._loop = asyncio.get_running_loop()
        engine = self

        async def workflow_run(
            spec: WorkflowSpec, inputs: dict[str, Any], tenant: str | None
        ) -> dict[str, Any]:
            return await engine._interpret(spec, inputs, tenant)

        self._workflow = DBOS.workflow(name=WORKFLOW_NAME)(workflow_run)
        DBOS(
            config={
                "name": self._app_name,
                "system_database_url": self._url,
                "application_version": self.app_version,
                "executor_id": self.executor_id,
                "notification_listener_polling_interval_sec": self._poll,
                "log_level": "WARNING",
            }
        )
        # Creates or migrates the system database: blocking work, off the event loop.
        await asyncio.to_thread(DBOS.launch)
        # After launch: on Postgres DBOS creates the database the heartbeat table lives in.
        self.replicas = ReplicaMonitor(
            self._url,
            executor_id=self.executor_id,
            app_version=self.app_version,
            heartbeat_seconds=self._heartbeat,
            takeover_after_seconds=self._takeover_after,
            pending=partial(dbos_pending, self._app_name),
        )
        await self.replicas.start()
        self._cancels = CancelWatcher(self._live, every_seconds=self._cancel_poll)
        await self._cancels.start()

    async def aclose(self) -> None:
        """Stop the runs of this process and destroy DBOS. The runs resume at the next start
        under the same executor id, else on a replica once this one's heartbeat is stale."""
        if self._workflow is None:
            return
        if self.replicas is not None:
            # First: a closing process takes nothing over.
            await self.replicas.aclose()
            self.replicas = None
        if self._cancels is not None:
            await self._cancels.aclose()
            self._cancels = None
        for task in list(self._live.values()):
            task.get_loop().call_soon_threadsafe(task.cancel)
        self._workflow = None
        await asyncio.to_thread(DBOS.destroy, destroy_registry=True)
        # DBOS made its own (now shut down) executor the loop's default one, which
        # `asyncio.to_thread` uses: whatever closes after the engine still needs one.
        asyncio.get_running_loop().set_default_executor(
            ThreadPoolExecutor(thread_name_prefix="asyncio")
        )

    # -- runs ------------------------------------------------------------------------------

    async def start_run(
        self, workflow: str, inputs: Mapping[str, Any], *, tenant: str | None = None
    ) -> str:
        spec = self.specs.get(workflow)
        if spec is None:
            raise UnknownWorkflowError(f"unknown workflow {workflow!r}", param="workflow")
        checked = check_inputs(spec, inputs)
        run_id = f"wf-{uuid.uuid4().hex}"
        # The spec travels with the run (checkpointed as its input), so a run resumes with the
        # definition it started with even if the file changed since.
        with SetWorkflowID(run_id):
            await DBOS.start_workflow_async(cast(Any, self._started()), spec, checked, tenant)
        return run_id

    async def get_run(self, run_id: str, *, tenant: str | None = None) -> dict[str, Any]:
        status, spec, inputs, owner = await self._lookup(run_id, tenant)
        events = await DBOS.get_all_events_async(run_id)
        state: dict[str, Any] = events.get(STATE_EVENT) or initial_state(
            spec, run_id, inputs, owner
        )
        if status.status == "CANCELLED":
            return as_cancelled(state)
        if status.status == "SUCCESS" and isinstance(status.output, dict):
            return status.output
        if status.status in ("ERROR", "MAX_RECOVERY_ATTEMPTS_EXCEEDED"):
            return {**state, "status": "failed", "error": f"workflow engine error: {status.error}"}
        if not self._replays_here(status.app_version):
            # Still PENDING, and no process of this version will replay it (DBOS filters by
            # version): say whom it waits for instead of looking merely slow.
            note = (
                f"started under workflow {describe_version(status.app_version)}; this gateway "
                f"runs {describe_version(self.app_version)}: the run goes on when a gateway of "
                "its version resumes it (decisions and cancels sent meanwhile are kept)"
            )
            return {**state, "error": note}
        return state

    async def wait(
        self, run_id: str, timeout_seconds: float, *, tenant: str | None = None
    ) -> dict[str, Any]:
        """The run's state once it ends or pauses for an approval, or as it is at the timeout."""
        deadline = time.monotonic() + timeout_seconds
        pause = self._poll
        while True:
            state = await self.get_run(run_id, tenant=tenant)
            if state["status"] in PAUSED_OR_DONE or time.monotonic() >= deadline:
                return state
            await asyncio.sleep(min(pause, max(0.0, deadline - time.monotonic())))
            pause = min(pause * 2, 0.5)

    async def events(
        self,
        run_id: str,
        *,
        after: int = 0,
        tenant: str | None = None,
        heartbeat_seconds: float = 15.0,
    ) -> AsyncIterator[dict[str, Any]]:
        """The run's events from `seq > after`, live, ending with `run_finished`.

        While nothing happens a `{"type": "heartbeat"}` (no seq) is yielded every
        `heartbeat_seconds`, so each wait is bounded and an SSE writer can keep the line warm.
        """
        await self._lookup(run_id, tenant)
        offset, last = 0, after
        while True:
            try:
                async for batch in DBOS.read_stream_async(
                    run_id,
                    EVENTS_STREAM,
                    offset=offset,
                    polling_interval_sec=self._poll,
                    timeout_seconds=heartbeat_seconds,
                ):
                    offset += 1
                    for event in batch:
                        if event["seq"] > last:
                            last = event["seq"]
                            yield event
                        if event["type"] == "run_finished":
                            return
            except Exception as exc:  # DBOSStreamTimeoutError: nothing new for a while
                if type(exc).__name__ != "DBOSStreamTimeoutError":
                    raise
                state = await self.get_run(run_id, tenant=tenant)
                if state["status"] not in TERMINAL_RUN:
                    yield {"type": "heartbeat", "time": time.time()}
                    continue
            # The stream ended without run_finished: the run was cancelled (or crashed).
            state = await self.get_run(run_id, tenant=tenant)
            yield {
                "seq": last + 1,
                "type": "run_finished",
                "time": time.time(),
                "status": state["status"],
                "error": state["error"],
                "result": None,
            }
            return

    async def approve(
        self, run_id: str, step: str, comment: str | None = None, *, tenant: str | None = None
    ) -> None:
        await self._decide(run_id, step, "approve", comment, tenant)

    async def reject(
        self, run_id: str, step: str, comment: str | None = None, *, tenant: str | None = None
    ) -> None:
        await self._decide(run_id, step, "reject", comment, tenant)

    async def cancel(self, run_id: str, *, tenant: str | None = None) -> dict[str, Any]:
        """Cancel durably (every process sees it) and stop this process's interpreter now."""
        state = await self.get_run(run_id, tenant=tenant)
        if state["status"] in TERMINAL_RUN:
            raise RunStateError(f"run {run_id} already {state['status']}", param="run_id")
        await DBOS.cancel_workflow_async(run_id)
        task = self._live.get(run_id)
        if task is not None:
            task.get_loop().call_soon_threadsafe(task.cancel)
        return await self.get_run(run_id, tenant=tenant)

    # -- internals -------------------------------------------------------------------------

    def _started(self) -> Callable[..., Awaitable[dict[str, Any]]]:
        if self._workflow is None:
            raise EngineStateError("the workflow engine is not started")
        return self._workflow

    async def _interpret(
        self, spec: WorkflowSpec, inputs: dict[str, Any], tenant: str | None
    ) -> dict[str, Any]:
        run_id = DBOS.workflow_id
        assert run_id is not None
        current = asyncio.current_task()
        assert current is not None
        self._live[run_id] = current

        async def call(work: Work, attempt: int) -> Any:
            ctx = StepContext(
                run_id, spec.name, work.step_name, attempt, tenant, work.index, interpreter.deadline
            )
            return await self._on_engine_loop(self._dispatch(work, ctx))

        interpreter = Interpreter(
            spec, run_id, inputs, tenant=tenant, call=call, max_parallel=self._max_parallel
        )
        try:
            return await interpreter.run()
        finally:
            self._live.pop(run_id, None)

    async def _dispatch(self, work: Work, ctx: StepContext) -> Any:
        payload = work.payload
        kind = work.step.kind
        if kind == "model":
            return await self._runners.model(work.step.body["model"], str(payload["prompt"]), ctx)
        if kind == "tool":
            return await self._runners.tool(work.step.body["tool"], payload["args"], ctx)
        timeout = work.step.timeout_seconds or max(0.001, (ctx.deadline or 0) - time.time())
        return await self._runners.http(
            str(payload["method"]),
            str(payload["url"]),
            payload["body"],
            {str(k): str(v) for k, v in dict(payload["headers"]).items()},
            timeout,
        )

    async def _on_engine_loop(self, work: Awaitable[Any]) -> Any:
        # DBOS runs recovered async workflows on its own background loop; the runners belong
        # to the engine's loop (their HTTP sessions, locks), so calls are sent there.
        assert self._loop is not None
        if asyncio.get_running_loop() is self._loop:
            return await work
        future = asyncio.run_coroutine_threadsafe(_as_coroutine(work), self._loop)
        return await asyncio.wrap_future(future)

    async def _lookup(
        self, run_id: str, tenant: str | None
    ) -> tuple[Any, WorkflowSpec, dict[str, Any], str | None]:
        status = await DBOS.get_workflow_status_async(run_id)
        if status is None or status.name != WORKFLOW_NAME or not status.input:
            raise RunNotFoundError(f"no workflow run {run_id!r}", param="run_id")
        spec, inputs, owner = status.input["args"]
        # Another tenant's run is reported as missing: ids do not leak across tenants.
        if tenant is not None and owner != tenant:
            raise RunNotFoundError(f"no workflow run {run_id!r}", param="run_id")
        return status, spec, inputs, owner

    def _replays_here(self, app_version: str | None) -> bool:
        return app_version in (None, self.app_version)

    async def _decide(
        self, run_id: str, step: str, decision: str, comment: str | None, tenant: str | None
    ) -> None:
        state = await self.get_run(run_id, tenant=tenant)
        record = state["steps"].get(step)
        if record is None or record["kind"] != "approval":
            raise RunStateError(f"run {run_id} has no approval step {step!r}", param="step")
        if state["status"] in TERMINAL_RUN or record["state"] not in (
            "pending",
            "waiting_for_approval",
        ):
            raise RunStateError(
                f"step {step!r} is {record['state']} (run {state['status']})", param="step"
            )
        message = {"decision": decision, "comment": comment}
        await DBOS.send_async(run_id, message, approval_topic(step))
        status = await DBOS.get_workflow_status_async(run_id)
        if status is not None and not self._replays_here(status.app_version):
            return  # kept, and taken in when a gateway of the run's version resumes it
        # Return once the run has taken the decision in (bounded: the run may be between
        # processes), so a get_run or wait right after sees it.
        deadline = time.monotonic() + DECISION_WAIT_SECONDS
        while time.monotonic() < deadline:
            state = await self.get_run(run_id, tenant=tenant)
            if state["steps"][step]["state"] not in ("pending", "waiting_for_approval"):
                return
            await asyncio.sleep(self._poll)


async def _as_coroutine(work: Awaitable[Any]) -> Any:
    return await work
