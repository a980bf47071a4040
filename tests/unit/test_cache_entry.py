"""Cached answers: from a JSON reply or an assembled stream to one neutral form, and back as
a JSON reply or as stream chunks; only complete answers are storable."""

from __future__ import annotations

import json
import time
from typing import Any

import msgspec
import pytest

from gateway.cache.entry import (
    ARGUMENTS_PIECE,
    TEXT_PIECE,
    CachedAnswer,
    StreamAssembler,
    from_reply,
    reply_fields,
    stream_chunks,
)
from gateway.protocol.raw import RawFields, decode_fields

LONG_TEXT = (
    "The quick brown fox jumps over the lazy dog, then naps in the warm afternoon sun "
    "while the farmer, unaware, counts his hens twice and finds one missing."
)
ARGS_0 = json.dumps({"city": "Paris", "days": 3, "units": "metric", "detail": "hourly" * 4})
ARGS_1 = json.dumps({"city": "Reykjavik", "days": 10})
USAGE = {"prompt_tokens": 12, "completion_tokens": 34, "total_tokens": 46}


def fields(obj: dict[str, Any]) -> RawFields:
    return decode_fields(json.dumps(obj).encode())


def reply(choices: list[dict[str, Any]], **extra: Any) -> RawFields:
    return fields(
        {
            "id": "chatcmpl-original",
            "object": "chat.completion",
            "created": 1_700_000_000,
            "model": "gpt-test",
            "choices": choices,
            **extra,
        }
    )


def text_choice(
    index: int = 0, content: str | None = LONG_TEXT, finish: str | None = "stop"
) -> dict[str, Any]:
    return {
        "index": index,
        "message": {"role": "assistant", "content": content},
        "logprobs": None,
        "finish_reason": finish,
    }


def tools_choice(index: int = 0) -> dict[str, Any]:
    calls = [
        {"id": "call_a", "type": "function", "function": {"name": "get_weather", "arguments": ARGS_0}},
        {"id": "call_b", "type": "function", "function": {"name": "get_time", "arguments": ARGS_1}},
    ]  # fmt: skip
    return {
        "index": index,
        "message": {"role": "assistant", "content": None, "tool_calls": calls},
        "logprobs": None,
        "finish_reason": "tool_calls",
    }


def chunk(choices: list[dict[str, Any]], **extra: Any) -> RawFields:
    return fields(
        {
            "id": "chatcmpl-live",
            "object": "chat.completion.chunk",
            "created": 1_700_000_000,
            "model": "gpt-test",
            "choices": choices,
            **extra,
        }
    )


def delta(index: int, finish: str | None = None, **d: Any) -> dict[str, Any]:
    return {"index": index, "delta": d, "logprobs": None, "finish_reason": finish}


def cut(text: str, sizes: list[int]) -> list[str]:
    out, at, i = [], 0, 0
    while at < len(text):
        size = sizes[i % len(sizes)]
        out.append(text[at : at + size])
        at += size
        i += 1
    return out


def text_stream(index: int, text: str, sizes: list[int]) -> list[dict[str, Any]]:
    out = [delta(index, role="assistant", content="")]
    out += [delta(index, content=p) for p in cut(text, sizes)]
    out.append(delta(index, "stop"))
    return out


def tools_stream(index: int) -> list[dict[str, Any]]:
    """Two parallel calls, their arguments in interleaved pieces of uneven sizes."""
    out = [delta(index, role="assistant", content=None)]
    for i, (call_id, name) in enumerate((("call_a", "get_weather"), ("call_b", "get_time"))):
        head = {
            "index": i,
            "id": call_id,
            "type": "function",
            "function": {"name": name, "arguments": ""},
        }
        out.append(delta(index, tool_calls=[head]))
    parts = [cut(ARGS_0, [3, 7, 1]), cut(ARGS_1, [5, 2])]
    for step in range(max(map(len, parts))):
        for i, pieces in enumerate(parts):
            if step < len(pieces):
                call = {"index": i, "function": {"arguments": pieces[step]}}
                out.append(delta(index, tool_calls=[call]))
    out.append(delta(index, "tool_calls"))
    return out  # fmt: skip


def assemble(chunks: list[RawFields], kind: Any = "chat") -> CachedAnswer | None:
    assembler = StreamAssembler(kind)
    for c in chunks:
        assembler.feed(c)
    return assembler.answer()


