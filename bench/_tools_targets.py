"""bench/tools.py's processes and requests: the fast upstream (`direct`) and ONE gateway
process whose policy file has two routes to it, `bench` (no tools: the `gateway` target) and
`tools` (the same backend and upstream model, plus `tools: [calculator, current_time]`: the
`gateway-tools` target), so that the only difference between the two targets is the route's
tools. The two model ids have the same length, so the request bodies are the same size.

Every response's `x-gateway-tools` header is counted (the model must call no tool, so there
must be none) and every SAMPLE_EVERY-th response's body is decoded for `finish_reason`
(must be `stop`); `check_route` proves before measuring that the tools route does merge the
gateway's tools (a client tool named `calculator` is a 400 there, a 200 on the plain route)."""

from __future__ import annotations

import asyncio
import json
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import _load
import aiohttp
from _load import CHAT_BODY, HEADERS, OVERHEAD_HEADER, Samples
from _procs import Child, free_port
from _profile import record, summarise
from _targets import BENCH, ROOT, Target

TOOLS_TARGET = "gateway-tools"
TARGETS = ("direct", "gateway", TOOLS_TARGET)
TOOLS_HEADER = "x-gateway-tools"
# Decode one response body in this many (per target) for its finish_reason.
SAMPLE_EVERY = 25
PROFILE_HZ = 200
# The same bytes as every other target's but the model id (same length: same body size).
TOOLS_BODY = CHAT_BODY.replace(b'"model":"bench"', b'"model":"tools"')
assert TOOLS_BODY != CHAT_BODY and len(TOOLS_BODY) == len(CHAT_BODY)

POLICY = """server: {{access_log: false}}
backends:
  up: {{type: openai, base_url: "http://127.0.0.1:{port}/v1"}}
models:
  - {{id: bench, backend: up}}
  - {{id: tools, backend: up, upstream_model: bench, tools: [calculator, current_time]}}
"""

# The body each session sends (set by `use_body`; the rest send CHAT_BODY).
_BODIES: dict[aiohttp.ClientSession, bytes] = {}
# Since the last `tally()` (targets run one at a time): `x-gateway-tools` present/absent,
# and the finish_reason of the sampled bodies.
_SEEN: Counter[str] = Counter()
_COUNT = [0]


def use_body(session: aiohttp.ClientSession, body: bytes) -> None:
    _BODIES[session] = body


def tally() -> Counter[str]:
    """What was seen since the last call (`tools_header`, `no_tools_header`,
    `finish:<reason>`), and a fresh count."""
    got = Counter(_SEEN)
    _SEEN.clear()
    return got


def _error_code(text: str) -> str | None:
    try:
        return json.loads(text).get("error", {}).get("code")
    except (ValueError, AttributeError):
        return None


def _finish_reason(body: bytes) -> str:
    try:
        choices = json.loads(body).get("choices") or [{}]
        return str(choices[0].get("finish_reason"))
    except (ValueError, AttributeError, IndexError):
        return "undecodable"


async def _one_counted(session: aiohttp.ClientSession, url: str, out: Samples) -> None:
    """`_load._one` with the session's body, also counting the tools header and sampling
    finish_reason (after the latency is taken: the check costs the measurement nothing)."""
    body = _BODIES.get(session, CHAT_BODY)
    start = time.perf_counter()
    try:
        async with session.post(url, data=body, headers=HEADERS) as resp:
            data = await resp.read()
            elapsed = time.perf_counter() - start
            if resp.status != 200:
                out.error(f"HTTP {resp.status}")
                return
            has_tools = TOOLS_HEADER in resp.headers
            overhead = resp.headers.get(OVERHEAD_HEADER)
            if overhead is not None:
                out.overhead_ms.append(float(overhead))
    except (aiohttp.ClientError, TimeoutError) as exc:
        out.error(type(exc).__name__)
        return
    out.latencies.append(elapsed)
    out.completed += 1
    _SEEN["tools_header" if has_tools else "no_tools_header"] += 1
    _COUNT[0] += 1
    if _COUNT[0] % SAMPLE_EVERY == 0:
        _SEEN["finish:" + _finish_reason(data)] += 1


def install() -> None:
    """Make `_load.open_loop` / `closed_loop` / `warm_up` send each session's body and count
    what came back: the schedule and the workers stay exactly those of bench/overhead.py."""
    _load._one = _one_counted  # type: ignore[assignment]


def check_seen(name: str, phase: str, seen: Counter[str]) -> dict[str, int]:
    """Stop the run if any response of `name` carried `x-gateway-tools`, if a sampled body
    did not finish with `stop`, or if nothing was sampled: then the model called a tool (or
    the upstream is not the one we think) and the figure is not the no-call path's."""
    finishes = {k: v for k, v in seen.items() if k.startswith("finish:")}
    if seen["tools_header"] or set(finishes) != {"finish:stop"}:
        raise RuntimeError(f"{name} {phase}: the model called a tool or did not stop: {seen}")
    return dict(seen)


def start_children(tmp: Path, targets: dict[str, Target]) -> None:
    """Fill `targets` as each child starts (so that the caller stops whatever did start): the
    upstream, then the one gateway, which serves both `gateway` and `gateway-tools`."""
    py = sys.executable
    up, gw = free_port(), free_port()
    config = tmp / "policy.yaml"
    config.write_text(POLICY.format(port=up))
    upstream = Child(
        "direct", [py, str(BENCH / "fast_upstream.py"), "--port", str(up)], tmp / "direct.log"
    )
    targets["direct"] = Target("direct", f"http://127.0.0.1:{up}", upstream)
    upstream.start(ROOT)
    upstream.wait_ready(targets["direct"].base + "/v1/models")
    gateway_exe = str(Path(py).parent / "gateway")
    argv = [gateway_exe, "serve", "--config", str(config), "--port", str(gw)]
    gateway = Child("gateway", argv, tmp / "gateway.log")
    base = f"http://127.0.0.1:{gw}"
    targets["gateway"] = Target("gateway", base, gateway)
    targets[TOOLS_TARGET] = Target(TOOLS_TARGET, base, gateway)
    gateway.start(ROOT)
    gateway.wait_ready(base + "/readyz")


