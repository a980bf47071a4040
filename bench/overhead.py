"""The gateway's added overhead against a fast fake upstream, with two bare pass-through
proxies (httpx and aiohttp clients under uvicorn) as floors.

    .venv/bin/python bench/overhead.py                      # full run, ~4 minutes
    .venv/bin/python bench/overhead.py --duration-scale 0.2 # smoke run
    .venv/bin/python bench/overhead.py --baseline 0e8111c   # also an older commit's gateway
    .venv/bin/python bench/overhead.py --limits memory,redis # also auth + rpm/tpm limits

Targets, measured interleaved round by round so machine noise hits all alike:
`direct` (the upstream itself), `gateway`, `floor-httpx`, `floor-aiohttp`, and with
`--baseline REV` `gateway-base` (that commit's gateway, from a temporary git worktree, so a
change is compared with what it changed in the same run), and with `--limits memory,redis`
`gateway-limits-memory` / `gateway-limits-redis` (auth required, one key with rpm/tpm limits,
counted in memory or in a throwaway Redis). Prints a table,
PASS/MISS per goal, and writes JSON to bench/results/overhead-<timestamp>.json.
See bench/README.md for how to read it.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import uvloop
from _baseline import baseline_checkout, print_versus_baseline, remove_checkout, versus_baseline
from _limits import (
    auth_headers,
    check_counting,
    parse_kinds,
)
from _limits import target_name as limits_target
from _load import (
    Samples,
    closed_loop,
    make_session,
    open_loop,
    percentile,
    stream_ttfb,
    warm_up,
)
from _procs import Child, group_cpu_seconds, group_rss_mb, self_cpu_seconds
from _profile import print_summary, record, summarise
from _report import (
    GOALS,
    evaluate,
    print_report,
    summarise_latency,
    summarise_throughput,
    summarise_ttfb,
)
from _report_limits import LIMITS_GOALS, evaluate_limits, print_limits
from _targets import BENCH, ROOT, Target, start_children


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--duration-scale", type=float, default=1.0, help="multiply every duration")
    p.add_argument("--rounds", type=int, default=3, help="interleaved rounds per phase")
    p.add_argument("--rates", default="100,300", help="open-loop rates, req/s")
    p.add_argument("--concurrency", type=int, default=64, help="closed-loop workers")
    p.add_argument("--latency-seconds", type=float, default=4.0, help="per target, round, rate")
    p.add_argument("--throughput-seconds", type=float, default=4.0, help="per target and round")
    p.add_argument("--ttfb-seconds", type=float, default=3.0, help="per target and round")
    p.add_argument(
        "--profile",
        choices=("auto", "always", "never"),
        default="auto",
        help="py-spy the gateway under max load (auto: only if a goal is missed)",
    )
    p.add_argument("--profile-seconds", type=int, default=8)
    p.add_argument("--out-dir", type=Path, default=BENCH / "results")
    p.add_argument(
        "--baseline", metavar="REV", help="also measure this commit's gateway (gateway-base)"
    )
    p.add_argument(
        "--weighted",
        action="store_true",
        help="route through a two-target weighted route (the baseline keeps one target)",
    )
    p.add_argument(
        "--limits",
        metavar="KINDS",
        help="also gateways with auth + rpm/tpm limits counted in: memory,redis",
    )
    args = p.parse_args(argv)
    try:
        args.limits = parse_kinds(args.limits)
    except ValueError as exc:
        p.error(str(exc))
    args.rates = [float(r) for r in args.rates.split(",") if r.strip()]
    if args.rounds < 1 or args.concurrency < 1 or not args.rates:
        p.error("--rounds, --concurrency and --rates must be positive")
    return args


def rotated(items: tuple[str, ...], by: int) -> list[str]:
    by %= len(items)
    return list(items[by:] + items[:by])


async def run_phases(args: argparse.Namespace, targets: dict[str, Target]) -> dict[str, Any]:
    scale = args.duration_scale
    upstream = targets["direct"].child
    names = tuple(targets)
    # With --limits every target gets the key, so the header costs the same everywhere.
    headers = auth_headers() if args.limits else None
    sessions = {name: make_session(max(args.concurrency, 256), headers) for name in names}
    results: dict[str, Any] = {"latency": {}, "throughput": {}, "ttfb": {}, "warnings": []}
    try:
        for name in names:
            warm = await warm_up(sessions[name], targets[name].base)
            if warm.errors:
                raise RuntimeError(f"{name}: warm-up errors {warm.error_examples}")
        limited = [limits_target(kind) for kind in args.limits]
        results["limits_check"] = {
            name: await check_counting(sessions[name], targets[name].base, targets[name].redis_url)
            for name in limited
        }
        log("warm-up done" + (f"; {', '.join(limited)} count every request" if limited else ""))

        # 1. Added latency at fixed rates, open loop, interleaved.
        for rate in args.rates:
            merged = {name: Samples() for name in names}
            gen_util: dict[str, float] = dict.fromkeys(names, 0.0)
            p99_rounds: dict[str, list[float]] = {name: [] for name in names}
            for rnd in range(args.rounds):
                for name in rotated(names, rnd):
                    cpu0, t0 = self_cpu_seconds(), time.perf_counter()
                    s = await open_loop(
                        sessions[name], targets[name].url, rate, args.latency_seconds * scale
                    )
                    util = (self_cpu_seconds() - cpu0) / (time.perf_counter() - t0)
                    gen_util[name] = max(gen_util[name], util)
                    merged[name].extend(s)
                    p99_rounds[name].append(round(1000 * percentile(s.latencies, 99), 2))
                    await asyncio.sleep(0.3)
                log(f"latency @ {rate:g} req/s: round {rnd + 1}/{args.rounds} done")
            results["latency"][f"{rate:g}"] = summarise_latency(merged, rate, gen_util, p99_rounds)

        # 2. Max throughput, closed loop, interleaved; CPU per request of every process.
        tput = {name: Samples() for name in names}
        cpu: dict[str, dict[str, Any]] = {
            name: {"proxy": 0.0, "upstream": 0.0, "gen": 0.0, "wall": 0.0} for name in names
        }
        for rnd in range(args.rounds):
            for name in rotated(names, rnd):
                child, redis = targets[name].child, targets[name].redis
                r0 = group_cpu_seconds(redis.pid) if redis is not None else 0.0
                p0, u0, g0 = (
                    group_cpu_seconds(child.pid),
                    group_cpu_seconds(upstream.pid),
                    self_cpu_seconds(),
                )
                s = await closed_loop(
                    sessions[name],
                    targets[name].url,
                    args.concurrency,
                    args.throughput_seconds * scale,
                )
                cpu[name]["proxy"] += group_cpu_seconds(child.pid) - p0
                cpu[name]["upstream"] += group_cpu_seconds(upstream.pid) - u0
                cpu[name]["gen"] += self_cpu_seconds() - g0
                cpu[name]["wall"] += s.wall
                if redis is not None:
                    cpu[name]["redis"] = cpu[name].get("redis", 0.0) + (
                        group_cpu_seconds(redis.pid) - r0
                    )
                tput[name].extend(s)
                cpu[name].setdefault("rounds", []).append(round(s.completed / s.wall))
                await asyncio.sleep(0.3)
            log(f"throughput c={args.concurrency}: round {rnd + 1}/{args.rounds} done")
        results["throughput"] = summarise_throughput(tput, cpu)

        # 3. Streaming time to first byte, sequential, interleaved.
        ttfb = {name: Samples() for name in names}
        for rnd in range(args.rounds):
            for name in rotated(names, rnd):
                s = await stream_ttfb(sessions[name], targets[name].url, args.ttfb_seconds * scale)
                ttfb[name].extend(s)
            log(f"streaming TTFB: round {rnd + 1}/{args.rounds} done")
        results["ttfb"] = summarise_ttfb(ttfb)

        results["rss_mb"] = {
            name: round(group_rss_mb(t.child.pid), 1) for name, t in targets.items()
        }
        results["goals"] = evaluate(results, args.rates)
        if limited:
            results["limits_goals"] = evaluate_limits(results, args.rates, limited)

        # Profile each gateway that missed one of its goals (or every one with `always`).
        goals_of = {"gateway": results["goals"]}
        for g in results.get("limits_goals", []):
            goals_of.setdefault(g["target_name"], []).append(g)
        profiled = [
            name
            for name, goals in goals_of.items()
            if args.profile == "always"
            or (args.profile == "auto" and not all(g["pass"] for g in goals))
        ]
        for name in profiled:
            results.setdefault("profiles", {})[name] = await profile_gateway(
                args, targets[name], sessions[name]
            )
        if "gateway" in results.get("profiles", {}):
            results["profile"] = results["profiles"]["gateway"]
    finally:
        for session in sessions.values():
            await session.close()
    return results


async def profile_gateway(
    args: argparse.Namespace, gateway: Target, session: Any
) -> dict[str, Any]:
    seconds = max(2, round(args.profile_seconds * args.duration_scale))
    raw = Path(tempfile.gettempdir()) / f"{gateway.name}-profile-{int(time.time())}.txt"
    log(f"profiling {gateway.name} (pid {gateway.child.pid}) with py-spy for {seconds}s ...")
    load = asyncio.create_task(closed_loop(session, gateway.url, args.concurrency, seconds + 2.0))
    await asyncio.sleep(1.0)
    code, output = await record(gateway.child.pid, seconds, raw)
    await load
    if code != 0 or not raw.exists():
        log(f"py-spy failed ({code}): {output}")
        return {"error": f"py-spy exit {code}: {output}"}
    summary = summarise(raw)
    summary["raw_file"] = str(raw)
    return summary


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def git_info() -> dict[str, Any]:
    def git(*cmd: str) -> str:
        try:
            done = subprocess.run(
                ["git", *cmd], cwd=ROOT, capture_output=True, text=True, timeout=10, check=False
            )
        except (OSError, subprocess.TimeoutExpired):
            return ""
        return done.stdout.strip()

    return {
        "commit": git("rev-parse", "--short", "HEAD") or "unknown",
        "dirty": bool(git("status", "--porcelain", "--untracked-files=no")),
    }


def _raise_interrupt(signum: int, _frame: object) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    # SIGTERM unwinds like Ctrl-C, so the `finally` below still stops every child.
    signal.signal(signal.SIGTERM, _raise_interrupt)
    started = time.time()
    meta = {
        "timestamp": time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(started)),
        **git_info(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpus": len(os.sched_getaffinity(0)),
        "args": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
        "goals": GOALS,
        **({"limits_goals": LIMITS_GOALS} if args.limits else {}),
    }
    with tempfile.TemporaryDirectory(prefix="gateway-bench-") as tmp:
        targets: dict[str, Target] = {}
        aux: list[Child] = []  # the Redis of `--limits redis`, stopped after the gateways
        try:
            log("starting upstream, gateway and floors ...")
            baseline = baseline_checkout(args.baseline, Path(tmp)) if args.baseline else None
            start_children(
                Path(tmp),
                targets,
                aux,
                baseline=baseline,
                weighted=args.weighted,
                limits=tuple(args.limits),
            )
            log("pids: " + ", ".join(f"{n}={t.child.pid}" for n, t in targets.items()))
            results = uvloop.run(run_phases(args, targets))
        except BaseException:
            for child in [*(t.child for t in targets.values()), *aux]:
                if not child.alive():
                    log(f"{child.name} log tail:\n{child.log_tail()}")
            raise
        finally:
            for child in [*reversed([t.child for t in targets.values()]), *aux]:
                child.stop()
            if args.baseline:
                remove_checkout(Path(tmp) / "baseline")
    results = {"meta": meta, **results, "elapsed_seconds": round(time.time() - started, 1)}
    print_report(results)
    if results.get("limits_check"):
        print_limits(results)
    if args.baseline:
        results["versus_baseline"] = versus_baseline(results, args.rates)
        print_versus_baseline(results["versus_baseline"], args.baseline)
    for name, profile in results.get("profiles", {}).items():
        if "error" not in profile:
            print(f"\n=== profile: {name}")
            print_summary(profile)
    args.out_dir.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S", time.localtime(started))
    out = args.out_dir / f"overhead-{stamp}.json"
    out.write_text(json.dumps(results, indent=2, default=str) + "\n")
    print(f"\nJSON: {out}")
    return 0


if __name__ == "__main__":
    try:
        raise SystemExit(main())
    except KeyboardInterrupt:
        log("interrupted; child processes stopped")
        raise SystemExit(130) from None
