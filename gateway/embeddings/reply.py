"""The OpenAI embeddings reply, shared by every local embedder backend."""

from __future__ import annotations

import base64
from typing import Any

import numpy as np


def embedding_reply(
    vectors: list[list[float]], tokens: int, model: str, *, as_base64: bool
) -> dict[str, Any]:
    return {
        "object": "list",
        "data": [
            {"object": "embedding", "index": i, "embedding": _encode(v, as_base64)}
            for i, v in enumerate(vectors)
        ],
        "model": model,
        "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
    }


def _encode(vector: list[float], as_base64: bool) -> list[float] | str:
    """float32 little-endian bytes in base64, as OpenAI sends them."""
    if not as_base64:
        return vector
    return base64.b64encode(np.asarray(vector, dtype="<f4").tobytes()).decode("ascii")
