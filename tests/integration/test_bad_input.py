"""Bad input always gets a clear OpenAI-shaped 4xx, never a 500 (in-process ASGI)."""

from __future__ import annotations

import json

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

pytestmark = pytest.mark.anyio
CHAT = "/v1/chat/completions"
JSON = {"content-type": "application/json"}
OK_MESSAGES = [{"role": "user", "content": "hi"}]


def assert_error(response: httpx.Response, status: int, param: str | None = None) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    error = response.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert error["message"]
    if param is not None:
        assert error["param"] == param
    return error


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"model": "echo"}, "messages"),
        ({"model": "echo", "messages": []}, "messages"),
        ({"messages": OK_MESSAGES}, "model"),
        ({"model": "", "messages": OK_MESSAGES}, "model"),
        ({"model": 3, "messages": OK_MESSAGES}, "model"),
        ({"model": "echo", "messages": "hi"}, "messages"),
        ({"model": "echo", "messages": [{"role": "wizard", "content": "x"}]}, "messages[0].role"),
        ({"model": "echo", "messages": [{"content": "x"}]}, None),
        ({"model": "echo", "messages": [{"role": "user"}]}, "messages[0].content"),
        ({"model": "echo", "messages": OK_MESSAGES, "n": 0}, "n"),
        ({"model": "echo", "messages": OK_MESSAGES, "n": 129}, "n"),
        ({"model": "echo", "messages": OK_MESSAGES, "max_tokens": -1}, "max_tokens"),
        ({"model": "echo", "messages": OK_MESSAGES, "temperature": 3}, "temperature"),
        ({"model": "echo", "messages": OK_MESSAGES, "temperature": "hot"}, "temperature"),
        ({"model": "echo", "messages": OK_MESSAGES, "stream": "yes"}, "stream"),
        ({"model": "echo", "messages": OK_MESSAGES, "tool_choice": "sometimes"}, "tool_choice"),
        ({"model": "echo", "messages": OK_MESSAGES, "stop": [1, 2]}, "stop[0]"),
        ({"model": "x" * 300, "messages": OK_MESSAGES}, "model"),
    ],
)
async def test_invalid_parameters_are_400_naming_the_parameter(
    http: httpx.AsyncClient, body: dict, param: str | None
) -> None:
    error = assert_error(await http.post(CHAT, json=body), 400, param)
    assert error["type"] == "invalid_request_error"


@pytest.mark.parametrize(
    "raw",
    [
        b"{not json",
        b'{"model": "echo", "messages": [',
        b"[1, 2]",
        b'"text"',
        b"",
        b"   ",
        b'{"model": "\xff\xfe", "messages": []}',
        b"\xef\xbb\xbf{}",
    ],
)
async def test_malformed_bodies_are_400(http: httpx.AsyncClient, raw: bytes) -> None:
    assert_error(await http.post(CHAT, content=raw, headers=JSON), 400)


async def test_unknown_model_is_404_model_not_found(http: httpx.AsyncClient) -> None:
    response = await http.post(CHAT, json={"model": "gpt-99", "messages": OK_MESSAGES})
    error = assert_error(response, 404, "model")
    assert error["code"] == "model_not_found"
    assert response.headers["x-should-retry"] == "false"


async def test_body_over_the_limit_is_413(http: httpx.AsyncClient) -> None:
    big = {"model": "echo", "messages": [{"role": "user", "content": "x" * 70_000}]}
    assert_error(await http.post(CHAT, json=big), 413)


async def test_chunked_body_over_the_limit_is_413(http: httpx.AsyncClient) -> None:
    async def body():  # no content-length: the limit must hold while reading
        for _ in range(20):
            yield b"x" * 8192

    assert_error(await http.post(CHAT, content=body(), headers=JSON), 413)


