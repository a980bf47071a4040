"""The workflow engine on real DBOS (a SQLite file, and Postgres when installed), a real loopback
HTTP target counting side effects, and fake model/tool runners."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.integration.test_workflow_loopback import CounterServer
from tests.integration.test_workflow_postgres import SKIP_REASON, PgServer, pg_binaries
from tools.workflows import (
    FunctionRunners,
    HttpxHttp,
    RunNotFoundError,
    RunStateError,
    StepContext,
    WorkflowEngine,
    WorkflowInputError,
    validate_workflow,
)


@pytest.fixture(scope="module")
def postgres() -> Iterator[PgServer | None]:
    if pg_binaries() is None:
        yield None
        return
    server = PgServer().start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(params=["sqlite", "postgres"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path, postgres: PgServer | None) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'runs.sqlite'}"
    if postgres is None:
        pytest.skip(SKIP_REASON)
    return postgres.url(f"wf_{uuid.uuid4().hex[:12]}")


@pytest.fixture()
def server() -> Iterator[CounterServer]:
    srv = CounterServer().start()
    try:
        yield srv
    finally:
        srv.stop()


class FakeTools:
    """Scripted tools: `fail:N` fails the first N calls, `sleep` sleeps args.seconds."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, float]] = []
        self.failures: dict[str, int] = {}

    async def model(self, route: str, prompt: str, ctx: StepContext) -> str:
        return f"{route}:{prompt}"

    async def tool(self, name: str, args: Any, ctx: StepContext) -> Any:
        self.calls.append((ctx.step, time.monotonic()))
        if self.failures.get(ctx.step, 0) > 0:
            self.failures[ctx.step] -= 1
            raise RuntimeError(f"{ctx.step} failed on purpose")
        if name == "sleep":
            await asyncio.sleep(float(args["seconds"]))
        if name == "fail":
            raise RuntimeError("always fails")
        return {"tool": name, "args": args}


def spec_of(text: str, server: CounterServer) -> Any:
    spec, problems = validate_workflow(
        yaml.safe_load(text.replace("URL", server.url)), "t.yaml", http_allow_hosts={"127.0.0.1"}
    )
    assert not problems, problems
    return spec


def run_engine(
    db_url: str,
    specs: dict[str, Any],
    tools: FakeTools,
    body: Callable[[WorkflowEngine], Awaitable[None]],
    max_parallel: int = 4,
) -> None:
    async def main() -> None:
        http = HttpxHttp()
        runners = FunctionRunners(model=tools.model, tool=tools.tool, http=http)
        engine = WorkflowEngine(specs, db_url, runners, max_parallel_steps=max_parallel)
        await engine.start()
        try:
            await asyncio.wait_for(body(engine), timeout=60)
        finally:
            await engine.aclose()
            await http.aclose()

    asyncio.run(main())


def test_parallel_branches_stay_under_the_limit(db_url: str, server: CounterServer) -> None:
    steps = "\n".join(
        f"  p{i}: {{http: {{method: POST, url: 'URL/hit/p{i}?sleep=0.2'}}}}" for i in range(6)
    )
    spec = spec_of(f"name: par\nsteps:\n{steps}\n", server)

    async def body(engine: WorkflowEngine) -> None:
        started = time.monotonic()
        state = await engine.wait(await engine.start_run("par", {}), 30)
        elapsed = time.monotonic() - started
        assert state["status"] == "succeeded"
        assert all(step["state"] == "succeeded" for step in state["steps"].values())
        # 6 steps of 0.2 s two at a time: three waves, never more than two in flight.
        assert server.max_in_flight == 2
        assert elapsed >= 0.6
        assert [server.counts[f"p{i}"] for i in range(6)] == [1] * 6

    run_engine(db_url, {"par": spec}, FakeTools(), body, max_parallel=2)


