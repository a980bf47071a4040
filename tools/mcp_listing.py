"""One MCP server's tools as the registry holds them: listed, schema-checked, validators built."""

from __future__ import annotations

import logging
from typing import Any

import jsonschema
import jsonschema.exceptions
import jsonschema.protocols
import mcp_types
import msgspec

logger = logging.getLogger(__name__)


class McpTool(msgspec.Struct, frozen=True, kw_only=True):
    """A tool one MCP server offers, with the validator of its `inputSchema`."""

    server: str
    name: str
    description: str
    input_schema: dict[str, Any]
    validator: Any  # a jsonschema validator instance (the protocol type is not a Struct field)

    def check(self, arguments: dict[str, Any]) -> str | None:
        """None when `arguments` match the schema, else a message the model can act on."""
        validator: jsonschema.protocols.Validator = self.validator
        error = jsonschema.exceptions.best_match(validator.iter_errors(arguments))
        if error is None:
            return None
        path = "$" + "".join(
            f"[{part}]" if isinstance(part, int) else f".{part}" for part in error.absolute_path
        )
        return f"{error.message} (at {path})"


def accept_tools(server: str, listed: list[mcp_types.Tool]) -> dict[str, McpTool]:
    """The tools of a listing whose input schema is a valid JSON object schema; others are
    skipped with a warning (a model could never call them correctly)."""
    accepted: dict[str, McpTool] = {}
    for tool in listed:
        problem = _schema_problem(tool.input_schema)
        if problem is not None:
            logger.warning("MCP server %r: tool %r skipped: %s", server, tool.name, problem)
            continue
        if tool.name in accepted:
            logger.warning("MCP server %r: tool %r listed twice; first kept", server, tool.name)
            continue
        cls = jsonschema.validators.validator_for(tool.input_schema)
        accepted[tool.name] = McpTool(
            server=server,
            name=tool.name,
            description=tool.description or tool.title or tool.name,
            input_schema=tool.input_schema,
            validator=cls(tool.input_schema),
        )
    return accepted


def _schema_problem(schema: object) -> str | None:
    if not isinstance(schema, dict):
        return "inputSchema is not an object"
    if schema.get("type") != "object":
        return "inputSchema is not an object schema (type: object)"
    try:
        jsonschema.validators.validator_for(schema).check_schema(schema)
    except jsonschema.exceptions.SchemaError as exc:
        return f"inputSchema is not a valid JSON Schema: {exc.message}"
    return None
