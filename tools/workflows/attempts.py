"""One unit of work (a step, or one item of a map) run as checkpointed DBOS step attempts.

Each attempt is its own DBOS step, run at a step id the interpreter reserved when it launched
the unit (`DBOS.reserve_step`, one per allowed attempt, in launch order). Reserving up front is
what keeps step ids deterministic while units run concurrently and finish in any order: DBOS
matches a checkpoint to its step by id on recovery, so ids must not depend on timing. Unused
reservations (an attempt that was never needed) leave gaps, which DBOS allows.

An attempt never raises into DBOS: its outcome (output, or the error text) is returned as a
value and checkpointed, so a failed attempt replays as the same failure without pickling
exceptions. Cancellation (run cancelled, fail_fast, deadline) is the one exception that
propagates, and DBOS records nothing for it: that attempt runs again if the run resumes.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from dbos import DBOS, StepReservation

from tools.workflows.spec import StepSpec

MAX_BACKOFF_SECONDS = 30.0


@dataclass(frozen=True)
class Work:
    """What to run: the step (a map's item step for items) with its payload already rendered."""

    key: str  # "draft", or "each[3]" for a map item
    step_name: str
    step: StepSpec
    payload: Mapping[str, Any]
    index: int | None = None


# Runs the work's payload once; the engine binds it to the runners and the run's context.
Call = Callable[[Work, int], Awaitable[Any]]


def reserve_attempts(step: StepSpec) -> list[StepReservation]:
    """Step ids for every attempt the step may make; call from the workflow, not a task."""
    return [DBOS.reserve_step() for _ in range(step.retries + 1)]


async def run_work(
    work: Work,
    reservations: Sequence[StepReservation],
    call: Call,
    deadline: float,
) -> dict[str, Any]:
    """Attempts until one succeeds or the retries are spent; the last attempt's outcome."""
    first_started: float | None = None
    errors: list[str] = []
    for attempt, reservation in enumerate(reservations, start=1):
        timeout = _attempt_timeout(work.step, deadline)
        record: dict[str, Any] = await reservation.run_async(
            # A cancel in this process cancels the task at once, one from another process
            # within a tick of the engine's `CancelWatcher`; preemptible is DBOS's fallback
            # (it polls the status of running steps every second).
            {"name": f"{work.key}#{attempt}", "preemptible": True},
            _attempt,
            call,
            work,
            attempt,
            timeout,
        )
        first_started = first_started if first_started is not None else record["started"]
        if record["ok"]:
            return {**record, "attempts": attempt, "started": first_started, "errors": errors}
        errors.append(record["error"])
        if attempt < len(reservations):
            pause = min(work.step.backoff_seconds * 2 ** (attempt - 1), MAX_BACKOFF_SECONDS)
            # Durable without a step id of its own (a `DBOS.sleep` here would take one from a
            # concurrent task, in an order set by timing): the pause runs from the failed
            # attempt's checkpointed end, so a run resumed mid-backoff waits out only the rest.
            resume_at = min(record["finished"] + pause, deadline)
            await asyncio.sleep(max(0.0, resume_at - time.time()))
    return {**record, "attempts": len(reservations), "started": first_started, "errors": errors}


def _attempt_timeout(step: StepSpec, deadline: float) -> float:
    left = max(0.001, deadline - time.time())
    return left if step.timeout_seconds is None else min(step.timeout_seconds, left)


async def _attempt(call: Call, work: Work, attempt: int, limit_seconds: float) -> dict[str, Any]:
    started = time.time()
    try:
        async with asyncio.timeout(limit_seconds):
            output = await call(work, attempt)
        return {
            "ok": True,
            "output": jsonable(output),
            "error": None,
            "started": started,
            "finished": time.time(),
        }
    except TimeoutError:
        error = f"timed out after {limit_seconds:.3g}s"
    except Exception as exc:
        error = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    return {
        "ok": False,
        "output": None,
        "error": error,
        "started": started,
        "finished": time.time(),
    }


def jsonable(value: Any) -> Any:
    """A JSON-compatible copy (tuples become lists, unknown objects their str())."""
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return json.loads(json.dumps(value, default=str))
