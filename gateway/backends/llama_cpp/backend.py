"""Local GGUF models in-process, behind the same Backend protocol as any upstream.

Blocking llama.cpp calls run in each model's own worker thread; the event loop only waits.
A busy model queues requests by priority (`PriorityGate`); a client that leaves sets the
cancel flag, and the token loop stops within one token.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
import uuid
from collections.abc import AsyncGenerator
from typing import Any

import msgspec

from gateway.backends.base import BackendCall, Capabilities
from gateway.backends.llama_cpp import generation, reply_shape, request_plan
from gateway.backends.llama_cpp.batch_engine import Job as BatchJob
from gateway.backends.llama_cpp.loaded_model import LoadedModel
from gateway.backends.llama_cpp.registry import LocalModels
from gateway.backends.local_errors import local_errors
from gateway.embeddings.openai_tokens import OpenAITokens
from gateway.embeddings.reply import check_dimensions, embedding_reply, shortened
from gateway.errors import GatewayTimeoutError, InvalidRequestError
from gateway.protocol.chat import ChatCompletionRequest
from gateway.protocol.embeddings import EmbeddingRequest
from gateway.protocol.raw import RawFields, decode_fields
from gateway.settings.backend_types import LlamaCppSpec

_END = object()
_encoder = msgspec.json.Encoder()


class LlamaCppBackend:
    # No vision: image parts go to targets that take them. Windows are per model (a prompt
    # too long for one fails over with `context_length_exceeded`).
    capabilities = Capabilities(fill_in_middle=True, images=False)

    def __init__(self, name: str, spec: LlamaCppSpec) -> None:
        self.name = name
        self._spec = spec
        self.models = LocalModels(name, spec)
        self._openai_tokens = OpenAITokens()
        self._ready = False
        self._sweeper: asyncio.Task[None] | None = None

    def preflight(self) -> None:
        if any(m.embedding for m in self._spec.models.values()):
            OpenAITokens.check_installed()
        self.models.preflight(load=self._spec.load == "at_startup")

    async def start(self) -> None:
        if self._spec.load == "at_startup":
            await self.models.load_configured()
        if self._spec.idle_unload_seconds is not None:
            self._sweeper = asyncio.create_task(self._sweep(self._spec.idle_unload_seconds))
        self._ready = True

    async def _sweep(self, every: float) -> None:
        while True:
            await asyncio.sleep(min(every, 60.0))
            await self.models.unload_idle()

    def ready(self) -> bool:
        return self._ready

    async def aclose(self) -> None:
        if self._sweeper is not None:
            self._sweeper.cancel()
        await self.models.aclose()

    async def list_models(self) -> list[str]:
        return sorted(await self.models.list_files())

    async def describe_models(self, names: list[str]) -> dict[str, dict[str, Any]]:
        return await asyncio.to_thread(self.models.describe, names)

    async def _plan(self, model: LoadedModel, call: BackendCall) -> request_plan.Plan:
        request = call.request
        if isinstance(request, EmbeddingRequest):
            raise InvalidRequestError(
                f"`{call.upstream_model}` does not serve embeddings", param="model"
            )
        if model.engine is None:
            raise InvalidRequestError(
                f"`{call.upstream_model}` is an embedding model: use /v1/embeddings",
                param="model",
            )
        if isinstance(request, ChatCompletionRequest):
            return await asyncio.to_thread(
                request_plan.plan_chat, model, request, call.context_overflow
            )
        return await asyncio.to_thread(request_plan.plan_text, model, request)

    async def complete(self, call: BackendCall) -> RawFields:
        with local_errors(self.name, call.upstream_model):
            model = await self.models.acquire(call.upstream_model)
            try:
                return await self._complete(model, call)
            finally:
                self.models.release(model)

    async def stream(self, call: BackendCall) -> AsyncGenerator[RawFields, None]:
        with local_errors(self.name, call.upstream_model):
            model = await self.models.acquire(call.upstream_model)
            try:
                async with contextlib.aclosing(self._stream(model, call)) as chunks:
                    async for chunk in chunks:
                        yield chunk
            finally:
                self.models.release(model)

    async def _complete(self, model: LoadedModel, call: BackendCall) -> RawFields:
        if model.engine is None and isinstance(call.request, EmbeddingRequest):
            return await self._embed(model, call, call.request)
        plan = await self._plan(model, call)
        cancelled = threading.Event()
        started = time.perf_counter()
        try:
            async with model.gate.slot(call.ctx.priority):
                job = self._submit(model, plan, _ignore, cancelled, _choice_count(call))
                try:
                    outcomes = await asyncio.shield(job)
                finally:
                    cancelled.set()  # the engine drops the sequence at its next step
                    if not job.done():
                        # Keep the queue slot until the engine has let the sequence go.
                        await asyncio.wait([job])
        except generation.GenerationTimeout:
            raise self._timeout() from None
        finally:
            cancelled.set()  # a cancelled request stops its generation within one token
            call.ctx.backend_seconds += time.perf_counter() - started
        chunk_id, created = _ids()
        chat = isinstance(call.request, ChatCompletionRequest)
        # The prompt was read once for every choice: counted once (OpenAI does the same).
        completion = sum(o.completion_tokens for o in outcomes)
        reply: dict[str, Any] = {
            "id": chunk_id,
            "object": "chat.completion" if chat else "text_completion",
            "created": created,
            "model": call.upstream_model,
            "usage": reply_shape.usage(len(plan.tokens), completion),
            "choices": [],
        }
        for index, outcome in enumerate(outcomes):
            text = "".join(outcome.text)
            logprobs = reply_shape.logprobs_field(outcome.logprobs, plan, chat=chat)
            choice: dict[str, Any] = {"index": index}
            if chat:
                choice["message"], choice["finish_reason"] = reply_shape.message(
                    text, plan, outcome.finish_reason
                )
            else:
                choice["text"], choice["finish_reason"] = text, outcome.finish_reason
            choice["logprobs"] = logprobs
            reply["choices"].append(choice)
        return decode_fields(_encoder.encode(reply))

    async def _stream(
        self, model: LoadedModel, call: BackendCall
    ) -> AsyncGenerator[RawFields, None]:
        plan = await self._plan(model, call)
        chunks = _Chunks(call)
        n = _choice_count(call)
        shapers = [reply_shape.StreamShaper(plan) for _ in range(n)]
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[Any] = asyncio.Queue()
        cancelled = threading.Event()

        def emit(piece: generation.Piece) -> None:
            try:
                loop.call_soon_threadsafe(queue.put_nowait, piece)
            except RuntimeError:  # the event loop is gone (shutdown): stop generating
                cancelled.set()

        async with model.gate.slot(call.ctx.priority):
            started = time.perf_counter()
            job = asyncio.ensure_future(self._submit(model, plan, emit, cancelled, n))
            job.add_done_callback(lambda _: loop.call_soon(queue.put_nowait, _END))
            try:
                item = await queue.get()
                if item is _END:
                    # Ended before its first token: a failure here is still before the
                    # commit point, so the next target may answer instead.
                    outcomes = self._outcome(job)
                for index in range(n):
                    yield chunks.opening(index)
                while item is not _END:  # with `n` > 1 the choices' pieces interleave
                    shaper = shapers[item.index]
                    text = shaper.push(item.text)
                    for delta in shaper.take_calls():  # a forced call streams as it grows
                        yield chunks.tool_call(delta, item.index)
                    if text:
                        yield chunks.text(
                            text,
                            reply_shape.logprobs_field(list(item.logprobs), plan, chat=chunks.chat),
                            item.index,
                        )
                    item = await queue.get()
                outcomes = self._outcome(job)
            finally:
                cancelled.set()  # the engine drops the sequence at its next step
                if not job.done():
                    # Keep the queue slot until the engine has let the sequence go (its
                    # outcome no longer matters: the stream is already ending).
                    await asyncio.wait([job])
                call.ctx.backend_seconds += time.perf_counter() - started
        for index, (shaper, outcome) in enumerate(zip(shapers, outcomes, strict=True)):
            calls, text, finish = shaper.finish(outcome.finish_reason)
            for delta in calls:
                yield chunks.tool_call(delta, index)
            if text:
                yield chunks.text(text, None, index)
            yield chunks.closing(finish, index)
        completion = sum(o.completion_tokens for o in outcomes)
        yield chunks.usage(reply_shape.usage(len(plan.tokens), completion))

    async def _embed(
        self, model: LoadedModel, call: BackendCall, request: EmbeddingRequest
    ) -> RawFields:
        """A GGUF embedding model: llama.cpp pools each input. Token arrays are OpenAI's
        (cl100k_base) ids: decoded to their text first, then read with the model's own
        tokenizer (the first decode loads the ranks: in a worker thread)."""
        given = request.input
        if isinstance(given, str) or all(isinstance(item, str) for item in given):
            texts = [given] if isinstance(given, str) else [str(item) for item in given]
        else:
            texts = await asyncio.to_thread(self._openai_tokens.as_texts, given)
        check_dimensions(request.dimensions, model.llm.n_embd(), call.upstream_model)
        started = time.perf_counter()
        try:
            async with model.gate.slot(call.ctx.priority):
                vectors, tokens = await asyncio.to_thread(
                    model.llm.embed, texts, normalize=True, return_count=True
                )
        finally:
            call.ctx.backend_seconds += time.perf_counter() - started
        model.last_used = time.monotonic()
        reply = embedding_reply(
            shortened([_pooled(v) for v in vectors], request.dimensions, call.upstream_model),
            int(tokens),
            call.upstream_model,
            as_base64=request.encoding_format == "base64",
        )
        return decode_fields(_encoder.encode(reply))

    def _submit(
        self,
        model: LoadedModel,
        plan: request_plan.Plan,
        emit: Any,
        cancelled: threading.Event,
        n: int = 1,
    ) -> asyncio.Future[list[generation.Outcome]]:
        """Hand the sequence (`n` of them, for `n` choices) to the model's batch engine;
        the future ends with them."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[list[generation.Outcome]] = loop.create_future()

        def settle(result: list[generation.Outcome] | BaseException) -> None:
            model.last_used = time.monotonic()
            if future.done():
                return
            if isinstance(result, BaseException):
                future.set_exception(result)
            else:
                future.set_result(result)

        def done(result: list[generation.Outcome] | BaseException) -> None:
            try:
                loop.call_soon_threadsafe(settle, result)
            except RuntimeError:
                cancelled.set()  # the event loop is gone: nobody is waiting any more

        assert model.engine is not None  # checked when the request was planned
        model.last_used = time.monotonic()
        model.engine.submit(
            BatchJob(plan.tokens, plan.sampling, emit, cancelled, self._deadline(), done, n)
        )
        return future

    def _outcome(self, job: asyncio.Future[list[generation.Outcome]]) -> list[generation.Outcome]:
        try:
            return job.result()
        except generation.GenerationTimeout:
            raise self._timeout() from None

    def _deadline(self) -> float:
        return time.monotonic() + self._spec.max_generation_seconds

    def _timeout(self) -> GatewayTimeoutError:
        return GatewayTimeoutError(
            f"local generation exceeded {self._spec.max_generation_seconds:g}s",
            code="generation_timeout",
        )