def test_retries_back_off_then_succeed_or_give_up(db_url: str, server: CounterServer) -> None:
    spec = spec_of(
        """
name: retry
steps:
  flaky: {tool: t, retries: 2, backoff_seconds: 0.1}
  broken: {tool: fail, retries: 1, backoff_seconds: 0.01}
on_failure: continue_independent
""",
        server,
    )
    tools = FakeTools()
    tools.failures["flaky"] = 2

    async def body(engine: WorkflowEngine) -> None:
        state = await engine.wait(await engine.start_run("retry", {}), 30)
        assert state["steps"]["flaky"]["state"] == "succeeded"
        assert state["steps"]["flaky"]["attempts"] == 3
        times = [t for step, t in tools.calls if step == "flaky"]
        assert times[1] - times[0] >= 0.1 and times[2] - times[1] >= 0.2  # doubling backoff
        assert state["steps"]["broken"]["state"] == "failed"
        assert state["steps"]["broken"]["attempts"] == 2
        assert "always fails" in state["steps"]["broken"]["error"]
        assert state["status"] == "failed"

    run_engine(db_url, {"retry": spec}, tools, body)


def test_step_timeout_and_run_deadline(db_url: str, server: CounterServer) -> None:
    slow = spec_of(
        "name: slow\nsteps:\n  s: {tool: sleep, args: {seconds: 5}, timeout_seconds: 0.2}\n", server
    )
    late = spec_of(
        "name: late\ndeadline_seconds: 0.5\nsteps:\n  s: {tool: sleep, args: {seconds: 5}}\n"
        "  after: {tool: t, needs: [s]}\n",
        server,
    )

    async def body(engine: WorkflowEngine) -> None:
        started = time.monotonic()
        state = await engine.wait(await engine.start_run("slow", {}), 30)
        assert state["steps"]["s"]["state"] == "failed"
        assert "timed out" in state["steps"]["s"]["error"]
        assert time.monotonic() - started < 2.0
        started = time.monotonic()
        state = await engine.wait(await engine.start_run("late", {}), 30)
        assert state["status"] == "failed"
        assert "deadline" in state["error"]
        assert state["steps"]["after"]["state"] == "cancelled"
        assert time.monotonic() - started < 3.0

    run_engine(db_url, {"slow": slow, "late": late}, FakeTools(), body)


FAILURE_DAG = """
name: {name}
on_failure: {mode}
steps:
  bad: {{tool: fail}}
  slow: {{http: {{method: POST, url: 'URL/hit/slow?sleep=0.6'}}}}
  after_bad: {{http: {{method: POST, url: 'URL/hit/after_bad'}}, needs: [bad]}}
  after_slow: {{http: {{method: POST, url: 'URL/hit/after_slow'}}, needs: [slow]}}
"""


def test_fail_fast_stops_everything_continue_independent_goes_on(
    db_url: str, server: CounterServer
) -> None:
    fast = spec_of(FAILURE_DAG.format(name="fast", mode="fail_fast"), server)
    cont = spec_of(FAILURE_DAG.format(name="cont", mode="continue_independent"), server)

    async def body(engine: WorkflowEngine) -> None:
        state = await engine.wait(await engine.start_run("fast", {}), 30)
        assert state["status"] == "failed"
        steps = {n: s["state"] for n, s in state["steps"].items()}
        assert steps == {
            "bad": "failed",
            "slow": "cancelled",
            "after_bad": "cancelled",
            "after_slow": "cancelled",
        }
        await asyncio.sleep(0.8)  # the cancelled slow request would have finished by now
        assert server.counts["after_slow"] == 0 and server.counts["after_bad"] == 0
        state = await engine.wait(await engine.start_run("cont", {}), 30)
        steps = {n: s["state"] for n, s in state["steps"].items()}
        assert steps == {
            "bad": "failed",
            "slow": "succeeded",
            "after_bad": "blocked",
            "after_slow": "succeeded",
        }
        assert state["status"] == "failed"
        assert server.counts["after_slow"] == 1 and server.counts["after_bad"] == 0

    run_engine(db_url, {"fast": fast, "cont": cont}, FakeTools(), body)


