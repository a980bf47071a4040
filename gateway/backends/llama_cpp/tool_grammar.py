"""The grammar of a forced tool call: one call, or one or more when parallel calls are allowed.

The model writes each call as `{"name": "<name>", "arguments": <arguments>}`, the shape the
tools preamble asks for, spaced as it likes, with the arguments constrained by the
function's JSON schema. Several calls follow one another, one per line; the model decides
how many by ending the reply after any complete call.

The call's fixed head (`{"name": "f", "arguments":` for a single function) is generated
too, not put into the prompt: measured on SmolLM2-135M, a head written for the model saved
~11 decode tokens a call but changed what it wrote after it (a calculator call's
expression became prose until `max_tokens`); its own head keeps its own style. The decode
steps are saved another way: the head is a draft (`request_plan._call_heads`) the engine
decodes ahead in one batch and keeps only as far as the sampler picks the same tokens.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from gateway.backends.llama_cpp.json_grammar import json_converter, relaxed
from gateway.protocol.chat import FunctionDefinition

# Between one call's `}` and the next call's `{`: a line break, what models write between
# calls (SmolLM2-135M, given `,` as the only choice, never wrote a second call).
SEPARATOR = '"\\n"'


def tool_call_grammar(functions: Sequence[FunctionDefinition], *, parallel: bool) -> str:
    """GBNF for one call to any of `functions`, or several one per line if `parallel`."""
    if not functions:
        raise ValueError("a forced tool call needs at least one function")
    converter = json_converter()(prop_order={}, allow_fetch=False, dotall=False, raw_pattern=False)
    literal = converter._format_literal
    calls: list[str] = []
    for i, function in enumerate(functions):
        # Each function's `$ref`s resolve within its own parameters (`fn<i>` namespaces them).
        schema = _arguments_schema(function.parameters)
        arguments = converter.visit(converter.resolve_refs(schema, f"fn{i}"), f"fn{i}-arguments")
        # The converter's optional spaces (`space`) wherever JSON allows them.
        calls.append(
            f'"{{" space {literal(json.dumps("name"))} space ":" space '
            f'{literal(json.dumps(function.name))} space "," space '
            f'{literal(json.dumps("arguments"))} space ":" space {arguments} space "}}"'
        )
    converter._rules["call"] = "( " + " | ".join(calls) + " )"
    converter._rules["root"] = f"call ( {SEPARATOR} call )*" if parallel else "call"
    text: str = converter.format_grammar()
    return text


def _arguments_schema(parameters: object) -> dict[str, Any]:
    if not isinstance(parameters, dict) or not parameters:
        return {"type": "object"}
    # A copy: the converter rewrites `$ref`s in place, and the schema belongs to the request.
    copy: dict[str, Any] = relaxed(json.loads(json.dumps(parameters)))
    if "type" not in copy and "properties" in copy:
        copy["type"] = "object"
    return copy