def decoded(raw_fields: RawFields) -> dict[str, Any]:
    return {k: msgspec.json.decode(v) for k, v in raw_fields.items()}


# --- JSON reply -> answer -> reply / chunks ------------------------------------------------


def test_a_json_reply_becomes_an_answer_and_plays_back_as_a_reply() -> None:
    answer = from_reply(reply([text_choice()], usage=USAGE, system_fingerprint="fp_1"), "chat")
    assert answer is not None
    assert answer.kind == "chat" and answer.model == "gpt-test"
    assert answer.usage == USAGE and answer.system_fingerprint == "fp_1"
    assert answer.choices == [text_choice()]

    played = decoded(reply_fields(answer))
    assert played["object"] == "chat.completion"
    assert played["id"].startswith("chatcmpl-") and played["id"] != "chatcmpl-original"
    assert abs(played["created"] - time.time()) < 5  # fresh, not the original's
    assert played["model"] == "gpt-test" and played["system_fingerprint"] == "fp_1"
    assert played["choices"] == [text_choice()]
    assert played["usage"] == USAGE


def test_logprobs_are_not_kept_in_a_stored_choice() -> None:
    choice = {**text_choice(), "logprobs": {"content": [{"token": "The", "logprob": -0.1}]}}
    answer = from_reply(reply([choice]), "chat")
    assert answer is not None and answer.choices[0]["logprobs"] is None


def test_a_reply_without_usage_plays_back_without_usage() -> None:
    answer = from_reply(reply([text_choice()]), "chat")
    assert answer is not None and answer.usage is None
    assert "usage" not in reply_fields(answer)
    chunks = [decoded(c) for c in stream_chunks(answer)]
    assert all("usage" not in c for c in chunks)
    assert all(c["choices"] for c in chunks)


