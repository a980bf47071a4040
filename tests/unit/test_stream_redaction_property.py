"""Streamed redaction equals whole-text redaction, however the text is cut into chunks:
values split down to one character per chunk are still caught, nothing of them leaks,
placeholders are whole, and content-free chunks keep their order."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path
from typing import Any

import msgspec
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.context import RequestContext
from gateway.protocol.payload import Chunk, Reply
from gateway.protocol.raw import raw
from policies.audit import AuditLog
from policies.base import StreamOutcome
from policies.findings import Finding, redact, resolve_overlaps
from policies.output_redaction import OutputRedactionStage
from policies.secrets import SecretDetector


class Pattern:
    def __init__(self, name: str, pattern: str, max_span: int) -> None:
        self.name = name
        self.max_span = max_span
        self._re = re.compile(pattern)

    def find(self, text: str) -> list[Finding]:
        return [Finding(m.start(), m.end(), self.name.upper()) for m in self._re.finditer(text)]


DETECTORS = [
    Pattern("email_address", r"[a-z0-9.]{1,30}@[a-z0-9]{1,20}\.(?:com|org|io)\b", 64),
    Pattern("api_key", r"sk-[A-Za-z0-9]{20,40}", 48),
]
VALUES = ["alice.smith@example.com", "bob@corp.io", "sk-" + "Ab1" * 8, "sk-" + "Zz9y" * 7]
WORDS = ["hello", "the", "key", "is", "mail", "me", "at", "sk", "-", "@", ".", "com", "\n"]


def whole(text: str) -> str:
    return redact(text, resolve_overlaps([f for d in DETECTORS for f in d.find(text)]))


def chunk(index: int, text: str | None, finish: str | None = None) -> Chunk:
    delta: dict[str, Any] = {} if text is None else {"content": text}
    choice = {"index": index, "delta": delta, "finish_reason": finish}
    return Chunk({"object": raw("chat.completion.chunk"), "choices": raw([choice])}, "chat")


def stream(pieces: list[tuple[int, str]], finish: bool) -> tuple[dict[int, str], list[str]]:
    """The text each choice received, and the order of the finish events."""

    async def run() -> tuple[dict[int, str], list[str]]:
        stage = OutputRedactionStage(DETECTORS, audit=AuditLog(None))
        filt = stage.open(None, RequestContext("r", "/v1"))  # type: ignore[arg-type]
        assert filt is not None
        out: list[Chunk] = []
        for index, piece in pieces:
            out.extend(await filt.chunk(chunk(index, piece)))
        if finish:
            for index in sorted({i for i, _ in pieces}):
                out.extend(await filt.chunk(chunk(index, None, "stop")))
        out.extend(await filt.finish(StreamOutcome.COMPLETED))
        texts: dict[int, str] = {}
        events = []
        for c in out:
            for choice in c.choices():
                content = (choice.get("delta") or {}).get("content")
                texts[choice["index"]] = texts.get(choice["index"], "") + (content or "")
                if choice.get("finish_reason"):
                    events.append(f"{choice['index']}:{len(texts[choice['index']])}")
        return texts, events

    return asyncio.run(run())


texts = st.lists(st.sampled_from(WORDS + VALUES), min_size=1, max_size=40).map(" ".join)


@settings(max_examples=300, deadline=None)
@given(text=texts, data=st.data(), finish=st.booleans())
def test_any_split_streams_to_the_whole_text_redaction(text: str, data: Any, finish: bool) -> None:
    cuts = sorted(
        set(data.draw(st.lists(st.integers(1, max(1, len(text) - 1)), max_size=len(text))))
    )
    pieces = [text[a:b] for a, b in zip([0, *cuts], [*cuts, len(text)], strict=True) if a < b]
    got, events = stream([(0, p) for p in pieces], finish)
    expected = whole(text)
    assert got.get(0, "") == expected
    for value in VALUES:
        assert value not in got.get(0, "")
    if finish:
        # The finish chunk comes after every character of its choice.
        assert events == [f"0:{len(expected)}"]


@settings(max_examples=100, deadline=None)
@given(first=texts, second=texts)
def test_choices_interleaved_one_character_at_a_time(first: str, second: str) -> None:
    pieces = []
    for i in range(max(len(first), len(second))):
        if i < len(first):
            pieces.append((0, first[i]))
        if i < len(second):
            pieces.append((1, second[i]))
    got, _ = stream(pieces, finish=True)
    assert got == {0: whole(first), 1: whole(second)}


def test_a_json_reply_is_redacted_and_audited_without_the_value() -> None:
    lines: list[bytes] = []

    class Writer:
        def write(self, line: bytes) -> None:
            lines.append(line)

    stage = OutputRedactionStage(DETECTORS, audit=AuditLog(Writer()))
    filt = stage.open(None, RequestContext("r", "/v1"))  # type: ignore[arg-type]
    assert filt is not None
    choice = {"index": 0, "message": {"role": "assistant", "content": "mail bob@corp.io"}}
    reply = asyncio.run(filt.reply(Reply({"choices": raw([choice])}, "chat")))
    assert reply.choices()[0]["message"]["content"] == "mail <EMAIL_ADDRESS>"
    assert b"bob@corp.io" not in b"".join(lines) and b'"EMAIL_ADDRESS":1' in b"".join(lines)


def _samples() -> list[str]:
    path = Path(__file__).parents[1] / "data" / "secrets_samples.jsonl"
    rows = [msgspec.json.decode(line) for line in path.read_bytes().splitlines() if line]
    return [row["text"] for row in rows if row["secrets"]]


SECRET_TEXTS = _samples()


@settings(max_examples=150, deadline=None)
@given(data=st.data())
def test_the_real_secrets_detector_streams_like_the_whole_text(data: Any) -> None:
    """The secrets detector's own hold-back (not its 4 KB span) is enough."""
    detector = SecretDetector()
    text = "\n".join(data.draw(st.lists(st.sampled_from(SECRET_TEXTS), min_size=1, max_size=3)))
    cuts = sorted(set(data.draw(st.lists(st.integers(1, len(text) - 1), max_size=60))))
    pieces = [text[a:b] for a, b in zip([0, *cuts], [*cuts, len(text)], strict=True) if a < b]

    async def run() -> str:
        stage = OutputRedactionStage([detector], audit=AuditLog(None))
        filt = stage.open(None, RequestContext("r", "/v1"))  # type: ignore[arg-type]
        assert filt is not None
        out = []
        for piece in pieces:
            out.extend(await filt.chunk(chunk(0, piece)))
        out.extend(await filt.finish(StreamOutcome.COMPLETED))
        return "".join(
            (c.choices()[0].get("delta") or {}).get("content") or "" for c in out if c.has_choices
        )

    expected = redact(text, resolve_overlaps(detector.find(text)))
    assert asyncio.run(run()) == expected
