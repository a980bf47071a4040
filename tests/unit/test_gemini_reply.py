"""Gemini -> chat completions: whole replies, stream events, Google's error bodies, and the
thought signatures that ride in tool-call ids from a reply back into the next request."""

from __future__ import annotations

import json
from typing import Any

import msgspec
import pytest

from gateway.backends.gemini_convert import SKIP_SIGNATURE, signature_of, to_gemini
from gateway.backends.gemini_errors import as_gateway_error, openai_body, parse_error
from gateway.backends.gemini_reply import StreamTranslator, chat_completion, usage_of
from gateway.errors import BadGatewayError, UpstreamAuthError
from gateway.protocol.chat import ChatCompletionRequest
from tests.unit.test_gemini_convert import call, convert

_decoder = msgspec.json.Decoder(ChatCompletionRequest)


# --- gemini -> chat -------------------------------------------------------------------


def candidate(parts: list[dict[str, Any]], finish: str = "STOP", index: int = 0) -> Any:
    return {"content": {"role": "model", "parts": parts}, "finishReason": finish, "index": index}


@pytest.mark.parametrize(
    ("finish", "calls", "expected"),
    [
        ("STOP", False, "stop"),
        ("STOP", True, "tool_calls"),
        ("MAX_TOKENS", False, "length"),
        ("SAFETY", False, "content_filter"),
        ("RECITATION", False, "content_filter"),
        ("BLOCKLIST", False, "content_filter"),
        ("PROHIBITED_CONTENT", False, "content_filter"),
        ("SPII", False, "content_filter"),
        ("OTHER", False, "stop"),
    ],
)
def test_finish_reasons(finish: str, calls: bool, expected: str) -> None:
    parts: list[dict[str, Any]] = [{"text": "hi"}]
    if calls:
        parts.append({"functionCall": {"name": "f", "args": {"x": 1}}})
    reply = chat_completion({"candidates": [candidate(parts, finish)]}, "m", "gem")
    assert reply["choices"][0]["finish_reason"] == expected


def test_reply_text_tool_calls_ids_and_usage() -> None:
    reply = chat_completion(
        {
            "candidates": [
                candidate(
                    [
                        {"text": "I think", "thought": True},
                        {"text": "Let me "},
                        {"text": "check."},
                        {"functionCall": {"name": "f", "args": {"x": 1}}},
                        {"functionCall": {"name": "g", "args": {}, "id": "given-id"}},
                    ]
                )
            ],
            "usageMetadata": {
                "promptTokenCount": 10,
                "candidatesTokenCount": 4,
                "thoughtsTokenCount": 6,
                "cachedContentTokenCount": 3,
                "totalTokenCount": 20,
            },
        },
        "m",
        "gem",
    )
    message = reply["choices"][0]["message"]
    assert message["content"] == "Let me check."
    calls = message["tool_calls"]
    assert [c["function"]["name"] for c in calls] == ["f", "g"]
    assert json.loads(calls[0]["function"]["arguments"]) == {"x": 1}
    assert calls[0]["id"].startswith("call_")
    assert calls[1]["id"] == "given-id"
    assert reply["usage"] == {
        "prompt_tokens": 10,
        "completion_tokens": 10,
        "total_tokens": 20,
        "prompt_tokens_details": {"cached_tokens": 3},
        "completion_tokens_details": {"reasoning_tokens": 6},
    }


def test_blocked_prompt_is_a_filtered_reply_and_an_empty_reply_is_malformed() -> None:
    reply = chat_completion({"promptFeedback": {"blockReason": "SAFETY"}}, "m", "gem")
    assert reply["choices"] == [
        {
            "index": 0,
            "message": {"role": "assistant", "content": ""},
            "finish_reason": "content_filter",
            "logprobs": None,
        }
    ]
    with pytest.raises(BadGatewayError):
        chat_completion({"usageMetadata": {}}, "m", "gem")


def test_usage_without_total_adds_up() -> None:
    assert usage_of({"promptTokenCount": 2, "candidatesTokenCount": 3}) == {
        "prompt_tokens": 2,
        "completion_tokens": 3,
        "total_tokens": 5,
    }
    assert usage_of(None) is None


def test_stream_translation_keeps_ids_and_indices_and_knows_when_it_finished() -> None:
    translator = StreamTranslator("m")
    first = translator.feed({"candidates": [{"content": {"parts": [{"text": "Hel"}]}}]})
    assert not translator.complete
    second = translator.feed(
        {
            "candidates": [
                {
                    "content": {
                        "parts": [
                            {"text": "lo"},
                            {"functionCall": {"name": "f", "args": {"a": 1}}},
                        ]
                    }
                }
            ]
        }
    )
    third = translator.feed(
        {
            "candidates": [
                candidate([{"functionCall": {"name": "g", "args": {}}}], "STOP"),
            ],
            "usageMetadata": {"promptTokenCount": 1, "candidatesTokenCount": 2},
        }
    )
    chunks = first + second + third
    assert len({c["id"] for c in chunks}) == 1
    assert chunks[0]["choices"][0]["delta"] == {"role": "assistant", "content": "Hel"}
    deltas = [d for c in chunks for d in c["choices"][0]["delta"].get("tool_calls", [])]
    assert [(d["index"], d["function"]["name"]) for d in deltas] == [(0, "f"), (1, "g")]
    assert deltas[0]["id"] != deltas[1]["id"]
    assert chunks[-1]["choices"][0] == {
        "index": 0,
        "delta": {},
        "finish_reason": "tool_calls",
        "logprobs": None,
    }
    assert translator.complete
    usage = translator.usage_chunk()
    assert usage is not None and usage["choices"] == [] and usage["usage"]["total_tokens"] == 3