@pytest.mark.parametrize(
    "ctype", ["text/xml", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x"]
)
async def test_unsupported_content_type_is_415(http: httpx.AsyncClient, ctype: str) -> None:
    body = json.dumps({"model": "echo", "messages": OK_MESSAGES})
    assert_error(await http.post(CHAT, content=body, headers={"content-type": ctype}), 415)


async def test_wrong_method_and_unknown_path(http: httpx.AsyncClient) -> None:
    assert_error(await http.get(CHAT), 405)
    assert_error(await http.post("/v1/nothing-here", json={}), 404)
    assert_error(await http.delete("/v1/models"), 405)


async def test_legacy_completions_validation(http: httpx.AsyncClient) -> None:
    url = "/v1/completions"
    assert_error(await http.post(url, json={"model": "echo", "prompt": ["a", 1]}), 400, "prompt")
    assert_error(await http.post(url, json={"model": "echo", "prompt": "x", "logprobs": 9}), 400)
    ok = await http.post(url, json={"model": "echo", "prompt": [[1, 2], [3]]})
    assert ok.status_code == 200


async def test_unknown_request_fields_are_tolerated(http: httpx.AsyncClient) -> None:
    body = {"model": "echo", "messages": OK_MESSAGES, "brand_new_param": {"a": 1}}
    response = await http.post(CHAT, json=body)
    assert response.status_code == 200
    assert response.json()["choices"][0]["message"]["content"] == "hi"


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(), children, max_size=4)
    ),
    max_leaves=12,
)
chat_like = st.fixed_dictionaries(
    {},
    optional={
        "model": st.sampled_from(["echo", "fake/x", "missing"]) | json_values,
        "messages": st.lists(
            st.fixed_dictionaries(
                {},
                optional={
                    "role": st.sampled_from(["user", "system", "tool", "x"]),
                    "content": json_values,
                },
            ),
            max_size=3,
        )
        | json_values,
        "stream": st.booleans() | json_values,
        "n": st.integers(-3, 200) | json_values,
        "max_tokens": st.integers(-5, 10) | json_values,
        "tools": json_values,
        "response_format": json_values,
    },
)


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(payload=json_values | chat_like)
async def test_arbitrary_json_never_gets_a_5xx(http: httpx.AsyncClient, payload: object) -> None:
    for path in (CHAT, "/v1/completions"):
        response = await http.post(path, content=json.dumps(payload), headers=JSON)
        assert response.status_code < 500, response.text
        if response.status_code >= 400:
            assert set(response.json()["error"]) == {"message", "type", "param", "code"}


async def test_health_ready_and_metrics(http: httpx.AsyncClient) -> None:
    assert (await http.get("/healthz")).json() == {"status": "ok"}
    ready = (await http.get("/readyz")).json()
    # Ready, with each configured target's breaker (not those named by clients).
    assert ready == {
        "status": "ready",
        "breakers": {"fake/echo": "closed"},
        "mcp_servers": {},
    }
    await http.post(CHAT, json={"model": "fake/words-3", "messages": OK_MESSAGES})
    metrics = (await http.get("/metrics")).text
    # Prefix routes are labelled by their pattern: clients cannot inflate label sets.
    assert 'model="fake/*"' in metrics and "words-3" not in metrics


async def test_deeply_nested_json_is_a_400_not_a_500(http: httpx.AsyncClient) -> None:
    deep = '{"a":' * 3000 + "1" + "}" * 3000
    body = '{"model": "echo", "messages": [{"role": "user", "content": "hi"}], "x": ' + deep + "}"
    error = assert_error(await http.post(CHAT, content=body, headers=JSON), 400)
    assert error["code"] == "invalid_json"


async def test_optional_fields_accept_null(http: httpx.AsyncClient) -> None:
    body = {"model": "echo", "messages": OK_MESSAGES, "user": None, "stop": None, "n": None}
    assert (await http.post(CHAT, json=body)).status_code == 200


async def test_new_and_extension_shapes_pass_validation(http: httpx.AsyncClient) -> None:
    body = {
        "model": "echo",
        "messages": [
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "hi"},
                    {"type": "video_url", "video_url": {"url": "https://example.invalid/v.mp4"}},
                ],
            }
        ],
        "tools": [{"type": "custom", "custom": {"name": "grep"}}],
        "tool_choice": {"type": "allowed_tools", "allowed_tools": {"mode": "auto", "tools": []}},
    }
    response = await http.post(CHAT, json=body)
    assert response.status_code == 200, response.text


async def test_known_parts_and_tools_still_need_their_fields(http: httpx.AsyncClient) -> None:
    part = {"model": "echo", "messages": [{"role": "user", "content": [{"type": "text"}]}]}
    assert_error(await http.post(CHAT, json=part), 400, "messages[0].content[0]")
    tool = {"model": "echo", "messages": OK_MESSAGES, "tools": [{"type": "function"}]}
    assert_error(await http.post(CHAT, json=tool), 400, "tools[0]")
