"""Hot reload under load: 50 req/s for 20 s while the policy file is replaced every 2 s,
cycling two valid versions and an invalid one, half the time announced with SIGHUP. No
request fails, answers switch target with the file, an invalid file leaves the previous
config serving, and a request in flight finishes on the config it started with."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from pathlib import Path

import httpx
import pytest

from tests.support import start_gateway

pytestmark = pytest.mark.e2e
RATE = 50
SECONDS = 20
EVERY = 2.0
VERSION = """
server: {{access_log: false}}
defaults:
  breaker: {{failures: 3, window_seconds: 30, cooldown_seconds: 5}}
backends:
  fake: {{type: fake}}
models:
  - {{id: live, backend: fake, upstream_model: echo@{tag}}}
{extra}
"""
A = VERSION.format(
    tag="a", extra="  - {id: slow, backend: fake, upstream_model: words-20+slow-100}"
)
B = VERSION.format(tag="b", extra="")
INVALID = A + "colour: blue\n"  # an unknown key: rejected, with its path


def replace_file(path: Path, text: str) -> None:
    staging = path.with_suffix(".tmp")
    staging.write_text(text)
    os.replace(staging, path)  # atomic: the gateway never reads half a file


async def load(base: str, seen: list[tuple[float, int, str]]) -> None:
    body = {"model": "live", "messages": [{"role": "user", "content": "hi"}]}
    async with httpx.AsyncClient(base_url=base, timeout=10) as client:

        async def one() -> None:
            try:
                response = await client.post("/v1/chat/completions", json=body)
                seen.append(
                    (
                        time.monotonic(),
                        response.status_code,
                        response.headers.get("x-gateway-target", ""),
                    )
                )
            except httpx.HTTPError as exc:
                seen.append((time.monotonic(), 0, type(exc).__name__))

        tasks = []
        started = time.monotonic()
        for i in range(RATE * SECONDS):
            await asyncio.sleep(max(0.0, started + i / RATE - time.monotonic()))
            tasks.append(asyncio.create_task(one()))
        await asyncio.gather(*tasks)


async def reloads(path: Path, pid: int, log: list[tuple[float, str]]) -> None:
    versions = [("b", B), ("invalid", INVALID), ("a", A)]
    for i in range(int(SECONDS / EVERY) - 1):
        await asyncio.sleep(EVERY)
        name, text = versions[i % 3]
        replace_file(path, text)
        if i % 2:
            os.kill(pid, signal.SIGHUP)
        log.append((time.monotonic(), name))


async def slow_stream(base: str) -> str:
    body = {"model": "slow", "messages": [{"role": "user", "content": "x"}], "stream": True}
    async with httpx.AsyncClient(base_url=base, timeout=30) as client:
        response = await client.post("/v1/chat/completions", json=body)
        return response.text


def test_reloads_under_load_lose_no_request(tmp_path: Path) -> None:
    policy = tmp_path / "policy.yaml"
    policy.write_text(A)
    proc, base = start_gateway(tmp_path, ["--config", str(policy)])
    try:
        seen: list[tuple[float, int, str]] = []
        switched: list[tuple[float, str]] = []

        async def run() -> str:
            stream = asyncio.create_task(slow_stream(base))  # ~2 s, across the first reload
            await asyncio.gather(load(base, seen), reloads(policy, proc.proc.pid, switched))
            return await stream

        streamed = asyncio.run(run())
        log = proc.output()
    finally:
        proc.stop()
    assert len(seen) == RATE * SECONDS
    failures = [s for s in seen if s[1] != 200]
    assert not failures, failures[:5]
    targets = {t for _, _, t in seen}
    assert targets == {"fake/echo@a", "fake/echo@b"}
    # The stream that began under version A finished on it, although B has no `slow` route.
    assert streamed.rstrip().endswith("data: [DONE]") and '"error"' not in streamed
    # Each switch took effect within about a poll interval; an invalid file changed nothing.
    for (at, name), (until, _) in zip(switched, [*switched[1:], (float("inf"), "")], strict=True):
        window = [t for when, _, t in seen if at + 1.5 < when < until]
        if name == "invalid" or not window:
            continue
        assert set(window) == {f"fake/echo@{name}"}, (name, set(window))
    assert "policy file rejected" in log and "unknown key `colour`" in log
