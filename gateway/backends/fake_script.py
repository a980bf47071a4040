"""Scripted replies, chosen by model name, shared by the fake backend and the loopback upstream.

A model name is `+`-joined directives, optionally after a `prefix/` and before an `@tag`
(the tag only makes the name unique, e.g. for a separate `flaky` counter):

    echo              reply with the last user message (the default)
    words-N           reply with N words
    slow-MS           wait MS milliseconds before each chunk
    error-STATUS      answer with that HTTP status and an OpenAI error body
    flaky-K           the first K requests for this exact name answer 503
    tools-N           N parallel tool calls, their arguments split across chunks
    agent             uses its tools: one call per turn until each was called, then answers
                      with their results (`gateway.backends.fake_agent`); `+badargs`: a
                      first call with `{}`, corrected after the error comes back
    prover            proposes barrier certificates to the `verify` tool until one is valid
                      (`gateway.backends.fake_prover`)
    split-SEED        the streamed text cut into random pieces of 1 to 4 characters
                      (from `random.Random(SEED)`; for some seeds one character each)
    die-mid-stream    two chunks, then the connection drops
    stall-mid-stream  two chunks, then silence
    stall-first       silence before the first byte
    truncate-json     a JSON reply cut off halfway

Misbehaviours only the loopback upstream acts out (HTTP-level):

    redirect          a 307 to another URL
    empty-stream      a stream with no chunk, only `[DONE]`
    azure-first       a first chunk with an empty id, `created` 0 and no choices
    error-event       two chunks, then `data: {"error": {...}}` with an integer code
    error-body        a 200 whose body is `{"error": "overloaded"}`
    bare              error replies without `retry-after`
    huge-retry-after  error replies with `retry-after: 1e400`
    split-error       the error body written in two pieces
    reset             the connection dropped before any reply (a reset)
"""

from __future__ import annotations

import random
import time
import uuid
from dataclasses import dataclass

import msgspec

from gateway.backends.fake_agent import agent_turn
from gateway.backends.fake_prover import prover_turn
from gateway.protocol.chat import (
    ChatCompletion,
    ChatCompletionChunk,
    ChatCompletionRequest,
    Choice,
    ChunkChoice,
    Delta,
    FunctionCall,
    FunctionCallDelta,
    ResponseMessage,
    ToolCall,
    ToolCallDelta,
    UserMessage,
)
from gateway.protocol.common import Usage
from gateway.protocol.completions import Completion, CompletionChoice, CompletionRequest

MID_STREAM_CHUNKS = 2
SPLIT_MAX = 4  # the longest piece `split-SEED` cuts
_FLAGS = frozenset(
    {
        "die-mid-stream",
        "stall-mid-stream",
        "stall-first",
        "truncate-json",
        "redirect",
        "empty-stream",
        "azure-first",
        "error-event",
        "error-body",
        "bare",
        "huge-retry-after",
        "split-error",
        "reset",
    }
)


@dataclass(frozen=True, slots=True)
class Script:
    words: int | None = None
    chunk_delay: float = 0.0
    error_status: int | None = None
    flaky: int = 0
    tool_calls: int = 0
    agent: bool = False
    prover: bool = False
    badargs: bool = False
    split: int | None = None  # the seed of `split-SEED`
    die_mid_stream: bool = False
    stall_mid_stream: bool = False
    stall_first: bool = False
    truncate_json: bool = False
    redirect: bool = False
    empty_stream: bool = False
    azure_first: bool = False
    error_event: bool = False
    error_body: bool = False
    bare: bool = False
    huge_retry_after: bool = False
    split_error: bool = False
    reset: bool = False


