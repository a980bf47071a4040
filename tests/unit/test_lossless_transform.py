"""A transform that changes one field leaves every other field of the request, known or
unknown, nested or not, byte for byte as the client wrote it."""

from __future__ import annotations

import asyncio
from typing import Any

import msgspec
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.api.decoding import decode_request
from gateway.context import RequestContext
from gateway.errors import FinalError, InvalidRequestError
from gateway.pipeline.pipeline import Pipeline
from gateway.protocol.chat import ChatCompletionRequest, UserMessage
from gateway.protocol.lossless import reencode
from gateway.protocol.raw import encode_fields
from policies.base import Deny, StageRequest, Verdict
from routers import CatalogEntry, ModelCatalog, StaticRouter

_raw_object = msgspec.json.Decoder(dict[str, msgspec.Raw])
_raw_array = msgspec.json.Decoder(list[msgspec.Raw])

# JSON written the way clients write it: odd number forms and escapes must survive as bytes.
scalars = st.sampled_from(
    [b"1.0", b"1e2", b"-0", b'"\\u00e9t\\u00e9"', b'"a\\/b"', b"true", b"null", b'"x"', b"[]"]
)
unknown_key = st.sampled_from(["cache_control", "uuid", "x_vendor", "extra", "video_hint"])


@st.composite
def unknown_members(draw: Any) -> list[tuple[str, bytes]]:
    keys = draw(st.lists(unknown_key, unique=True, max_size=2))
    return [(k, draw(scalars) if k != "cache_control" else b'{"type": "ephemeral"}') for k in keys]


def obj(members: list[tuple[str, bytes]]) -> bytes:
    return b"{" + b", ".join(b'"' + k.encode() + b'": ' + v for k, v in members) + b"}"


@st.composite
def part(draw: Any) -> bytes:
    kind = draw(st.sampled_from(["text", "image_url", "video_url"]))
    extra = draw(unknown_members())
    if kind == "text":
        return obj([("type", b'"text"'), ("text", b'"p\\u00e4rt"'), *extra])
    if kind == "image_url":
        image = obj([("url", b'"http://x/i.png"'), ("uuid", b'"u-1"')])
        return obj([("type", b'"image_url"'), ("image_url", image), *extra])
    return obj([("type", b'"video_url"'), ("video_url", b'{"url": "http://x/v.mp4"}'), *extra])


@st.composite
def message(draw: Any) -> bytes:
    role = draw(st.sampled_from(["system", "user", "assistant"]))
    if role == "user" and draw(st.booleans()):
        content = b"[" + b", ".join(draw(st.lists(part(), min_size=1, max_size=3))) + b"]"
    else:
        content = b'"caf\\u00e9 1.0"'
    return obj([("role", f'"{role}"'.encode()), ("content", content), *draw(unknown_members())])


@st.composite
def request_body(draw: Any) -> bytes:
    messages = draw(st.lists(message(), min_size=1, max_size=5))
    members: list[tuple[str, bytes]] = [
        ("model", b'"m"'),
        ("messages", b"[" + b", ".join(messages) + b"]"),
    ]
    if draw(st.booleans()):
        members.append(("temperature", b"0.50"))
    if draw(st.booleans()):
        members.append(("metadata", b'{"a": "\\u00e9", "b": "2"}'))
    members += [(f"top_{k}", v) for k, v in draw(unknown_members())]
    return obj(members)


def _leaves(data: bytes, path: tuple[Any, ...] = ()) -> dict[tuple[Any, ...], bytes]:
    """Every JSON value's raw bytes by path (objects and arrays are walked into)."""
    out = {path: data}
    stripped = data.lstrip()
    if stripped.startswith(b"{"):
        for key, value in _raw_object.decode(data).items():
            out.update(_leaves(bytes(value), (*path, key)))
    elif stripped.startswith(b"["):
        for i, value in enumerate(_raw_array.decode(data)):
            out.update(_leaves(bytes(value), (*path, i)))
    return out