def test_a_json_reply_plays_back_as_stream_chunks() -> None:
    answer = from_reply(reply([text_choice()], usage=USAGE), "chat")
    assert answer is not None
    chunks = [decoded(c) for c in stream_chunks(answer)]
    assert {c["object"] for c in chunks} == {"chat.completion.chunk"}
    assert len({c["id"] for c in chunks}) == 1  # one stream: one id on every chunk
    assert chunks[0]["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    # Short pieces, as a live stream: every content piece at most TEXT_PIECE characters.
    contents = [
        c["choices"][0]["delta"]["content"]
        for c in chunks[1:]
        if c["choices"] and "content" in c["choices"][0]["delta"]
    ]
    assert len(contents) >= len(LONG_TEXT) // TEXT_PIECE
    assert all(0 < len(p) <= TEXT_PIECE for p in contents)
    assert "".join(contents) == LONG_TEXT
    finishes = [c["choices"][0]["finish_reason"] for c in chunks if c["choices"]]
    assert finishes[-1] == "stop" and set(finishes[:-1]) == {None}
    assert chunks[-1]["choices"] == [] and chunks[-1]["usage"] == USAGE
    assert all("usage" not in c for c in chunks[:-1])


def test_replayed_tool_calls_concatenate_to_the_original_arguments() -> None:
    answer = from_reply(reply([tools_choice()], usage=USAGE), "chat")
    assert answer is not None
    chunks = [decoded(c) for c in stream_chunks(answer)]
    calls: dict[int, dict[str, str]] = {}
    for c in chunks:
        for choice in c["choices"]:
            for call in choice["delta"].get("tool_calls") or ():
                slot = calls.setdefault(call["index"], {"id": "", "name": "", "arguments": ""})
                slot["id"] += call.get("id") or ""
                slot["name"] += call.get("function", {}).get("name") or ""
                piece = call.get("function", {}).get("arguments") or ""
                assert len(piece) <= ARGUMENTS_PIECE
                slot["arguments"] += piece
    assert calls == {
        0: {"id": "call_a", "name": "get_weather", "arguments": ARGS_0},
        1: {"id": "call_b", "name": "get_time", "arguments": ARGS_1},
    }
    assert len(ARGS_0) > ARGUMENTS_PIECE  # really split
    finishes = [ch["finish_reason"] for c in chunks for ch in c["choices"]]
    assert finishes[-1] == "tool_calls"


def test_each_replay_has_fresh_ids() -> None:
    answer = from_reply(reply([text_choice()], usage=USAGE), "chat")
    assert answer is not None
    reply_ids = {decoded(reply_fields(answer))["id"] for _ in range(5)}
    stream_ids = {decoded(stream_chunks(answer)[0])["id"] for _ in range(5)}
    assert len(reply_ids) == 5 and len(stream_ids) == 5
    assert not reply_ids & stream_ids
    assert "chatcmpl-original" not in reply_ids | stream_ids
    assert all(i.startswith("chatcmpl-") for i in reply_ids | stream_ids)


def test_replayed_chunks_assemble_back_to_the_same_answer() -> None:
    for choices in ([text_choice()], [tools_choice()], [text_choice(0), text_choice(1, "Other.")]):
        answer = from_reply(reply(choices, usage=USAGE, system_fingerprint="fp_9"), "chat")
        assert answer is not None
        assert assemble(stream_chunks(answer)) == answer


# --- stream -> answer == JSON reply -> answer ----------------------------------------------


def test_a_stream_in_pieces_equals_the_equivalent_json_reply() -> None:
    chunks = [chunk([d]) for d in text_stream(0, LONG_TEXT, [1, 5, 2, 9])]
    chunks.append(chunk([], usage=USAGE))
    streamed = assemble(chunks)
    assert streamed is not None
    assert streamed == from_reply(reply([text_choice()], usage=USAGE), "chat")


def test_a_stream_of_tool_calls_split_across_chunks_equals_the_json_reply() -> None:
    chunks = [chunk([d]) for d in tools_stream(0)]
    chunks.append(chunk([], usage=USAGE))
    streamed = assemble(chunks)
    assert streamed is not None
    assert streamed == from_reply(reply([tools_choice()], usage=USAGE), "chat")
    arguments = [c["function"]["arguments"] for c in streamed.choices[0]["message"]["tool_calls"]]
    assert arguments == [ARGS_0, ARGS_1]


def test_a_stream_of_two_choices_interleaved_equals_the_json_reply() -> None:
    first = text_stream(0, LONG_TEXT, [4, 11])
    second = tools_stream(1)
    interleaved: list[RawFields] = []
    for i in range(max(len(first), len(second))):
        for stream in (second, first):  # choice 1's chunks come first now and then
            if i < len(stream):
                interleaved.append(chunk([stream[i]]))
    interleaved.append(chunk([], usage=USAGE))
    streamed = assemble(interleaved)
    expected = from_reply(reply([text_choice(0), tools_choice(1)], usage=USAGE), "chat")
    assert streamed is not None and streamed == expected
    assert [c["index"] for c in streamed.choices] == [0, 1]


def test_a_stream_with_several_choices_in_one_chunk_is_assembled() -> None:
    chunks = [
        chunk([delta(0, role="assistant", content=""), delta(1, role="assistant", content="")]),
        chunk([delta(0, content="Yes, "), delta(1, content="No, ")]),
        chunk([delta(0, content="indeed."), delta(1, content="never.")]),
        chunk([delta(0, "stop"), delta(1, "stop")]),
        chunk([], usage=USAGE),
    ]
    expected = from_reply(
        reply([text_choice(0, "Yes, indeed."), text_choice(1, "No, never.")], usage=USAGE), "chat"
    )
    assert assemble(chunks) == expected


def test_a_stream_without_a_usage_chunk_has_no_usage() -> None:
    streamed = assemble([chunk([d]) for d in text_stream(0, "hi", [1])])
    assert streamed is not None and streamed.usage is None
    assert streamed.choices[0]["message"]["content"] == "hi"


def test_the_stream_and_its_json_twin_play_back_identically() -> None:
    chunks = [chunk([d]) for d in text_stream(0, LONG_TEXT, [3])] + [chunk([], usage=USAGE)]
    streamed = assemble(chunks)
    from_json = from_reply(reply([text_choice()], usage=USAGE), "chat")
    assert streamed is not None and from_json is not None
    as_reply = [decoded(reply_fields(a)) for a in (streamed, from_json)]
    for played in as_reply:
        del played["id"], played["created"]
    assert as_reply[0] == as_reply[1]
    assert as_reply[0]["choices"][0]["logprobs"] is None  # a chat.completion choice has it


def test_a_legacy_text_stream_equals_its_json_reply() -> None:
    text_chunks = [
        fields({"object": "text_completion", "model": "m", "choices": [{"index": 0, "text": p, "finish_reason": None}]})
        for p in cut(LONG_TEXT, [6])
    ]  # fmt: skip
    text_chunks.append(
        fields({"object": "text_completion", "model": "m", "choices": [{"index": 0, "text": "", "finish_reason": "stop"}]})
    )  # fmt: skip
    streamed = assemble(text_chunks, "text")
    json_reply = fields(
        {
            "object": "text_completion",
            "model": "m",
            "choices": [{"index": 0, "text": LONG_TEXT, "finish_reason": "stop", "logprobs": None}],
        }
    )
    assert streamed is not None and streamed == from_reply(json_reply, "text")
    replayed = [decoded(c) for c in stream_chunks(streamed)]
    assert {c["object"] for c in replayed} == {"text_completion"}
    assert "".join(c["choices"][0]["text"] for c in replayed) == LONG_TEXT
    assert replayed[-1]["choices"][0]["finish_reason"] == "stop"
    assert decoded(reply_fields(streamed))["id"].startswith("cmpl-")


# --- not storable --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "choices",
    [
        [text_choice(finish="length")],
        [text_choice(finish="content_filter")],
        [text_choice(finish=None)],
        [{k: v for k, v in text_choice().items() if k != "finish_reason"}],
        [],
        [text_choice(0), text_choice(1, finish="length")],  # one incomplete choice is enough
    ],
    ids=["length", "content_filter", "null", "missing", "no-choices", "one-of-two-length"],
)
def test_an_incomplete_json_reply_is_not_storable(choices: list[dict[str, Any]]) -> None:
    assert from_reply(reply(choices), "chat") is None


