"""The policy file's tool types: the gateway-run tool loop (`tools:`), its external sources
(`tools.mcp_servers`), and which tools a route exposes (`models[].tools`)."""

from __future__ import annotations

from typing import Annotated

from msgspec import Meta, field

from gateway.settings.base_types import Config, EnvVarName

# A tool as a route names it: a built-in (`calculator`), one MCP server's tool
# (`files.read`) or all of one server's (`files.*`).
ToolName = Annotated[
    str, Meta(pattern=r"^[A-Za-z][A-Za-z0-9_-]{0,63}(\.([A-Za-z0-9_-]{1,64}|\*))?$")
]
ServerName = Annotated[str, Meta(pattern=r"^[A-Za-z][A-Za-z0-9_-]{0,63}$")]


class McpServer(Config, frozen=True):
    """An MCP server: `command` (stdio: a local process the gateway starts, supervises with
    backoff and stops) or `url` (streamable HTTP, reached with timeouts); exactly one."""

    # stdio: the program and its arguments, run without a shell (set this or `url`).
    command: Annotated[list[Annotated[str, Meta(min_length=1)]], Meta(min_length=1)] | None = None
    # Extra environment for a stdio server's process (values as written).
    env: dict[EnvVarName, str] = field(default_factory=dict)
    # Streamable HTTP: the server's MCP endpoint (set this or `command`).
    url: Annotated[str, Meta(pattern=r"^https?://")] | None = None
    # HTTP headers whose values come from the gateway's environment: {header: VARIABLE}.
    headers_env: dict[Annotated[str, Meta(min_length=1)], EnvVarName] = field(default_factory=dict)


class VerifySettings(Config, frozen=True):
    """The `verify` tool (sound SymPy/z3 checks): a small pool of worker processes, each
    check killed at its timeout; also served as `POST /v1/tools/verify`."""

    # `POST /v1/tools/verify` (the built-in tool itself is offered where routes name it).
    endpoint: bool = True
    # A check's time when the call names none; a call may ask for up to `max_timeout_seconds`.
    timeout_seconds: Annotated[float, Meta(gt=0, le=600)] = 10.0
    # The most a call's own `timeout_seconds` may ask for (a longer one is capped to it).
    max_timeout_seconds: Annotated[float, Meta(gt=0, le=600)] = 60.0
    # Checks run at once (one worker process each, started on first use) and each one's cap.
    workers: Annotated[int, Meta(ge=1, le=64)] = 2
    # Each worker process's address-space cap (RLIMIT_AS), in MiB.
    memory_mb: Annotated[int, Meta(ge=256, le=65_536)] = 2048


class Tools(Config, frozen=True):
    """The gateway-run tool loop; routes offer its tools with `models[].tools`."""

    # Model -> tools -> model rounds per request; past them, a 422 `tool_loop_limit`.
    max_rounds: Annotated[int, Meta(ge=1, le=64)] = 6
    # The whole tool loop's time in seconds (then a 422 `tool_loop_limit`).
    deadline_seconds: Annotated[float, Meta(gt=0, le=3600)] = 120.0
    # One tool call's time; a result longer than `max_result_chars` is cut (with a note).
    timeout_seconds: Annotated[float, Meta(gt=0, le=600)] = 30.0
    # A longer tool result is cut to this many characters, with a note telling the model.
    max_result_chars: Annotated[int, Meta(ge=256, le=1_000_000)] = 16_000
    # External tool sources (MCP) by name; routes offer `<name>.<tool>` or `<name>.*`.
    mcp_servers: dict[ServerName, McpServer] = field(default_factory=dict)
    # The built-in `verify` tool's worker pool and its `POST /v1/tools/verify` endpoint.
    verify: VerifySettings = field(default_factory=VerifySettings)
