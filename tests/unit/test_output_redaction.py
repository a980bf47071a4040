"""Output redaction: a stream cut anywhere (down to one character per chunk, choices
interleaved) reads exactly as the whole text redacted, leaks none of the values, and keeps
its content-free chunks (role, tool calls, finish_reason, usage) in order; JSON replies are
redacted in place; the hold-back and each rescan stay bounded."""

from __future__ import annotations

import asyncio
import itertools
import re
from collections import Counter
from collections.abc import Sequence
from typing import Any

import msgspec
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.context import RequestContext
from gateway.protocol.embeddings import EmbeddingRequest
from gateway.protocol.payload import Chunk, Kind, Reply
from gateway.protocol.raw import decode_fields
from policies.audit import AuditLog
from policies.base import StreamOutcome
from policies.findings import Finding, SpanDetector, redact, resolve_overlaps
from policies.output_redaction import OutputRedactionStage


class Pattern:
    def __init__(self, name: str, entity: str, pattern: str, max_span: int) -> None:
        self.name = name
        self.entity = entity
        self.max_span = max_span
        self._re = re.compile(pattern)
        self.windows: list[int] = []  # the length of every text scanned

    def find(self, text: str) -> list[Finding]:
        self.windows.append(len(text))
        return [Finding(m.start(), m.end(), self.entity) for m in self._re.finditer(text)]


def detectors() -> list[Pattern]:
    # max_span: the longest match plus the one character `\b` reads after it, with margin.
    email = r"[A-Za-z0-9._+-]{1,32}@[A-Za-z0-9-]{1,24}\.(?:com|org|io)\b"
    return [
        Pattern("pii", "EMAIL_ADDRESS", email, 72),
        Pattern("secrets", "API_KEY", r"sk-[A-Za-z0-9]{20,48}", 56),
        # Reads left context: the value only counts after its label.
        Pattern("secrets", "PASSWORD", r"(?<=password: )[A-Za-z0-9]{6,20}\b", 40),
    ]


VALUES = [
    "alice.smith@example.com",
    "bob@corp.io",
    "x_y+z@mail-host.org",
    "sk-" + "Ab1" * 8,
    "sk-" + "Zz9y" * 9,
    "password: hunter2hunter",
]
# What must never show: the values without their labels.
SECRETS = [v.removeprefix("password: ") for v in VALUES]
# Filler that keeps brushing against the patterns: parts of addresses and keys.
FILLER = st.lists(
    st.sampled_from(
        [
            "a",
            "b",
            "1",
            " ",
            "\n",
            "@",
            ".",
            "-",
            "sk",
            "sk-",
            "com",
            "password",
            ": ",
            "é",
            "\U0001f600",
        ]
    ),
    max_size=30,
).map("".join)


def whole(text: str, found: Sequence[SpanDetector]) -> str:
    return redact(text, resolve_overlaps([f for d in found for f in d.find(text)]))


@st.composite
def texts_with_values(draw: st.DrawFn) -> str:
    """Filler with k values at random places (spaced, so the whole text finds them too:
    `bob@corp.comx` is no address)."""
    values = draw(st.lists(st.sampled_from(VALUES), max_size=4))
    return draw(FILLER) + "".join(f" {value} {draw(FILLER)}" for value in values)


def split(draw: st.DrawFn, text: str) -> list[str]:
    """`text` in n random pieces, n from 1 up to its length."""
    if draw(st.booleans()) and text:
        return list(text)  # one character per chunk
    cuts = draw(st.sets(st.integers(1, max(1, len(text) - 1)), max_size=max(0, len(text) - 1)))
    bounds = [0, *sorted(c for c in cuts if c < len(text)), len(text)]
    return [text[a:b] for a, b in itertools.pairwise(bounds) if a < b]


def fields(value: dict[str, Any]) -> dict[str, msgspec.Raw]:
    return decode_fields(msgspec.json.encode(value))


def chunk(choices: list[dict[str, Any]], kind: Kind = "chat", **top: Any) -> Chunk:
    obj = "chat.completion.chunk" if kind == "chat" else "text_completion"
    return Chunk(fields({"id": "c1", "object": obj, "choices": choices, **top}), kind)


