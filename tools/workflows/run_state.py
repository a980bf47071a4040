"""The shape of a run's state (what `get_run` returns) and of its events.

    {"run_id", "workflow", "tenant", "status", "inputs", "created", "finished", "error",
     "result", "steps": {name: {"kind", "state", "output", "attempts", "started", "finished",
                                "error", "items": {"total", "done"} (maps only)}}}

Run status: pending | running | waiting_for_approval | succeeded | failed | cancelled |
rejected. `waiting_for_approval` means an approval is open and nothing else is running (the
run is paused on a person). Step state: pending | running | waiting_for_approval | succeeded |
failed | rejected | skipped (its `when` was false) | blocked (a need failed or was rejected) |
cancelled.

Events are dicts with `seq` (1, 2, ... per run), `type`, `time` and type-specific fields:
run_started, step_started, step_finished (state, output, error, attempts), item_finished
(step, index, ok), approval_requested (step, question), approval_decided (step, decision,
comment), run_finished (status, error, result).
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from tools.workflows.spec import WorkflowSpec

TERMINAL_RUN = ("succeeded", "failed", "cancelled", "rejected")
PAUSED_OR_DONE = (*TERMINAL_RUN, "waiting_for_approval")
TERMINAL_STEP = ("succeeded", "failed", "rejected", "skipped", "blocked", "cancelled")
# A need in one of these states means the dependent cannot run.
BLOCKING_STEP = ("failed", "rejected", "blocked", "cancelled")


def initial_state(
    spec: WorkflowSpec, run_id: str, inputs: Mapping[str, Any], tenant: str | None
) -> dict[str, Any]:
    steps: dict[str, Any] = {}
    for name, step in spec.steps.items():
        steps[name] = {
            "kind": step.kind,
            "state": "pending",
            "output": None,
            "attempts": 0,
            "started": None,
            "finished": None,
            "error": None,
        }
    return {
        "run_id": run_id,
        "workflow": spec.name,
        "tenant": tenant,
        "status": "pending",
        "inputs": dict(inputs),
        "created": None,
        "finished": None,
        "error": None,
        "result": None,
        "steps": steps,
    }


def run_status(state: Mapping[str, Any]) -> str:
    """running or waiting_for_approval, from the steps of a run still going."""
    states = [step["state"] for step in state["steps"].values()]
    if "waiting_for_approval" in states and "running" not in states:
        return "waiting_for_approval"
    return "running"


def final_status(state: Mapping[str, Any], stopped_by: str | None) -> str:
    states = [step["state"] for step in state["steps"].values()]
    if stopped_by == "deadline" or "failed" in states:
        return "failed"
    if "rejected" in states:
        return "rejected"
    return "succeeded"


def as_cancelled(state: Mapping[str, Any]) -> dict[str, Any]:
    """A run's last snapshot as a cancelled run: what did not finish was cancelled."""
    result = copy.deepcopy(dict(state))
    result["status"] = "cancelled"
    for step in result["steps"].values():
        if step["state"] not in TERMINAL_STEP:
            step["state"] = "cancelled"
    return result
