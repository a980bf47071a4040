"""The OpenAI embeddings reply, shared by every local embedder backend."""

from __future__ import annotations

import base64
from typing import Any

import numpy as np

from gateway.errors import InvalidRequestError


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


def check_dimensions(dimensions: object, size: int, model: str) -> None:
    """A 400 before any work when `dimensions` asks for more than the model makes."""
    if isinstance(dimensions, int) and dimensions > size:
        raise InvalidRequestError(
            f"`dimensions` is {dimensions}, but `{model}` makes {size}-dimensional vectors; "
            f"use at most {size}",
            param="dimensions",
        )


def shortened(vectors: list[list[float]], dimensions: object, model: str) -> list[list[float]]:
    """`dimensions` as OpenAI applies it to its shortenable models: the first components,
    re-normalised to unit length. Models not trained for it (Matryoshka) lose more quality
    than OpenAI's do, but the vectors stay comparable by cosine."""
    if not isinstance(dimensions, int) or not vectors:
        return vectors
    size = len(vectors[0])
    check_dimensions(dimensions, size, model)
    if dimensions == size:
        return vectors
    cut = np.asarray(vectors, dtype=np.float64)[:, :dimensions]
    norms = np.linalg.norm(cut, axis=1, keepdims=True)
    norms[norms == 0] = 1.0  # an all-zero prefix stays zero rather than becoming NaN
    out: list[list[float]] = (cut / norms).tolist()
    return out
