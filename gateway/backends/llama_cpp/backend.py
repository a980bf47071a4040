"""Local GGUF models in-process, behind the same Backend protocol as any upstream.

Blocking llama.cpp calls run in each model's own worker thread; the event loop only waits.
A busy model queues requests by priority (`PriorityGate`); a client that leaves sets the
cancel flag, and the token loop stops within one token.
"""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
from collections.abc import AsyncGenerator
from typing import Any

import msgspec

from gateway.backends.base import BackendCall, Capabilities
from gateway.backends.llama_cpp import generation, request_plan
from gateway.backends.llama_cpp.loaded_model import LoadedModel
from gateway.backends.llama_cpp.registry import LocalModels
from gateway.errors import GatewayTimeoutError
from gateway.protocol.chat import ChatCompletionRequest
from gateway.protocol.raw import RawFields, decode_fields
from gateway.settings.schema import LlamaCppBackend as LlamaCppSpec

_END = object()
_encoder = msgspec.json.Encoder()


class LlamaCppBackend:
    capabilities = Capabilities(fill_in_middle=True)

    def __init__(self, name: str, spec: LlamaCppSpec) -> None:
        self.name = name
        self._spec = spec
        self.models = LocalModels(name, spec)
        self._ready = False

    def preflight(self) -> None:
        self.models.preflight(load=self._spec.load == "at_startup")

    async def start(self) -> None:
        if self._spec.load == "at_startup":
            await self.models.load_configured()
        self._ready = True

    def ready(self) -> bool:
        return self._ready

    async def aclose(self) -> None:
        await self.models.aclose()

    async def list_models(self) -> list[str]:
        return sorted(self.models.files())

    async def _plan(self, model: LoadedModel, call: BackendCall) -> request_plan.Plan:
        request = call.request
        if isinstance(request, ChatCompletionRequest):
            return await asyncio.to_thread(request_plan.plan_chat, model, request)
        return await asyncio.to_thread(request_plan.plan_text, model, request)

    async def complete(self, call: BackendCall) -> RawFields:
        model = await self.models.get(call.upstream_model)
        plan = await self._plan(model, call)
        cancelled = threading.Event()
        started = time.perf_counter()
        try:
            async with model.gate.slot(call.ctx.priority):
                outcome = await model.run(
                    generation.generate,
                    model.llm,
                    plan.tokens,
                    plan.sampling,
                    _ignore,
                    cancelled,
                    self._deadline(),
                    model.end_tokens,
                )
        except generation.GenerationTimeout:
            raise self._timeout() from None
        finally:
            cancelled.set()  # a cancelled request stops its generation within one token
            call.ctx.backend_seconds += time.perf_counter() - started
        text = "".join(outcome.text)
        usage = _usage(len(plan.tokens), outcome.completion_tokens)
        ids = _ids(call)
        if isinstance(call.request, ChatCompletionRequest):
            message, finish = _message(text, plan, outcome.finish_reason)
            reply: dict[str, Any] = {
                "id": ids[0],
                "object": "chat.completion",
                "created": ids[1],
                "model": call.upstream_model,
                "choices": [
                    {"index": 0, "message": message, "finish_reason": finish, "logprobs": None}
                ],
                "usage": usage,
            }
        else:
            reply = {
                "id": ids[0].replace("chatcmpl", "cmpl"),
                "object": "text_completion",
                "created": ids[1],
                "model": call.upstream_model,
                "choices": [
                    {
                        "index": 0,
                        "text": text,
                        "finish_reason": outcome.finish_reason,
                        "logprobs": None,
                    }
                ],
                "usage": usage,
            }
        return decode_fields(_encoder.encode(reply))

    async def stream(self, call: BackendCall) -> AsyncGenerator[RawFields, None]:  # noqa: PLR0915
        model = await self.models.get(call.upstream_model)
        plan = await self._plan(model, call)
        chat = isinstance(call.request, ChatCompletionRequest)
        chunk_id, created = _ids(call)
        if not chat:
            chunk_id = chunk_id.replace("chatcmpl", "cmpl")
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[Any] = asyncio.Queue()
        cancelled = threading.Event()

        def emit(text: str) -> None:
            loop.call_soon_threadsafe(queue.put_nowait, text)

        def chunk(choice: dict[str, Any], usage: dict[str, int] | None = None) -> RawFields:
            body: dict[str, Any] = {
                "id": chunk_id,
                "object": "chat.completion.chunk" if chat else "text_completion",
                "created": created,
                "model": call.upstream_model,
                "choices": [choice] if choice else [],
            }
            if usage is not None:
                body["usage"] = usage
            return decode_fields(_encoder.encode(body))

        buffered = bool(plan.forced_tools)  # a forced tool call is sent whole, once parsed
        async with model.gate.slot(call.ctx.priority):
            started = time.perf_counter()
            job = asyncio.ensure_future(
                model.run(
                    generation.generate,
                    model.llm,
                    plan.tokens,
                    plan.sampling,
                    _ignore if buffered else emit,
                    cancelled,
                    self._deadline(),
                    model.end_tokens,
                )
            )
            job.add_done_callback(lambda _: loop.call_soon(queue.put_nowait, _END))
            try:
                if chat:
                    yield chunk(
                        {
                            "index": 0,
                            "delta": {"role": "assistant", "content": ""},
                            "finish_reason": None,
                            "logprobs": None,
                        }
                    )
                while (item := await queue.get()) is not _END:
                    if chat:
                        yield chunk(
                            {
                                "index": 0,
                                "delta": {"content": item},
                                "finish_reason": None,
                                "logprobs": None,
                            }
                        )
                    else:
                        yield chunk(
                            {"index": 0, "text": item, "finish_reason": None, "logprobs": None}
                        )
                try:
                    outcome = job.result()
                except generation.GenerationTimeout:
                    raise self._timeout() from None
            finally:
                cancelled.set()
                if not job.done():
                    # Hold the model until its thread has really stopped (within a token).
                    await asyncio.shield(job)
                call.ctx.backend_seconds += time.perf_counter() - started
        finish = outcome.finish_reason
        if chat and buffered:
            message, finish = _message("".join(outcome.text), plan, finish)
            for i, call_ in enumerate(message.get("tool_calls") or []):
                yield chunk(
                    {
                        "index": 0,
                        "delta": {"tool_calls": [{"index": i, **call_}]},
                        "finish_reason": None,
                        "logprobs": None,
                    }
                )
            if message.get("content"):
                yield chunk(
                    {
                        "index": 0,
                        "delta": {"content": message["content"]},
                        "finish_reason": None,
                        "logprobs": None,
                    }
                )
        final: dict[str, Any] = {"index": 0, "finish_reason": finish, "logprobs": None}
        if chat:
            final["delta"] = {}
        else:
            final["text"] = ""
        yield chunk(final)
        yield chunk({}, _usage(len(plan.tokens), outcome.completion_tokens))

    def _deadline(self) -> float:
        return time.monotonic() + self._spec.max_generation_seconds

    def _timeout(self) -> GatewayTimeoutError:
        return GatewayTimeoutError(
            f"local generation exceeded {self._spec.max_generation_seconds:g}s",
            code="generation_timeout",
        )


def _ignore(_text: str) -> None:
    return None


def _ids(call: BackendCall) -> tuple[str, int]:
    return f"chatcmpl-{uuid.uuid4().hex[:24]}", int(time.time())


def _usage(prompt: int, completion: int) -> dict[str, int]:
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
    }


def _message(
    text: str, plan: request_plan.Plan, finish: str | None
) -> tuple[dict[str, Any], str | None]:
    """The assistant message; for a forced tool choice, the parsed call."""
    if plan.forced_tools:
        try:
            parsed = msgspec.json.decode(text)
        except msgspec.DecodeError:
            parsed = None
        if isinstance(parsed, dict) and parsed.get("name") in plan.forced_tools:
            arguments = parsed.get("arguments", {})
            call = {
                "id": f"call_{uuid.uuid4().hex[:24]}",
                "type": "function",
                "function": {
                    "name": parsed["name"],
                    "arguments": _encoder.encode(arguments).decode(),
                },
            }
            return {"role": "assistant", "content": None, "tool_calls": [call]}, "tool_calls"
    return {"role": "assistant", "content": text}, finish
