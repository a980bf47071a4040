"""A local sentence-embedding model (ONNX) behind the Backend protocol: `/v1/embeddings` only.

The model runs in worker threads (onnxruntime releases the GIL), in batches of `batch_size`.
Token-array input is read as cl100k_base ids, as OpenAI clients send it, decoded to text and
embedded like text (`gateway.embeddings.openai_tokens`).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncGenerator

import msgspec

from gateway.backends.base import BackendCall, Capabilities
from gateway.backends.local_errors import local_errors
from gateway.embeddings.base import Embedder
from gateway.embeddings.onnx_minilm import OnnxMiniLM
from gateway.embeddings.openai_tokens import OpenAITokens
from gateway.embeddings.reply import check_dimensions, embedding_reply, shortened
from gateway.errors import InvalidRequestError
from gateway.model_files import ModelFileError
from gateway.protocol.embeddings import EmbeddingRequest
from gateway.protocol.raw import RawFields, decode_fields
from gateway.settings.backend_types import OnnxEmbedderSpec

_encoder = msgspec.json.Encoder()


class OnnxEmbedderBackend:
    capabilities = Capabilities(chat=False, completions=False, fill_in_middle=False, tools=False)

    def __init__(self, name: str, spec: OnnxEmbedderSpec) -> None:
        self.name = name
        self._spec = spec
        self._embedder: Embedder | None = None
        # Token-array input; its ranks load on the first such request, in a worker thread.
        self._tokens = OpenAITokens()

    def preflight(self) -> None:
        self._tokens.check_installed()
        self._embedder = OnnxMiniLM.from_spec(self._spec)

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
        with local_errors(self.name, call.upstream_model):
            return await self._complete(call)

    async def _complete(self, call: BackendCall) -> RawFields:
        request = call.request
        if call.endpoint != "embeddings" or not isinstance(request, EmbeddingRequest):
            raise InvalidRequestError(
                f"`{call.upstream_model}` is an embedding model: use /v1/embeddings",
                param="model",
            )
        embedder = self._embedder
        if embedder is None:
            raise ModelFileError(f"embedding model `{self._spec.model}` is not loaded")
        check_dimensions(request.dimensions, embedder.dimensions, call.upstream_model)
        started = time.perf_counter()
        try:
            vectors, used = await asyncio.to_thread(self._embed, embedder, request)
        finally:
            call.ctx.backend_seconds += time.perf_counter() - started
        reply = embedding_reply(
            shortened(vectors, request.dimensions, call.upstream_model),
            used,
            call.upstream_model,
            as_base64=request.encoding_format == "base64",
        )
        return decode_fields(_encoder.encode(reply))

    def _embed(
        self, embedder: Embedder, request: EmbeddingRequest
    ) -> tuple[list[list[float]], int]:
        """Vectors and the tokens the model read (its own tokens, also for token arrays)."""
        texts = self._tokens.as_texts(request.input)
        vectors: list[list[float]] = []
        used = 0
        size = self._spec.batch_size
        for start in range(0, len(texts), size):
            out, count = embedder.embed(texts[start : start + size])
            vectors += out
            used += count
        return vectors, used

    def stream(self, call: BackendCall) -> AsyncGenerator[RawFields, None]:
        raise InvalidRequestError("embeddings do not stream", param="stream")