def test_map_fans_out_in_order_under_the_limit_and_budget(
    db_url: str, server: CounterServer
) -> None:
    text = """
name: {name}
inputs: {{items: array}}
max_steps: {budget}
steps:
  each: {{map: "{{{{inputs.items}}}}", step: {{http: {{method: POST, url: 'URL/hit/item?sleep=0.1', body: "{{{{item.text}}}}"}}}}}}
  total: {{tool: t, args: {{all: "{{{{steps.each.output}}}}"}}}}
"""
    fan = spec_of(text.format(name="fan", budget=100), server)
    tight = spec_of(text.format(name="tight", budget=3), server)
    items = [{"text": f"t{i}"} for i in range(6)]

    async def body(engine: WorkflowEngine) -> None:
        state = await engine.wait(await engine.start_run("fan", {"items": items}), 30)
        assert state["status"] == "succeeded", state["error"]
        output = state["steps"]["each"]["output"]
        assert [o["body"]["name"] for o in output] == ["item"] * 6
        assert sorted(server.bodies["item"]) == [f"t{i}" for i in range(6)]
        assert server.max_in_flight == 3
        assert state["steps"]["each"]["items"] == {"total": 6, "done": 6}
        assert state["steps"]["total"]["output"]["args"]["all"] == output  # JSON type kept
        state = await engine.wait(await engine.start_run("tight", {"items": items}), 30)
        assert state["status"] == "failed"
        assert "budget of 3" in state["steps"]["each"]["error"]

    run_engine(db_url, {"fan": fan, "tight": tight}, FakeTools(), body, max_parallel=3)


APPROVAL_DAG = """
name: gate
steps:
  draft: {model: assistant, prompt: "note"}
  approve: {approval: "Publish?", needs: [draft]}
  publish: {http: {method: POST, url: 'URL/hit/publish', body: "{{steps.draft.output}}"}, needs: [approve]}
"""


def test_approval_approve_and_reject(db_url: str, server: CounterServer) -> None:
    spec = spec_of(APPROVAL_DAG, server)

    async def body(engine: WorkflowEngine) -> None:
        run_id = await engine.start_run("gate", {}, tenant="t1")
        state = await engine.wait(run_id, 30, tenant="t1")
        assert state["status"] == "waiting_for_approval"
        assert server.counts["publish"] == 0
        with pytest.raises(RunNotFoundError):
            await engine.approve(run_id, "approve", tenant="t2")
        with pytest.raises(RunStateError):
            await engine.approve(run_id, "draft", tenant="t1")
        await engine.approve(run_id, "approve", "ship it", tenant="t1")
        state = await engine.wait(run_id, 30, tenant="t1")
        assert state["status"] == "succeeded"
        assert state["steps"]["approve"]["output"] == {"approved": True, "comment": "ship it"}
        assert server.bodies["publish"] == ["assistant:note"]
        with pytest.raises(RunStateError):
            await engine.approve(run_id, "approve", tenant="t1")

        run_id = await engine.start_run("gate", {})
        assert (await engine.wait(run_id, 30))["status"] == "waiting_for_approval"
        await engine.reject(run_id, "approve", "no")
        state = await engine.wait(run_id, 30)
        assert state["status"] == "rejected"
        assert state["steps"]["publish"]["state"] == "cancelled"
        assert server.counts["publish"] == 1  # only the approved run published

    run_engine(db_url, {"gate": spec}, FakeTools(), body)


def test_cancel_stops_running_and_new_steps_within_a_second(
    db_url: str, server: CounterServer
) -> None:
    spec = spec_of(
        """
name: long
steps:
  hold: {http: {method: POST, url: 'URL/hit/hold'}}
  next: {http: {method: POST, url: 'URL/hit/next'}, needs: [hold]}
""",
        server,
    )
    server.block("hold")

    async def body(engine: WorkflowEngine) -> None:
        run_id = await engine.start_run("long", {})
        assert await asyncio.to_thread(server.arrived, "hold", 10)
        started = time.monotonic()
        state = await engine.cancel(run_id)
        assert time.monotonic() - started < 1.0
        assert state["status"] == "cancelled"
        assert state["steps"]["hold"]["state"] == "cancelled"
        server.release("hold")
        await asyncio.sleep(0.5)
        assert server.counts["next"] == 0
        assert (await engine.get_run(run_id))["status"] == "cancelled"
        events = [e async for e in engine.events(run_id)]
        assert events[-1]["type"] == "run_finished" and events[-1]["status"] == "cancelled"
        with pytest.raises(RunStateError):
            await engine.cancel(run_id)

    run_engine(db_url, {"long": spec}, FakeTools(), body)


