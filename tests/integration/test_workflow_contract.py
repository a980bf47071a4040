"""The durable contract (`tools.workflows.contract`) on real DBOS (a SQLite file): what a
checkpointed run depends on is pinned per `CHECKPOINT_VERSION`, and a run of another contract
is left, with its decisions, to a gateway of that contract."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from dbos import DBOS

from tests.integration.test_workflow_engine import APPROVAL_DAG, FakeTools, spec_of
from tests.integration.test_workflow_loopback import CounterServer
from tools.workflows import FunctionRunners, HttpxHttp, StepSpec, WorkflowEngine, WorkflowSpec
from tools.workflows.contract import CHECKPOINT_VERSION, application_version
from tools.workflows.engine import WORKFLOW_NAME
from tools.workflows.interpreter import EVENTS_STREAM, STATE_EVENT, approval_topic
from tools.workflows.run_state import TERMINAL_RUN

BUMP = (
    "the durable contract changed: bump CHECKPOINT_VERSION in tools/workflows/contract.py "
    "(runs of the old one then wait for a gateway of it) and pin the new layout here"
)

# Every step id a run of LAYOUT_DAG takes, in order, with its name: what a replay must match.
# A round of the interpreter is a flush (stream, state) and a checkpointed wait.
_ROUND = ["DBOS.writeStream", "DBOS.setEvent", "DBOS.asyncio_wait"]
LAYOUT: dict[int, list[tuple[int, str]]] = {
    1: list(
        enumerate(
            [
                "run.started",
                "draft#1",  # both attempts reserved at launch
                "draft#2",
                *_ROUND,
                "each[0]#1",
                *_ROUND,
                "each[1]#1",
                *_ROUND,
                "DBOS.recv",  # the approval: its wait and its timeout's sleep
                "DBOS.sleep",
                *_ROUND,
                "publish#1",  # `never` was skipped: no ids
                *_ROUND,
                "DBOS.writeStream",  # the last flush, then the stream's end
                "DBOS.setEvent",
                "DBOS.closeStream",
            ],
            start=1,
        )
    )
}
NAMES: dict[int, dict[str, Any]] = {
    1: {
        "workflow": "switchyard.workflow_run",
        "events": "events",
        "state": "state",
        "approval topic": "approval:gate",
        "WorkflowSpec": [
            "name",
            "file",
            "inputs",
            "steps",
            "order",
            "on_failure",
            "deadline_seconds",
            "max_steps",
            "output",
            "description",
            "dependents",
        ],
        "StepSpec": [
            "name",
            "kind",
            "body",
            "needs",
            "explicit_needs",
            "retries",
            "backoff_seconds",
            "timeout_seconds",
            "when",
            "item_step",
        ],
    }
}
# One unit at a time (each needs the one before, max_parallel_steps 1): every round of the
# interpreter completes one task, so the layout does not depend on timing.
LAYOUT_DAG = """
name: layout
inputs: {items: array}
steps:
  draft: {tool: flaky, retries: 1, backoff_seconds: 0.01}
  each: {map: "{{inputs.items}}", step: {http: {method: POST, url: 'URL/hit/item'}}, needs: [draft]}
  gate: {approval: "ok?", needs: [each]}
  never: {tool: t, when: {equals: ["{{steps.gate.output.approved}}", false]}}
  publish: {http: {method: POST, url: 'URL/hit/publish'}, needs: [never]}
"""


@pytest.fixture()
def server() -> Iterator[CounterServer]:
    srv = CounterServer().start()
    try:
        yield srv
    finally:
        srv.stop()


def _engine(url: str, tools: FakeTools, http: HttpxHttp, specs: dict[str, Any], **kw: Any) -> Any:
    runners = FunctionRunners(model=tools.model, tool=tools.tool, http=http)
    return WorkflowEngine(specs, url, runners, max_parallel_steps=1, **kw)


def test_the_names_a_run_is_checkpointed_under_are_the_contracts() -> None:
    names = {
        "workflow": WORKFLOW_NAME,
        "events": EVENTS_STREAM,
        "state": STATE_EVENT,
        "approval topic": approval_topic("gate"),
        "WorkflowSpec": [f.name for f in dataclasses.fields(WorkflowSpec)],
        "StepSpec": [f.name for f in dataclasses.fields(StepSpec)],
    }
    assert names == NAMES.get(CHECKPOINT_VERSION), BUMP


def test_the_checkpoint_layout_is_the_contracts(tmp_path: Path, server: CounterServer) -> None:
    spec = spec_of(LAYOUT_DAG, server)
    tools = FakeTools()
    tools.failures["draft"] = 1

    async def main() -> list[tuple[int, str]]:
        http = HttpxHttp()
        engine = _engine(f"sqlite:///{tmp_path / 'runs.sqlite'}", tools, http, {"layout": spec})
        await engine.start()
        try:
            run_id = await engine.start_run("layout", {"items": [1, 2]})
            assert (await engine.wait(run_id, 30))["status"] == "waiting_for_approval"
            await engine.approve(run_id, "gate")
            state = await engine.wait(run_id, 30)
            assert state["status"] == "succeeded", state["error"]
            assert state["steps"]["draft"]["attempts"] == 2
            steps = await DBOS.list_workflow_steps_async(run_id, load_output=False)
            return [(s["function_id"], s["function_name"]) for s in steps]
        finally:
            await engine.aclose()
            await http.aclose()

    layout = asyncio.run(main())
    assert layout == LAYOUT.get(CHECKPOINT_VERSION), (BUMP, layout)


def test_a_run_of_another_contract_waits_for_a_gateway_of_it(
    tmp_path: Path, server: CounterServer
) -> None:
    url = f"sqlite:///{tmp_path / 'runs.sqlite'}"
    specs = {"gate": spec_of(APPROVAL_DAG, server)}
    later = application_version(CHECKPOINT_VERSION + 1)

    async def main() -> dict[str, Any]:
        http = HttpxHttp()
        try:
            first = _engine(url, FakeTools(), http, specs)
            await first.start()
            run_id = await first.start_run("gate", {})
            assert (await first.wait(run_id, 30))["status"] == "waiting_for_approval"
            await first.aclose()

            other = _engine(url, FakeTools(), http, specs, app_version=later)
            await other.start()
            state = await other.get_run(run_id)
            assert state["status"] == "waiting_for_approval"
            assert state["error"] is not None
            assert f"contract {CHECKPOINT_VERSION};" in state["error"]
            assert f"contract {CHECKPOINT_VERSION + 1}:" in state["error"]
            await other.approve(run_id, "approve", "sent to the other contract")
            await asyncio.sleep(1.0)  # it would have published by now, had it resumed here
            state = await other.get_run(run_id)
            assert state["steps"]["approve"]["state"] == "waiting_for_approval"
            assert server.counts["publish"] == 0
            await other.aclose()

            again = _engine(url, FakeTools(), http, specs)
            await again.start()
            try:
                # `wait` would return at once: the snapshot says waiting_for_approval until the
                # resumed run takes the decision in.
                for _ in range(600):
                    state = await again.get_run(run_id)
                    if state["status"] in TERMINAL_RUN:
                        return dict(state)
                    await asyncio.sleep(0.05)
                return dict(state)
            finally:
                await again.aclose()
        finally:
            await http.aclose()

    state = asyncio.run(main())
    assert state["status"] == "succeeded", state["error"]
    assert state["steps"]["approve"]["output"] == {
        "approved": True,
        "comment": "sent to the other contract",
    }
    assert server.counts["publish"] == 1