def delta(index: int, finish: str | None = None, **values: Any) -> dict[str, Any]:
    return {"index": index, "delta": values, "finish_reason": finish}


def opened(stage: OutputRedactionStage, ctx: RequestContext | None = None) -> Any:
    filt = stage.open(None, ctx or RequestContext("r", "chat/completions"))  # type: ignore[arg-type]
    assert filt is not None
    return filt


def run(stage: OutputRedactionStage, chunks: list[Chunk]) -> list[dict[str, Any]]:
    async def go() -> list[Chunk]:
        filt = opened(stage)
        out: list[Chunk] = []
        for c in chunks:
            out.extend(await filt.chunk(c))
        out.extend(await filt.finish(StreamOutcome.COMPLETED))
        return out

    return [msgspec.json.decode(c.encode()) for c in asyncio.run(go())]


def streamed_texts(out: list[dict[str, Any]]) -> dict[int, str]:
    texts: dict[int, str] = {}
    for c in out:
        for choice in c["choices"]:
            content = choice.get("delta", {}).get("content") or ""
            texts[choice["index"]] = texts.get(choice["index"], "") + content
    return texts


def finish_positions(out: list[dict[str, Any]]) -> dict[int, int]:
    """Per choice, how much of its text had gone out when its finish_reason did."""
    seen: dict[int, int] = {}
    at: dict[int, int] = {}
    for c in out:
        for choice in c["choices"]:
            i = choice["index"]
            seen[i] = seen.get(i, 0) + len(choice.get("delta", {}).get("content") or "")
            if choice.get("finish_reason"):
                at[i] = seen[i]
    return at


@settings(max_examples=200, deadline=None)
@given(text=texts_with_values(), data=st.data(), step=st.sampled_from([1, 9]))
def test_a_stream_cut_anywhere_reads_as_the_whole_text_redacted(
    text: str, data: st.DataObject, step: int
) -> None:
    found = detectors()
    pieces = data.draw(st.composite(lambda draw: split(draw, text))())
    with_finish = data.draw(st.booleans())
    chunks = [chunk([delta(0, role="assistant", content="")])]
    chunks += [chunk([delta(0, content=p)]) for p in pieces]
    if with_finish:
        chunks.append(chunk([delta(0, "stop")]))
    usage = {"prompt_tokens": 1, "completion_tokens": 2, "total_tokens": 3}
    chunks.append(chunk([], usage=usage))

    out = run(OutputRedactionStage(found, audit=AuditLog(None), step=step), chunks)

    expected = whole(text, found)
    got = streamed_texts(out).get(0, "")
    assert got == expected
    assert not any(secret in got for secret in SECRETS)
    assert out[0]["choices"][0]["delta"]["role"] == "assistant"
    if with_finish:
        assert finish_positions(out) == {0: len(expected)}
    usage_chunks = [c for c in out if c.get("usage")]
    assert len(usage_chunks) == 1 and usage_chunks[0]["usage"] == usage
    if with_finish:  # else the held text is flushed at the end (`UsageStage` sends usage last)
        assert usage_chunks == [out[-1]] and out[-1]["choices"] == []


@settings(max_examples=100, deadline=None)
@given(first=texts_with_values(), second=texts_with_values(), data=st.data())
def test_two_choices_interleaved_at_random(first: str, second: str, data: st.DataObject) -> None:
    found = detectors()
    queues = []
    for i, text in enumerate((first, second)):
        pieces = data.draw(st.composite(lambda draw, text=text: split(draw, text))())
        queues.append([chunk([delta(i, content=p)]) for p in pieces] + [chunk([delta(i, "stop")])])
    chunks = []
    while queues[0] or queues[1]:
        side = data.draw(st.integers(0, 1)) if queues[0] and queues[1] else int(not queues[0])
        chunks.append(queues[side].pop(0))

    out = run(OutputRedactionStage(found, audit=AuditLog(None)), chunks)

    expected = {0: whole(first, found), 1: whole(second, found)}
    assert streamed_texts(out) == expected
    assert finish_positions(out) == {0: len(expected[0]), 1: len(expected[1])}


class Lines:
    def __init__(self) -> None:
        self.lines: list[bytes] = []

    def write(self, line: bytes) -> None:
        self.lines.append(line)


