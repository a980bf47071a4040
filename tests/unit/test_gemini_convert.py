"""Chat completions -> Gemini: the request conversion, checked against the loopback server's
copy of Google's request rules. A property test runs many generated conversations through
the conversion and checks that every field both sides can express arrives, in order. The
way back (replies, streams, errors) is in `test_gemini_reply`."""

from __future__ import annotations

import json
from typing import Any

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.backends.gemini_convert import to_gemini
from gateway.errors import InvalidRequestError
from gateway.protocol.chat import ChatCompletionRequest
from gateway.protocol.raw import decode_fields
from gateway.testing.gemini_wire import WireError, check_request

_decoder = msgspec.json.Decoder(ChatCompletionRequest)
WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "The weather",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
    },
}


def convert(body: dict[str, Any]) -> dict[str, Any]:
    data = json.dumps({"model": "m", **body}).encode()
    converted = to_gemini(_decoder.decode(data), decode_fields(data))
    check_request(converted)  # whatever we send, Google's shape rules accept
    return converted


def call(call_id: str, name: str, args: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": call_id,
        "type": "function",
        "function": {"name": name, "arguments": json.dumps(args)},
    }


# --- chat -> gemini -------------------------------------------------------------------


def test_roles_system_instruction_and_parallel_tool_results_in_one_turn() -> None:
    body = convert(
        {
            "messages": [
                {"role": "system", "content": "be brief"},
                {"role": "developer", "content": [{"type": "text", "text": "be kind"}]},
                {"role": "user", "content": "weather?"},
                {
                    "role": "assistant",
                    "content": "checking",
                    "tool_calls": [
                        call("a", "get_weather", {"city": "Paris"}),
                        call("b", "get_time", {}),
                    ],
                },
                {"role": "tool", "tool_call_id": "b", "content": "noon"},
                {"role": "tool", "tool_call_id": "a", "content": '{"temp": 20}'},
                {"role": "user", "content": "thanks"},
            ],
            "tools": [WEATHER],
        }
    )
    assert body["systemInstruction"] == {"parts": [{"text": "be brief"}, {"text": "be kind"}]}
    assert body["contents"] == [
        {"role": "user", "parts": [{"text": "weather?"}]},
        {
            "role": "model",
            "parts": [
                {"text": "checking"},
                {"functionCall": {"name": "get_weather", "args": {"city": "Paris"}}},
                {"functionCall": {"name": "get_time", "args": {}}},
            ],
        },
        {
            "role": "user",
            "parts": [
                {"functionResponse": {"name": "get_time", "response": {"result": "noon"}}},
                {"functionResponse": {"name": "get_weather", "response": {"temp": 20}}},
            ],
        },
        {"role": "user", "parts": [{"text": "thanks"}]},
    ]


def test_a_tool_result_for_an_unknown_call_is_a_400() -> None:
    with pytest.raises(InvalidRequestError, match="answers no earlier assistant tool call"):
        convert(
            {
                "messages": [
                    {"role": "user", "content": "hi"},
                    {"role": "tool", "tool_call_id": "nope", "content": "x"},
                ]
            }
        )


def test_images_as_data_urls_become_inline_data_and_http_urls_are_refused() -> None:
    url = "data:image/jpeg;base64,/9j/4AAQ"
    body = convert(
        {
            "messages": [
                {
                    "role": "user",
                    "content": [
                        {"type": "text", "text": "look"},
                        {"type": "image_url", "image_url": {"url": url, "detail": "low"}},
                        {"type": "input_audio", "input_audio": {"data": "UklG", "format": "wav"}},
                    ],
                }
            ]
        }
    )
    assert body["contents"][0]["parts"] == [
        {"text": "look"},
        {"inlineData": {"mimeType": "image/jpeg", "data": "/9j/4AAQ"}},
        {"inlineData": {"mimeType": "audio/wav", "data": "UklG"}},
    ]
    with pytest.raises(InvalidRequestError, match="data:"):
        convert(
            {
                "messages": [
                    {
                        "role": "user",
                        "content": [{"type": "image_url", "image_url": {"url": "https://x/y.png"}}],
                    }
                ]
            }
        )


@pytest.mark.parametrize(
    ("choice", "expected"),
    [
        ("none", {"mode": "NONE"}),
        ("auto", {"mode": "AUTO"}),
        ("required", {"mode": "ANY"}),
        (
            {"type": "function", "function": {"name": "get_weather"}},
            {"mode": "ANY", "allowedFunctionNames": ["get_weather"]},
        ),
        (
            {
                "type": "allowed_tools",
                "allowed_tools": {
                    "mode": "required",
                    "tools": [{"type": "function", "function": {"name": "get_weather"}}],
                },
            },
            {"mode": "ANY", "allowedFunctionNames": ["get_weather"]},
        ),
    ],
)
def test_tool_choice_becomes_function_calling_config(choice: Any, expected: Any) -> None:
    body = convert(
        {"messages": [{"role": "user", "content": "hi"}], "tools": [WEATHER], "tool_choice": choice}
    )
    assert body["toolConfig"] == {"functionCallingConfig": expected}
    declaration = body["tools"][0]["functionDeclarations"][0]
    assert declaration["parametersJsonSchema"] == WEATHER["function"]["parameters"]  # type: ignore[index]


