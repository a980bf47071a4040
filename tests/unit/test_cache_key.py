"""The exact cache's key: every output-affecting field, the tenant, the route and the model
change it; delivery fields do not; key order at any depth and number spelling do not."""

from __future__ import annotations

import json
import random
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.cache.key import DELIVERY_FIELDS, cache_key
from gateway.protocol.raw import decode_fields

BASE: dict[str, Any] = {
    "model": "chat",
    "messages": [
        {"role": "system", "content": "You are terse."},
        {"role": "user", "content": "What is the capital of France?"},
    ],
    "temperature": 0,
}
WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
    },
}


def key_of(body: dict[str, Any] | str, tenant: str = "acme", route: str = "chat") -> str:
    data = body if isinstance(body, str) else json.dumps(body)
    model = json.loads(data).get("model", "chat")
    return cache_key(tenant, route, model, decode_fields(data.encode()))


def changed(**fields: Any) -> dict[str, Any]:
    return {**BASE, **fields}


def with_message(index: int, **fields: Any) -> dict[str, Any]:
    messages = [dict(m) for m in BASE["messages"]]
    messages[index].update(fields)
    return {**BASE, "messages": messages}


# Each case changes one output-affecting field of BASE (or adds one BASE lacks).
OUTPUT_CHANGES: list[tuple[str, dict[str, Any]]] = [
    ("message content", with_message(1, content="What is the capital of Spain?")),
    ("message role", with_message(0, role="developer")),
    ("one more message", changed(messages=[*BASE["messages"], {"role": "user", "content": "?"}])),
    ("content as parts", with_message(1, content=[{"type": "text", "text": "What is the capital of France?"}])),
    ("tools", changed(tools=[WEATHER_TOOL])),
    ("tool_choice", changed(tool_choice="required")),
    ("response_format", changed(response_format={"type": "json_object"})),
    ("temperature", changed(temperature=0.7)),
    ("top_p", changed(top_p=0.9)),
    ("max_tokens", changed(max_tokens=64)),
    ("max_completion_tokens", changed(max_completion_tokens=64)),
    ("stop", changed(stop=["\n"])),
    ("n", changed(n=2)),
    ("seed", changed(seed=42)),
    ("logit_bias", changed(logit_bias={"1234": -100})),
    ("presence_penalty", changed(presence_penalty=0.5)),
    ("frequency_penalty", changed(frequency_penalty=0.5)),
    ("logprobs", changed(logprobs=True)),
    ("top_logprobs", changed(top_logprobs=3)),
    ("an unknown vendor field", changed(vendor_reasoning={"effort": "high"})),
]  # fmt: skip

DELIVERY_CHANGES: list[tuple[str, dict[str, Any]]] = [
    ("stream", changed(stream=True)),
    ("stream_options", changed(stream=True, stream_options={"include_usage": True})),
    ("user", changed(user="someone-else")),
    ("metadata", changed(metadata={"trace": "abc"})),
    ("store", changed(store=True)),
    ("service_tier", changed(service_tier="flex")),
]


def test_the_base_key_is_stable_and_a_sha256_hex() -> None:
    key = key_of(BASE)
    assert key == key_of(json.loads(json.dumps(BASE)))
    assert len(key) == 64 and int(key, 16) >= 0


@pytest.mark.parametrize(("name", "body"), OUTPUT_CHANGES, ids=[n for n, _ in OUTPUT_CHANGES])
def test_changing_an_output_affecting_field_misses(name: str, body: dict[str, Any]) -> None:
    assert key_of(body) != key_of(BASE), name


def test_every_output_change_gives_its_own_key() -> None:
    keys = [key_of(body) for _, body in OUTPUT_CHANGES]
    assert len(set(keys)) == len(keys)


def test_a_changed_value_inside_a_nested_field_misses() -> None:
    other_tool = json.loads(json.dumps(WEATHER_TOOL))
    other_tool["function"]["parameters"]["properties"]["city"]["type"] = "integer"
    assert key_of(changed(tools=[other_tool])) != key_of(changed(tools=[WEATHER_TOOL]))
    swapped = changed(messages=list(reversed(BASE["messages"])))
    assert key_of(swapped) != key_of(BASE)  # list order is meaningful


@pytest.mark.parametrize(("name", "body"), DELIVERY_CHANGES, ids=[n for n, _ in DELIVERY_CHANGES])
def test_delivery_fields_do_not_change_the_key(name: str, body: dict[str, Any]) -> None:
    assert key_of(body) == key_of(BASE), name


def test_the_delivery_fields_are_the_documented_ones() -> None:
    expected = {"stream", "stream_options", "user", "metadata", "store", "service_tier"}
    assert expected <= DELIVERY_FIELDS
    # Nothing output-affecting slipped into the exclusions.
    output = {
        "messages", "tools", "tool_choice", "response_format", "temperature", "top_p",
        "max_tokens", "max_completion_tokens", "stop", "n", "seed", "logit_bias",
        "presence_penalty", "frequency_penalty", "logprobs", "top_logprobs", "prompt",
    }  # fmt: skip
    assert not output & DELIVERY_FIELDS


