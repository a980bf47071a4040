"""What the inbound translators cost: `/v1/messages` and `/v1/responses` against
`/v1/chat/completions` on the same route, a gateway in front of the fast fake upstream.

    .venv/bin/python bench/inbound_apis.py              # ~1 minute
    .venv/bin/python bench/inbound_apis.py --rounds 10 --requests 300

One client, one request at a time (latency, not throughput: the translators' cost is per
request). Each round sends `--requests` of each kind, in an order shuffled per round, so
machine noise hits all three alike; the figure is the median over all rounds, JSON and
streamed. Goal (issue 17): a `/v1/messages` request costs <= 0.2 ms p50 more than the same
request on `/v1/chat/completions`. Writes bench/results/inbound-<timestamp>.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import statistics
import sys
import time
from pathlib import Path

import aiohttp
from _procs import Child, free_port, gateway_process

ROOT = Path(__file__).resolve().parent.parent
GOAL_MS = 0.2
PROMPT = "Summarise the design of a gateway in two sentences, please."

POLICY = """
server: {{access_log: false}}
backends:
  up: {{type: openai, base_url: "http://127.0.0.1:{port}/v1", request_stream_usage: false}}
models:
  - {{id: bench, backend: up}}
"""


def bodies(stream: bool) -> dict[str, tuple[str, dict[str, object]]]:
    return {
        "chat": (
            "/v1/chat/completions",
            {
                "model": "bench",
                "max_tokens": 64,
                "messages": [{"role": "user", "content": PROMPT}],
                **({"stream": True, "stream_options": {"include_usage": True}} if stream else {}),
            },
        ),
        "messages": (
            "/v1/messages",
            {
                "model": "bench",
                "max_tokens": 64,
                "messages": [{"role": "user", "content": PROMPT}],
                **({"stream": True} if stream else {}),
            },
        ),
        "responses": (
            "/v1/responses",
            {
                "model": "bench",
                "max_output_tokens": 64,
                "input": PROMPT,
                "store": False,
                **({"stream": True} if stream else {}),
            },
        ),
    }


async def one(session: aiohttp.ClientSession, url: str, body: dict[str, object]) -> float:
    started = time.perf_counter()
    async with session.post(url, json=body) as response:
        data = await response.read()
        if response.status != 200:
            raise RuntimeError(f"{url}: HTTP {response.status}: {data[:200]!r}")
    return (time.perf_counter() - started) * 1000


async def measure(base: str, rounds: int, requests: int, stream: bool) -> dict[str, list[float]]:
    kinds = bodies(stream)
    samples: dict[str, list[float]] = {kind: [] for kind in kinds}
    rng = random.Random(7)
    connector = aiohttp.TCPConnector(limit=1)
    async with aiohttp.ClientSession(connector=connector) as session:
        for path, body in kinds.values():  # warm-up: connections, imports, caches
            for _ in range(50):
                await one(session, base + path, body)
        for _ in range(rounds):
            order = [kind for kind in kinds for _ in range(requests)]
            rng.shuffle(order)
            for kind in order:
                path, body = kinds[kind]
                samples[kind].append(await one(session, base + path, body))
    return samples


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--requests", type=int, default=200, help="per kind and round")
    args = parser.parse_args()
    port = free_port()
    tmp = Path(ROOT / "bench" / "results")
    tmp.mkdir(exist_ok=True)
    upstream = Child(
        "upstream",
        [sys.executable, str(ROOT / "bench/fast_upstream.py"), "--port", str(port)],
        tmp / "inbound-upstream.log",
    )
    upstream.start(ROOT)
    report: dict[str, object] = {"goal_ms": GOAL_MS, "rounds": args.rounds}
    ok = True
    try:
        upstream.wait_ready(f"http://127.0.0.1:{port}/v1/models")
        with gateway_process(ROOT, POLICY.format(port=port)) as base:
            for stream in (False, True):
                samples = asyncio.run(measure(base, args.rounds, args.requests, stream))
                medians = {kind: statistics.median(v) for kind, v in samples.items()}
                label = "stream" if stream else "json"
                print(f"\n{label}: median latency per request (ms), {len(samples['chat'])} each")
                for kind, median in medians.items():
                    extra = median - medians["chat"]
                    print(f"  {kind:<10} {median:7.3f}   {extra:+.3f} vs chat")
                added = medians["messages"] - medians["chat"]
                passed = added <= GOAL_MS
                ok = ok and passed
                print(f"  /v1/messages adds {added:.3f} ms p50: {'PASS' if passed else 'MISS'}")
                report[label] = {"median_ms": medians, "messages_added_ms": added}
    finally:
        upstream.stop()
    out = tmp / f"inbound-{time.strftime('%Y%m%d-%H%M%S')}.json"
    out.write_text(json.dumps(report, indent=2))
    print(f"\nwrote {out}")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
