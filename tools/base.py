"""What a gateway tool is: the `Tool` protocol, the context it runs in, and what a call gives back.

A tool declares its arguments as a msgspec `Struct` (`Args`); the JSON Schema the model sees is
generated from it (`tools.schema.args_schema`), and the registry decodes the model's arguments
into it before `run` is called, so `run` only ever sees valid arguments.
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal, Protocol

import msgspec

from gateway.context import RequestContext

# How one call ended: the tool answered, the tool failed, the model's arguments were wrong
# (the message tells it how), or the call ran out of time.
Outcome = Literal["ok", "error", "invalid", "timeout"]


class ToolError(Exception):
    """A failure a tool reports on purpose: its message goes to the model as it is."""


class ToolContext(msgspec.Struct, frozen=True, kw_only=True):
    """The little of the request a tool may read."""

    request_id: str = ""
    tenant: str | None = None
    principal: str | None = None
    # `time.monotonic()` by which the whole request must be answered, or None.
    deadline: float | None = None

    @classmethod
    def from_request(cls, ctx: RequestContext) -> ToolContext:
        return cls(
            request_id=ctx.request_id,
            tenant=ctx.tenant,
            principal=ctx.principal,
            deadline=ctx.deadline,
        )


class Tool(Protocol):
    """A built-in tool. `run` gets an instance of `Args` (typed `Any` here so that each tool
    can annotate its own `Args`) and returns a Struct, a JSON-able dict or plain text."""

    name: str
    description: str
    Args: ClassVar[type[msgspec.Struct]]

    async def run(self, args: Any, ctx: ToolContext) -> msgspec.Struct | dict[str, Any] | str: ...


class ToolResult(msgspec.Struct, frozen=True, kw_only=True):
    """One call as the loop reports it: `content` is the `tool` message the model reads."""

    name: str
    ok: bool
    content: str
    outcome: Outcome
    seconds: float


def function_definition(name: str, description: str, parameters: dict[str, Any]) -> dict[str, Any]:
    """The OpenAI `tools[]` entry of one function tool."""
    return {
        "type": "function",
        "function": {"name": name, "description": description, "parameters": parameters},
    }


_encoder = msgspec.json.Encoder()


def render_result(value: object) -> str:
    """A tool's return value as the text the model reads: text as it is, anything else JSON."""
    if isinstance(value, str):
        return value
    return _encoder.encode(value).decode()
