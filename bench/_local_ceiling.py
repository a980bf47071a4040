"""bench/local_model.py's batching ceiling, in-process (no gateway, no sampling, no text):
what one llama.cpp decode step costs with 1, 2, 4 ... sequences each adding one token.

Concurrent streams can beat a single one by at most `k * step(1) / step(k)` while `k` of
them are running. On one CPU thread this is llama.cpp's matmul kernels, not the gateway
(measured with SmolLM2-135M Q4_1: ~1.0x at 2, ~1.3x at 4, ~1.45x at 8), so a workload
whose replies end at different lengths spends most steps at the smaller batches."""

from __future__ import annotations

import argparse
import statistics
import time
from typing import Any

# Each sequence's cells before the timed steps: about a shared-system prompt's length, so
# attention costs what it does in the concurrent phases.
_CONTEXT = 120
_STEPS = 12


def ceiling(llm: Any, args: argparse.Namespace) -> dict[str, object]:
    """Median step time per batch size (steps interleaved over rounds) and each size's
    per-token speed-up over a single sequence."""
    import llama_cpp
    from llama_cpp import _internals

    sizes = sorted({1, 2, 4, args.streams})
    params = llama_cpp.llama_context_params.from_buffer_copy(llm.context_params)
    params.n_ctx = 1024 * args.streams
    params.n_batch = params.n_ubatch = 512
    params.n_seq_max = args.streams
    params.kv_unified = False  # as the batch engine: a KV stream per sequence
    params.n_threads = params.n_threads_batch = args.threads
    ctx = _internals.LlamaContext(model=llm._model, params=params, verbose=False)
    batch = _internals.LlamaBatch(n_tokens=512, embd=0, n_seq_max=args.streams, verbose=False)
    times: dict[int, list[float]] = {k: [] for k in sizes}
    try:
        for _ in range(max(1, args.rounds)):  # interleaved: noise hits every size alike
            for k in sizes:
                times[k].append(_step_time(llama_cpp, ctx, batch, k))
    finally:
        batch.close()
        ctx.close()
    single = statistics.median(times[1])
    report: dict[str, object] = {}
    for k in sizes:
        step = statistics.median(times[k])
        report[f"batch_{k}"] = {
            "step_ms": round(step * 1000, 2),
            "per_token_speedup_vs_1": round(k * single / step, 3),
        }
    return report


def _step_time(llama_cpp: Any, ctx: Any, batch: Any, k: int) -> float:
    """Median time of one decode of `k` sequences' next tokens, from `_CONTEXT` cells."""
    llama_cpp.llama_memory_clear(ctx.memory, True)
    b = batch.batch
    for s in range(k):  # one prompt per decode: `k` of them may not fit one batch
        b.n_tokens = 0
        for i in range(_CONTEXT):
            _put(b, 100 + i, i, s, logits=i == _CONTEXT - 1)
        ctx.decode(batch)
    samples = []
    for step in range(_STEPS):
        b.n_tokens = 0
        for s in range(k):
            _put(b, 200 + step, _CONTEXT + step, s, logits=True)
        started = time.perf_counter()
        ctx.decode(batch)
        samples.append(time.perf_counter() - started)
    return statistics.median(samples)


def _put(b: Any, token: int, position: int, seq: int, *, logits: bool) -> None:
    j = b.n_tokens
    b.token[j], b.pos[j], b.n_seq_id[j] = token, position, 1
    b.seq_id[j][0], b.logits[j] = seq, logits
    b.n_tokens = j + 1
