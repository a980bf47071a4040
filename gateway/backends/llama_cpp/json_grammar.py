"""JSON schema -> GBNF for llama.cpp's grammar sampler, strict enough for any JSON parser.

llama-cpp-python's `SchemaConverter` builds the rules; this module fixes what it gets wrong
for JSON (raw control characters in strings, unescaped literals) and caps repeat bounds that
llama.cpp cannot parse.
"""

from __future__ import annotations

import functools
import json
from typing import Any

# JSON forbids raw control characters in strings (RFC 8259, section 7): they must be escaped.
# llama-cpp-python 0.3.36's converter lets a string character (`char`) and a pattern's `.`
# be any of them, so a model could put a raw newline inside a string and the reply would not
# parse. These replace the converter's rules (matched by content, whatever it names them).
_JSON_CHAR = (
    r'[^"\\\x00-\x1F] | "\\" (["\\/bfnrt] | "u" [0-9a-fA-F] [0-9a-fA-F] [0-9a-fA-F] [0-9a-fA-F])'
)
# A pattern's `.` becomes one character that needs no escape: it cannot end the string or
# start an escape that the pattern does not account for.
_JSON_PLAIN_CHAR = r'[^"\\\x00-\x1F]'


def json_grammar(schema: dict[str, Any]) -> str:
    """GBNF text for values matching `schema`, always valid JSON (strict parsers included).

    llama-cpp-python's converter builds it, with the string rules above and literals
    (`enum`, `const`, property names) escaped for GBNF, backslashes included."""
    # A copy: the converter rewrites `$ref`s in place, and the schema belongs to the request.
    copy = relaxed(json.loads(json.dumps(schema)))
    converter = json_converter()(prop_order={}, allow_fetch=False, dotall=False, raw_pattern=False)
    converter.visit(converter.resolve_refs(copy, "input"), "")
    text: str = converter.format_grammar()
    return text


# The converter spells `maxLength: n` as n nested optionals, and llama.cpp refuses a
# grammar past ~1000 of them (`maxLength: 2000` on a tool's query did): longer bounds are
# left to the check after generation (a tool call's arguments are validated by the tool;
# schemas with them are rare in `response_format`).
_GRAMMAR_MAX_REPEAT = 512


def relaxed(node: Any) -> Any:
    if isinstance(node, list):
        return [relaxed(item) for item in node]
    if not isinstance(node, dict):
        return node
    out = {k: relaxed(v) for k, v in node.items()}
    for bound in ("maxLength", "maxItems"):
        value = out.get(bound)
        if isinstance(value, int) and value > _GRAMMAR_MAX_REPEAT:
            del out[bound]
    return out


@functools.cache
def json_converter() -> Any:
    from llama_cpp import llama_grammar

    base: Any = llama_grammar.SchemaConverter  # untyped
    strict = {
        llama_grammar.PRIMITIVE_RULES["char"].content: _JSON_CHAR,
        llama_grammar.DOT: _JSON_PLAIN_CHAR,
    }

    class JsonConverter(base):  # type: ignore[misc]
        def _add_rule(self, name: str, rule: str) -> str:
            return str(super()._add_rule(name, strict.get(rule, rule)))

        def _format_literal(self, literal: str) -> str:
            # The converter escapes quotes and line breaks but not backslashes, so the JSON
            # escapes in `json.dumps` output (`\n`, `\u00e9`, `\"`) were read by GBNF as its own
            # escapes: a raw newline, or a literal ended early.
            escaped = (
                literal.replace("\\", "\\\\")
                .replace('"', '\\"')
                .replace("\r", "\\r")
                .replace("\n", "\\n")
            )
            return f'"{escaped}"'

    return JsonConverter
