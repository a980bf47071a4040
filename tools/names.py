"""Tool names as routes write them and as models see them.

Routes and MCP address a server's tool as `server.tool`; OpenAI function names must match
`^[a-zA-Z0-9_-]{1,64}$`, so the model sees `server__tool`. When that is not a valid function
name (other characters, too long), a stable hash of the full name keeps it unique; the
registry maps model-facing names back through a table, never by parsing, so the mapping is
reversible even when a server name itself contains `__`.
"""

from __future__ import annotations

import hashlib
import re

SEPARATOR = "__"
_FUNCTION_NAME = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")
_INVALID = re.compile(r"[^a-zA-Z0-9_-]")
_MAX = 64
_HASH_CHARS = 8


def qualified_name(server: str, tool: str) -> str:
    """The name routes and the registry use for one MCP tool: `server.tool`."""
    return f"{server}.{tool}"


def public_name(server: str, tool: str) -> str:
    """The model-facing function name of `server.tool`."""
    plain = f"{server}{SEPARATOR}{tool}"
    if _FUNCTION_NAME.match(plain):
        return plain
    digest = hashlib.sha256(qualified_name(server, tool).encode()).hexdigest()[:_HASH_CHARS]
    cleaned = _INVALID.sub("_", plain)[: _MAX - _HASH_CHARS - 1]
    return f"{cleaned}_{digest}"


def is_function_name(name: str) -> bool:
    return _FUNCTION_NAME.match(name) is not None
