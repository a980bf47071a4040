"""Capability filtering: a request that needs tools, json_schema, images or a long window
goes only to targets that have them; none left is a 400 naming what is missing."""

from __future__ import annotations

import pytest

from gateway.api.decoding import decode_request
from gateway.backends.base import Capabilities, Needs
from gateway.errors import InvalidRequestError
from routers.base import DeclaredCapabilities, Target
from tests.unit.test_executor import OK_REPLY, Scripted, run


def needs(body: bytes) -> Needs:
    parsed = decode_request("chat/completions", body)
    return Needs.of("chat/completions", parsed.request)


IMAGE = (
    b'{"model":"m","messages":[{"role":"user","content":[{"type":"text","text":"what is it"},'
    b'{"type":"image_url","image_url":{"url":"http://x/i.png"}}]}]}'
)
SCHEMA = (
    b'{"model":"m","messages":[{"role":"user","content":"hi"}],"response_format":'
    b'{"type":"json_schema","json_schema":{"name":"x","schema":{"type":"object"}}}}'
)


def test_what_a_request_needs() -> None:
    assert needs(IMAGE).images and not needs(IMAGE).json_schema
    assert needs(SCHEMA).json_schema and not needs(SCHEMA).images
    long = b'{"model":"m","messages":[{"role":"user","content":"' + b"a" * 60_000 + b'"}]}'
    assert needs(long).min_prompt_tokens == 10_000


@pytest.mark.parametrize(
    ("body", "lacking", "reason"),
    [
        (IMAGE, Capabilities(images=False), "does not accept image inputs"),
        (SCHEMA, Capabilities(json_schema=False), "json_schema"),
        (
            b'{"model":"m","messages":[{"role":"user","content":"' + b"a" * 60_000 + b'"}]}',
            Capabilities(context_tokens=4096),
            "4096-token context window",
        ),
    ],
)
def test_only_capable_targets_serve_and_none_left_is_a_400(
    body: bytes, lacking: Capabilities, reason: str
) -> None:
    request = decode_request("chat/completions", body).request
    weak, able = Scripted("weak", [OK_REPLY], lacking), Scripted("able", [OK_REPLY])
    (_, target), _ = run({"weak": weak, "able": able}, request)
    assert target.backend == "able" and weak.calls == []
    with pytest.raises(InvalidRequestError) as caught:
        run({"weak": Scripted("weak", [OK_REPLY], lacking)}, request)
    assert reason in caught.value.message


def test_a_target_may_declare_less_than_its_backend() -> None:
    declared = DeclaredCapabilities(images=False)
    target = Target("b", "m", "id", declared=declared)
    from gateway.pipeline.executor import _capabilities

    backend = Scripted("b", [OK_REPLY])
    assert _capabilities(backend, target).images is False
    assert _capabilities(backend, Target("b", "m", "id")).images is True