def test_a_reply_without_choices_or_with_odd_choices_is_not_storable() -> None:
    assert from_reply(fields({"object": "chat.completion", "model": "m"}), "chat") is None
    assert from_reply(fields({"choices": "nope"}), "chat") is None
    assert from_reply(fields({"choices": [1, 2]}), "chat") is None


def test_embeddings_are_never_storable() -> None:
    assert from_reply(reply([text_choice()]), "embeddings") is None
    assert assemble([chunk([d]) for d in text_stream(0, "x", [1])], "embeddings") is None


@pytest.mark.parametrize("finish", ["length", "content_filter", None])
def test_an_incomplete_stream_is_not_storable(finish: str | None) -> None:
    deltas = text_stream(0, LONG_TEXT, [5])[:-1]
    if finish is not None:
        deltas.append(delta(0, finish))
    assert assemble([chunk([d]) for d in deltas]) is None


def test_a_stream_with_one_incomplete_choice_is_not_storable() -> None:
    chunks = [chunk([d]) for d in text_stream(0, "done", [2])]
    chunks += [chunk([delta(1, role="assistant", content="cut")]), chunk([delta(1, "length")])]
    assert assemble(chunks) is None


def test_an_empty_stream_is_not_storable() -> None:
    assert assemble([]) is None
    assert assemble([chunk([], usage=USAGE)]) is None


@pytest.mark.parametrize(
    "broken",
    [
        {"choices": [{"index": "zero", "delta": {"content": "x"}}]},
        {"choices": "not a list"},
        {"choices": [{"index": 0, "delta": {"tool_calls": [{"function": {"arguments": "x"}}]}}]},
        {"choices": [{"index": 0, "delta": "not an object"}]},
        {"choices": [{"index": 0, "delta": {"tool_calls": [{"index": 0, "function": "f"}]}}]},
        {"choices": [{"index": 0, "delta": {"tool_calls": ["x"]}}]},
    ],
    ids=["index-not-int", "choices-not-list", "call-without-index", "delta-not-object", "function-not-object", "call-not-object"],
)  # fmt: skip
def test_a_broken_chunk_is_served_but_the_stream_is_not_storable(broken: dict[str, Any]) -> None:
    chunks = [chunk([d]) for d in text_stream(0, LONG_TEXT, [7])]
    chunks.insert(2, fields(broken))
    assembler = StreamAssembler("chat")
    for c in chunks:
        assembler.feed(c)  # never raises: the stream goes on for the client
    assert assembler.broken
    assert assembler.answer() is None
