"""bench/local_model.py's prefill-schedule phase, in-process (no HTTP): how a running
stream keeps its pace while newcomers with long prompts prefill, per `prefill_chunk`."""

from __future__ import annotations

import argparse
import itertools
import time
from pathlib import Path
from typing import Any

from _local_client import MODEL, PROMPT, QUESTIONS

from gateway.backends.llama_cpp.loader import load_llama
from gateway.model_files import ModelFile
from gateway.settings.backend_types import LlamaCppSpec


def stall(path: Path, args: argparse.Namespace) -> dict[str, object]:
    """A running stream's token gaps while three newcomers with long prompts prefill, with
    the default `prefill_chunk` and with whole-`n_batch` chunks, in-process (no HTTP)."""
    from gateway.backends.llama_cpp.loaded_model import LoadedModel
    from gateway.backends.llama_cpp.registry import VOCAB_CONTEXT

    file = ModelFile(MODEL, path)
    report: dict[str, object] = {}
    default_chunk = LlamaCppSpec().prefill_chunk
    for chunk in sorted({default_chunk, *(int(c) for c in args.stall_chunks.split(","))}):
        spec = LlamaCppSpec(n_threads=args.threads, n_ctx=2048, prefill_chunk=chunk)
        model = LoadedModel.wrap(file, load_llama(file, spec, context_tokens=VOCAB_CONTEXT), spec)
        try:
            report[f"prefill_chunk_{chunk}"] = _stall_once(model, args.max_tokens)
        finally:
            model.close()
    return report


def _stall_once(model: Any, max_tokens: int) -> dict[str, object]:
    import threading

    from gateway.backends.llama_cpp.batch_engine import Job
    from gateway.backends.llama_cpp.generation import Sampling

    engine = model.engine
    runner: list[float] = []
    firsts: dict[int, float] = {}
    finished = threading.Semaphore(0)
    greedy = Sampling(max_tokens=max_tokens, temperature=0)

    def submit(text: str, on_piece: Any) -> None:
        tokens = model.tokenize(text, add_bos=False)
        engine.submit(
            Job(
                tokens,
                greedy,
                on_piece,
                threading.Event(),
                time.monotonic() + 600,
                lambda _r: finished.release(),
            )
        )

    chat = "<|im_start|>user\n{}<|im_end|>\n<|im_start|>assistant\n"
    submit(chat.format(PROMPT), lambda _p: runner.append(time.perf_counter()))
    while len(runner) < 8:
        time.sleep(0.005)
    arrived = time.perf_counter()
    long_prompt = " ".join(QUESTIONS * 4)  # ~300 tokens, distinct per newcomer
    for k in range(1, 4):
        submit(
            chat.format(f"{k}: {long_prompt}"),
            lambda _p, k=k: firsts.setdefault(k, time.perf_counter()),
        )
    for _ in range(4):
        finished.acquire()
    prefilled = max(firsts.values())
    during = [t for t in runner if arrived <= t <= prefilled]
    gaps = [b - a for a, b in itertools.pairwise(runner) if b > arrived]
    window = prefilled - arrived
    return {
        "newcomers_ttft_ms": sorted(round((t - arrived) * 1000) for t in firsts.values()),
        "runner_tokens_during_prefill": len(during),
        "runner_tok_s_during_prefill": round(len(during) / window, 1) if window > 0 else None,
        "runner_max_gap_ms": round(max(gaps) * 1000, 1) if gaps else None,
    }
