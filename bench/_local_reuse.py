"""bench/local_model.py's prefix-reuse phases, against a gateway on the embedded default
settings: warm TTFT on a repeated prompt, a conversation's second turn against its first,
and concurrent streams sharing one system prompt."""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time

import aiohttp
from _local_client import PROMPT, QUESTIONS, SYSTEM, gateway_run


def plain_chat(llm: object, messages: list[dict[str, str]], max_tokens: int) -> tuple[float, str]:
    """(TTFT s, reply) from llama-cpp-python, whose `Llama` reuses the KV of the longest
    prefix its previous prompt shares (no reset here: this is its warm path)."""
    started = time.perf_counter()
    first, text = 0.0, []
    stream = llm.create_chat_completion(  # type: ignore[attr-defined]
        messages=messages, max_tokens=max_tokens, temperature=0, stream=True
    )
    for chunk in stream:
        if chunk["choices"] and chunk["choices"][0]["delta"].get("content"):
            first = first or time.perf_counter()
            text.append(chunk["choices"][0]["delta"]["content"])
    return first - started, "".join(text)


async def measure_defaults(llm: object, base: str, args: argparse.Namespace) -> dict[str, object]:
    """Warm TTFT, second-turn TTFT and shared-system-prompt concurrency (default settings)."""
    warm_plain, warm_gateway, turns_plain, turns_gateway = [], [], [], []
    async with aiohttp.ClientSession() as session:
        await gateway_run(session, base, 8)
        for i in range(args.rounds):
            ask = [{"role": "user", "content": f"{PROMPT} Take {i}."}]
            llm.reset()  # type: ignore[attr-defined]
            plain_chat(llm, ask, 8)
            warm_plain.append(plain_chat(llm, ask, 8)[0])
            await gateway_run(session, base, 8, messages=ask)
            warm_gateway.append((await gateway_run(session, base, 8, messages=ask))[0])
            # A conversation: a system prompt, a question, the reply, a follow-up.
            first = [  # its own system prompt: the first turn is cold
                {"role": "system", "content": f"Store {i} of the chain. {SYSTEM}"},
                {"role": "user", "content": f"{QUESTIONS[i % len(QUESTIONS)]} (customer {i})"},
            ]
            llm.reset()  # type: ignore[attr-defined]
            cold, reply = plain_chat(llm, first, args.max_tokens // 2)
            second = [*first, {"role": "assistant", "content": reply}]
            second.append({"role": "user", "content": "Thanks. Anything else I should know?"})
            turns_plain.append((cold, plain_chat(llm, second, 8)[0]))
            text: list[str] = []
            cold = (
                await gateway_run(session, base, args.max_tokens // 2, messages=first, text=text)
            )[0]
            second = [*first, {"role": "assistant", "content": "".join(text)}, second[-1]]
            turns_gateway.append((cold, (await gateway_run(session, base, 8, messages=second))[0]))
        single, aggregates, runs = [], [], []
        for r in range(2):  # interleaved: the machine's noise hits both alike
            messages = _shared(100 + r)
            single.append((await gateway_run(session, base, args.max_tokens, messages=messages))[1])
            started = time.perf_counter()
            runs = await asyncio.gather(
                *(
                    gateway_run(session, base, args.max_tokens, messages=_shared(10 * r + i))
                    for i in range(args.streams)
                )
            )
            aggregates.append(sum(x[2] for x in runs) / (time.perf_counter() - started))
    aggregate = statistics.median(aggregates)
    single_rate = statistics.median(single)
    median = statistics.median
    plain_turn = median(t[1] / t[0] for t in turns_plain)
    gateway_turn = median(t[1] / t[0] for t in turns_gateway)
    return {
        "candidate_settings": args.candidate,
        "plain_warm_ttft_ms": round(median(warm_plain) * 1000, 1),
        "gateway_warm_ttft_ms": round(median(warm_gateway) * 1000, 1),
        "warm_ttft_overhead_ms": round((median(warm_gateway) - median(warm_plain)) * 1000, 1),
        "plain_turns_ttft_ms": [[round(a * 1000), round(b * 1000)] for a, b in turns_plain],
        "gateway_turns_ttft_ms": [[round(a * 1000), round(b * 1000)] for a, b in turns_gateway],
        "plain_second_vs_first_turn_ttft": round(plain_turn, 3),
        "gateway_second_vs_first_turn_ttft": round(gateway_turn, 3),
        "single_stream_tok_s": round(single_rate, 1),
        f"shared_system_aggregate_tok_s_{args.streams}_streams": round(aggregate, 1),
        "shared_system_aggregate_vs_single": round(aggregate / single_rate, 3),
        "shared_system_streams_complete": all(r[3] for r in runs),
        # Replies end at different lengths: the last steps run a few streams, not all.
        "shared_system_tokens_per_stream": [r[2] for r in runs],
    }


def _shared(i: int) -> list[dict[str, str]]:
    question = QUESTIONS[i % len(QUESTIONS)]
    return [
        {"role": "system", "content": SYSTEM},
        {"role": "user", "content": f"{question} Please explain in detail. (ticket {i})"},
    ]
