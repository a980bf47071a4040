"""Gateway-owned function-calling tools: the registry, built-ins, MCP sources and endpoint.

    ToolRegistry         built-ins + MCP tools: resolve names, definitions, call
    McpSource            one external MCP server (stdio child process or streamable HTTP)
    McpApp               the registry served over MCP (mount at /mcp; start()/aclose())
    build_registry       the registry of a policy file's `tools:` section

Tools never import backends: one that needs a model gets a callable from the composition root.
"""

from tools.base import Outcome, Tool, ToolContext, ToolError, ToolResult, function_definition
from tools.mcp_client import McpSource, SourceStatus, ToolUnavailableError
from tools.mcp_server import McpApp, mcp_asgi_app, tool_context_from_scope
from tools.mcp_transport import McpConfigError
from tools.registry import ToolEntry, ToolRegistry, UnknownToolsError
from tools.schema import SchemaError, args_schema
from tools.sources import build_registry

__all__ = [
    "McpApp",
    "McpConfigError",
    "McpSource",
    "Outcome",
    "SchemaError",
    "SourceStatus",
    "Tool",
    "ToolContext",
    "ToolEntry",
    "ToolError",
    "ToolRegistry",
    "ToolResult",
    "ToolUnavailableError",
    "UnknownToolsError",
    "args_schema",
    "build_registry",
    "function_definition",
    "mcp_asgi_app",
    "tool_context_from_scope",
]