def _pooled(vector: Any) -> list[float]:
    """One unit vector per input: models without a pooling type in their GGUF (decoders)
    return one vector per token, which are mean-pooled here."""
    import numpy as np

    array = np.asarray(vector, dtype=np.float64)
    if array.ndim == 2:
        array = array.mean(axis=0)
    norm = float(np.linalg.norm(array)) or 1.0
    pooled: list[float] = (array / norm).tolist()
    return pooled


def _ignore(_piece: generation.Piece) -> None:
    return None


def _choice_count(call: BackendCall) -> int:
    n = getattr(call.request, "n", None)
    return n if isinstance(n, int) else 1


def _ids() -> tuple[str, int]:
    return f"chatcmpl-{uuid.uuid4().hex[:24]}", int(time.time())


class _Chunks:
    """Chunk payloads of one stream, chat or legacy completions."""

    def __init__(self, call: BackendCall) -> None:
        self.chat = self._chat = isinstance(call.request, ChatCompletionRequest)
        chunk_id, self._created = _ids()
        self._id = chunk_id if self._chat else chunk_id.replace("chatcmpl", "cmpl")
        self._model = call.upstream_model

    def _chunk(
        self, choice: dict[str, Any] | None, extra: dict[str, Any] | None = None
    ) -> RawFields:
        body: dict[str, Any] = {
            "id": self._id,
            "object": "chat.completion.chunk" if self._chat else "text_completion",
            "created": self._created,
            "model": self._model,
            "choices": [choice] if choice else [],
        }
        if extra:
            body.update(extra)
        return decode_fields(_encoder.encode(body))

    def _delta(self, delta: dict[str, Any], finish: str | None = None, index: int = 0) -> RawFields:
        return self._chunk(
            {"index": index, "delta": delta, "finish_reason": finish, "logprobs": None}
        )

    def opening(self, index: int = 0) -> RawFields:
        if self._chat:
            return self._delta({"role": "assistant", "content": ""}, index=index)
        return self._chunk({"index": index, "text": "", "finish_reason": None, "logprobs": None})

    def text(self, text: str, logprobs: dict[str, Any] | None = None, index: int = 0) -> RawFields:
        if self._chat:
            return self._chunk(
                {
                    "index": index,
                    "delta": {"content": text},
                    "finish_reason": None,
                    "logprobs": logprobs,
                }
            )
        return self._chunk(
            {"index": index, "text": text, "finish_reason": None, "logprobs": logprobs}
        )

    def tool_call(self, delta: dict[str, Any], index: int = 0) -> RawFields:
        """One call's delta (its own `index` inside) in choice `index`: the first with id
        and name."""
        return self._delta({"tool_calls": [delta]}, index=index)

    def closing(self, finish: str | None, index: int = 0) -> RawFields:
        if self._chat:
            return self._delta({}, finish, index)
        return self._chunk({"index": index, "text": "", "finish_reason": finish, "logprobs": None})

    def usage(self, usage: dict[str, int]) -> RawFields:
        return self._chunk(None, {"usage": usage})
