"""Client-bound tool calls whose arguments do not match the tool's JSON Schema (or are not
JSON at all): a client that executes tool calls would otherwise run what the model made up.

In a JSON reply, `block` answers 502 `tool_arguments_invalid` and `flag` names the stage in
`x-gateway-flagged`. In a stream the argument deltas go out as they come (clients show them
growing), but a client runs the calls only once the choice finishes: with `block`, a choice
whose calls are invalid ends with the stream's error event (`tool_arguments_invalid`, which
the SDKs raise) in place of its `finish_reason`; with `flag` it is audited and counted.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any, Literal

import msgspec
from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError

from gateway.context import RequestContext
from gateway.errors import BadGatewayError
from gateway.protocol.chat import ChatCompletionRequest
from gateway.protocol.payload import Chunk, Reply
from policies.audit import AuditLog
from policies.base import AnyRequest, StreamOutcome

Action = Literal["block", "flag"]


class ToolArgumentsStage:
    name = "tool_arguments"

    def __init__(self, action: Action, audit: AuditLog) -> None:
        self.action = action
        self.audit = audit

    def open(self, request: AnyRequest, ctx: RequestContext) -> _ArgumentsFilter | None:
        if not isinstance(request, ChatCompletionRequest) or not request.tools:
            return None
        schemas: dict[str, Any] = {}
        for tool in request.tools:
            function = getattr(tool, "function", None)
            parameters = getattr(function, "parameters", None)
            if function is not None and isinstance(parameters, dict):
                schemas[function.name] = parameters
        if not schemas:
            return None
        return _ArgumentsFilter(self, schemas, ctx)

    def invalid(self, ctx: RequestContext, names: Sequence[str], streamed: bool) -> None:
        action = "flag" if streamed else self.action
        self.audit.event(ctx, self.name, action, detail=",".join(names))
        if streamed or self.action == "flag":
            ctx.flag(self.name)
            return
        raise BadGatewayError(
            "The model called a tool with arguments that do not match its schema "
            f"({', '.join(sorted(set(names)))}).",
            code="tool_arguments_invalid",
        )


class _ArgumentsFilter:
    __slots__ = ("_calls", "_ctx", "_schemas", "_stage")

    def __init__(self, stage: ToolArgumentsStage, schemas: dict[str, Any], ctx: RequestContext):
        self._stage = stage
        self._schemas = schemas
        self._ctx = ctx
        # (choice, call index) -> [name, arguments so far], for streams.
        self._calls: dict[tuple[int, int], list[str]] = {}

    async def reply(self, reply: Reply) -> Reply:
        started = time.perf_counter()
        bad = []
        for choice in reply.choices():
            message = choice.get("message")
            calls = message.get("tool_calls") if isinstance(message, dict) else None
            for call in calls or ():
                function = call.get("function") if isinstance(call, dict) else None
                if isinstance(function, dict) and not self._valid(function):
                    bad.append(str(function.get("name")))
        self._record(bad, started, streamed=False)
        return reply

    async def chunk(self, chunk: Chunk) -> Sequence[Chunk]:
        for choice in chunk.choices() if chunk.has_choices else ():
            delta = choice.get("delta")
            calls = delta.get("tool_calls") if isinstance(delta, dict) else None
            for call in calls or ():
                if not isinstance(call, dict):
                    continue
                key = (int(choice.get("index") or 0), int(call.get("index") or 0))
                entry = self._calls.setdefault(key, ["", ""])
                function = call.get("function") or {}
                entry[0] += function.get("name") or ""
                entry[1] += function.get("arguments") or ""
            if self._stage.action == "block" and choice.get("finish_reason") is not None:
                self._check_choice(int(choice.get("index") or 0))
        return (chunk,)

    def _check_choice(self, index: int) -> None:
        """Before a choice's finish goes out: its calls, checked and then forgotten (the
        end of the stream checks only what is left)."""
        keys = [key for key in self._calls if key[0] == index]
        if not keys:
            return
        started = time.perf_counter()
        calls = [self._calls.pop(key) for key in keys]
        bad = [n for n, a in calls if not self._valid({"name": n, "arguments": a})]
        self._record(bad, started, streamed=False)

    async def finish(self, outcome: StreamOutcome) -> Sequence[Chunk]:
        if outcome is StreamOutcome.COMPLETED and self._calls:
            started = time.perf_counter()
            bad = [
                name
                for name, arguments in self._calls.values()
                if not self._valid({"name": name, "arguments": arguments})
            ]
            self._record(bad, started, streamed=True)
        return ()

    def _record(self, bad: list[str], started: float, streamed: bool) -> None:
        verdict = "allow" if not bad else ("flag" if streamed else self._stage.action)
        self._stage.audit.ran(self._stage.name, verdict, time.perf_counter() - started)
        if bad:
            self._stage.invalid(self._ctx, bad, streamed)

    def _valid(self, function: dict[str, Any]) -> bool:
        schema = self._schemas.get(str(function.get("name")))
        if schema is None:
            return True  # not one of the tools sent: the client's own matter
        try:
            arguments = msgspec.json.decode(str(function.get("arguments") or "{}"))
        except msgspec.DecodeError:
            return False
        try:
            return bool(Draft202012Validator(schema).is_valid(arguments))
        except SchemaError:
            return True  # the client's schema is itself broken: nothing to hold it to