@settings(max_examples=50, deadline=None)
@given(text=texts_with_values(), data=st.data())
def test_a_stream_audits_what_the_whole_text_would(text: str, data: st.DataObject) -> None:
    found = detectors()
    lines = Lines()
    pieces = data.draw(st.composite(lambda draw: split(draw, text))())
    run(
        OutputRedactionStage(found, audit=AuditLog(lines)),
        [chunk([delta(0, content=p)]) for p in pieces],
    )
    counts = Counter(f.entity for f in resolve_overlaps([f for d in found for f in d.find(text)]))
    logged = [msgspec.json.decode(line) for line in lines.lines]
    assert [e["entities"] for e in logged] == ([dict(counts)] if counts else [])
    assert not any(secret.encode() in b"".join(lines.lines) for secret in SECRETS)


def test_tool_call_deltas_and_finish_pass_in_order() -> None:
    found = detectors()
    call = {
        "index": 0,
        "id": "call_0",
        "type": "function",
        "function": {"name": "f", "arguments": ""},
    }
    args = {"index": 0, "function": {"arguments": '{"to": "bob@corp.io"}'}}
    chunks = [
        chunk([delta(0, role="assistant", content="")]),
        chunk([delta(0, content="mail bob@co")]),
        chunk([delta(0, content="rp.io then")]),
        chunk([delta(0, tool_calls=[call])]),
        chunk([delta(0, tool_calls=[args])]),
        chunk([delta(0, "tool_calls")]),
    ]
    out = run(OutputRedactionStage(found, audit=AuditLog(None)), chunks)
    deltas = [c["choices"][0]["delta"] for c in out]
    assert streamed_texts(out) == {0: "mail <EMAIL_ADDRESS> then"}
    # Arguments are left alone; the held text (shorter than the hold-back) is flushed by the
    # finish, not by a tool call (content may go on after one).
    assert [d["tool_calls"][0] for d in deltas if "tool_calls" in d] == [call, args]
    assert deltas[-2] == {"content": "mail <EMAIL_ADDRESS> then"}
    assert out[-1]["choices"][0]["finish_reason"] == "tool_calls"
    assert out[-1]["choices"][0]["delta"] == {}


def test_held_text_is_flushed_before_its_finish_chunk_in_its_own_chunk() -> None:
    found = detectors()
    chunks = [
        chunk([delta(0, content="reach me at ")]),
        chunk([delta(0, "stop", content="bob@corp.io")]),
    ]
    out = run(OutputRedactionStage(found, audit=AuditLog(None)), chunks)
    assert [c["choices"][0]["delta"] for c in out] == [
        {"content": "reach me at <EMAIL_ADDRESS>"},
        {},
    ]
    assert [c["choices"][0]["finish_reason"] for c in out] == [None, "stop"]
    assert out[0]["id"] == "c1"  # the added chunk looks like the stream's own


def test_legacy_completion_streams_are_redacted() -> None:
    found = detectors()
    pieces = ["key: sk-", "Ab1Ab1Ab1Ab1", "Ab1Ab1Ab1Ab1 ok"]
    chunks = [chunk([{"index": 0, "text": p, "finish_reason": None}], "text") for p in pieces]
    chunks.append(chunk([{"index": 0, "text": "", "finish_reason": "length"}], "text"))
    out = run(OutputRedactionStage(found, audit=AuditLog(None)), chunks)
    assert "".join(c["choices"][0]["text"] for c in out) == "key: <API_KEY> ok"
    assert out[-1]["choices"][0]["finish_reason"] == "length"


def test_time_to_first_token_is_bounded_by_the_hold_back() -> None:
    found = detectors()
    hold = max(d.max_span for d in found)
    text = "no secrets here, only words " * 40

    async def go() -> None:
        filt = opened(OutputRedactionStage(found, audit=AuditLog(None)))
        sent = 0
        for i, ch in enumerate(text, 1):
            for c in await filt.chunk(chunk([delta(0, content=ch)])):
                sent += len(c.choices()[0]["delta"].get("content") or "")
            assert sent >= i - hold
            assert i <= hold or sent > 0

    asyncio.run(go())
    # Rescans read a bounded window (left context + held tail + one chunk), not the answer.
    assert max(max(d.windows) for d in found) <= 2 * hold + 1


