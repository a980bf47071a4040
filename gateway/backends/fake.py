"""A scripted in-process backend (see `fake_script` for the model-name language).

Enabled only by a policy file (`type: fake`) or by tests; the embedded default uses it for the
`echo` demo model while no real model is configured.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator

from gateway.backends import fake_script
from gateway.backends.base import BackendCall, Capabilities
from gateway.errors import BadGatewayError, InvalidRequestError, UpstreamStatusError
from gateway.protocol.chat import ChatCompletionRequest
from gateway.protocol.completions import CompletionRequest
from gateway.protocol.raw import RawFields, from_struct
from gateway.settings.backend_types import FakeBackendSpec

_STALL_SECONDS = 3600.0


class FakeBackend:
    capabilities = Capabilities(embeddings=False)

    def __init__(self, name: str, spec: FakeBackendSpec | None = None) -> None:
        self.name = name
        rate = spec.tokens_per_second if spec else None
        self._token_delay = 1.0 / rate if rate else 0.0
        self._calls: dict[str, int] = {}

    async def start(self) -> None:
        return None

    def ready(self) -> bool:
        return True

    async def aclose(self) -> None:
        return None

    def _script(self, call: BackendCall) -> fake_script.Script:
        script = fake_script.parse_script(call.upstream_model)
        count = 1
        if script.flaky:  # only flaky scripts need to remember how often they were called
            count = self._calls.get(call.upstream_model, 0) + 1
            self._calls[call.upstream_model] = count
        if script.error_status is not None:
            status = script.error_status
            raise UpstreamStatusError(
                status,
                fake_script.error_body(status),
                f"scripted error {status}",
                retry_after=0 if status in (429, 503) else None,
            )
        if count <= script.flaky:
            raise UpstreamStatusError(
                503, fake_script.error_body(503), "scripted flaky failure", retry_after=0
            )
        return script

    async def complete(self, call: BackendCall) -> RawFields:
        _no_embeddings(call)
        script = self._script(call)
        if script.stall_first:
            await asyncio.sleep(_STALL_SECONDS)
        if script.truncate_json:
            raise BadGatewayError("scripted truncated reply", code="upstream_truncated")
        request = call.request
        if isinstance(request, ChatCompletionRequest):
            return from_struct(fake_script.chat_completion(request, script))
        assert isinstance(request, CompletionRequest)
        return from_struct(fake_script.text_completion(request, script))

    async def stream(self, call: BackendCall) -> AsyncGenerator[RawFields, None]:
        _no_embeddings(call)
        script = self._script(call)
        request = call.request
        chunks = (
            fake_script.chat_chunks(request, script)
            if isinstance(request, ChatCompletionRequest)
            else fake_script.text_chunks(request, script)  # type: ignore[arg-type]
        )
        delay = script.chunk_delay or self._token_delay
        if script.stall_first:
            await asyncio.sleep(_STALL_SECONDS)
        for i, chunk in enumerate(chunks):
            if i == fake_script.MID_STREAM_CHUNKS:
                if script.die_mid_stream:
                    raise BadGatewayError("scripted death mid-stream", code="upstream_died")
                if script.stall_mid_stream:
                    await asyncio.sleep(_STALL_SECONDS)
            if delay:
                await asyncio.sleep(delay)
            yield from_struct(chunk)


def _no_embeddings(call: BackendCall) -> None:
    if call.endpoint == "embeddings":
        raise InvalidRequestError(
            f"`{call.upstream_model}` does not serve embeddings", param="model"
        )