_CLIENT_CALCULATOR = {
    "type": "function",
    "function": {"name": "calculator", "parameters": {"type": "object", "properties": {}}},
}


async def check_route(session: aiohttp.ClientSession, target: Target) -> dict[str, Any]:
    """The tools route merges the gateway's tools (a client tool named like one of them is a
    400 `tool_name_conflict`), the plain route does not (200), and a plain request to the
    tools route answers 200, `finish_reason: stop`, without `x-gateway-tools`."""
    out: dict[str, Any] = {}
    for model in ("bench", "tools"):
        body = {
            "model": model,
            "messages": [{"role": "user", "content": "hi"}],
            "tools": [_CLIENT_CALCULATOR],
        }
        async with session.post(target.url, json=body) as resp:
            text = await resp.text()
            out[f"client_calculator_on_{model}"] = resp.status
            code = _error_code(text) if resp.status != 200 else None
        if (model == "bench") != (resp.status == 200) or (
            model == "tools" and code != "tool_name_conflict"
        ):
            raise RuntimeError(
                f"route {model}: a client tool `calculator` got HTTP {resp.status} {text[:300]}"
                " (expected 200 on the plain route, 400 tool_name_conflict on the tools one)"
            )
    async with session.post(target.url, data=TOOLS_BODY, headers=HEADERS) as resp:
        data = await resp.read()
        out["plain_on_tools"] = {
            "status": resp.status,
            "x-gateway-tools": resp.headers.get(TOOLS_HEADER),
            "finish_reason": _finish_reason(data),
        }
    if out["plain_on_tools"] != {"status": 200, "x-gateway-tools": None, "finish_reason": "stop"}:
        raise RuntimeError(f"route tools: unexpected plain answer {out['plain_on_tools']}")
    return out


async def profile_route(
    session: aiohttp.ClientSession, target: Target, seconds: int, concurrency: int, raw: Path
) -> dict[str, Any]:
    """py-spy the gateway while one route is under closed-loop load; function costs as
    microseconds per request (samples / rate / requests served while recording)."""
    load = asyncio.create_task(_load.closed_loop(session, target.url, concurrency, seconds + 2.0))
    await asyncio.sleep(1.0)
    code, output = await record(target.child.pid, seconds, raw, rate=PROFILE_HZ)
    served = await load
    if code != 0:
        return {"error": f"py-spy exit {code}: {output}"}
    return _costs(raw, served, seconds)


def _costs(raw: Path, served: Samples, seconds: int) -> dict[str, Any]:
    if not raw.exists():
        return {"error": f"py-spy wrote no {raw}"}
    summary = summarise(raw, top=100_000)
    per_req_us = 1e6 / PROFILE_HZ / max(served.completed / served.wall * seconds, 1.0)
    costs = {
        key: {name: count * per_req_us for name, count, _ in summary[key]}  # type: ignore[attr-defined]
        for key in ("self", "total")
    }
    return {
        "raw_file": str(raw),
        "samples": summary["samples"],
        "rps": round(served.completed / served.wall, 1),
        "us_per_sample_per_req": per_req_us,
        **costs,
    }


def profile_diff(plain: dict[str, Any], tools: dict[str, Any], top: int = 15) -> dict[str, Any]:
    """What the tools route costs more than the plain one, per function (us/req), by self
    and by inclusive time; largest first."""
    out: dict[str, Any] = {
        "busy_us_per_req": {
            "gateway": round(plain["samples"] * plain["us_per_sample_per_req"], 1),
            TOOLS_TARGET: round(tools["samples"] * tools["us_per_sample_per_req"], 1),
        }
    }
    for key in ("self", "total"):
        names = set(plain[key]) | set(tools[key])
        delta = {n: tools[key].get(n, 0.0) - plain[key].get(n, 0.0) for n in names}
        ranked = sorted(delta.items(), key=lambda kv: -kv[1])[:top]
        out[key] = [
            (
                name,
                round(d, 1),
                round(plain[key].get(name, 0.0), 1),
                round(tools[key].get(name, 0.0), 1),
            )
            for name, d in ranked
        ]
    only = {n: c for n, c in tools["total"].items() if n not in plain["total"]}
    out["tools_only"] = [
        (name, round(c, 1)) for name, c in sorted(only.items(), key=lambda kv: -kv[1])[:top]
    ]
    return out


def print_profile_diff(diff: dict[str, Any]) -> None:
    busy = diff["busy_us_per_req"]
    print(
        f"\n=== profile: {TOOLS_TARGET} vs gateway (py-spy {PROFILE_HZ} Hz, busy samples as "
        f"us/req; gateway {busy['gateway']}, {TOOLS_TARGET} {busy[TOOLS_TARGET]})"
    )
    for key, title in (("self", "self time"), ("total", "inclusive time")):
        print(f"\n  extra {title}, top functions (+us/req  gateway  {TOOLS_TARGET}):")
        for name, d, a, b in diff[key]:
            print(f"    {d:+7.1f}  {a:7.1f}  {b:7.1f}  {name[:105]}")
    print(f"\n  functions only in {TOOLS_TARGET}'s profile, inclusive us/req (a container such")
    print("  as ToolLoop.reply includes the upstream call both routes make):")
    for name, c in diff["tools_only"]:
        print(f"    {c:7.1f}  {name[:105]}")
