"""The body of the one generic DBOS workflow: it interprets a WorkflowSpec as a DAG.

Scheduling: a step starts as soon as its needs are done (no batches), under
`max_parallel_steps` units running at once (a map item is a unit; approvals waiting for a person
take no slot), and at most `max_steps` units per run.

Determinism is what makes DBOS recovery correct here. DBOS identifies every checkpoint by its
step id, a counter the workflow advances in call order, so the sequence of id-taking calls must
be the same when a run is replayed. This coroutine is the only one that takes ids, and it does
so only at points fixed by checkpointed facts:
  - which units finished is learned through `DBOS.asyncio_wait`, which checkpoints the set of
    finished tasks, so a replay sees the same completions in the same rounds;
  - each unit's attempts run at ids reserved when it is launched (`attempts.reserve_attempts`);
  - an approval's `DBOS.recv_async` takes its ids in the first, synchronous part of its task,
    which runs during the `asyncio.sleep(0)` that follows its creation, before any other id;
  - wall-clock time never decides anything: the deadline is the timeout of `asyncio_wait`
    (an empty checkpointed result means "deadline reached"), and the start time is a step.
The events and the state snapshot are written once per round (`DBOS.write_stream_async`,
`DBOS.set_event_async`): being workflow operations, they are exactly-once across restarts.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from dbos import DBOS

from tools.workflows.attempts import Call, Work, reserve_attempts, run_work
from tools.workflows.run_state import BLOCKING_STEP, final_status, initial_state, run_status
from tools.workflows.spec import StepSpec, WorkflowSpec
from tools.workflows.templates import TemplateError, render, truthy

EVENTS_STREAM = "events"
STATE_EVENT = "state"
CANCEL_WAIT_SECONDS = 10.0


def approval_topic(step: str) -> str:
    return f"approval:{step}"


@dataclass
class _Running:
    step: str
    kind: str  # "unit" or "approval"
    index: int | None = None


@dataclass
class _MapProgress:
    items: list[Any]
    outputs: list[Any]
    launched: int = 0
    done: int = 0


class Interpreter:
    def __init__(
        self,
        spec: WorkflowSpec,
        run_id: str,
        inputs: Mapping[str, Any],
        *,
        tenant: str | None,
        call: Call,
        max_parallel: int,
        now: Callable[[], float] = time.time,
    ) -> None:
        self.spec, self.run_id, self.inputs, self.call = spec, run_id, dict(inputs), call
        self.max_parallel = max(1, max_parallel)
        self.now = now
        self.state = initial_state(spec, run_id, inputs, tenant)
        self.tasks: dict[asyncio.Task[Any], _Running] = {}
        self.maps: dict[str, _MapProgress] = {}
        self.events: list[dict[str, Any]] = []
        self.cancelling: list[asyncio.Task[Any]] = []
        self.seq = 0
        self.units = 0
        self.stopped_by: str | None = None
        self.deadline = 0.0

    async def run(self) -> dict[str, Any]:
        started: float = await DBOS.run_step_async({"name": "run.started"}, time.time)
        self.deadline = started + self.spec.deadline_seconds
        self.state.update(status="running", created=started)
        self._event("run_started", workflow=self.spec.name, inputs=self.inputs)
        try:
            while True:
                approvals = self._schedule()
                if approvals:
                    await asyncio.sleep(0)  # let the new recv tasks take their ids (see above)
                if not self.tasks:
                    break
                self.state["status"] = run_status(self.state)
                await self._flush()
                done, _ = await DBOS.asyncio_wait(
                    list(self.tasks),
                    timeout=max(0.0, self.deadline - time.time()),
                    return_when=asyncio.FIRST_COMPLETED,
                )
                if not done:
                    self.state["error"] = f"deadline of {self.spec.deadline_seconds:g}s exceeded"
                    await self._stop("deadline")
                    continue
                ordered = [t for t in self.tasks if t in done]  # launch order: deterministic
                for task in ordered:
                    running = self.tasks.pop(task, None)
                    if running is not None:  # None: cancelled by an earlier one (a map item)
                        self._complete(running, task.result())
                await self._reap()
                if self.stopped_by is not None:
                    await self._stop(self.stopped_by)
        finally:
            await self._cancel_tasks()
        self._finish()
        await self._flush()
        await DBOS.close_stream_async(EVENTS_STREAM)
        return self.state

    # -- scheduling ------------------------------------------------------------------------

    def _schedule(self) -> bool:
        """Launch what can start now; returns whether an approval wait was created."""
        approvals = False
        progress = True
        while progress and self.stopped_by is None:
            progress = False
            for name in self.spec.order:
                step = self.spec.steps[name]
                record = self.state["steps"][name]
                if record["state"] == "running" and name in self.maps:
                    self._launch_items(name, step)
                    continue
                if record["state"] != "pending":
                    continue
                needs = [self.state["steps"][n]["state"] for n in step.needs]
                if any(s in BLOCKING_STEP for s in needs):
                    self._set(name, "blocked", error="a step it needs did not succeed")
                    progress = True
                elif all(s in ("succeeded", "skipped") for s in needs):
                    started = self._start(name, step)
                    progress = progress or started
                    approvals = approvals or (started and step.kind == "approval")
        return approvals

    def _start(self, name: str, step: StepSpec) -> bool:
        if step.when is not None and not truthy(self._condition(step.when)):
            self._set(name, "skipped")
            return True
        if step.kind == "approval":
            self._launch_approval(name, step)
            return True
        if step.kind == "map":
            return self._start_map(name, step)
        if not self._capacity():
            return False
        payload = self._render(name, step.body, {})
        if payload is not None and self._launch(Work(name, name, step, payload), step):
            self._set(name, "running", started=self.now())
        return True

    def _start_map(self, name: str, step: StepSpec) -> bool:
        items = self._render(name, step.body["map"], {})
        if items is None:
            return True
        if not isinstance(items, list):
            self._fail(name, f"map: expected a list, got {type(items).__name__}")
            return True
        self.maps[name] = _MapProgress(items=items, outputs=[None] * len(items))
        self._set(name, "running", started=self.now())
        self.state["steps"][name]["items"] = {"total": len(items), "done": 0}
        if not items:
            self._succeed_map(name)
        else:
            self._launch_items(name, step)
        return True

    def _launch_items(self, name: str, step: StepSpec) -> None:
        progress = self.maps[name]
        inner = step.item_step
        assert inner is not None
        while progress.launched < len(progress.items) and self._capacity():
            index = progress.launched
            payload = self._render(name, inner.body, {"item": progress.items[index]})
            if payload is None:
                return
            progress.launched += 1
            if not self._launch(Work(f"{name}[{index}]", name, inner, payload, index), inner):
                self._cancel_map_items(name)
                return

    def _launch(self, work: Work, step: StepSpec) -> bool:
        if self.units >= self.spec.max_steps:
            self._fail(work.step_name, f"step budget of {self.spec.max_steps} steps exceeded")
            return False
        self.units += 1
        reservations = reserve_attempts(step)
        task = asyncio.ensure_future(run_work(work, reservations, self.call, self.deadline))
        self.tasks[task] = _Running(work.step_name, "unit", work.index)
        if work.index is None:
            self._event("step_started", step=work.step_name)
        return True

    def _launch_approval(self, name: str, step: StepSpec) -> None:
        wait = max(1.0, self.deadline - time.time() + 1.0)
        task = asyncio.ensure_future(DBOS.recv_async(approval_topic(name), timeout_seconds=wait))
        self.tasks[task] = _Running(name, "approval")
        self._set(name, "waiting_for_approval", started=self.now())
        question = render(step.body["approval"], self._scope({}), lenient=True)
        self._event("approval_requested", step=name, question=question)

    def _capacity(self) -> bool:
        running = sum(1 for r in self.tasks.values() if r.kind == "unit")
        return running < self.max_parallel

    # -- completions -----------------------------------------------------------------------

    def _complete(self, running: _Running, result: Any) -> None:
        name = running.step
        if self.state["steps"][name]["state"] in ("failed", "cancelled"):
            return  # a map already failed by another item: this one's outcome is moot
        if running.kind == "approval":
            self._decide(name, result)
        elif running.index is not None:
            self._complete_item(name, running.index, result)
        elif result["ok"]:
            self._set(
                name,
                "succeeded",
                output=result["output"],
                attempts=result["attempts"],
                started=result["started"],
                finished=result["finished"],
            )
        else:
            self._set(
                name,
                "failed",
                error=result["error"],
                attempts=result["attempts"],
                started=result["started"],
                finished=result["finished"],
            )
            self._on_failure()

    def _complete_item(self, name: str, index: int, result: Mapping[str, Any]) -> None:
        progress = self.maps[name]
        record = self.state["steps"][name]
        record["attempts"] += result["attempts"]
        self._event("item_finished", step=name, index=index, ok=result["ok"])
        if not result["ok"]:
            self._cancel_map_items(name)
            self._fail(name, f"item {index}: {result['error']}")
            return
        progress.outputs[index] = result["output"]
        progress.done += 1
        record["items"]["done"] = progress.done
        if progress.done == len(progress.items):
            self._succeed_map(name)

    def _succeed_map(self, name: str) -> None:
        self._set(name, "succeeded", output=list(self.maps[name].outputs), finished=self.now())

    def _decide(self, name: str, message: Any) -> None:
        decision = message.get("decision") if isinstance(message, dict) else None
        comment = message.get("comment") if isinstance(message, dict) else None
        if decision not in ("approve", "reject"):
            self._fail(name, "approval timed out" if message is None else "malformed decision")
            return
        self._event("approval_decided", step=name, decision=decision, comment=comment)
        output = {"approved": decision == "approve", "comment": comment}
        if decision == "approve":
            self._set(name, "succeeded", output=output, finished=self.now())
            return
        self._set(name, "rejected", output=output, finished=self.now())
        if self.spec.on_failure == "fail_fast":
            self.stopped_by = "rejected"

    def _fail(self, name: str, error: str) -> None:
        self._set(name, "failed", error=error, finished=self.now())
        self._on_failure()

    def _on_failure(self) -> None:
        if self.spec.on_failure == "fail_fast":
            self.stopped_by = self.stopped_by or "failure"

    def _cancel_map_items(self, name: str) -> None:
        for task in [t for t, running in self.tasks.items() if running.step == name]:
            del self.tasks[task]
            task.cancel()
            self.cancelling.append(task)

    async def _reap(self) -> None:
        if self.cancelling:
            # A plain wait: it takes no step id, and cancelled attempts record nothing.
            await asyncio.wait(self.cancelling, timeout=CANCEL_WAIT_SECONDS)
            self.cancelling.clear()

    async def _stop(self, reason: str) -> None:
        """fail_fast or deadline: no new steps, running ones cancelled, the rest cancelled."""
        self.stopped_by = reason
        await self._cancel_tasks()
        for name, record in self.state["steps"].items():
            if record["state"] in ("pending", "running", "waiting_for_approval"):
                self._set(name, "cancelled", finished=self.now())

    async def _cancel_tasks(self) -> None:
        tasks = [*self.tasks, *self.cancelling]
        self.tasks.clear()
        self.cancelling.clear()
        for task in tasks:
            task.cancel()
        if tasks:
            # A plain wait: it takes no step id, and cancelled attempts record nothing.
            await asyncio.wait(tasks, timeout=CANCEL_WAIT_SECONDS)

    def _finish(self) -> None:
        for name, record in self.state["steps"].items():
            if record["state"] == "pending":
                self._set(name, "blocked" if self.stopped_by is None else "cancelled")
        status = final_status(self.state, self.stopped_by)
        self.state.update(status=status, finished=self.now())
        if status == "succeeded":
            self.state["result"] = self._result()
        elif self.state["error"] is None:
            failed = [
                n for n, r in self.state["steps"].items() if r["state"] in ("failed", "rejected")
            ]
            self.state["error"] = "; ".join(
                f"{n}: {self.state['steps'][n]['error'] or self.state['steps'][n]['state']}"
                for n in failed
            )
        self._event(
            "run_finished", status=status, error=self.state["error"], result=self.state["result"]
        )

    def _result(self) -> Any:
        if self.spec.output is None:
            return {
                n: r["output"] for n, r in self.state["steps"].items() if r["state"] == "succeeded"
            }
        # Lenient: a skipped step's output is null, and so is any path into it.
        return render(self.spec.output, self._scope({}), lenient=True)

    # -- helpers ---------------------------------------------------------------------------

    def _scope(self, extra: Mapping[str, Any]) -> dict[str, Any]:
        steps = {
            name: {"output": record["output"]}
            for name, record in self.state["steps"].items()
            if record["state"] in ("succeeded", "skipped")
        }
        return {"inputs": self.inputs, "steps": steps, **extra}

    def _render(self, name: str, value: Any, extra: Mapping[str, Any]) -> Any:
        try:
            return render(value, self._scope(extra))
        except TemplateError as exc:
            self._fail(name, str(exc))
            return None

    def _condition(self, when: Any) -> Any:
        scope = self._scope({})
        if isinstance(when, dict):
            ((op, (left, right)),) = when.items()
            same = render(left, scope, lenient=True) == render(right, scope, lenient=True)
            return same if op == "equals" else not same
        return render(when, scope, lenient=True)

    def _set(self, name: str, state: str, **fields: Any) -> None:
        record = self.state["steps"][name]
        record["state"] = state
        record.update(fields)
        if state not in ("running", "waiting_for_approval"):
            self._event(
                "step_finished",
                step=name,
                state=state,
                output=record["output"],
                error=record["error"],
                attempts=record["attempts"],
            )

    def _event(self, kind: str, **fields: Any) -> None:
        self.seq += 1
        self.events.append({"seq": self.seq, "type": kind, "time": self.now(), **fields})

    async def _flush(self) -> None:
        if self.events:
            batch, self.events = self.events, []
            await DBOS.write_stream_async(EVENTS_STREAM, batch)
        await DBOS.set_event_async(STATE_EVENT, self.state)
