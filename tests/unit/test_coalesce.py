"""Request coalescing on the event loop: identical requests in flight share one call (a JSON
reply or a fanned-out stream); leaving waiters never cancel it for the others; the last one
leaving does; errors reach everyone."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator

import msgspec
import pytest

from gateway.cache.coalesce import Coalescer
from gateway.context import RequestContext
from gateway.pipeline.executor import OpenedStream
from gateway.protocol.raw import RawFields, raw
from routers.base import Target

pytestmark = pytest.mark.anyio
N = 20
TARGET = Target(backend="up", upstream_model="m", model_id="chat")


@pytest.fixture()
def anyio_backend() -> str:
    return "asyncio"


def context(i: int) -> RequestContext:
    return RequestContext(request_id=f"r{i}", endpoint="chat/completions")


async def settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


class Call:
    """A JSON call that runs until released; counts runs, records a cancellation."""

    def __init__(self, leader: RequestContext | None = None, error: Exception | None = None):
        self.runs = 0
        self.cancelled = False
        self.release = asyncio.Event()
        self.leader = leader
        self.error = error

    async def __call__(self) -> RawFields:
        self.runs += 1
        if self.leader is not None:  # the executor writes the backend facts on the leader
            self.leader.backend_name = "up"
            self.leader.upstream_model = "m-upstream"
        try:
            await self.release.wait()
        except asyncio.CancelledError:
            self.cancelled = True
            raise
        if self.error is not None:
            raise self.error
        return {
            "choices": raw([{"index": 0, "message": {"content": "shared"}}]),
            "n": raw(self.runs),
        }


async def start_waiters(
    coalescer: Coalescer, call: Call, contexts: list[RequestContext], key: str = "k"
) -> list[asyncio.Task[RawFields]]:
    tasks = [asyncio.create_task(coalescer.reply(key, ctx, call)) for ctx in contexts]
    await settle()
    return tasks


# --- reply ---------------------------------------------------------------------------------


async def test_twenty_waiters_share_one_call_and_get_their_own_copies() -> None:
    coalescer = Coalescer()
    contexts = [context(i) for i in range(N)]
    call = Call(leader=contexts[0])
    tasks = await start_waiters(coalescer, call, contexts)
    assert coalescer.in_flight == 1 and call.runs == 1
    call.release.set()
    results = await asyncio.gather(*tasks)
    assert call.runs == 1
    assert all(r == results[0] for r in results)
    assert len({id(r) for r in results}) == N  # separate dicts
    results[1]["choices"] = raw("changed by one waiter's response stages")
    assert results[2]["choices"] == results[0]["choices"] != results[1]["choices"]
    assert msgspec.json.decode(results[0]["choices"])[0]["message"]["content"] == "shared"
    assert not contexts[0].cached
    assert all(ctx.cached for ctx in contexts[1:])
    # Followers carry the leader's backend facts (for headers and metering).
    assert {(c.backend_name, c.upstream_model) for c in contexts} == {("up", "m-upstream")}
    assert coalescer.shared == N - 1 and coalescer.in_flight == 0


async def test_different_keys_do_not_share() -> None:
    coalescer = Coalescer()
    calls = [Call(), Call()]
    tasks = [
        asyncio.create_task(coalescer.reply(f"k{i % 2}", context(i), calls[i % 2]))
        for i in range(6)
    ]
    await settle()
    assert coalescer.in_flight == 2
    for call in calls:
        call.release.set()
    await asyncio.gather(*tasks)
    assert [c.runs for c in calls] == [1, 1] and coalescer.shared == 4


async def test_an_error_reaches_all_twenty() -> None:
    coalescer = Coalescer()
    call = Call(error=RuntimeError("upstream exploded"))
    tasks = await start_waiters(coalescer, call, [context(i) for i in range(N)])
    call.release.set()
    results = await asyncio.gather(*tasks, return_exceptions=True)
    assert call.runs == 1
    assert all(isinstance(r, RuntimeError) and str(r) == "upstream exploded" for r in results)
    assert coalescer.in_flight == 0


@pytest.mark.parametrize("leaving", [0, 7], ids=["the-leader", "a-follower"])
async def test_one_waiter_cancelled_does_not_cancel_the_call_for_the_others(leaving: int) -> None:
    coalescer = Coalescer()
    call = Call()
    tasks = await start_waiters(coalescer, call, [context(i) for i in range(N)])
    tasks[leaving].cancel()
    await settle()
    assert tasks[leaving].cancelled()
    assert not call.cancelled and coalescer.in_flight == 1
    call.release.set()
    results = await asyncio.gather(*(t for i, t in enumerate(tasks) if i != leaving))
    assert len(results) == N - 1 and all(r == results[0] for r in results)
    assert call.runs == 1 and not call.cancelled


async def test_all_waiters_cancelled_cancel_the_call_and_a_newcomer_starts_afresh() -> None:
    coalescer = Coalescer()
    call = Call()
    tasks = await start_waiters(coalescer, call, [context(i) for i in range(N)])
    for i, task in enumerate(tasks):
        task.cancel()
        await settle()
        if i < N - 1:
            assert not call.cancelled, f"cancelled after {i + 1} of {N} left"
    assert all(t.cancelled() for t in tasks)
    assert call.cancelled and coalescer.in_flight == 0
    fresh = Call()
    task = asyncio.create_task(coalescer.reply("k", context(99), fresh))
    await settle()
    fresh.release.set()
    assert msgspec.json.decode((await task)["n"]) == 1
    assert fresh.runs == 1 and call.runs == 1


async def test_after_completion_a_new_request_starts_a_new_flight() -> None:
    coalescer = Coalescer()
    call = Call()
    call.release.set()
    first = await coalescer.reply("k", context(0), call)
    second_ctx = context(1)
    second = await coalescer.reply("k", second_ctx, call)
    assert call.runs == 2
    assert (msgspec.json.decode(first["n"]), msgspec.json.decode(second["n"])) == (1, 2)
    assert not second_ctx.cached and coalescer.shared == 0


# --- stream --------------------------------------------------------------------------------


def piece(i: int) -> RawFields:
    return {"choices": raw([{"index": 0, "delta": {"content": f"p{i} "}}]), "seq": raw(i)}


class Upstream:
    """A stream whose chunks the test lets out one by one (or fails where told)."""

    def __init__(self, fail_open: Exception | None = None, fail_at: int | None = None) -> None:
        self.opens = 0
        self.closed = 0  # the generator's own cleanup ran
        self.release_callbacks = 0  # OpenedStream.aclose ran its callbacks
        self.queue: asyncio.Queue[int | None] = asyncio.Queue()
        self.opening = asyncio.Event()
        self.fail_open = fail_open
        self.fail_at = fail_at

    async def open(self) -> OpenedStream:
        self.opens += 1
        await self.opening.wait()
        if self.fail_open is not None:
            raise self.fail_open
        opened = OpenedStream(piece(0), self._rest(), TARGET)
        opened.when_closed(self._released)
        return opened

    def _released(self) -> None:
        self.release_callbacks += 1

    async def _rest(self) -> AsyncGenerator[RawFields, None]:
        try:
            while True:
                i = await self.queue.get()
                if i is None:
                    return
                if i == self.fail_at:
                    raise ConnectionError("upstream died mid-stream")
                yield piece(i)
        finally:
            self.closed += 1

    async def emit(self, *indexes: int | None) -> None:
        for i in indexes:
            self.queue.put_nowait(i)
        await settle()


async def collect(
    coalescer: Coalescer, upstream: Upstream, ctx: RequestContext, stop_after: int | None = None
) -> list[int]:
    opened = await coalescer.stream("s", ctx, upstream.open)
    assert opened.first is not None
    got = [msgspec.json.decode(opened.first["seq"])]
    try:
        async for chunk in opened.rest:
            got.append(msgspec.json.decode(chunk["seq"]))
            chunk["seq"] = raw(-1)  # a subscriber's own copy: changing it leaks nowhere
            if stop_after is not None and len(got) >= stop_after:
                break
    finally:
        await opened.rest.aclose()
    return got


async def test_twenty_subscribers_get_every_chunk_in_order_late_joiners_too() -> None:
    coalescer = Coalescer()
    upstream = Upstream()
    contexts = [context(i) for i in range(N)]
    early = [asyncio.create_task(collect(coalescer, upstream, c)) for c in contexts[:10]]
    await settle()
    upstream.opening.set()
    await upstream.emit(1, 2, 3)
    late = [asyncio.create_task(collect(coalescer, upstream, c)) for c in contexts[10:]]
    await settle()
    await upstream.emit(4, 5, 6, None)
    results = await asyncio.gather(*early, *late)
    assert results == [[0, 1, 2, 3, 4, 5, 6]] * N
    assert upstream.opens == 1 and upstream.closed == 1 and upstream.release_callbacks == 1
    assert not contexts[0].cached and all(c.cached for c in contexts[1:])
    assert coalescer.shared == N - 1 and coalescer.in_flight == 0


async def test_one_subscriber_closing_early_does_not_disturb_the_others() -> None:
    coalescer = Coalescer()
    upstream = Upstream()
    upstream.opening.set()
    contexts = [context(i) for i in range(N)]
    leaver = asyncio.create_task(collect(coalescer, upstream, contexts[0], stop_after=2))
    others = [asyncio.create_task(collect(coalescer, upstream, c)) for c in contexts[1:]]
    await settle()
    await upstream.emit(1, 2, 3)
    assert await leaver == [0, 1]
    assert upstream.closed == 0 and coalescer.in_flight == 1  # still streaming for the 19
    await upstream.emit(4, None)
    assert await asyncio.gather(*others) == [[0, 1, 2, 3, 4]] * (N - 1)
    assert upstream.opens == 1 and upstream.closed == 1


async def test_a_subscriber_cancelled_while_waiting_for_the_open_leaves_quietly() -> None:
    coalescer = Coalescer()
    upstream = Upstream()
    tasks = [asyncio.create_task(collect(coalescer, upstream, context(i))) for i in range(3)]
    await settle()
    tasks[1].cancel()
    await settle()
    upstream.opening.set()
    await upstream.emit(1, None)
    assert await tasks[0] == [0, 1] and await tasks[2] == [0, 1]
    assert tasks[1].cancelled() and upstream.opens == 1


async def test_the_last_subscriber_closing_cancels_the_pump_and_closes_the_upstream() -> None:
    coalescer = Coalescer()
    upstream = Upstream()
    upstream.opening.set()
    leavers = [
        asyncio.create_task(collect(coalescer, upstream, context(i), stop_after=2))
        for i in range(3)
    ]
    await settle()
    await upstream.emit(1)
    assert await asyncio.gather(*leavers) == [[0, 1]] * 3
    await settle()
    assert upstream.closed == 1 and upstream.release_callbacks == 1
    assert coalescer.in_flight == 0
    # Chunks the upstream would still have sent reach nobody; a newcomer opens afresh.
    fresh = asyncio.create_task(collect(coalescer, upstream, context(9)))
    await settle()
    assert upstream.opens == 2
    await upstream.emit(1, None)
    assert await fresh == [0, 1]


async def test_all_subscribers_cancelled_before_the_open_cancel_it() -> None:
    coalescer = Coalescer()
    upstream = Upstream()
    tasks = [asyncio.create_task(collect(coalescer, upstream, context(i))) for i in range(3)]
    await settle()
    for task in tasks:
        task.cancel()
    await settle()
    assert all(t.cancelled() for t in tasks)
    assert coalescer.in_flight == 0
    upstream.opening.set()
    await settle()
    assert upstream.opens == 1 and upstream.closed == 0  # never got past its open


async def test_an_error_before_the_commit_reaches_all() -> None:
    coalescer = Coalescer()
    upstream = Upstream(fail_open=TimeoutError("no first byte"))
    tasks = [asyncio.create_task(collect(coalescer, upstream, context(i))) for i in range(N)]
    await settle()
    upstream.opening.set()
    results = await asyncio.gather(*tasks, return_exceptions=True)
    assert all(isinstance(r, TimeoutError) and str(r) == "no first byte" for r in results)
    assert upstream.opens == 1 and coalescer.in_flight == 0


async def test_an_error_mid_stream_reaches_all_after_the_chunks_before_it() -> None:
    coalescer = Coalescer()
    upstream = Upstream(fail_at=3)
    upstream.opening.set()
    seen: list[list[int]] = [[] for _ in range(N)]

    async def follow(i: int) -> None:
        opened = await coalescer.stream("s", context(i), upstream.open)
        assert opened.first is not None
        seen[i].append(msgspec.json.decode(opened.first["seq"]))
        async for chunk in opened.rest:
            seen[i].append(msgspec.json.decode(chunk["seq"]))

    tasks = [asyncio.create_task(follow(i)) for i in range(N)]
    await settle()
    await upstream.emit(1, 2, 3)
    results = await asyncio.gather(*tasks, return_exceptions=True)
    assert all(isinstance(r, ConnectionError) for r in results), results
    assert seen == [[0, 1, 2]] * N
    assert upstream.opens == 1 and upstream.closed == 1 and coalescer.in_flight == 0


async def test_a_subscriber_joining_after_the_end_starts_a_new_stream() -> None:
    coalescer = Coalescer()
    upstream = Upstream()
    upstream.opening.set()
    first = asyncio.create_task(collect(coalescer, upstream, context(0)))
    await settle()
    await upstream.emit(1, None)
    assert await first == [0, 1]
    second_ctx = context(1)
    second = asyncio.create_task(collect(coalescer, upstream, second_ctx))
    await settle()
    await upstream.emit(2, None)
    assert await second == [0, 2]
    assert upstream.opens == 2 and not second_ctx.cached
