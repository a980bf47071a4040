"""The gateway's tools: built-ins and the tools of MCP servers, resolved by name and called.

Routes name tools as `calculator`, `files.read` or `files.*`; models see OpenAI function
names (`files__read`, see `tools.names`). `call` never raises for anything the model did:
bad arguments, a failing tool, a timeout, a server that is down all come back as a
`ToolResult` whose `content` tells the model what happened.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import msgspec

from tools.base import (
    Outcome,
    Tool,
    ToolContext,
    ToolError,
    ToolResult,
    function_definition,
    render_result,
)
from tools.names import is_function_name, public_name, qualified_name
from tools.schema import args_schema

if TYPE_CHECKING:  # the MCP SDK loads only when a policy file names MCP servers
    from tools.mcp_client import McpSource, SourceStatus
    from tools.mcp_listing import McpTool

logger = logging.getLogger(__name__)

_ALL = "*"


class UnknownToolsError(ValueError):
    """Tool names that are neither a built-in nor a configured MCP server's (all listed)."""

    def __init__(self, names: Sequence[str], known: Sequence[str]) -> None:
        self.names = tuple(names)
        super().__init__(f"unknown tools: {', '.join(names)} (known: {', '.join(known) or 'none'})")


@dataclass(frozen=True, slots=True)
class ToolEntry:
    """One callable tool: its route name, the name the model sees, and its definition."""

    name: str
    public_name: str
    description: str
    parameters: dict[str, Any]
    # The MCP server it comes from; None for a built-in.
    server: str | None
    definition: dict[str, Any]