def test_events_replay_from_the_start_and_from_an_offset(
    db_url: str, server: CounterServer
) -> None:
    spec = spec_of(
        """
name: ev
inputs: {topic: string, n: integer}
steps:
  a: {model: assistant, prompt: "on {{inputs.topic}}"}
  b: {tool: t, args: {text: "{{steps.a.output}}", n: "{{inputs.n}}"}, needs: [a]}
  skip: {tool: t, when: {equals: ["{{steps.b.output.args.n}}", 99]}}
output: "{{steps.b.output.args}}"
""",
        server,
    )

    async def body(engine: WorkflowEngine) -> None:
        with pytest.raises(WorkflowInputError, match=r"inputs\.n: expected integer"):
            await engine.start_run("ev", {"topic": "x", "n": "3"})
        run_id = await engine.start_run("ev", {"topic": "x", "n": 3}, tenant="t")
        live = [e async for e in engine.events(run_id, tenant="t")]
        assert [e["seq"] for e in live] == list(range(1, len(live) + 1))
        assert live[0]["type"] == "run_started" and live[-1]["type"] == "run_finished"
        assert live[-1]["result"] == {"text": "assistant:on x", "n": 3}
        kinds = [(e["type"], e.get("step")) for e in live]
        assert ("step_finished", "skip") in kinds and ("step_started", "skip") not in kinds
        again = [e async for e in engine.events(run_id, tenant="t")]
        assert again == live
        tail = [e async for e in engine.events(run_id, after=3, tenant="t")]
        assert tail == live[3:]
        state = await engine.get_run(run_id, tenant="t")
        assert state["steps"]["skip"]["state"] == "skipped"
        assert state["result"] == {"text": "assistant:on x", "n": 3}
        with pytest.raises(RunNotFoundError):
            await engine.get_run(run_id, tenant="other")
        with pytest.raises(RunNotFoundError):
            await engine.get_run("wf-nope")

    run_engine(db_url, {"ev": spec}, FakeTools(), body)


def test_shipped_barrier_example_repairs_until_verified(tmp_path: Path) -> None:
    from tools.workflows import load_workflows

    root = Path(__file__).resolve().parents[2]
    specs = load_workflows(root / "deploy" / "workflows").specs
    verdicts = iter(["invalid", "valid"])

    class Barrier(FakeTools):
        async def model(self, route: str, prompt: str, ctx: StepContext) -> str:
            return {"propose": "x**2", "repair1": "x**2 - 1", "repair2": "never"}[ctx.step]

        async def tool(self, name: str, args: Any, ctx: StepContext) -> Any:
            assert name == "verify" and args["check"] == "barrier" and args["variables"] == ["x"]
            return {"verdict": next(verdicts), "reason": "r", "counterexample": {"x": "0"}}

    async def body(engine: WorkflowEngine) -> None:
        inputs = {
            "variables": ["x"],
            "dynamics": ["-x"],
            "initial": [["x**2 <= 0.25"]],
            "unsafe": [["x >= 2"]],
        }
        state = await engine.wait(await engine.start_run("barrier_repair", inputs), 30)
        assert state["status"] == "succeeded", state["error"]
        steps = {n: s["state"] for n, s in state["steps"].items()}
        assert steps == {
            "propose": "succeeded",
            "check1": "succeeded",
            "repair1": "succeeded",
            "check2": "succeeded",
            "repair2": "skipped",
            "check3": "skipped",
        }
        assert state["result"] == {
            "candidates": ["x**2", "x**2 - 1", None],
            "verdicts": ["invalid", "valid", None],
        }

    run_engine(f"sqlite:///{tmp_path / 'b.sqlite'}", specs, Barrier(), body)
