"""A local sentence-embedding model (ONNX) behind the Backend protocol: `/v1/embeddings` only.

The model runs in worker threads (onnxruntime releases the GIL), in batches of `batch_size`.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncGenerator
from typing import Any

import msgspec

from gateway.backends.base import BackendCall, Capabilities
from gateway.embeddings.base import Embedder
from gateway.embeddings.onnx_minilm import OnnxMiniLM
from gateway.embeddings.reply import embedding_reply
from gateway.errors import InvalidRequestError
from gateway.model_files import ModelFileError
from gateway.protocol.embeddings import EmbeddingRequest
from gateway.protocol.raw import RawFields, decode_fields
from gateway.settings.schema import OnnxEmbedderBackend as OnnxEmbedderSpec

_encoder = msgspec.json.Encoder()
VOCAB_SIZE = 30_522  # bert-base-uncased WordPiece, MiniLM's tokenizer


class OnnxEmbedderBackend:
    capabilities = Capabilities(chat=False, completions=False, fill_in_middle=False, tools=False)

    def __init__(self, name: str, spec: OnnxEmbedderSpec) -> None:
        self.name = name
        self._spec = spec
        self._embedder: Embedder | None = None

    def preflight(self) -> None:
        self._embedder = OnnxMiniLM.from_packages(
            self._spec.model,
            onnx_package=self._spec.onnx_package,
            onnx_file=self._spec.onnx_file,
            tokenizer_package=self._spec.tokenizer_package,
            tokenizer_file=self._spec.tokenizer_file,
            sha256=self._spec.onnx_sha256,
            threads=self._spec.threads,
        )

    async def start(self) -> None:
        if self._embedder is None:
            await asyncio.to_thread(self.preflight)

    def ready(self) -> bool:
        return self._embedder is not None

    async def aclose(self) -> None:
        self._embedder = None

    async def list_models(self) -> list[str]:
        return [self._spec.model]

    async def complete(self, call: BackendCall) -> RawFields:
        request = call.request
        if call.endpoint != "embeddings" or not isinstance(request, EmbeddingRequest):
            raise InvalidRequestError(
                f"`{call.upstream_model}` is an embedding model: use /v1/embeddings",
                param="model",
            )
        embedder = self._embedder
        if embedder is None:
            raise ModelFileError(f"embedding model `{self._spec.model}` is not loaded")
        if isinstance(request.dimensions, int) and request.dimensions != embedder.dimensions:
            raise InvalidRequestError(
                f"`{call.upstream_model}` has {embedder.dimensions} dimensions and was not "
                "trained to be shortened; omit `dimensions` or set it to "
                f"{embedder.dimensions}",
                param="dimensions",
            )
        started = time.perf_counter()
        try:
            vectors, tokens = await asyncio.to_thread(self._embed, embedder, request)
        finally:
            call.ctx.backend_seconds += time.perf_counter() - started
        reply = embedding_reply(
            vectors, tokens, call.upstream_model, as_base64=request.encoding_format == "base64"
        )
        return decode_fields(_encoder.encode(reply))

    def _embed(
        self, embedder: Embedder, request: EmbeddingRequest
    ) -> tuple[list[list[float]], int]:
        given = request.input if isinstance(request.input, list) else [request.input]
        items: list[Any] = [given] if isinstance(given[0], int) else list(given)
        vectors: list[list[float]] = []
        tokens = 0
        size = self._spec.batch_size
        for start in range(0, len(items), size):
            batch = items[start : start + size]
            if isinstance(batch[0], str):
                out, used = embedder.embed([b for b in batch if isinstance(b, str)])
            else:
                ids = [b for b in batch if isinstance(b, list)]
                if any(t >= VOCAB_SIZE for seq in ids for t in seq):
                    raise InvalidRequestError(
                        f"token ids must be below {VOCAB_SIZE} for this model", param="input"
                    )
                out, used = embedder.embed_tokens(ids)
            vectors += out
            tokens += used
        return vectors, tokens

    def stream(self, call: BackendCall) -> AsyncGenerator[RawFields, None]:
        raise InvalidRequestError("embeddings do not stream", param="stream")