class ToolRegistry:
    def __init__(
        self,
        builtins: Iterable[Tool] = (),
        sources: Iterable[McpSource] = (),
        *,
        timeout_seconds: float = 30.0,
        max_result_chars: int = 16_000,
    ) -> None:
        self._builtins: dict[str, Tool] = {}
        self._builtin_entries: dict[str, ToolEntry] = {}
        for tool in builtins:
            self._add_builtin(tool)
        self._sources: dict[str, McpSource] = {source.name: source for source in sources}
        self.timeout_seconds = timeout_seconds
        self.max_result_chars = max_result_chars
        # Derived from the sources' listings, rebuilt when a source's generation moves.
        self._mcp_entries: dict[str, tuple[int, dict[str, ToolEntry]]] = {}
        self._public: tuple[tuple[int, ...], dict[str, ToolEntry]] = ((), {})
        # Keyed by a route's tool names: bounded by the routes in the policy file.
        self._resolved: dict[tuple[str, ...], tuple[tuple[int, ...], list[ToolEntry]]] = {}

    def _add_builtin(self, tool: Tool) -> None:
        if not is_function_name(tool.name):
            raise ValueError(f"built-in tool name {tool.name!r} is not a valid function name")
        if tool.name in self._builtins:
            raise ValueError(f"built-in tool {tool.name!r} registered twice")
        parameters = args_schema(tool.Args)
        self._builtins[tool.name] = tool
        self._builtin_entries[tool.name] = ToolEntry(
            name=tool.name,
            public_name=tool.name,
            description=tool.description,
            parameters=parameters,
            server=None,
            definition=function_definition(tool.name, tool.description, parameters),
        )

    # --- lifecycle ------------------------------------------------------------------

    async def start(self, ready_timeout: float | None = 10.0) -> None:
        """Start every MCP source; wait (bounded) for their first connection attempts."""
        await asyncio.gather(*(s.start(ready_timeout) for s in self._sources.values()))

    async def aclose(self) -> None:
        await asyncio.gather(*(s.aclose() for s in self._sources.values()))

    async def refresh(self, within_seconds: float | None = None) -> None:
        """List every connected server's tools again."""
        await asyncio.gather(*(s.refresh(within_seconds) for s in self._sources.values()))

    def status(self) -> dict[str, SourceStatus]:
        """Each MCP server's state, for `/readyz`."""
        return {name: source.status for name, source in self._sources.items()}

    @property
    def sources(self) -> Mapping[str, McpSource]:
        return self._sources

    # --- names ----------------------------------------------------------------------

    def resolve_static(self, names: Iterable[str]) -> None:
        """Raise `UnknownToolsError` naming every name no built-in or server can provide.
        Up or down does not matter here: a server's own tools are known only once listed."""
        unknown = [name for name in names if not self._known(name)]
        if unknown:
            known = [*self._builtins, *(f"{server}.*" for server in self._sources)]
            raise UnknownToolsError(unknown, known)

    def _known(self, name: str) -> bool:
        if name in self._builtins:
            return True
        server, dot, tool = name.partition(".")
        return bool(dot) and bool(tool) and server in self._sources

    def available(self, names: Sequence[str]) -> list[ToolEntry]:
        """The tools among `names` callable now, in order, once each; a down server's
        tools (and names no source knows) are left out."""
        key = tuple(names)
        generations = self._generations()
        cached = self._resolved.get(key)
        if cached is not None and cached[0] == generations:
            return cached[1]
        entries: dict[str, ToolEntry] = {}
        for name in names:
            for entry in self._expand(name):
                entries.setdefault(entry.name, entry)
        found = list(entries.values())
        self._resolved[key] = (generations, found)
        return found

    def resolve(self, names: Sequence[str]) -> list[ToolEntry]:
        """`resolve_static`, then `available`."""
        self.resolve_static(names)
        return self.available(names)

    def all_available(self) -> list[ToolEntry]:
        """Every tool callable now (what the gateway's own MCP endpoint lists)."""
        return [*self._builtin_entries.values(), *self._public_index().values()]

    def definitions(self, entries: Iterable[ToolEntry]) -> list[dict[str, Any]]:
        return [entry.definition for entry in entries]

    def lookup(self, name: str) -> ToolEntry | None:
        """A callable tool by route name (`files.read`) or model-facing name (`files__read`)."""
        entry = self._builtin_entries.get(name)
        if entry is not None:
            return entry
        entry = self._public_index().get(name)
        if entry is not None:
            return entry
        server, dot, tool = name.partition(".")
        if dot and server in self._sources:
            return self._server_entries(server).get(tool)
        return None

    def _expand(self, name: str) -> list[ToolEntry]:
        builtin = self._builtin_entries.get(name)
        if builtin is not None:
            return [builtin]
        server, _, tool = name.partition(".")
        if server not in self._sources:
            return []
        listed = self._server_entries(server)
        if tool == _ALL:
            return list(listed.values())
        entry = listed.get(tool)
        return [entry] if entry is not None else []

    def _generations(self) -> tuple[int, ...]:
        return tuple(source.generation for source in self._sources.values())

    def _server_entries(self, server: str) -> dict[str, ToolEntry]:
        source = self._sources[server]
        cached = self._mcp_entries.get(server)
        if cached is not None and cached[0] == source.generation:
            return cached[1]
        entries = {name: _mcp_entry(tool) for name, tool in source.tools.items()}
        self._mcp_entries[server] = (source.generation, entries)
        return entries

    def _public_index(self) -> dict[str, ToolEntry]:
        generations = self._generations()
        if self._public[0] == generations:
            return self._public[1]
        index: dict[str, ToolEntry] = {}
        for server in self._sources:
            for entry in self._server_entries(server).values():
                if entry.public_name in self._builtins or entry.public_name in index:
                    logger.warning(
                        "tool %r hidden: its name %r is taken", entry.name, entry.public_name
                    )
                    continue
                index[entry.public_name] = entry
        self._public = (generations, index)
        return index

    # --- calls ----------------------------------------------------------------------

    async def call(
        self,
        name: str,
        arguments: str | bytes | Mapping[str, Any] | None,
        ctx: ToolContext,
        timeout: float | None = None,  # noqa: ASYNC109 - also capped by the request's deadline
    ) -> ToolResult:
        """Run one tool call for the model; `arguments` as the model sent them (JSON text)."""
        started = time.perf_counter()
        entry = self.lookup(name)
        if entry is None:
            return self._result(name, "invalid", _unknown_message(name, self), started)
        limit = self.timeout_seconds if timeout is None else timeout
        remaining = None if ctx.deadline is None else ctx.deadline - time.monotonic()
        if remaining is not None:
            limit = min(limit, max(remaining, 0.0))
        try:
            if limit <= 0:
                raise TimeoutError  # the request's deadline has already passed
            async with asyncio.timeout(limit):
                outcome, content = await self._run(entry, arguments, ctx, limit)
        except TimeoutError:
            outcome, content = "timeout", f"{entry.public_name} timed out after {limit:g} s"
        except ToolError as exc:
            outcome, content = "error", str(exc) or type(exc).__name__
        except Exception as exc:
            logger.warning("tool %r failed", entry.name, exc_info=True)
            outcome, content = "error", f"{type(exc).__name__}: {exc}"
        return self._result(entry.name, outcome, content, started)

    async def _run(
        self,
        entry: ToolEntry,
        arguments: str | bytes | Mapping[str, Any] | None,
        ctx: ToolContext,
        limit: float,
    ) -> tuple[Outcome, str]:
        if entry.server is None:
            tool = self._builtins[entry.name]
            try:
                args = _decode_builtin(arguments, tool.Args)
            except (msgspec.ValidationError, msgspec.DecodeError) as exc:
                return "invalid", _invalid_message(entry, str(exc))
            return "ok", render_result(await tool.run(args, ctx))
        source = self._sources[entry.server]
        mcp_tool = source.tools.get(entry.name.partition(".")[2])
        if mcp_tool is None:
            raise ToolError(f"{entry.public_name} is not available now")
        decoded = _decode_mcp(arguments, mcp_tool)
        if isinstance(decoded, str):
            return "invalid", _invalid_message(entry, decoded)
        return "ok", await source.call_tool(mcp_tool.name, decoded, limit)

    def _result(self, name: str, outcome: Outcome, content: str, started: float) -> ToolResult:
        return ToolResult(
            name=name,
            ok=outcome == "ok",
            content=truncate(content, self.max_result_chars),
            outcome=outcome,
            seconds=time.perf_counter() - started,
        )


