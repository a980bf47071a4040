"""Throughput of `gateway serve --workers 1` against `--workers 2`, on one fast upstream.

    .venv/bin/python bench/workers.py                    # 5 rounds x 4 s per target, ~1 minute
    .venv/bin/python bench/workers.py --rounds 3 --seconds 2 --stream

Both gateways (the same policy: one OpenAI backend on `bench/fast_upstream.py`, no access
log) start before measuring and stay up; each round loads each in turn with a closed loop of
`--concurrency` workers, the order alternating per round so machine noise hits both alike.
Reported per target: the median req/s over the rounds (and each round's), CPU per request
and the share of a core used by the gateway's whole process group, the upstream and this
load generator (`others`: every other process on the machine meanwhile, from /proc/stat),
and for two workers how the gateway's CPU split between them (both must
have served). The ratio is `--workers 2` over `--workers 1`, of the medians and per round.
With `--stream` the load is `"stream": true` requests (each read to `data: [DONE]`).

The load generator, the upstream and the gateway share the machine's cores: on 2 cores a
second worker can only use what the other two leave, which the utilisation columns show.
JSON goes to bench/results/workers-<timestamp>.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp
import uvloop
from _load import STREAM_BODY, Samples, closed_loop, make_session, percentile, warm_up
from _procs import CLK_TCK, Child, _group_pids, cpu_seconds, free_port, group_cpu_seconds
from _targets import BENCH, POLICY, ROOT

WORKERS = (1, 2)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--rounds", type=int, default=5, help="interleaved rounds")
    p.add_argument("--seconds", type=float, default=4.0, help="per target and round")
    p.add_argument("--concurrency", type=int, default=64, help="closed-loop workers")
    p.add_argument("--stream", action="store_true", help="streamed requests instead of JSON")
    p.add_argument("--out-dir", type=Path, default=BENCH / "results")
    args = p.parse_args(argv)
    if args.rounds < 1 or args.seconds <= 0 or args.concurrency < 1:
        p.error("--rounds, --seconds and --concurrency must be positive")
    return args


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


async def _stream_one(session: aiohttp.ClientSession, url: str, out: Samples) -> None:
    start = time.perf_counter()
    try:
        async with session.post(
            url, data=STREAM_BODY, headers={"content-type": "application/json"}
        ) as resp:
            body = await resp.read()
    except (aiohttp.ClientError, TimeoutError) as exc:
        out.error(type(exc).__name__)
        return
    if resp.status != 200 or not body.rstrip().endswith(b"data: [DONE]"):
        out.error(f"HTTP {resp.status}" if resp.status != 200 else "stream without [DONE]")
        return
    out.latencies.append(time.perf_counter() - start)
    out.completed += 1


async def stream_loop(
    session: aiohttp.ClientSession, url: str, concurrency: int, seconds: float
) -> Samples:
    out = Samples()
    start = time.perf_counter()
    deadline = start + seconds

    async def worker() -> None:
        while time.perf_counter() < deadline:
            await _stream_one(session, url, out)

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    out.wall = time.perf_counter() - start
    return out


def worker_cpu(child: Child) -> dict[int, float]:
    """CPU seconds of each serving process: uvicorn's spawned workers (not the supervisor nor
    multiprocessing's resource tracker); with one worker, the one process."""
    workers = [pid for pid in _group_pids(child.pid) if b"spawn_main" in _cmdline(pid)]
    return {pid: cpu_seconds(pid) for pid in workers or [child.pid]}


def _cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""


def machine_busy_seconds() -> float:
    """CPU seconds every process on the machine used so far (/proc/stat, all CPUs)."""
    fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(f) for f in fields[:8])
    return (user + nice + system + irq + softirq + steal) / CLK_TCK


