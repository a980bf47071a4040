"""The gateway's tool loop: the model calls a tool the route offers, the gateway runs it and
calls the model again with the result, until the model answers or calls a client tool.

Rounds are bounded by `tools.max_rounds` and `tools.deadline_seconds` (then a 422
`tool_loop_limit`, never a hang). The calls of one turn run concurrently, each within
`tools.timeout_seconds`; an invalid or failing call's message goes back to the model, which
may correct itself. A turn that also calls client tools ends the loop: the client gets its
own calls only. Usage in the answer is every round's. In a stream each round is a stream:
one that opens with text is the answer and streams on; one that calls gateway tools is read
whole, its tools run, and the next round opens (meanwhile the client gets keep-alives).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncGenerator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import msgspec

from gateway.cache.entry import CachedAnswer, StreamAssembler, stream_chunks
from gateway.context import RequestContext
from gateway.errors import UnprocessableEntityError
from gateway.pipeline.executor import OpenedStream
from gateway.pipeline.parsed import ParsedRequest
from gateway.pipeline.tool_turns import (
    add_usage,
    assistant_turn,
    next_round,
    summed,
    tool_message,
    with_gateway_tools,
)
from gateway.pipeline.upstream import Upstream
from gateway.protocol.payload import is_null
from gateway.protocol.raw import RawFields, raw
from gateway.settings.tool_types import Tools
from routers.base import RouteDecision

_list = msgspec.json.Decoder(list[dict[str, Any]])
_any = msgspec.json.Decoder()
# Checks the next round's request (the route's content policies on the tool results).
Check = Callable[[ParsedRequest], Awaitable[ParsedRequest]]


class ToolOutcome(Protocol):
    content: str
    outcome: str  # ok | error | invalid | timeout
    seconds: float


class GatewayTools(Protocol):
    """The tools a route offers (`tools.registry.ToolRegistry` behind an adapter)."""

    def definitions(self, names: Sequence[str]) -> list[dict[str, Any]]:
        """The model-facing definitions of those of `names` available now."""
        ...

    def label(self, name: str) -> str:
        """How headers and metrics name a model-facing tool name (`files.read`)."""
        ...

    async def call(
        self, name: str, arguments: str, ctx: RequestContext, seconds: float
    ) -> ToolOutcome:
        """Run one call within `seconds`; never raises for the tool's own failures."""
        ...


@dataclass(slots=True)
class _Run:
    """One streamed request's loop: what each round is built from."""

    parsed: ParsedRequest
    decision: RouteDecision
    ctx: RequestContext
    names: set[str]
    check: Check


class ToolLoopLimitError(UnprocessableEntityError):
    error_code = "tool_loop_limit"