def truncate(content: str, limit: int) -> str:
    """`content` cut to `limit` characters, with a note saying how much the model missed."""
    if len(content) <= limit:
        return content
    return f"{content[:limit]}\n[truncated: {len(content) - limit} more characters]"


def _mcp_entry(tool: McpTool) -> ToolEntry:
    name = qualified_name(tool.server, tool.name)
    public = public_name(tool.server, tool.name)
    return ToolEntry(
        name=name,
        public_name=public,
        description=tool.description,
        parameters=tool.input_schema,
        server=tool.server,
        definition=function_definition(public, tool.description, tool.input_schema),
    )


def _decode_builtin(
    arguments: str | bytes | Mapping[str, Any] | None, args_type: type[msgspec.Struct]
) -> msgspec.Struct:
    if isinstance(arguments, Mapping):
        return msgspec.convert(dict(arguments), type=args_type)
    text = arguments if arguments is not None else b""
    if not text.strip():
        text = b"{}"
    return msgspec.json.decode(text, type=args_type)


def _decode_mcp(
    arguments: str | bytes | Mapping[str, Any] | None, tool: McpTool
) -> dict[str, Any] | str:
    """The arguments as a dict that matches the tool's schema, or why they do not."""
    if isinstance(arguments, Mapping):
        value: Any = dict(arguments)
    else:
        text = arguments if arguments is not None else ""
        if not text.strip():
            text = "{}"
        try:
            value = json.loads(text)
        except ValueError as exc:
            return f"JSON is malformed: {exc}"
    if not isinstance(value, dict):
        return f"arguments must be a JSON object, got {type(value).__name__}"
    problem = tool.check(value)
    return problem if problem is not None else value


def _invalid_message(entry: ToolEntry, problem: str) -> str:
    return (
        f"Invalid arguments for {entry.public_name}: {problem}. "
        "Call it again with arguments that match its parameters schema."
    )


def _unknown_message(name: str, registry: ToolRegistry) -> str:
    names = ", ".join(entry.public_name for entry in registry.all_available())
    return f"Unknown tool {name!r}; the tools available are: {names or 'none'}."