def test_generation_config_and_json_schema_output() -> None:
    schema = {"type": "object", "properties": {"a": {"type": "integer"}}, "required": ["a"]}
    body = convert(
        {
            "messages": [{"role": "user", "content": "hi"}],
            "temperature": 0.2,
            "top_p": 0.9,
            "max_tokens": 100,
            "max_completion_tokens": 60,
            "n": 2,
            "seed": 7,
            "stop": "STOP",
            "presence_penalty": 0.5,
            "frequency_penalty": -0.5,
            "top_k": 40,
            "logit_bias": {"1": 2},
            "user": "u1",
            "response_format": {
                "type": "json_schema",
                "json_schema": {"name": "out", "schema": schema, "strict": True},
            },
        }
    )
    assert body["generationConfig"] == {
        "temperature": 0.2,
        "topP": 0.9,
        "maxOutputTokens": 60,
        "candidateCount": 2,
        "seed": 7,
        "presencePenalty": 0.5,
        "frequencyPenalty": -0.5,
        "stopSequences": ["STOP"],
        "topK": 40,
        "responseMimeType": "application/json",
        "responseJsonSchema": schema,
    }
    assert set(body) == {"contents", "generationConfig"}


def test_tool_call_arguments_that_are_not_a_json_object_are_a_400() -> None:
    broken = {**call("a", "f", {}), "function": {"name": "f", "arguments": "[1, 2"}}
    with pytest.raises(InvalidRequestError, match="not JSON"):
        convert({"messages": [{"role": "assistant", "tool_calls": [broken]}]})


# --- the property: nothing both sides can express is lost -------------------------------

texts = st.text(st.characters(codec="utf-8", exclude_categories=["Cs"]), min_size=1, max_size=20)
names = st.from_regex(r"[a-z][a-z_]{0,10}", fullmatch=True)
args = st.dictionaries(names, st.integers(-5, 5) | texts, max_size=3)


@st.composite
def conversations(draw: st.DrawFn) -> list[dict[str, Any]]:
    messages: list[dict[str, Any]] = []
    for turn in range(draw(st.integers(1, 6))):
        if draw(st.booleans()):
            role = draw(st.sampled_from(["system", "developer"]))
            messages.append({"role": role, "content": draw(texts)})
        messages.append({"role": "user", "content": draw(texts)})
        calls = [
            call(f"c{turn}_{i}", draw(names), draw(args)) for i in range(draw(st.integers(0, 3)))
        ]
        reply: dict[str, Any] = {"role": "assistant", "content": draw(st.none() | texts)}
        if calls:
            reply["tool_calls"] = calls
        if reply["content"] is None and not calls:
            continue
        messages.append(reply)
        for c in draw(st.permutations(calls)):
            content = draw(texts | st.builds(json.dumps, args))
            messages.append({"role": "tool", "tool_call_id": c["id"], "content": content})
    return messages


sampling = st.fixed_dictionaries(
    {},
    optional={
        "temperature": st.floats(0, 2),
        "top_p": st.floats(0, 1),
        "max_tokens": st.integers(1, 10_000),
        "n": st.integers(1, 4),
        "seed": st.integers(0, 2**31),
        "stop": st.lists(texts, min_size=1, max_size=4),
    },
)
GENERATION_KEYS = {
    "temperature": "temperature",
    "top_p": "topP",
    "max_tokens": "maxOutputTokens",
    "n": "candidateCount",
    "seed": "seed",
    "stop": "stopSequences",
}


@settings(max_examples=300, deadline=None)
@given(conversations(), sampling)
def test_every_expressible_field_survives_the_conversion(
    messages: list[dict[str, Any]], params: dict[str, Any]
) -> None:
    body = convert({"messages": messages, **params})
    system = [m["content"] for m in messages if m["role"] in ("system", "developer")]
    got_system = [p["text"] for p in body.get("systemInstruction", {}).get("parts", [])]
    assert got_system == system
    # The conversation, flattened into (role, kind, value) in order, is the same.
    expected: list[tuple[str, str, Any]] = []
    names_by_id: dict[str, str] = {}
    for m in messages:
        if m["role"] == "user":
            expected.append(("user", "text", m["content"]))
        elif m["role"] == "assistant":
            if m["content"]:
                expected.append(("model", "text", m["content"]))
            for c in m.get("tool_calls", []):
                names_by_id[c["id"]] = c["function"]["name"]
                args = json.loads(c["function"]["arguments"])
                expected.append(("model", "call", (c["function"]["name"], args)))
        elif m["role"] == "tool":
            try:
                parsed = json.loads(m["content"])
            except ValueError:
                parsed = None
            response = parsed if isinstance(parsed, dict) else {"result": m["content"]}
            expected.append(("user", "result", (names_by_id[m["tool_call_id"]], response)))
    got: list[tuple[str, str, Any]] = []
    for content in body["contents"]:
        for part in content["parts"]:
            if "text" in part:
                got.append((content["role"], "text", part["text"]))
            elif "functionCall" in part:
                fc = part["functionCall"]
                got.append((content["role"], "call", (fc["name"], fc["args"])))
            else:
                fr = part["functionResponse"]
                got.append((content["role"], "result", (fr["name"], fr["response"])))
    assert got == expected
    # Each run of tool results is one turn, right after the turn whose calls it answers.
    for before, content in zip(body["contents"], body["contents"][1:], strict=False):
        if any("functionResponse" in p for p in content["parts"]):
            assert before["role"] == "model"
    config = body.get("generationConfig", {})
    for ours, theirs in GENERATION_KEYS.items():
        assert config.get(theirs) == params.get(ours)


def test_the_wire_check_itself_rejects_what_google_rejects() -> None:
    with pytest.raises(WireError, match="Unknown name"):
        check_request({"contents": [{"role": "user", "parts": [{"text": "x"}]}], "model": "m"})
    with pytest.raises(WireError, match="function response parts"):
        check_request(
            {
                "contents": [
                    {"role": "model", "parts": [{"functionCall": {"name": "f", "args": {}}}]},
                    {
                        "role": "user",
                        "parts": [{"functionResponse": {"name": "g", "response": {}}}],
                    },
                ]
            }
        )
