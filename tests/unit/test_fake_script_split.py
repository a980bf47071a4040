"""The `split-SEED` directive: the streamed reply in random pieces of 1 to 4 characters,
the same for the same seed, whose concatenation is the reply; the JSON reply unchanged."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.backends import fake_script
from gateway.protocol.chat import ChatCompletionChunk, ChatCompletionRequest, UserMessage
from gateway.protocol.completions import CompletionRequest

TEXT = "Write to alice.smith@example.com or call +1 415 555 0100, then stop. " * 3


def chat(text: str, model: str) -> ChatCompletionRequest:
    return ChatCompletionRequest(model=model, messages=[UserMessage(content=text)], stream=True)


def contents(chunks: list[ChatCompletionChunk]) -> list[str]:
    return [c.choices[0].delta.content or "" for c in chunks[1:] if c.choices][:-1]


def test_the_directive_is_parsed_apart_from_split_error() -> None:
    assert fake_script.parse_script("split-17").split == 17
    assert fake_script.parse_script("prefix/echo+split-0@tag").split == 0
    assert fake_script.parse_script("split-error").split is None
    assert fake_script.parse_script("split-error").split_error
    assert fake_script.parse_script("echo").split is None


@settings(max_examples=200, deadline=None)
@given(text=st.text(max_size=300), seed=st.integers(0, 10**9))
def test_pieces_are_small_deterministic_and_join_to_the_text(text: str, seed: int) -> None:
    pieces = fake_script.split_pieces(text, seed)
    assert "".join(pieces) == text
    assert all(1 <= len(p) <= fake_script.SPLIT_MAX for p in pieces) or pieces == [""]
    assert fake_script.split_pieces(text, seed) == pieces


def test_seeds_cut_differently_and_some_into_single_characters() -> None:
    cuts = {tuple(fake_script.split_pieces(TEXT, seed)) for seed in range(40)}
    assert len(cuts) > 30
    assert any(len(c) == len(TEXT) for c in cuts)  # n up to the text length
    assert any(len(c) < len(TEXT) / 2 for c in cuts)


def test_chat_stream_uses_the_pieces_and_the_json_reply_is_unchanged() -> None:
    script = fake_script.parse_script("split-5")
    chunks = fake_script.chat_chunks(chat(TEXT, "split-5"), script)
    assert contents(chunks) == fake_script.split_pieces(TEXT, 5)
    assert chunks[0].choices[0].delta.role == "assistant"
    assert chunks[-2].choices[0].finish_reason == "stop"
    assert chunks[-1].choices == [] and chunks[-1].usage is not None
    reply = fake_script.chat_completion(chat(TEXT, "split-5"), script)
    assert reply.choices[0].message.content == TEXT
    # Without the directive: word-sized pieces, as before.
    words = fake_script.chat_chunks(chat(TEXT, "echo"), fake_script.parse_script("echo"))
    assert contents(words) == fake_script.pieces(TEXT)


def test_text_completion_stream_uses_the_pieces() -> None:
    request = CompletionRequest(model="split-9", prompt=TEXT, stream=True)
    chunks = fake_script.text_chunks(request, fake_script.parse_script("split-9"))
    texts = [c.choices[0].text for c in chunks if c.choices][:-1]
    assert texts == fake_script.split_pieces(TEXT, 9)
