"""The GBNF grammar behind `response_format` and forced tool calls only admits valid JSON."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway.backends.llama_cpp.request_plan import json_grammar

POEM = {"type": "object", "properties": {"poem": {"type": "string"}}, "required": ["poem"]}
SCHEMAS: list[dict[str, Any]] = [
    {"type": "object"},  # json_object mode
    POEM,
    {"type": "object", "properties": {"title": {"type": "string", "maxLength": 8}}},
    {"type": "object", "additionalProperties": {"type": "string"}},
    {"type": "array", "items": {"type": "string"}},
    # The shape of a forced tool call: one option per tool.
    {
        "anyOf": [
            {
                "type": "object",
                "properties": {"name": {"const": "write"}, "arguments": POEM},
                "required": ["name", "arguments"],
            },
            {
                "type": "object",
                "properties": {"name": {"const": "read"}, "arguments": {"type": "object"}},
                "required": ["name", "arguments"],
            },
        ]
    },
]
# A string character: anything but a quote, a backslash or a control character, or an escape.
JSON_CHAR = (
    r'[^"\\\x00-\x1F] | "\\" (["\\/bfnrt] | "u" [0-9a-fA-F] [0-9a-fA-F] [0-9a-fA-F] [0-9a-fA-F])'
)
GBNF_ESCAPES = {"n": "\n", "r": "\r", "t": "\t", "\\": "\\", '"': '"', "[": "[", "]": "]"}


def rules(grammar: str) -> dict[str, str]:
    return dict(line.split(" ::= ", 1) for line in grammar.splitlines())


def gbnf_literal(body: str) -> str:
    """What a GBNF string literal such as `"\\"a\\\\tb\\""` makes the model write."""
    assert body[0] == body[-1] == '"', body
    out: list[str] = []
    i = 1
    while i < len(body) - 1:
        char = body[i]
        assert char != '"', f"the literal ends early at {i}: {body}"
        if char != "\\":
            out.append(char)
            i += 1
            continue
        kind = body[i + 1]
        width = {"x": 2, "u": 4, "U": 8}.get(kind)
        if width is None:
            assert kind in GBNF_ESCAPES, f"GBNF has no escape `\\{kind}`: {body}"
            out.append(GBNF_ESCAPES[kind])
            i += 2
        else:
            out.append(chr(int(body[i + 2 : i + 2 + width], 16)))
            i += 2 + width
    return "".join(out)


@pytest.mark.parametrize("schema", SCHEMAS)
def test_strings_exclude_raw_control_characters_and_keep_escapes(schema: dict[str, Any]) -> None:
    from llama_cpp.llama_grammar import PRIMITIVE_RULES

    grammar = rules(json_grammar(schema))
    assert grammar["char"] == JSON_CHAR
    # No rule anywhere still uses the converter's own string character.
    assert PRIMITIVE_RULES["char"].content not in grammar.values()


def test_a_patterns_dot_is_a_character_that_needs_no_escape() -> None:
    grammar = rules(json_grammar({"type": "string", "pattern": "^.{1,5}$"}))
    assert grammar["dot"] == r'[^"\\\x00-\x1F]'


def test_the_schema_is_not_modified() -> None:
    schema = {"$ref": "#/$defs/poem", "$defs": {"poem": POEM}}
    before = json.dumps(schema)
    json_grammar(schema)
    assert json.dumps(schema) == before


@given(st.lists(st.text(max_size=12), min_size=1, max_size=3, unique=True))
def test_enum_values_are_written_as_their_json_encoding(values: list[str]) -> None:
    """`enum`/`const` literals hold `json.dumps` output, whose escapes (`\\t`, `\\u0001`,
    `\\"`, `\\\\`) GBNF must not read as its own."""
    grammar = rules(json_grammar({"enum": values}))
    written = [gbnf_literal(body) for body in grammar["root"].split(" | ")]
    assert written == [json.dumps(v) for v in values]
    assert [json.loads(w) for w in written] == values


@given(st.text(min_size=1, max_size=12))
def test_property_names_are_written_as_their_json_encoding(name: str) -> None:
    grammar = json_grammar(
        {"type": "object", "properties": {name: {"type": "integer"}}, "required": [name]}
    )
    kv = next(body for rule, body in rules(grammar).items() if rule.endswith("-kv"))
    assert gbnf_literal(kv.rsplit(' space ":" space ', 1)[0]) == json.dumps(name)


def test_long_length_bounds_are_left_to_the_check_after_generation() -> None:
    # llama.cpp refuses a grammar of ~1000+ nested optionals (`maxLength: 2000` on a tool's
    # query did): such bounds are dropped from the grammar, short ones kept.
    schema = {
        "type": "object",
        "properties": {
            "query": {"type": "string", "minLength": 1, "maxLength": 2000},
            "tag": {"type": "string", "maxLength": 3},
            "maxLength": {"type": "integer"},  # a property of that name is not a bound
        },
        "required": ["query"],
    }
    text = json_grammar(schema)
    assert text.count("(char") < 10  # the query is `char+`-like, not 2000 nested rules
    assert "maxlength" in text.lower()
    assert json_grammar(schema) == text and schema["properties"]["query"]["maxLength"] == 2000