class ToolLoop:
    def __init__(
        self,
        upstream: Upstream,
        tools: GatewayTools,
        settings: Tools,
        record: Callable[[str, str, float], None] = lambda _t, _o, _s: None,
    ) -> None:
        self._upstream = upstream
        self._tools = tools
        self._settings = settings
        self._record = record  # (tool label, outcome, seconds): the metrics

    def offered(self, names: Sequence[str]) -> list[dict[str, Any]]:
        return self._tools.definitions(names)

    async def reply(
        self,
        parsed: ParsedRequest,
        decision: RouteDecision,
        ctx: RequestContext,
        offered: list[dict[str, Any]],
        check: Check,
    ) -> RawFields:
        parsed = with_gateway_tools(parsed, offered)
        names = {d["function"]["name"] for d in offered}
        deadline = time.monotonic() + self._settings.deadline_seconds
        total: dict[str, int] = {}
        for _round in range(self._settings.max_rounds + 1):
            fields = await self._bounded(self._upstream.reply(parsed, decision, ctx), deadline)
            usage = None if is_null(fields.get("usage")) else _any.decode(fields["usage"])
            add_usage(total, usage)
            choices = _list.decode(fields.get("choices") or b"[]")
            message = (choices[0].get("message") or {}) if len(choices) == 1 else {}
            calls = message.get("tool_calls") or []
            ours, theirs = _split(calls, names)
            if not ours:
                return _with_usage(fields, total, usage)
            if _round == self._settings.max_rounds:
                break
            results = await self._run(ours, ctx, deadline)
            if theirs:
                # The client gets its own calls only; the gateway's ran for nothing it sees.
                message["tool_calls"] = theirs
                fields["choices"] = raw(choices)
                return _with_usage(fields, total, usage)
            parsed = await check(next_round(parsed, assistant_turn(message, ours), results))
        raise _limit(f"the model still called tools after {self._settings.max_rounds} rounds")

    async def stream(
        self,
        parsed: ParsedRequest,
        decision: RouteDecision,
        ctx: RequestContext,
        offered: list[dict[str, Any]],
        check: Check,
    ) -> OpenedStream:
        parsed = with_gateway_tools(parsed, offered)
        deadline = time.monotonic() + self._settings.deadline_seconds
        first = await self._bounded(self._upstream.stream(parsed, decision, ctx), deadline)
        run = _Run(parsed, decision, ctx, {d["function"]["name"] for d in offered}, check)
        return OpenedStream(None, self._rounds(run, first, deadline), first.target)

    async def _rounds(
        self, run: _Run, opened: OpenedStream, deadline: float
    ) -> AsyncGenerator[RawFields, None]:
        parsed, decision, ctx, names, check = (
            run.parsed,
            run.decision,
            run.ctx,
            run.names,
            run.check,
        )
        total: dict[str, int] = {}
        current: OpenedStream | None = opened
        try:
            for _round in range(self._settings.max_rounds + 1):
                assert current is not None
                assembler = StreamAssembler(parsed.kind)
                held: list[RawFields] = []
                chunks = _chunks(current)
                answering = False
                async for fields in chunks:
                    assembler.feed(fields)
                    if answering:
                        yield _counted(fields, total)
                        continue
                    verdict = _verdict(fields, names)
                    held.append(fields)
                    if verdict == "answer":
                        answering = True
                        for chunk in held:
                            yield _counted(chunk, total)
                        held = []
                if answering:
                    return
                answer = assembler.answer()
                message = answer.choices[0].get("message", {}) if answer else {}
                add_usage(total, answer.usage if answer else None)
                calls = message.get("tool_calls") or []
                ours, theirs = _split(calls, names)
                if not ours or answer is None:
                    for chunk in held:  # no text and no gateway call: pass it on as it came
                        yield _counted(chunk, total, add=False)
                    return
                if _round == self._settings.max_rounds:
                    break
                results = await self._run(ours, ctx, deadline)
                if theirs:
                    for chunk in _client_calls(answer, message, theirs, total):
                        yield chunk
                    return
                await current.aclose()
                current = None
                parsed = await check(next_round(parsed, assistant_turn(message, ours), results))
                current = await self._bounded(
                    self._upstream.stream(parsed, decision, ctx), deadline
                )
            raise _limit(f"the model still called tools after {self._settings.max_rounds} rounds")
        finally:
            if current is not None:
                await current.aclose()

    async def _run(
        self, calls: Sequence[dict[str, Any]], ctx: RequestContext, deadline: float
    ) -> list[dict[str, Any]]:
        """Each call's `tool` message, run concurrently within the loop's deadline."""
        left = deadline - time.monotonic()
        if left <= 0:
            raise _limit("the tool loop's deadline passed")
        timeout = min(self._settings.timeout_seconds, left)

        async def one(call: dict[str, Any]) -> dict[str, Any]:
            function = call.get("function") or {}
            name = str(function.get("name"))
            arguments = str(function.get("arguments") or "{}")
            got = await self._tools.call(name, arguments, ctx, timeout)
            label = self._tools.label(name)
            ctx.tool_run(label, got.outcome, got.seconds, arguments, got.content)
            self._record(label, got.outcome, got.seconds)
            return tool_message(str(call.get("id") or ""), got.content)

        return list(await asyncio.gather(*(one(c) for c in calls)))

    async def _bounded(self, call: Awaitable[Any], deadline: float) -> Any:
        try:
            async with asyncio.timeout(max(0.0, deadline - time.monotonic())):
                return await call
        except TimeoutError:
            raise _limit("the tool loop's deadline passed") from None


def _split(
    calls: Sequence[dict[str, Any]], names: set[str]
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """A turn's calls: the gateway's (`names`) and the client's."""
    ours = [c for c in calls if _name(c) in names]
    return ours, [c for c in calls if _name(c) not in names]


def _name(call: dict[str, Any]) -> str | None:
    function = call.get("function")
    return function.get("name") if isinstance(function, dict) else None


def _verdict(fields: RawFields, names: set[str]) -> str:
    """Whether a round's chunk shows it is the answer (text, or a client's call) or still
    undecided (role, empty deltas, a gateway call)."""
    value = fields.get("choices")
    if value is None:
        return "undecided"
    for choice in _list.decode(value):
        delta = choice.get("delta") or {}
        if delta.get("content") or delta.get("refusal"):
            return "answer"
        for call in delta.get("tool_calls") or ():
            name = (call.get("function") or {}).get("name")
            if name and name not in names:
                return "answer"
    return "undecided"


async def _chunks(opened: OpenedStream) -> AsyncGenerator[RawFields, None]:
    if opened.first is not None:
        yield opened.first
    async for fields in opened.rest:
        yield fields


def _counted(fields: RawFields, total: dict[str, int], *, add: bool = True) -> RawFields:
    """A final-round chunk; its usage (if any) made the sum over every round."""
    usage = fields.get("usage")
    if is_null(usage):
        return fields
    last = _any.decode(usage)  # type: ignore[arg-type]
    every = dict(total)
    if add:
        add_usage(every, last)
    return {**fields, "usage": raw(summed(every, last))}


def _with_usage(fields: RawFields, total: dict[str, int], last: Any) -> RawFields:
    if last is None and not total:
        return fields
    return {**fields, "usage": raw(summed(total, last))}


def _client_calls(
    answer: CachedAnswer,
    message: dict[str, Any],
    theirs: list[dict[str, Any]],
    total: dict[str, int],
) -> list[RawFields]:
    """A turn that called client tools too, played back with the client's calls only."""
    choice = {**answer.choices[0], "message": {**message, "tool_calls": theirs}}
    only = msgspec.structs.replace(answer, choices=[choice], usage=summed(total, answer.usage))
    return stream_chunks(only)


def _limit(why: str) -> ToolLoopLimitError:
    error = ToolLoopLimitError(f"The gateway's tool loop stopped: {why}.")
    return error