def test_the_tenant_the_route_and_the_model_change_the_key() -> None:
    fields = decode_fields(json.dumps(BASE).encode())
    base = cache_key("acme", "chat", "chat", fields)
    variants = {
        "tenant": cache_key("globex", "chat", "chat", fields),
        "route": cache_key("acme", "chat-2", "chat", fields),
        "model": cache_key("acme", "chat", "gpt-4o", fields),
    }
    for name, key in variants.items():
        assert key != base, name
    assert len(set(variants.values())) == 3


def test_the_parts_are_length_prefixed_so_they_cannot_run_into_each_other() -> None:
    fields = decode_fields(json.dumps(BASE).encode())
    assert cache_key("ab", "c", "m", fields) != cache_key("a", "bc", "m", fields)
    assert cache_key("a", "b:c", "m", fields) != cache_key("a:b", "c", "m", fields)


def test_the_model_field_in_the_body_is_the_model_argument_only() -> None:
    # The key takes the model id as its own argument; the body's copy adds nothing.
    a = decode_fields(json.dumps(BASE).encode())
    b = decode_fields(json.dumps({**BASE, "model": "something-else"}).encode())
    assert cache_key("t", "r", "chat", a) == cache_key("t", "r", "chat", b)


@pytest.mark.parametrize(
    ("left", "right"),
    [("1", "1.0"), ("1", "1e0"), ("1.0", "1e0"), ("0.5", "0.50"), ("0.5", "5e-1"), ("0", "-0.0"), ("100", "1E2")],
)  # fmt: skip
def test_numbers_are_normalised(left: str, right: str) -> None:
    template = (
        '{"model": "chat", "messages": [], "temperature": %s, "response_format": {"w": [%s]}}'
    )
    assert key_of(template % (left, left)) == key_of(template % (right, right))


@pytest.mark.parametrize(
    ("left", "right"), [("1", "2"), ("0.5", "0.25"), ("1", "true"), ("0", "false"), ("1", '"1"')]
)
def test_different_numbers_and_types_differ(left: str, right: str) -> None:
    template = '{"model": "chat", "messages": [], "temperature": %s}'
    assert key_of(template % left) != key_of(template % right)


def test_top_level_key_order_and_whitespace_do_not_matter() -> None:
    text = '{"temperature":0,"model":"chat","messages":[{"content":"hi","role":"user"}]}'
    spaced = '{ "messages" : [ { "role" : "user" , "content" : "hi" } ] ,\n "model":"chat", "temperature": 0.0 }'
    assert key_of(text) == key_of(spaced)


# Random JSON values: objects nest objects and lists; numbers include floats.
json_leaves = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**53), max_value=2**53)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=8)
)
json_values = st.recursive(
    json_leaves,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=6), children, max_size=5)
    ),
    max_leaves=25,
)
json_objects = st.dictionaries(
    st.text(max_size=8).filter(lambda k: k not in DELIVERY_FIELDS and k != "model"),
    json_values,
    min_size=1,
    max_size=6,
)


def shuffled(value: Any, rng: random.Random) -> Any:
    if isinstance(value, dict):
        items = list(value.items())
        rng.shuffle(items)
        return {k: shuffled(v, rng) for k, v in items}
    if isinstance(value, list):
        return [shuffled(v, rng) for v in value]
    return value


def order_of(value: Any) -> list[Any]:
    """Every object's key order, depth first: to check a shuffle really reordered."""
    if isinstance(value, dict):
        return [list(value), *(o for v in value.values() for o in order_of(v))]
    if isinstance(value, list):
        return [o for v in value for o in order_of(v)]
    return []


@settings(max_examples=300, deadline=None)
@given(obj=json_objects, seed=st.integers(0, 2**32 - 1))
def test_reordering_object_keys_at_any_depth_hits(obj: dict[str, Any], seed: int) -> None:
    copy = shuffled(obj, random.Random(seed))
    assert copy == obj
    fields, copy_fields = (decode_fields(json.dumps(o).encode()) for o in (obj, copy))
    assert cache_key("t", "r", "m", fields) == cache_key("t", "r", "m", copy_fields)


@settings(max_examples=200, deadline=None)
@given(obj=json_objects, extra=st.text(min_size=1, max_size=8))
def test_adding_a_field_to_a_random_object_misses(obj: dict[str, Any], extra: str) -> None:
    key = "vendor_" + extra
    if key in obj:
        return
    bigger = {**obj, key: extra}
    fields, bigger_fields = (decode_fields(json.dumps(o).encode()) for o in (obj, bigger))
    assert cache_key("t", "r", "m", fields) != cache_key("t", "r", "m", bigger_fields)


def test_the_shuffle_helper_reorders_keys_at_depth() -> None:
    obj = {"a": {"x": 1, "y": 2, "z": {"p": 1, "q": 2, "r": 3}}, "b": [{"k": 1, "l": 2, "m": 3}]}
    orders = {str(order_of(shuffled(obj, random.Random(seed)))) for seed in range(50)}
    assert len(orders) > 10  # the property test does exercise reorderings at every depth
    keys = {key_of({"model": "chat", **shuffled(obj, random.Random(s))}) for s in range(50)}
    assert len(keys) == 1
