"""The policy file's documentation, generated from its types: one source for the JSON Schema
(`gateway schema`) and the configuration reference (`gateway schema --markdown`,
docs/configuration.md).

Each type's docstring is its description (msgspec puts it in the schema); each field's is
the comment written above it (or beside it) in the type's source, which is where this
project documents its keys. A test fails when either generated file is stale.
"""

from __future__ import annotations

import ast
import inspect
import io
import json
import textwrap
import tokenize
from typing import Any

import msgspec

from gateway.settings.schema import Settings

Json = dict[str, Any]
_REF = "#/$defs/"


def documented_schema() -> Json:
    """The JSON Schema of the policy file, with each field's comment as its description."""
    schema: Json = msgspec.json.schema(Settings)
    classes = _struct_classes()
    for name, definition in schema.get("$defs", {}).items():
        cls = classes.get(name)
        if cls is None:
            continue
        comments = field_comments(cls)
        tag_field = cls.__struct_config__.tag_field
        if tag_field is not None:  # a tagged union's tag is no field of the source
            comments.setdefault(tag_field, f"Selects this kind: `{cls.__struct_config__.tag}`.")
        for key, prop in definition.get("properties", {}).items():
            if key in comments and "description" not in prop:
                prop["description"] = comments[key]
    return schema


def field_comments(cls: type) -> dict[str, str]:
    """`field name -> comment` for the fields of `cls` written with a comment above them
    (contiguous `#` lines) or beside them."""
    try:
        source = textwrap.dedent(inspect.getsource(cls))
    except (OSError, TypeError):
        return {}
    comments: dict[int, str] = {}
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        if token.type == tokenize.COMMENT:
            comments[token.start[0]] = token.string.lstrip("#").strip()
    lines = source.splitlines()
    found: dict[str, str] = {}
    body = ast.parse(source).body[0]
    assert isinstance(body, ast.ClassDef)
    for node in body.body:
        if not (isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name)):
            continue
        above: list[str] = []
        line = node.lineno - 1
        while line >= 1 and line in comments and lines[line - 1].lstrip().startswith("#"):
            above.insert(0, comments[line])
            line -= 1
        beside = comments.get(node.end_lineno or node.lineno)
        text = " ".join([*above, *([beside] if beside else [])]).strip()
        if text:
            found[node.target.id] = text
    return found


def _struct_classes() -> dict[str, type[msgspec.Struct]]:
    """Every Struct type the policy file is made of, by the name the schema gives it."""
    found: dict[str, type[msgspec.Struct]] = {}

    def visit(info: Any) -> None:
        if isinstance(info, msgspec.inspect.StructType):
            if info.cls.__name__ in found:
                return
            found[info.cls.__name__] = info.cls
            for field in info.fields:
                visit(field.type)
        elif isinstance(info, msgspec.inspect.UnionType):
            for member in info.types:
                visit(member)
        elif isinstance(info, msgspec.inspect.DictType):
            visit(info.value_type)
        elif isinstance(info, msgspec.inspect.ListType | msgspec.inspect.SetType):
            visit(info.item_type)
        elif isinstance(info, msgspec.inspect.Metadata):
            visit(info.type)

    visit(msgspec.inspect.type_info(Settings))
    return found


# --- the Markdown reference ---------------------------------------------------------------


def reference_markdown() -> str:
    schema = documented_schema()
    definitions: Json = schema["$defs"]
    out = [
        "# Configuration reference",
        "",
        "Generated from the policy file's types by `gateway schema --markdown`; do not edit",
        "(a test fails when it is stale). `deploy/gateway.example.yaml` shows every key in",
        "context; `deploy/gateway.schema.json` is the same schema for editors.",
        "",
    ]
    seen: set[str] = set()
    queue: list[tuple[str, str]] = [("(top level)", "Settings")]
    while queue:
        path, name = queue.pop(0)
        if name in seen:
            continue
        seen.add(name)
        definition = definitions[name]
        out += [f'<a id="{_anchor(name)}"></a>', "", f"## `{path}` ({name})", ""]
        if definition.get("description"):
            out += [_one_line(definition["description"]), ""]
        properties: Json = definition.get("properties", {})
        if not properties:
            continue
        out += ["| key | type | default | description |", "|---|---|---|---|"]
        required = set(definition.get("required", []))
        for key, prop in properties.items():
            kind = _type_of(prop)
            default = "required" if key in required else _default_of(prop)
            description = _one_line(prop.get("description", ""))
            out.append(f"| `{key}` | {kind} | {default} | {description} |")
            child = "(top level)" if path == "(top level)" else path
            for ref in _refs(prop):
                prefix = key if child == "(top level)" else f"{child}.{key}"
                queue.append((prefix, ref))
        out.append("")
    return "\n".join(out).rstrip() + "\n"


def _refs(prop: Json) -> list[str]:
    found: list[str] = []
    ref = prop.get("$ref")
    if isinstance(ref, str) and ref.startswith(_REF):
        found.append(ref[len(_REF) :])
    for key in ("anyOf", "oneOf"):
        for member in prop.get(key, []):
            found += _refs(member)
    for key in ("items", "additionalProperties"):
        if isinstance(prop.get(key), dict):
            found += _refs(prop[key])
    return found


def _type_of(prop: Json) -> str:
    if "$ref" in prop:
        return f"[{prop['$ref'][len(_REF) :]}](#{_anchor(prop['$ref'][len(_REF) :])})"
    if "enum" in prop:
        return " \\| ".join(f"`{json.dumps(v)}`" for v in prop["enum"])
    if "anyOf" in prop or "oneOf" in prop:
        members = prop.get("anyOf") or prop.get("oneOf") or []
        return " \\| ".join(_type_of(m) for m in members)
    kind = prop.get("type", "any")
    if kind == "array":
        return f"list of {_type_of(prop.get('items', {}))}"
    if kind == "object" and isinstance(prop.get("additionalProperties"), dict):
        return f"map of {_type_of(prop['additionalProperties'])}"
    limits = [
        f"{symbol} {_number(prop[key])}"
        for key, symbol in (
            ("minimum", ">="),
            ("exclusiveMinimum", ">"),
            ("maximum", "<="),
            ("exclusiveMaximum", "<"),
        )
        if key in prop
    ]
    if "pattern" in prop:
        limits.append(f"matching `{prop['pattern']}`")
    return f"{kind} ({', '.join(limits)})" if limits else str(kind)


def _number(value: Any) -> Any:
    # `Meta(ge=0)` and `Meta(ge=0.0)` are equal, so which one a cached `Annotated` type
    # holds depends on import order: print both the same way.
    return int(value) if isinstance(value, float) and value.is_integer() else value


def _default_of(prop: Json) -> str:
    if "default" not in prop:
        return ""
    text = json.dumps(prop["default"])
    return f"`{text}`" if len(text) <= 40 else "(see the example file)"


def _anchor(name: str) -> str:
    return name.lower()


def _one_line(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|")
