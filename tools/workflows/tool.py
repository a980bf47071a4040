"""The `run_workflow` tool: a model starts one of the gateway's workflows and gets its
result, or, when the run pauses for a person's approval (or outlasts the wait), its id and
status so it can tell the user where things stand.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Annotated, Any, ClassVar, Protocol

import msgspec
from msgspec import Meta

from gateway.errors import GatewayError
from tools.base import ToolContext, ToolError


class RunWorkflowArgs(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    workflow: Annotated[str, Meta(min_length=1, max_length=128, description="Its name.")]
    inputs: Annotated[
        dict[str, Any], Meta(description="The workflow's inputs, by name (see the list).")
    ] = msgspec.field(default_factory=dict)


class Runs(Protocol):
    async def start_run(
        self, workflow: str, inputs: Mapping[str, Any], *, tenant: str | None = None
    ) -> str: ...

    async def wait(
        self, run_id: str, timeout_seconds: float, *, tenant: str | None = None
    ) -> dict[str, Any]: ...


class RunWorkflowTool:
    name = "run_workflow"
    Args: ClassVar[type[msgspec.Struct]] = RunWorkflowArgs

    def __init__(
        self,
        engine: Callable[[], Runs],
        workflows: Mapping[str, Mapping[str, str]],
        wait_seconds: Callable[[], float],
    ) -> None:
        self._engine = engine
        self._wait = wait_seconds
        listed = "; ".join(
            f"{name}({', '.join(f'{k}: {t}' for k, t in inputs.items())})"
            for name, inputs in sorted(workflows.items())
        )
        self.description = (
            "Run one of the gateway's durable workflows and return its result. A run that "
            "pauses for a person's approval returns its run_id and status "
            "waiting_for_approval." + (f" Workflows: {listed}." if listed else "")
        )

    async def run(self, args: RunWorkflowArgs, ctx: ToolContext) -> dict[str, Any]:
        try:
            engine = self._engine()
            run_id = await engine.start_run(args.workflow, args.inputs, tenant=ctx.tenant)
            state = await engine.wait(run_id, self._wait(), tenant=ctx.tenant)
        except GatewayError as exc:  # unknown workflow, bad inputs: the model reads why
            raise ToolError(exc.message) from None
        answer: dict[str, Any] = {"run_id": run_id, "status": state["status"]}
        if state["status"] == "succeeded":
            answer["result"] = state.get("result")
        elif state["status"] == "waiting_for_approval":
            answer["waiting_for"] = [
                name for name, s in state["steps"].items() if s["state"] == "waiting_for_approval"
            ]
        elif state.get("error"):
            answer["error"] = state["error"]
        return answer
