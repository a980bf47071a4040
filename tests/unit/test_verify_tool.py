"""The `verify` tool's arguments and its place on the registry: one schema for every check
kind, the spec passed on without defaults, a call's timeout apart, bad arguments refused."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import jsonschema

from tools.base import ToolContext
from tools.registry import ToolRegistry
from tools.schema import args_schema
from tools.verify.tool import VerifyArgs, VerifyTool

BARRIER = {
    "check": "barrier",
    "variables": ["x", "y"],
    "dynamics": ["-x", "-y"],
    "initial": [["x**2 + y**2 <= 0.25"]],
    "unsafe": [["x >= 2"]],
    "certificate": "x**2 + y**2 - 1",
}


class Recorder:
    def __init__(self) -> None:
        self.calls: list[tuple[dict[str, Any], float | None]] = []

    async def verify(self, spec: dict[str, Any], timeout: float | None = None) -> dict[str, Any]:  # noqa: ASYNC109
        self.calls.append((spec, timeout))
        return {
            "verdict": "valid",
            "reason": "checked",
            "counterexample": None,
            "method": "z3",
            "seconds": 0.01,
        }


def test_the_schema_is_valid_and_accepts_the_contract_example() -> None:
    schema = args_schema(VerifyArgs)
    jsonschema.Draft202012Validator.check_schema(schema)
    example = {
        **BARRIER,
        "domain": {"box": {"x": [-3, 3], "y": [-3, 3]}, "constraints": [["x + y <= 4"]]},
        "condition": "lie_domain",
    }
    jsonschema.validate(example, schema)
    assert schema["required"] == ["check", "variables"]


def test_spec_holds_only_what_was_sent() -> None:
    import msgspec

    args = msgspec.convert({**BARRIER, "timeout_seconds": 2.5}, VerifyArgs)
    assert args.spec() == BARRIER
    assert args.timeout() == 2.5
    assert msgspec.convert(BARRIER, VerifyArgs).timeout() is None


def test_the_registry_runs_it_and_refuses_bad_arguments() -> None:
    recorder = Recorder()
    registry = ToolRegistry([VerifyTool(recorder)])
    assert [e.name for e in registry.resolve(["verify"])] == ["verify"]

    async def main() -> None:
        ctx = ToolContext(request_id="r1")
        ok = await registry.call("verify", json.dumps(BARRIER), ctx)
        assert ok.outcome == "ok" and json.loads(ok.content)["verdict"] == "valid"
        assert recorder.calls == [(BARRIER, None)]
        for bad in ({**BARRIER, "check": "prove"}, {**BARRIER, "eval": "1"}, {"check": "barrier"}):
            result = await registry.call("verify", json.dumps(bad), ctx)
            assert result.outcome == "invalid" and "Invalid arguments for verify" in result.content
        assert len(recorder.calls) == 1  # nothing refused reached the checker

    asyncio.run(main())


def test_the_service_caps_timeouts_and_replaces_its_pool_only_when_its_shape_changes() -> None:
    from gateway.settings.loader import ConfigError, parse_settings
    from gateway.verify_service import VerifyService

    def settings(**verify: Any) -> Any:
        return parse_settings({"tools": {"verify": verify}}, "test", {})

    try:
        settings(timeout_seconds=30, max_timeout_seconds=20)
    except ConfigError as exc:
        assert "$.tools.verify.timeout_seconds" in str(exc)
    else:
        raise AssertionError("a default timeout above the cap was accepted")

    async def main() -> None:
        service = VerifyService(settings(timeout_seconds=2, max_timeout_seconds=5))
        recorder: Any = Recorder()  # the pool seam, faked
        service._verifier = recorder
        await service.verify(BARRIER)
        await service.verify(BARRIER, 60.0)
        assert [t for _, t in recorder.calls] == [2.0, 5.0]
        service.reconfigure(settings(timeout_seconds=3, max_timeout_seconds=5))
        assert id(service._verifier) == id(recorder)  # same workers and memory: pool stays
        await service.verify(BARRIER)
        assert recorder.calls[-1][1] == 3.0
        drained: list[float] = []

        async def drain(timeout: float) -> None:  # noqa: ASYNC109
            drained.append(timeout)

        setattr(recorder, "drain", drain)  # noqa: B010 - on the fake pool
        service.reconfigure(settings(workers=3))
        assert service._verifier is None  # a new shape: a new pool on next use
        await service.aclose()
        assert drained == [10.0]  # the old pool lets its calls (at most 5 s) finish first

    asyncio.run(main())


def test_a_flood_of_checks_is_refused_rather_than_queued_without_bound() -> None:
    from gateway.settings.loader import parse_settings
    from gateway.verify_service import VerifierBusy, VerifyService

    class Blocking(Recorder):
        def __init__(self) -> None:
            super().__init__()
            self.release = asyncio.Event()

        async def verify(
            self,
            spec: dict[str, Any],
            timeout: float | None = None,  # noqa: ASYNC109 - the fake's signature
        ) -> dict[str, Any]:
            await asyncio.wait_for(self.release.wait(), 5)
            return await super().verify(spec, timeout)

    async def main() -> None:
        service = VerifyService(parse_settings({"tools": {"verify": {"workers": 1}}}, "t", {}))
        pool: Any = Blocking()
        service._verifier = pool
        waiting = [asyncio.create_task(service.verify(BARRIER)) for _ in range(8)]
        await asyncio.sleep(0.01)
        try:
            await service.verify(BARRIER)
        except VerifierBusy as exc:
            assert exc.status_code == 429 and exc.retry_after
        else:
            raise AssertionError("the ninth check was queued")
        pool.release.set()
        assert [r["verdict"] for r in await asyncio.gather(*waiting)] == ["valid"] * 8
        assert (await service.verify(BARRIER))["verdict"] == "valid"  # room again

    asyncio.run(main())