async def measure(
    args: argparse.Namespace, gateways: dict[int, Child], bases: dict[int, str], upstream: Child
) -> dict[str, Any]:
    sessions = {n: make_session(max(args.concurrency, 256)) for n in WORKERS}
    rounds: dict[int, list[dict[str, Any]]] = {n: [] for n in WORKERS}
    try:
        for n in WORKERS:
            warm = await warm_up(sessions[n], bases[n])
            if warm.errors:
                raise RuntimeError(f"--workers {n}: warm-up errors {warm.error_examples}")
        log("warm-up done")
        for rnd in range(args.rounds):
            for n in WORKERS if rnd % 2 == 0 else tuple(reversed(WORKERS)):
                gateway = gateways[n]
                cpu0 = group_cpu_seconds(gateway.pid)
                up0, gen0 = group_cpu_seconds(upstream.pid), time.process_time()
                split0, busy0 = worker_cpu(gateway), machine_busy_seconds()
                url = bases[n] + "/v1/chat/completions"
                loop = stream_loop if args.stream else closed_loop
                s = await loop(sessions[n], url, args.concurrency, args.seconds)
                split1, busy = worker_cpu(gateway), machine_busy_seconds() - busy0
                wall = s.wall
                gateway_cpu = group_cpu_seconds(gateway.pid) - cpu0
                upstream_cpu = group_cpu_seconds(upstream.pid) - up0
                generator_cpu = time.process_time() - gen0
                served = max(s.completed, 1)
                rounds[n].append(
                    {
                        "rps": round(s.completed / wall, 1),
                        "errors": s.errors,
                        "error_examples": s.error_examples,
                        "p50_ms": round(1000 * percentile(s.latencies, 50), 2),
                        "p99_ms": round(1000 * percentile(s.latencies, 99), 2),
                        "gateway_cpu_ms_per_req": round(1000 * gateway_cpu / served, 3),
                        "gateway_cpu_util": round(gateway_cpu / wall, 2),
                        "upstream_cpu_util": round(upstream_cpu / wall, 2),
                        "generator_cpu_util": round(generator_cpu / wall, 2),
                        # Everything else on the (shared) machine meanwhile: other users.
                        "others_cpu_util": round(
                            max(0.0, busy - gateway_cpu - upstream_cpu - generator_cpu) / wall, 2
                        ),
                        "worker_cpu_s": [
                            round(split1.get(pid, 0.0) - split0.get(pid, 0.0), 2)
                            for pid in sorted(split1)
                        ],
                    }
                )
                log(f"round {rnd + 1} --workers {n}: {rounds[n][-1]['rps']} req/s")
    finally:
        for session in sessions.values():
            await session.close()
    return {"rounds": rounds}


def summarise(rounds: dict[int, list[dict[str, Any]]]) -> dict[str, Any]:
    summary: dict[str, Any] = {}
    for n, per_round in rounds.items():
        summary[f"workers_{n}"] = {
            "median_rps": round(statistics.median(r["rps"] for r in per_round), 1),
            "rps_per_round": [r["rps"] for r in per_round],
            "errors": sum(r["errors"] for r in per_round),
            **{
                key: round(statistics.median(r[key] for r in per_round), 3)
                for key in (
                    "p50_ms",
                    "p99_ms",
                    "gateway_cpu_ms_per_req",
                    "gateway_cpu_util",
                    "upstream_cpu_util",
                    "generator_cpu_util",
                    "others_cpu_util",
                )
            },
            "worker_cpu_s_per_round": [r["worker_cpu_s"] for r in per_round],
        }
    one, two = summary["workers_1"], summary["workers_2"]
    summary["ratio_of_medians"] = round(two["median_rps"] / one["median_rps"], 3)
    summary["ratio_per_round"] = [
        round(b["rps"] / a["rps"], 3) for a, b in zip(rounds[1], rounds[2], strict=True)
    ]
    splits = [s for s in two["worker_cpu_s_per_round"] if len(s) == 2]
    summary["both_workers_served"] = bool(splits) and all(min(s) > 0 for s in splits)
    return summary


