"""JSON Schemas as a model wants them: one plain object schema per tool, no `$ref`s.

msgspec puts every Struct under `$defs` and points at it with `$ref`; OpenAI-style function
parameters must be a self-contained object schema, and several providers ignore `$defs`, so
references are inlined.
"""

from __future__ import annotations

from typing import Any

import msgspec

_REF_PREFIX = "#/$defs/"


class SchemaError(ValueError):
    """A schema that cannot be offered to a model (recursive, or not an object schema)."""


def args_schema(args_type: type[msgspec.Struct]) -> dict[str, Any]:
    """The parameters schema of a tool whose arguments are `args_type`."""
    schema = msgspec.json.schema(args_type)
    inlined = inline_refs(schema)
    inlined.pop("title", None)
    if inlined.get("type") != "object":
        raise SchemaError(f"{args_type.__name__}: arguments must be an object schema")
    return inlined


def inline_refs(schema: dict[str, Any]) -> dict[str, Any]:
    """`schema` with every local `#/$defs/...` reference replaced by its definition."""
    defs: dict[str, Any] = schema.get("$defs", {})

    def resolve(node: Any, seen: tuple[str, ...]) -> Any:
        if isinstance(node, list):
            return [resolve(item, seen) for item in node]
        if not isinstance(node, dict):
            return node
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith(_REF_PREFIX):
            key = ref[len(_REF_PREFIX) :]
            if key in seen:
                raise SchemaError(f"recursive schema through {key!r} cannot be inlined")
            if key not in defs:
                raise SchemaError(f"unknown schema reference {ref!r}")
            siblings = {k: v for k, v in node.items() if k != "$ref"}
            target = resolve(defs[key], (*seen, key))
            return {**target, **resolve(siblings, seen)}
        return {k: resolve(v, seen) for k, v in node.items() if k != "$defs"}

    resolved: dict[str, Any] = resolve(schema, ())
    return resolved