def test_a_long_stream_without_findings_drops_empty_chunks_and_batches_scans() -> None:
    found = detectors()
    text = "plain words only " * 30
    chunks = [chunk([delta(0, content=ch)]) for ch in text]
    out = run(OutputRedactionStage(found, audit=AuditLog(None), step=16), chunks)
    assert streamed_texts(out) == {0: text}
    assert all(c["choices"][0]["delta"].get("content") for c in out)  # none sent empty
    assert all(len(d.windows) <= len(text) // 16 + 2 for d in found)


def test_json_replies_are_redacted_and_tool_calls_left_intact() -> None:
    found = detectors()
    lines = Lines()
    call = {"id": "c", "type": "function", "function": {"name": "f", "arguments": '{"a": 1}'}}
    message = {"role": "assistant", "content": "mail bob@corp.io", "tool_calls": [call]}
    logprobs = {"content": [{"token": "bob", "logprob": -0.1, "bytes": None, "top_logprobs": []}]}
    choices = [{"index": 0, "message": message, "finish_reason": "stop", "logprobs": logprobs}]
    ctx = RequestContext("r", "chat/completions")
    filt = opened(OutputRedactionStage(found, audit=AuditLog(lines)), ctx)
    reply = msgspec.json.decode(
        asyncio.run(filt.reply(Reply(fields({"choices": choices}), "chat"))).encode()
    )
    assert reply["choices"][0]["message"] == {**message, "content": "mail <EMAIL_ADDRESS>"}
    assert reply["choices"][0]["logprobs"] is None  # it spelled the address out
    assert b'"EMAIL_ADDRESS":1' in lines.lines[0] and b"bob@corp.io" not in lines.lines[0]

    text = [{"index": 0, "text": "sk-" + "Zz9y" * 9, "finish_reason": "stop"}]
    filt = opened(OutputRedactionStage(found, audit=AuditLog(None)))
    done = asyncio.run(filt.reply(Reply(fields({"choices": text}), "text")))
    assert msgspec.json.decode(done.encode())["choices"][0]["text"] == "<API_KEY>"


def test_an_untouched_reply_keeps_its_bytes() -> None:
    body = b'{"choices":[{"index":0,"message":{"role":"assistant","content":"hi"}}],"x":1}'
    filt = opened(OutputRedactionStage(detectors(), audit=AuditLog(None)))
    reply = asyncio.run(filt.reply(Reply(decode_fields(body), "chat")))
    assert msgspec.json.decode(reply.encode()) == msgspec.json.decode(body)


def test_flag_only_detectors_report_without_rewriting() -> None:
    found = detectors()
    lines = Lines()
    ctx = RequestContext("r", "chat/completions")
    filt = opened(OutputRedactionStage([], audit=AuditLog(lines), flag_only=found), ctx)
    choices = [{"index": 0, "message": {"role": "assistant", "content": "bob@corp.io"}}]
    reply = asyncio.run(filt.reply(Reply(fields({"choices": choices}), "chat")))
    assert reply.choices()[0]["message"]["content"] == "bob@corp.io"
    assert ctx.flags == ["pii"] and b'"action":"flag"' in lines.lines[0]


def test_nothing_to_do_opens_no_filter() -> None:
    ctx = RequestContext("r", "embeddings")
    assert OutputRedactionStage([], audit=AuditLog(None)).open(None, ctx) is None  # type: ignore[arg-type]
    embedding = EmbeddingRequest(model="m", input="bob@corp.io")
    assert OutputRedactionStage(detectors(), audit=AuditLog(None)).open(embedding, ctx) is None


def test_a_cancelled_stream_flushes_nothing() -> None:
    async def go() -> Sequence[Chunk]:
        filt = opened(OutputRedactionStage(detectors(), audit=AuditLog(None)))
        await filt.chunk(chunk([delta(0, content="held bob@corp.io")]))
        closing: Sequence[Chunk] = await filt.finish(StreamOutcome.CANCELLED)
        return closing

    assert not asyncio.run(go())