def test_stream_of_a_blocked_prompt_finishes_with_content_filter() -> None:
    translator = StreamTranslator("m")
    chunks = translator.feed({"promptFeedback": {"blockReason": "OTHER"}})
    assert translator.complete
    assert chunks[-1]["choices"][0]["finish_reason"] == "content_filter"


def test_two_candidates_both_must_finish() -> None:
    translator = StreamTranslator("m")
    translator.feed({"candidates": [candidate([{"text": "a"}], index=0)]})
    translator.feed({"candidates": [{"content": {"parts": [{"text": "b"}]}, "index": 1}]})
    assert not translator.complete
    translator.feed({"candidates": [candidate([], "STOP", index=1)]})
    assert translator.complete


# --- errors ---------------------------------------------------------------------------


def test_google_error_with_retry_info_keeps_status_and_retry_after() -> None:
    body = json.dumps(
        {
            "error": {
                "code": 429,
                "message": "Quota exceeded",
                "status": "RESOURCE_EXHAUSTED",
                "details": [
                    {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "7.5s"}
                ],
            }
        }
    ).encode()
    error = as_gateway_error(parse_error(body, 429), "gem", None)
    assert error.status_code == 429
    assert error.retry_after == 7.5 and error.retry_after_given
    assert error.error_code == "resource_exhausted"
    shaped = json.loads(error.body())["error"]
    assert set(shaped) == {"message", "type", "param", "code"}
    assert shaped["type"] == "rate_limit_error" and "Quota exceeded" in shaped["message"]
    header_wins = as_gateway_error(parse_error(body, 429), "gem", 2.0)
    assert header_wins.retry_after == 2.0


def test_invalid_key_is_an_upstream_auth_error_and_long_prompts_fail_over() -> None:
    bad_key = {
        "error": {
            "code": 400,
            "message": "API key not valid. Please pass a valid API key.",
            "status": "INVALID_ARGUMENT",
            "details": [
                {"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "API_KEY_INVALID"}
            ],
        }
    }
    assert isinstance(
        as_gateway_error(parse_error(json.dumps(bad_key).encode(), 400), "gem", None),
        UpstreamAuthError,
    )
    too_long = {
        "error": {
            "code": 400,
            "message": "The input token count (2000000) exceeds the maximum number of tokens "
            "allowed (1048576).",
            "status": "INVALID_ARGUMENT",
        }
    }
    error = as_gateway_error(parse_error(json.dumps(too_long).encode(), 400), "gem", None)
    assert error.status_code == 400 and error.error_code == "context_length_exceeded"


def test_stream_error_events_and_junk_bodies() -> None:
    event = b'[{"error": {"code": 503, "message": "overloaded", "status": "UNAVAILABLE"}}]'
    parsed = parse_error(event, 0)
    assert (parsed.status, parsed.code) == (503, "unavailable")
    junk = parse_error(b"<html>oops</html>", 0)
    assert junk.status == 502 and junk.code is None
    assert json.loads(openai_body(junk, "gem"))["error"]["type"] == "upstream_error"


def test_thought_signatures_travel_in_the_ids_and_gemini_3_gets_a_stand_in() -> None:
    reply = chat_completion(
        {
            "candidates": [
                candidate(
                    [
                        {"functionCall": {"name": "f", "args": {}}, "thoughtSignature": "c2ln"},
                        {"functionCall": {"name": "g", "args": {}}},
                    ]
                )
            ]
        },
        "m",
        "gem",
    )
    ids = [c["id"] for c in reply["choices"][0]["message"]["tool_calls"]]
    assert signature_of(ids[0]) == "c2ln" and signature_of(ids[1]) is None
    history = {
        "messages": [
            {"role": "user", "content": "hi"},
            {"role": "assistant", "tool_calls": reply["choices"][0]["message"]["tool_calls"]},
            {"role": "tool", "tool_call_id": ids[0], "content": "1"},
            {"role": "tool", "tool_call_id": ids[1], "content": "2"},
        ]
    }
    parts = convert(history)["contents"][1]["parts"]
    assert [p.get("thoughtSignature") for p in parts] == ["c2ln", None]
    unsigned = {
        "messages": [
            {"role": "user", "content": "hi"},
            {"role": "assistant", "tool_calls": [call("x", "f", {})]},
            {"role": "tool", "tool_call_id": "x", "content": "1"},
        ]
    }
    data = json.dumps({"model": "m", **unsigned}).encode()
    request = _decoder.decode(data)
    for model, expected in [("gemini-3-pro-preview", SKIP_SIGNATURE), ("gemini-2.5-flash", None)]:
        sent = to_gemini(request, model=model)["contents"][1]["parts"][0]
        assert sent.get("thoughtSignature") == expected