def parse_script(model: str) -> Script:
    name = model.rsplit("/", 1)[-1].split("@", 1)[0]
    values: dict[str, object] = {}
    for directive in name.split("+"):
        head, _, arg = directive.rpartition("-")
        if head and arg.isdigit():
            number = int(arg)
            if head == "words":
                values["words"] = number
            elif head == "slow":
                values["chunk_delay"] = number / 1000
            elif head == "error":
                values["error_status"] = number
            elif head == "flaky":
                values["flaky"] = number
            elif head == "tools":
                values["tool_calls"] = number
            elif head == "split":
                values["split"] = number
        elif directive in _FLAGS:
            values[directive.replace("-", "_")] = True
        elif directive in ("agent", "badargs", "prover"):
            values[directive] = True
        elif directive == "tool-call":
            values["tool_calls"] = 1
    return Script(**values)  # type: ignore[arg-type]


def error_body(status: int) -> bytes:
    kind = (
        "rate_limit_error"
        if status == 429
        else ("invalid_request_error" if status < 500 else "server_error")
    )
    return msgspec.json.encode(
        {
            "error": {
                "message": f"scripted error {status}",
                "type": kind,
                "param": None,
                "code": f"scripted_{status}",
            }
        }
    )


def reply_text(request: ChatCompletionRequest | CompletionRequest, script: Script) -> str:
    if script.words is not None:
        return " ".join(f"w{i}" for i in range(script.words))
    if isinstance(request, CompletionRequest):
        prompt = request.prompt
        text = prompt if isinstance(prompt, str) else "" if prompt is None else str(prompt)
        return text + (request.suffix if isinstance(request.suffix, str) else "")
    for message in reversed(request.messages):
        if isinstance(message, UserMessage):
            content = message.content
            if isinstance(content, str):
                return content
            return "".join(p.text if isinstance(p.text, str) else "" for p in content)
    return ""


def pieces(text: str) -> list[str]:
    """Word-sized chunks whose concatenation is exactly `text`."""
    words = text.split(" ")
    return [w if i == 0 else " " + w for i, w in enumerate(words)] if text else [""]


def split_pieces(text: str, seed: int) -> list[str]:
    """Pieces of 1 to `SPLIT_MAX` characters, at random but the same for the same `seed`,
    whose concatenation is exactly `text`. The seed also picks the longest piece, so some
    seeds cut the text into single characters."""
    if not text:
        return [""]
    rng = random.Random(seed)
    longest = rng.randint(1, SPLIT_MAX)
    out: list[str] = []
    at = 0
    while at < len(text):
        step = rng.randint(1, longest)
        out.append(text[at : at + step])
        at += step
    return out


def stream_pieces(text: str, script: Script) -> list[str]:
    """The content pieces of a stream: word-sized, or `split-SEED`'s."""
    return pieces(text) if script.split is None else split_pieces(text, script.split)


def _tool_names(request: ChatCompletionRequest, count: int) -> list[str]:
    tools = request.tools if isinstance(request.tools, list) else []
    names = [t.function.name for t in tools] or ["get_weather"]
    return [names[i % len(names)] for i in range(count)]


def _tool_arguments(index: int) -> str:
    return msgspec.json.encode({"city": f"City{index}", "days": index + 1}).decode()


def _usage(request: ChatCompletionRequest | CompletionRequest, completion_tokens: int) -> Usage:
    prompt_tokens = max(1, len(reply_text(request, Script()).split()))
    return Usage(
        prompt_tokens=prompt_tokens,
        completion_tokens=completion_tokens,
        total_tokens=prompt_tokens + completion_tokens,
    )


def _agent_calls(request: ChatCompletionRequest, script: Script) -> list[tuple[str, str]] | None:
    """This turn's (name, arguments) calls, or None when this turn answers in text."""
    turn = _scripted_turn(request, script)
    if turn is not None:
        return turn if isinstance(turn, list) else None
    if script.tool_calls:
        names = _tool_names(request, script.tool_calls)
        return [(n, _tool_arguments(i)) for i, n in enumerate(names)]
    return None


def _agent_text(request: ChatCompletionRequest, script: Script) -> str:
    turn = _scripted_turn(request, script)
    return turn if isinstance(turn, str) else reply_text(request, script)


def _scripted_turn(
    request: ChatCompletionRequest, script: Script
) -> list[tuple[str, str]] | str | None:
    """The `agent` or `prover` turn: calls or an answer; None for other scripts."""
    if script.prover:
        return prover_turn(request)
    if script.agent:
        return agent_turn(request, script.badargs)
    return None