@settings(max_examples=150, deadline=None)
@given(body=request_body(), data=st.data())
def test_a_transform_changes_only_what_it_changed(body: bytes, data: st.DataObject) -> None:
    parsed = decode_request("chat/completions", body)
    request = parsed.request
    assert isinstance(request, ChatCompletionRequest)
    which = data.draw(st.integers(min_value=0, max_value=len(request.messages) - 1))
    messages = list(request.messages)
    changed = msgspec.structs.replace(messages[which], content="[REDACTED]")
    messages[which] = changed
    new = msgspec.structs.replace(request, messages=messages)

    out = encode_fields(reencode(parsed.fields, new))

    before, after = _leaves(body), _leaves(out)
    target = ("messages", which, "content")
    assert msgspec.json.decode(after[target]) == "[REDACTED]"
    for path, raw in before.items():
        inside = path[: len(target)] == target
        enclosing = target[: len(path)] == path
        if not inside and not enclosing:
            assert after.get(path) == raw, f"{path} changed"
    assert {p for p in after if p[: len(target)] != target} == {
        p for p in before if p[: len(target)] != target
    }


def test_dropped_messages_keep_the_bytes_of_the_ones_left() -> None:
    body = (
        b'{"model": "m", "messages": [{"role": "system", "content": "s", "cache_control": 1},'
        b' {"role": "user", "content": "old"}, {"role": "user", "content": "new", "x": 1.0}]}'
    )
    parsed = decode_request("chat/completions", body)
    request = parsed.request
    assert isinstance(request, ChatCompletionRequest)
    trimmed = msgspec.structs.replace(request, messages=[request.messages[0], request.messages[2]])
    out = msgspec.json.decode(encode_fields(reencode(parsed.fields, trimmed)))
    assert out["messages"] == [
        {"role": "system", "content": "s", "cache_control": 1},
        {"role": "user", "content": "new", "x": 1.0},
    ]


class _Stage:
    name = "test"

    def __init__(self, verdict: Verdict) -> None:
        self.verdict = verdict

    async def check(self, request: StageRequest, ctx: RequestContext) -> Verdict:
        return self.verdict


def test_deny_sends_the_error_as_final_without_changing_it() -> None:
    error = InvalidRequestError("blocked by policy", param="messages", code="policy_denied")
    error.should_retry = None  # a stage's own error, shared between requests
    catalog = ModelCatalog([CatalogEntry("m", "fake", "echo")])
    pipeline = Pipeline(StaticRouter(catalog), executor=None, stages=[_Stage(Deny(error))])  # type: ignore[arg-type]
    parsed = decode_request(
        "chat/completions", b'{"model":"m","messages":[{"role":"user","content":"x"}]}'
    )
    for _ in range(2):
        ctx = RequestContext(request_id="r", endpoint="chat/completions")
        try:
            asyncio.run(pipeline.complete(parsed, ctx))
        except FinalError as refused:
            assert refused.status_code == 400 and refused.body() == error.body()
            assert (b"x-should-retry", b"false") in refused.headers()
        else:
            raise AssertionError("the request was not denied")
    assert error.should_retry is None


def test_a_request_changed_in_place_is_still_re_encoded() -> None:
    parsed = decode_request(
        "chat/completions",
        b'{"model":"m","messages":[{"role":"user","content":"my card 4111","x_keep":1.50}]}',
    )
    request = parsed.request
    assert isinstance(request, ChatCompletionRequest)
    message = request.messages[0]
    assert isinstance(message, UserMessage)
    message.content = "my card [REDACTED]"  # the stage edits what it was given
    out = encode_fields(reencode(parsed.fields, request))
    assert b"4111" not in out and b'"x_keep":1.50' in out


def test_trimming_and_changing_at_once_keeps_the_unknown_fields() -> None:
    body = (
        b'{"model":"m","messages":[{"role":"user","content":"old"},'
        b'{"role":"user","content":[{"type":"text","text":"secret","cache_control":{"t":1}},'
        b'{"type":"video_url","video_url":{"url":"http://v"}}]}]}'
    )
    parsed = decode_request("chat/completions", body)
    request = parsed.request
    assert isinstance(request, ChatCompletionRequest)
    last = request.messages[1]
    assert isinstance(last, UserMessage) and isinstance(last.content, list)
    parts = [msgspec.structs.replace(last.content[0], text="XXX"), last.content[1]]
    new = msgspec.structs.replace(request, messages=[msgspec.structs.replace(last, content=parts)])
    out = msgspec.json.decode(encode_fields(reencode(parsed.fields, new)))
    assert out["messages"] == [
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "XXX", "cache_control": {"t": 1}},
                {"type": "video_url", "video_url": {"url": "http://v"}},
            ],
        }
    ]