def print_report(summary: dict[str, Any], args: argparse.Namespace) -> None:
    kind = "streamed" if args.stream else "JSON"
    print(f"\n{kind} chat completions, closed loop c={args.concurrency}, {args.rounds} rounds")
    print(f"{args.seconds:g} s per target, {os.cpu_count()} CPUs (shared)\n")
    header = ["", "req/s", "p50 ms", "p99 ms", "gw ms/req", "gw util", "up util", "gen util"]
    header.append("others")
    print("  ".join(f"{h:>10}" for h in header))
    for n in WORKERS:
        s = summary[f"workers_{n}"]
        cells = [
            f"--workers {n}",
            s["median_rps"],
            s["p50_ms"],
            s["p99_ms"],
            s["gateway_cpu_ms_per_req"],
            s["gateway_cpu_util"],
            s["upstream_cpu_util"],
            s["generator_cpu_util"],
            s["others_cpu_util"],
        ]
        print("  ".join(f"{c:>10}" for c in cells))
    for n in WORKERS:
        s = summary[f"workers_{n}"]
        print(f"--workers {n} req/s per round: {s['rps_per_round']}  errors: {s['errors']}")
    split = summary["workers_2"]["worker_cpu_s_per_round"]
    print(f"--workers 2 CPU seconds per worker, per round: {split}")
    print(
        f"\nratio (--workers 2 / --workers 1): {summary['ratio_of_medians']}x of the medians, "
        f"per round {summary['ratio_per_round']}"
    )
    before, after = summary["loadavg_1m_before_after"]
    print(f"machine load average (1 min) before/after: {before} / {after}")
    if not summary["both_workers_served"]:
        print("WARNING: one of the two workers served nothing in some round")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    started = time.time()
    load_before = os.getloadavg()
    py = sys.executable
    gateway_exe = str(Path(py).parent / "gateway")
    with tempfile.TemporaryDirectory(prefix="gateway-bench-workers-") as tmp_name:
        tmp = Path(tmp_name)
        up_port = free_port()
        config = tmp / "policy.yaml"
        config.write_text(POLICY.format(port=up_port))
        upstream = Child(
            "upstream",
            [py, str(BENCH / "fast_upstream.py"), "--port", str(up_port)],
            tmp / "upstream.log",
        )
        gateways: dict[int, Child] = {}
        bases: dict[int, str] = {}
        try:
            upstream.start(ROOT)
            upstream.wait_ready(f"http://127.0.0.1:{up_port}/v1/models")
            for n in WORKERS:
                port = free_port()
                argv = [gateway_exe, "serve", "--config", str(config), "--port", str(port)]
                gateways[n] = Child(f"workers-{n}", [*argv, "--workers", str(n)], tmp / f"w{n}.log")
                bases[n] = f"http://127.0.0.1:{port}"
                gateways[n].start(ROOT)
                gateways[n].wait_ready(bases[n] + "/readyz", timeout=90)
            results = uvloop.run(measure(args, gateways, bases, upstream))
        except BaseException:
            for child in (upstream, *gateways.values()):
                if not child.alive():
                    log(f"{child.name} log tail:\n{child.log_tail()}")
            raise
        finally:
            for child in (*gateways.values(), upstream):
                child.stop()
    summary = summarise(results["rounds"])
    summary["loadavg_1m_before_after"] = [round(load_before[0], 2), round(os.getloadavg()[0], 2)]
    print_report(summary, args)
    out = {
        "meta": {
            "timestamp": time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(started)),
            "python": platform.python_version(),
            "cpus": len(os.sched_getaffinity(0)),
            "args": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
        },
        "summary": summary,
        **results,
        "elapsed_seconds": round(time.time() - started, 1),
    }
    args.out_dir.mkdir(parents=True, exist_ok=True)
    path = args.out_dir / f"workers-{time.strftime('%Y%m%d-%H%M%S', time.localtime(started))}.json"
    path.write_text(json.dumps(out, indent=2) + "\n")
    print(f"\nJSON: {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
