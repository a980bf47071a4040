"""Load balancing among a route's targets, through the router and the executor (no HTTP)."""

from __future__ import annotations

import asyncio
import random
from collections import Counter

from gateway.backends.base import BackendCall, Needs
from gateway.context import RequestContext
from gateway.errors import InvalidRequestError
from gateway.pipeline.executor import Executor
from gateway.protocol.chat import ChatCompletionRequest, UserMessage
from gateway.resilience.target_policy import TargetPolicy
from gateway.settings.schema import Retries
from routers import CatalogEntry, ModelCatalog, StaticRouter
from routers.balance import TargetLoad
from routers.catalog import CatalogTarget
from tests.unit.test_executor import OK_REPLY, Scripted

REQUEST = ChatCompletionRequest(model="chat", messages=[UserMessage(content="hi")])


def router(balance: str, weights: tuple[float, float] = (1, 1), load: TargetLoad | None = None):
    entry = CatalogEntry(
        "chat",
        "a",
        "echo",
        targets=(CatalogTarget("a", "echo", weights[0]), CatalogTarget("b", "echo", weights[1])),
        balance=balance,
        fallbacks=("backup",),
    )
    catalog = ModelCatalog([entry, CatalogEntry("backup", "c", "echo")])
    load = load or TargetLoad()
    return StaticRouter(catalog, load, random.Random(7)), load


def first_backends(r: StaticRouter, n: int) -> Counter[str]:
    async def run() -> Counter[str]:
        ctx = RequestContext(request_id="r", endpoint="chat/completions")
        firsts = Counter[str]()
        for _ in range(n):
            decision = await r.route(REQUEST, ctx)
            firsts[decision.targets[0].backend] += 1
        return firsts

    return asyncio.run(run())


def test_weighted_lands_within_five_percent_of_the_weights() -> None:
    firsts = first_backends(router("weighted", (3, 1))[0], 1000)
    # Shares of the first pick within five percentage points of 3/4 and 1/4.
    assert abs(firsts["a"] / 1000 - 0.75) <= 0.05 and abs(firsts["b"] / 1000 - 0.25) <= 0.05


def test_every_target_follows_as_failover_then_the_fallbacks() -> None:
    async def run() -> list[str]:
        decision = await router("weighted")[0].route(REQUEST, RequestContext("r", "chat"))
        return [t.backend for t in decision.targets]

    order = asyncio.run(run())
    assert sorted(order[:2]) == ["a", "b"] and order[2] == "c"


def test_ordered_keeps_the_listed_order() -> None:
    assert first_backends(router("ordered")[0], 50) == Counter({"a": 50})


def test_least_busy_prefers_the_target_with_fewer_requests_in_flight() -> None:
    r, load = router("least_busy")
    for _ in range(3):
        load.started("a/echo")
    assert first_backends(r, 20) == Counter({"b": 20})


def test_latency_prefers_the_faster_target() -> None:
    r, load = router("latency")
    load.started("a/echo")
    load.finished("a/echo", 0.4)
    load.started("b/echo")
    load.finished("b/echo", 0.01)
    assert first_backends(r, 20) == Counter({"b": 20})


def _slow_fast_executor(load: TargetLoad) -> tuple[Executor, Scripted, Scripted]:
    async def slow() -> dict[str, object]:
        await asyncio.sleep(0.2)
        return OK_REPLY

    async def fast() -> dict[str, object]:
        await asyncio.sleep(0.005)
        return OK_REPLY

    a, b = Scripted("a", [slow]), Scripted("b", [fast])
    executor = Executor({"a": a, "b": b, "c": Scripted("c", [OK_REPLY])},
                        lambda t: TargetPolicy(Retries()), load)  # fmt: skip
    return executor, a, b


def _serve(r: StaticRouter, executor: Executor, n: int, concurrent: bool) -> None:
    def make_call(ctx: RequestContext):  # type: ignore[no-untyped-def]
        return lambda target: BackendCall("chat/completions", REQUEST, {}, "echo", ctx)

    async def one() -> None:
        ctx = RequestContext(request_id="r", endpoint="chat/completions")
        decision = await r.route(REQUEST, ctx)
        await executor.complete(decision, make_call(ctx), Needs.of("chat/completions", REQUEST))

    async def worker(count: int) -> None:
        for _ in range(count):
            await one()

    async def run() -> None:
        # Concurrent: ten clients, each sending its next request when the last one is done.
        workers = 10 if concurrent else 1
        await asyncio.gather(*(worker(n // workers) for _ in range(workers)))

    asyncio.run(run())


def test_least_busy_sends_most_concurrent_traffic_to_the_fast_target() -> None:
    load = TargetLoad()
    r, _ = router("least_busy", load=load)
    executor, a, b = _slow_fast_executor(load)
    _serve(r, executor, 60, concurrent=True)
    assert len(b.calls) > 2 * len(a.calls)


def test_latency_mode_learns_which_target_is_fast() -> None:
    load = TargetLoad()
    r, _ = router("latency", load=load)
    executor, a, b = _slow_fast_executor(load)
    _serve(r, executor, 30, concurrent=False)
    assert len(a.calls) <= 3 and len(b.calls) >= 27


def test_a_prompt_too_long_for_one_target_goes_to_the_next() -> None:
    too_long = InvalidRequestError(
        "This model's maximum context length is 512 tokens.", code="context_length_exceeded"
    )
    load = TargetLoad()
    r, _ = router("ordered", load=load)
    a, b = Scripted("a", [too_long]), Scripted("b", [OK_REPLY])
    executor = Executor({"a": a, "b": b}, lambda t: TargetPolicy(Retries()), load)
    _serve(r, executor, 1, concurrent=False)
    assert len(a.calls) == 1 and len(b.calls) == 1
    assert load.in_flight("a/echo") == load.in_flight("b/echo") == 0


def test_latency_moves_away_from_a_target_that_fails_fast() -> None:
    r, load = router("latency")
    load.started("a/echo")
    load.finished("a/echo", None)
    load.penalise("a/echo", 0.001)  # refused at once: still not "the fastest"
    load.started("b/echo")
    load.finished("b/echo", 0.05)
    assert first_backends(r, 20) == Counter({"b": 20})
