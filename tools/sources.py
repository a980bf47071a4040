"""Building the registry from the policy file's `tools:` section (for the composition root)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Protocol

from tools.base import Tool
from tools.builtin import builtin_tools
from tools.registry import ToolRegistry

if TYPE_CHECKING:
    from tools.mcp_client import McpSource
    from tools.mcp_transport import McpServerSpec


class ToolsSettings(Protocol):
    """The policy file's `tools:` section (`gateway.settings.tool_types.Tools`)."""

    @property
    def timeout_seconds(self) -> float: ...
    @property
    def max_result_chars(self) -> int: ...
    @property
    def mcp_servers(self) -> Mapping[str, McpServerSpec]: ...


def build_registry(
    settings: ToolsSettings,
    env: Mapping[str, str],
    extra_tools: Iterable[Tool] = (),
) -> ToolRegistry:
    """The built-ins, `extra_tools` (verify, RAG, ...: built by the composition root) and one
    `McpSource` per `tools.mcp_servers` entry; nothing is started until `registry.start()`.
    Raises `tools.McpConfigError` for a server entry that cannot be used (a header's
    environment variable is not set)."""
    sources: list[McpSource] = []
    if settings.mcp_servers:
        # Imported here: the MCP SDK costs ~0.6 s and ~20 MB, for policy files that use it.
        from tools.mcp_client import McpSource

        sources = [
            McpSource(name, spec, env, connect_timeout=min(settings.timeout_seconds, 10.0))
            for name, spec in settings.mcp_servers.items()
        ]
    return ToolRegistry(
        [*builtin_tools(), *extra_tools],
        sources,
        timeout_seconds=settings.timeout_seconds,
        max_result_chars=settings.max_result_chars,
    )