def chat_completion(request: ChatCompletionRequest, script: Script) -> ChatCompletion:
    ids = _ids()
    planned = _agent_calls(request, script)
    if planned:
        calls = [
            ToolCall(id=f"call_{i}", function=FunctionCall(name=n, arguments=a))
            for i, (n, a) in enumerate(planned)
        ]
        message = ResponseMessage(content=None, tool_calls=calls)
        finish, tokens = "tool_calls", 10 * len(calls)
    else:
        text = _agent_text(request, script)
        message = ResponseMessage(content=text)
        finish, tokens = "stop", len(pieces(text))
    return ChatCompletion(
        id=ids[0],
        created=ids[1],
        model=request.model,
        choices=[Choice(index=0, message=message, finish_reason=finish)],
        usage=_usage(request, tokens),
    )


def chat_chunks(request: ChatCompletionRequest, script: Script) -> list[ChatCompletionChunk]:
    """Every chunk of the stream, the usage chunk last (callers drop it unless asked)."""
    chunk_id, created = _ids()

    def chunk(delta: Delta, finish: str | None = None) -> ChatCompletionChunk:
        return ChatCompletionChunk(
            id=chunk_id,
            created=created,
            model=request.model,
            choices=[ChunkChoice(index=0, delta=delta, finish_reason=finish)],
        )

    chunks = [chunk(Delta(role="assistant", content=""))]
    planned = _agent_calls(request, script)
    if planned:
        names = [n for n, _ in planned]
        for i, name in enumerate(names):
            head = ToolCallDelta(
                index=i,
                id=f"call_{i}",
                type="function",
                function=FunctionCallDelta(name=name, arguments=""),
            )
            chunks.append(chunk(Delta(tool_calls=[head])))
        # Argument fragments of the parallel calls interleave, as real upstreams do.
        halves = [(a[:7], a[7:]) for _, a in planned]
        for part in (0, 1):
            for i, half in enumerate(halves):
                delta = ToolCallDelta(index=i, function=FunctionCallDelta(arguments=half[part]))
                chunks.append(chunk(Delta(tool_calls=[delta])))
        chunks.append(chunk(Delta(), "tool_calls"))
        tokens = 10 * len(names)
    else:
        text_pieces = stream_pieces(_agent_text(request, script), script)
        chunks.extend(chunk(Delta(content=p)) for p in text_pieces)
        chunks.append(chunk(Delta(), "stop"))
        tokens = len(text_pieces)
    chunks.append(
        ChatCompletionChunk(
            id=chunk_id,
            created=created,
            model=request.model,
            choices=[],
            usage=_usage(request, tokens),
        )
    )
    return chunks


def text_completion(request: CompletionRequest, script: Script) -> Completion:
    chunk_id, created = _ids()
    text = reply_text(request, script)
    return Completion(
        id=chunk_id,
        created=created,
        model=request.model,
        choices=[CompletionChoice(index=0, text=text, finish_reason="stop")],
        usage=_usage(request, len(pieces(text))),
    )


def text_chunks(request: CompletionRequest, script: Script) -> list[Completion]:
    chunk_id, created = _ids()
    text_pieces = stream_pieces(reply_text(request, script), script)
    chunks = [
        Completion(
            id=chunk_id,
            created=created,
            model=request.model,
            choices=[CompletionChoice(index=0, text=p)],
        )
        for p in text_pieces
    ]
    chunks.append(
        Completion(
            id=chunk_id,
            created=created,
            model=request.model,
            choices=[CompletionChoice(index=0, text="", finish_reason="stop")],
        )
    )
    chunks.append(
        Completion(
            id=chunk_id,
            created=created,
            model=request.model,
            choices=[],
            usage=_usage(request, len(text_pieces)),
        )
    )
    return chunks


def _ids() -> tuple[str, int]:
    return f"chatcmpl-{uuid.uuid4().hex[:24]}", int(time.time())
