"""The executor called directly: one loop over targets, per-target policies, skip reasons,
retry-after, the request's deadline and the reply check."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncGenerator
from typing import Any

import msgspec
import pytest

from gateway.backends.base import BackendCall, Capabilities, Needs
from gateway.context import RequestContext
from gateway.errors import (
    DeadlineExceededError,
    GatewayError,
    InvalidRequestError,
    UpstreamAuthError,
    UpstreamStatusError,
)
from gateway.pipeline.executor import Executor
from gateway.protocol.chat import ChatCompletionRequest, UserMessage
from gateway.protocol.completions import CompletionRequest
from gateway.protocol.raw import RawFields, decode_fields
from gateway.resilience.target_policy import TargetPolicy
from gateway.settings.schema import Retries
from routers.base import RouteDecision, Target

OK_REPLY = {"id": "x", "object": "chat.completion", "created": 1, "model": "m", "choices": []}


class Scripted:
    """A backend whose every call runs the next step: a reply dict, an exception, or a
    coroutine function to await (for slow calls)."""

    def __init__(self, name: str, steps: list[Any], capabilities: Capabilities | None = None):
        self.name = name
        self.capabilities = capabilities or Capabilities()
        self.steps = list(steps)
        self.calls: list[float] = []

    async def start(self) -> None:
        return None

    def ready(self) -> bool:
        return True

    async def aclose(self) -> None:
        return None

    async def _next(self) -> Any:
        self.calls.append(time.monotonic())
        step = self.steps.pop(0) if len(self.steps) > 1 else self.steps[0]
        if isinstance(step, BaseException):
            raise step
        if callable(step):
            return await step()
        return step

    async def complete(self, call: BackendCall) -> RawFields:
        return decode_fields(msgspec.json.encode(await self._next()))

    async def stream(self, call: BackendCall) -> AsyncGenerator[RawFields, None]:
        reply = await self._next()
        yield decode_fields(msgspec.json.encode(reply))


def rate_limited(retry_after: float) -> UpstreamStatusError:
    return UpstreamStatusError(429, b'{"error":{}}', "slow down", retry_after=retry_after)


def run(
    backends: dict[str, Scripted],
    request: Any | None = None,
    *,
    retries: Retries | None = None,
    deadline: float | None = None,
    stream: bool = False,
) -> tuple[Any, RequestContext]:
    request = request or ChatCompletionRequest(model="m", messages=[UserMessage(content="hi")])
    endpoint = "completions" if isinstance(request, CompletionRequest) else "chat/completions"
    policy = TargetPolicy(retries or Retries(attempts=2, backoff_seconds=0.01))
    executor = Executor(backends, lambda target: policy)
    ctx = RequestContext(request_id="r", endpoint=endpoint)
    if deadline is not None:
        ctx.deadline = time.monotonic() + deadline
    decision = RouteDecision(tuple(Target(n, "up", f"id-{n}") for n in backends), "alias")

    def make_call(target: Target) -> BackendCall:
        return BackendCall(endpoint, request, {}, target.upstream_model, ctx)  # type: ignore[arg-type]

    needs = Needs.of(endpoint, request)  # type: ignore[arg-type]

    async def go() -> Any:
        if stream:
            opened = await executor.open_stream(decision, make_call, needs)
            await opened.aclose()
            return opened.target
        return await executor.complete(decision, make_call, needs)

    return asyncio.run(go()), ctx


def test_a_retry_waits_for_the_upstreams_retry_after() -> None:
    a = Scripted("a", [rate_limited(0.3), OK_REPLY])
    (_reply, target), ctx = run({"a": a})
    assert target.backend == "a" and ctx.attempts == 2
    assert a.calls[1] - a.calls[0] >= 0.3  # not the 0.01 s backoff


def test_a_long_retry_after_moves_to_the_next_target_at_once() -> None:
    a = Scripted("a", [rate_limited(30)])
    b = Scripted("b", [OK_REPLY])
    started = time.monotonic()
    (_, target), ctx = run({"a": a, "b": b})
    assert target.backend == "b" and len(a.calls) == 1 and ctx.backend_name == "b"
    assert time.monotonic() - started < 1.0


def test_the_last_failure_keeps_its_retry_after_for_the_client() -> None:
    a = Scripted("a", [rate_limited(30)])
    with pytest.raises(UpstreamStatusError) as caught:
        run({"a": a})
    assert caught.value.status_code == 429 and caught.value.retry_after == 30


def test_the_deadline_cuts_a_slow_target_and_is_final() -> None:
    async def slow() -> dict[str, Any]:
        await asyncio.sleep(5)
        return OK_REPLY

    a = Scripted("a", [slow])
    b = Scripted("b", [OK_REPLY])
    started = time.monotonic()
    with pytest.raises(DeadlineExceededError) as caught:
        run({"a": a, "b": b}, deadline=0.2)
    assert 0.15 < time.monotonic() - started < 1.5
    assert caught.value.status_code == 504 and caught.value.error_code == "deadline_exceeded"
    assert b.calls == []  # the next target would only start after the deadline


def test_no_retry_sleeps_past_the_deadline() -> None:
    a = Scripted("a", [rate_limited(0.8), OK_REPLY])
    b = Scripted("b", [OK_REPLY])
    (_, target), _ = run({"a": a, "b": b}, deadline=0.5)
    assert target.backend == "b" and len(a.calls) == 1


def test_a_target_that_cannot_serve_is_skipped_with_its_reason() -> None:
    request = CompletionRequest(model="m", prompt="def f(", suffix="\n")
    plain = Scripted("plain", [OK_REPLY], Capabilities(fill_in_middle=False))
    fim = Scripted("fim", [OK_REPLY])
    (_, target), ctx = run({"plain": plain, "fim": fim}, request)
    assert target.backend == "fim" and plain.calls == [] and ctx.attempts == 1


@pytest.mark.parametrize("stream", [False, True])
def test_none_can_serve_is_one_400_naming_every_reason(stream: bool) -> None:
    request = CompletionRequest(model="m", prompt="def f(", suffix="\n", stream=stream)
    a = Scripted("a", [OK_REPLY], Capabilities(fill_in_middle=False))
    b = Scripted("b", [OK_REPLY], Capabilities(chat=False, completions=False))
    with pytest.raises(InvalidRequestError) as caught:
        run({"a": a, "b": b}, request, stream=stream)
    error = caught.value
    assert error.status_code == 400 and error.param == "suffix"
    assert "`id-a` does not support fill-in-the-middle" in error.message
    assert "`id-b` is an embedding model" in error.message
    assert a.calls == b.calls == []


def test_a_200_with_an_error_body_is_the_upstreams_failure_and_fails_over() -> None:
    a = Scripted("a", [{"error": {"message": "overloaded", "type": "server_error"}}])
    b = Scripted("b", [OK_REPLY])
    (_, target), _ = run({"a": a, "b": b})
    assert target.backend == "b"
    with pytest.raises(UpstreamStatusError) as caught:
        run({"a": Scripted("a", [{"error": {"message": "overloaded"}}])})
    assert caught.value.status_code == 502
    assert msgspec.json.decode(caught.value.body())["error"]["message"] == "overloaded"


def test_a_reply_without_choices_is_malformed() -> None:
    with pytest.raises(GatewayError) as caught:
        run({"a": Scripted("a", [{"id": "x"}])}, retries=Retries(attempts=1))
    assert caught.value.status_code == 502 and caught.value.error_code == "upstream_malformed"


def test_upstream_auth_failures_fail_over_without_retrying_the_same_key() -> None:
    a = Scripted("a", [UpstreamAuthError("upstream `a` rejected the gateway's credentials")])
    b = Scripted("b", [OK_REPLY])
    (_, target), _ = run({"a": a, "b": b}, retries=Retries(attempts=3, backoff_seconds=0))
    assert target.backend == "b" and len(a.calls) == 1


def test_client_errors_are_final() -> None:
    a = Scripted("a", [InvalidRequestError("bad", param="messages")])
    b = Scripted("b", [OK_REPLY])
    with pytest.raises(InvalidRequestError):
        run({"a": a, "b": b})
    assert b.calls == []


def test_streams_fail_over_before_their_first_chunk() -> None:
    a = Scripted("a", [rate_limited(30)])
    b = Scripted("b", [{"choices": []}])
    target, ctx = run({"a": a, "b": b}, stream=True)
    assert target.backend == "b" and ctx.attempts == 2


def test_an_unconfigured_backend_does_not_hide_the_none_can_serve_400() -> None:
    request = CompletionRequest(model="m", prompt="def f(", suffix="\n")
    plain = Scripted("plain", [OK_REPLY], Capabilities(fill_in_middle=False))
    executor = Executor({"plain": plain}, lambda target: TargetPolicy(Retries()))
    ctx = RequestContext(request_id="r", endpoint="completions")
    decision = RouteDecision((Target("gone", "up", "id-gone"), Target("plain", "up", "id-p")), "x")

    def make_call(target: Target) -> BackendCall:
        return BackendCall("completions", request, {}, target.upstream_model, ctx)

    with pytest.raises(InvalidRequestError):
        asyncio.run(executor.complete(decision, make_call, Needs.of("completions", request)))


def test_an_upstream_context_length_error_fails_over() -> None:
    body = (
        b'{"error": {"message": "too long", "type": "invalid_request_error",'
        b' "param": "messages", "code": "context_length_exceeded"}}'
    )
    too_long = UpstreamStatusError(400, body, "too long")
    too_long.error_code = "context_length_exceeded"
    a, b = Scripted("a", [too_long]), Scripted("b", [OK_REPLY])
    (_, target), _ = run({"a": a, "b": b})
    assert target.backend == "b" and len(a.calls) == 1
