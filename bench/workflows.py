"""Workflow engine overhead on DBOS: per-step cost and a 100-step fan-out against its limit.

    .venv/bin/python bench/workflows.py                 # SQLite, and Postgres when installed
    .venv/bin/python bench/workflows.py --steps 50 --fanout 100 --sleep 0.05 --limit 4

1. Overhead per step: a chain of N no-op tool steps (each needs the previous one, so nothing
   overlaps); wall time / N is what the engine adds per step (checkpoint of the attempt, the
   durable wait on completions, the event batch and the state snapshot).
2. Fan-out: M independent tool steps sleeping S seconds at `max_parallel_steps` L, against the
   ideal M * S / L.

Postgres is a throwaway server (initdb in a temp dir, a free port), as in the test suite.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.integration.test_workflow_postgres import PgServer, pg_binaries
from tools.workflows import FunctionRunners, WorkflowEngine, validate_workflow
from tools.workflows.runners import StepContext


def _spec(name: str, steps: dict[str, Any]) -> Any:
    spec, problems = validate_workflow({"name": name, "steps": steps}, f"{name}.yaml")
    assert spec is not None, problems
    return spec


async def _noop_model(route: str, prompt: str, ctx: StepContext) -> str:
    return ""


async def _tool(name: str, args: Any, ctx: StepContext) -> Any:
    if name == "sleep":
        await asyncio.sleep(float(args["seconds"]))
    return None


async def _http(*args: Any) -> dict[str, Any]:
    return {}


async def _finish(engine: WorkflowEngine, run_id: str, limit: float) -> dict[str, Any]:
    # A tight poll rather than engine.wait(), whose backing-off poll would add to the figure.
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        state = await engine.get_run(run_id)
        if state["status"] in ("succeeded", "failed", "cancelled", "rejected"):
            return dict(state)
        await asyncio.sleep(0.005)
    raise TimeoutError(run_id)


async def _measure(url: str, chain: int, fanout: int, sleep: float, limit: int) -> dict[str, float]:
    chain_steps: dict[str, Any] = {"s0": {"tool": "noop"}}
    for i in range(1, chain):
        chain_steps[f"s{i}"] = {"tool": "noop", "needs": [f"s{i - 1}"]}
    fan_steps = {f"f{i}": {"tool": "sleep", "args": {"seconds": sleep}} for i in range(fanout)}
    specs = {"chain": _spec("chain", chain_steps), "fan": _spec("fan", fan_steps)}
    runners = FunctionRunners(model=_noop_model, tool=_tool, http=_http)
    engine = WorkflowEngine(specs, url, runners, max_parallel_steps=limit)
    await engine.start()
    try:
        await _finish(engine, await engine.start_run("chain", {}), 120)  # warm-up
        started = time.perf_counter()
        state = await _finish(engine, await engine.start_run("chain", {}), 300)
        chain_seconds = time.perf_counter() - started
        assert state["status"] == "succeeded", state["error"]
        started = time.perf_counter()
        state = await _finish(engine, await engine.start_run("fan", {}), 300)
        fan_seconds = time.perf_counter() - started
        assert state["status"] == "succeeded", state["error"]
    finally:
        await engine.aclose()
    return {"per_step_ms": chain_seconds / chain * 1000, "fan_seconds": fan_seconds}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=50, help="chain length (overhead)")
    parser.add_argument("--fanout", type=int, default=100)
    parser.add_argument("--sleep", type=float, default=0.05)
    parser.add_argument("--limit", type=int, default=4)
    args = parser.parse_args()
    ideal = args.fanout * args.sleep / args.limit
    print(
        f"chain of {args.steps} no-op steps; fan-out {args.fanout} x {args.sleep * 1000:g} ms "
        f"at limit {args.limit} (ideal {ideal:.2f} s)\n"
    )
    print(f"{'database':<10} {'per step':>10} {'fan-out':>9} {'vs ideal':>9}")
    with tempfile.TemporaryDirectory() as tmp:
        targets = [("sqlite", f"sqlite:///{Path(tmp) / 'bench.sqlite'}")]
        server = PgServer().start() if pg_binaries() is not None else None
        if server is not None:
            targets.append(("postgres", server.url(f"bench_{uuid.uuid4().hex[:8]}")))
        try:
            for name, url in targets:
                result = asyncio.run(_measure(url, args.steps, args.fanout, args.sleep, args.limit))
                print(
                    f"{name:<10} {result['per_step_ms']:>8.1f}ms {result['fan_seconds']:>8.2f}s "
                    f"{result['fan_seconds'] / ideal:>8.2f}x"
                )
        finally:
            if server is not None:
                server.stop()
    if pg_binaries() is None:
        print("postgres: skipped (no postgres/initdb binary installed)")


if __name__ == "__main__":
    main()
