"""The gateway side of bench/local_model.py: the model and prompts, and one streamed chat
request over HTTP measured from the client (TTFT, decode rate, usage)."""

from __future__ import annotations

import json
import time

import aiohttp

MODEL = "smollm2-135m-instruct"
FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
PROMPT = "Write a long story about a lighthouse keeper and a storm."
SYSTEM = (
    "You are the support assistant of a hardware store. The store sells tools, paint, "
    "garden supplies and building materials, and is open from eight to six on weekdays and "
    "from nine to four on Saturdays. Answer customers politely and briefly, suggest the "
    "right product when you can, never invent prices, and say when a question is better "
    "answered by staff in the store. Keep every answer under five sentences."
)
QUESTIONS = [
    "Which paint is best for a bathroom ceiling?",
    "Do you sell rakes?",
    "How do I fix a squeaky door?",
    "What glue works on ceramic?",
    "Can I return a drill after a week?",
    "What size nails for a picture frame?",
    "Are you open on Sunday?",
    "How do I choose a garden hose?",
    "What is the best way to store paint brushes?",
]


async def gateway_run(
    session: aiohttp.ClientSession,
    base: str,
    max_tokens: int,
    content: str = PROMPT,
    *,
    messages: list[dict[str, str]] | None = None,
    text: list[str] | None = None,
) -> tuple[float, float, int, bool]:
    """(TTFT s, decode tokens/s, completion tokens from usage, ended with [DONE]); the
    reply's text is appended to `text` when given."""
    body = {
        "model": MODEL,
        "messages": messages or [{"role": "user", "content": content}],
        "max_tokens": max_tokens,
        "temperature": 0,
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    started = time.perf_counter()
    first = last = 0.0
    tokens, pieces, done = 0, 0, False
    async with session.post(f"{base}/v1/chat/completions", json=body) as response:
        async for raw_line in response.content:
            line = raw_line.strip()
            if not line.startswith(b"data: "):
                continue
            if line == b"data: [DONE]":
                done = True
                break
            chunk = json.loads(line[6:])
            if chunk.get("usage"):
                tokens = chunk["usage"]["completion_tokens"]
            if chunk["choices"] and chunk["choices"][0]["delta"].get("content"):
                now = time.perf_counter()
                first = first or now
                last = now
                pieces += 1
                if text is not None:
                    text.append(chunk["choices"][0]["delta"]["content"])
    # Servers that send no stream usage (llama_cpp.server): one content chunk per token.
    tokens = tokens or pieces
    rate = (tokens - 1) / (last - first) if tokens > 1 and last > first else 0.0
    return first - started, rate, tokens, done
