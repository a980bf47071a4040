"""Gateway-owned function-calling tools: the registry, built-ins, MCP sources and endpoint.

    ToolRegistry         built-ins + MCP tools: resolve names, definitions, call
    McpSource            one external MCP server (stdio child process or streamable HTTP)
    McpApp               the registry served over MCP (mount at /mcp; start()/aclose())
    build_registry       the registry of a policy file's `tools:` section

Tools never import backends: one that needs a model gets a callable from the composition root.
"""

from tools.lazy import lazy_exports

# Where each name lives: loaded on first use, so that `import tools.registry` does not load
# the MCP SDK (~0.6 s, ~20 MB) for a policy file without MCP servers.
_HOMES = {
    "Outcome": "tools.base",
    "Tool": "tools.base",
    "ToolContext": "tools.base",
    "ToolError": "tools.base",
    "ToolResult": "tools.base",
    "function_definition": "tools.base",
    "McpSource": "tools.mcp_client",
    "SourceStatus": "tools.mcp_client",
    "ToolUnavailableError": "tools.mcp_client",
    "McpApp": "tools.mcp_server",
    "mcp_asgi_app": "tools.mcp_server",
    "tool_context_from_scope": "tools.mcp_server",
    "McpConfigError": "tools.mcp_transport",
    "ToolEntry": "tools.registry",
    "ToolRegistry": "tools.registry",
    "UnknownToolsError": "tools.registry",
    "SchemaError": "tools.schema",
    "args_schema": "tools.schema",
    "build_registry": "tools.sources",
}


__getattr__ = lazy_exports(__name__, _HOMES)


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
