"""How much of a proxy's CPU per request goes to Python's cyclic garbage collector.

Runs the gateway and the aiohttp floor (against the fast upstream) each inside a wrapper that
times every collection with `gc.callbacks`, drives each with a closed loop at c=64, and prints
collections and GC time per request by generation. `--freeze` calls `gc.freeze()` in the
target after a warm-up and `--threshold 7000,20,20` sets `gc.set_threshold` at start-up, to
try the mitigations without touching the gateway's code.

    .venv/bin/python bench/gc_probe.py [--seconds 8] [--freeze] [--threshold 7000,20,20]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import runpy
import signal
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from _load import closed_loop, make_session
from _procs import Child, free_port, group_cpu_seconds

BENCH = Path(__file__).resolve().parent
POLICY = (
    "server: {access_log: false}\n"
    "backends:\n  up: {type: openai, base_url: 'http://127.0.0.1:%d/v1'}\n"
    "models:\n  - {id: bench, backend: up}\n"
)


def wrap(out: str, threshold: str | None, target: list[str]) -> None:
    """In the child: time collections, dump them on SIGUSR1, freeze on SIGUSR2, run target."""
    stats = {g: [0, 0.0] for g in range(3)}
    started = [0.0]

    def on_gc(phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            started[0] = time.perf_counter()
        else:
            entry = stats[info["generation"]]
            entry[0] += 1
            entry[1] += time.perf_counter() - started[0]

    def dump(*_: object) -> None:
        Path(out).write_text(json.dumps(stats))

    gc.callbacks.append(on_gc)
    signal.signal(signal.SIGUSR1, dump)
    signal.signal(signal.SIGUSR2, lambda *_: gc.freeze())
    if threshold:
        gc.set_threshold(*(int(v) for v in threshold.split(",")))
    if target[0] == "gateway":
        from gateway.cli import main

        sys.argv = target
        raise SystemExit(main())
    sys.argv = target
    sys.path.insert(0, str(Path(target[0]).resolve().parent))
    runpy.run_path(target[0], run_name="__main__")


def _read_stats(path: Path) -> dict[str, list[float]]:
    return dict(json.loads(path.read_text()))


async def _snapshot(child: Child, path: Path) -> dict[str, list[float]]:
    os.kill(child.pid, signal.SIGUSR1)
    await asyncio.sleep(0.3)
    return _read_stats(path)


async def drive(args: argparse.Namespace, targets: dict[str, tuple[Child, str, Path]]) -> None:
    session = make_session(256)
    try:
        for name, (child, url, stats_path) in targets.items():
            await closed_loop(session, url, 8, 1.0)
            if args.freeze:
                os.kill(child.pid, signal.SIGUSR2)
                await asyncio.sleep(0.3)
            before = await _snapshot(child, stats_path)
            cpu0 = group_cpu_seconds(child.pid)
            s = await closed_loop(session, url, args.concurrency, args.seconds)
            cpu = group_cpu_seconds(child.pid) - cpu0
            after = await _snapshot(child, stats_path)
            n = max(s.completed, 1)
            print(
                f"{name}: {s.completed / s.wall:.0f} req/s, {1000 * cpu / n:.4f} ms CPU/req, "
                f"{s.errors} errors"
            )
            total = 0.0
            for gen in ("0", "1", "2"):
                count = after[gen][0] - before[gen][0]
                secs = after[gen][1] - before[gen][1]
                total += secs
                each = 1000 * secs / count if count else 0.0
                print(
                    f"  gen{gen}: {count:5.0f} collections, {1e6 * secs / n:6.1f} us/req, "
                    f"{each:6.2f} ms each"
                )
            print(f"  GC total: {1e6 * total / n:.1f} us/req = {100 * total / max(cpu, 1e-9):.0f}%")
    finally:
        await session.close()


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "wrap":
        # wrap OUT THRESHOLD|- TARGET...
        wrap(sys.argv[2], None if sys.argv[3] == "-" else sys.argv[3], sys.argv[4:])
        return
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--freeze", action="store_true", help="gc.freeze() after warm-up")
    parser.add_argument("--threshold", help="gc.set_threshold values, e.g. 7000,20,20")
    args = parser.parse_args()
    py, tmp = sys.executable, Path(tempfile.mkdtemp(prefix="gc-probe-"))
    up, gw, fl = free_port(), free_port(), free_port()
    (tmp / "policy.yaml").write_text(POLICY % up)
    wrapper = [py, str(Path(__file__).resolve()), "wrap"]
    threshold = args.threshold or "-"
    upstream = Child(
        "upstream", [py, str(BENCH / "fast_upstream.py"), "--port", str(up)], tmp / "u"
    )
    gateway_argv = ["gateway", "serve", "--config", str(tmp / "policy.yaml"), "--port", str(gw)]
    floor_argv = [str(BENCH / "floor_aiohttp.py"), "--port", str(fl)]
    floor_argv += ["--upstream", f"http://127.0.0.1:{up}"]
    children: dict[str, tuple[Child, str, Path]] = {
        "gateway": (
            Child("gateway", [*wrapper, str(tmp / "gw.json"), threshold, *gateway_argv], tmp / "g"),
            f"http://127.0.0.1:{gw}",
            tmp / "gw.json",
        ),
        "floor-aiohttp": (
            Child("floor", [*wrapper, str(tmp / "fl.json"), threshold, *floor_argv], tmp / "f"),
            f"http://127.0.0.1:{fl}",
            tmp / "fl.json",
        ),
    }
    started: list[Child] = []
    try:
        upstream.start(BENCH.parent)
        started.append(upstream)
        upstream.wait_ready(f"http://127.0.0.1:{up}/v1/models")
        targets: dict[str, Any] = {}
        for name, (child, base, stats_path) in children.items():
            child.start(BENCH.parent)
            started.append(child)
            child.wait_ready(base + ("/readyz" if name == "gateway" else "/v1/models"))
            targets[name] = (child, base + "/v1/chat/completions", stats_path)
        import uvloop

        uvloop.run(drive(args, targets))
    finally:
        for child in reversed(started):
            child.stop()


if __name__ == "__main__":
    main()
