"""Exact response cache: hit latency and hit throughput, from memory and from Redis, beside
the gateway's miss path through a fast upstream.

    .venv/bin/python bench/cache.py                           # full run, ~4 minutes
    .venv/bin/python bench/cache.py --duration-scale 0.3      # smoke run
    .venv/bin/python bench/cache.py [--rounds N] [--rates 100,300] [--profile always]

Targets, measured interleaved round by round so machine noise hits all alike: `direct` (the
fast upstream), `floor-aiohttp` (bare pass-through), `gateway` (no cache: the miss-path
floor), `gateway-cache-memory` and `gateway-cache-redis` (the same gateway, its route with
`cache: {mode: exact}`, the store in memory or in a throwaway Redis on a free port). Every
target gets the same temperature-0 request; the cache targets' entry is stored before
measuring, so each measured request is a hit: `x-gateway-cache` is counted on every response,
non-hits are reported, and the run stops if most are not hits (or, for Redis, if the hits do
not read Redis). Phases: open-loop latency per `--rates` (p50/p99; the cache targets' added
p50/p99 over `gateway`, negative when a hit beats a miss) and closed-loop max throughput at
`--concurrency` (req/s, CPU ms/req, ratio to floor-aiohttp). Goals (issue 12): memory hit
added p99 <= 1 ms, Redis hit added p99 <= 2 ms, memory hit throughput >= floor-aiohttp (the
Redis ratio is reported too). A missed goal py-spies that target (`--profile auto`). JSON goes
to bench/results/cache-<timestamp>.json.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import signal
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import uvloop
from _cache_targets import CACHE_TARGETS, install, prime_and_check, start_children, tally
from _load import Samples, closed_loop, make_session, open_loop, percentile, warm_up
from _procs import Child, group_cpu_seconds, group_rss_mb, self_cpu_seconds
from _profile import print_summary
from _report import _table, summarise_latency, summarise_throughput
from _run_report import loadavg, print_goals, print_throughput, run_meta, write_results
from _targets import BENCH, Target
from overhead import _raise_interrupt, git_info, log, profile_gateway, rotated

GOALS = {
    "memory_hit_added_p99_ms_over_gateway": 1.0,
    "redis_hit_added_p99_ms_over_gateway": 2.0,
    "memory_hit_throughput_vs_aiohttp_floor": 1.0,
}
# Reported beside the goals, not one of them.
INFO = {"redis_hit_throughput_vs_aiohttp_floor": 1.0}
# A cache target's phase with more non-hits than this share is not a hit measurement.
MAX_NON_HIT_SHARE = 0.5


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--duration-scale", type=float, default=1.0, help="multiply every duration")
    p.add_argument("--rounds", type=int, default=3, help="interleaved rounds per phase")
    p.add_argument("--rates", default="100,300", help="open-loop rates, req/s")
    p.add_argument("--concurrency", type=int, default=64, help="closed-loop workers")
    p.add_argument("--latency-seconds", type=float, default=4.0, help="per target, round, rate")
    p.add_argument("--throughput-seconds", type=float, default=4.0, help="per target and round")
    p.add_argument(
        "--profile",
        choices=("auto", "always", "never"),
        default="auto",
        help="py-spy the cache gateways under max load (auto: those that missed a goal)",
    )
    p.add_argument("--profile-seconds", type=int, default=8)
    p.add_argument("--out-dir", type=Path, default=BENCH / "results")
    args = p.parse_args(argv)
    args.rates = [float(r) for r in args.rates.split(",") if r.strip()]
    if args.rounds < 1 or args.concurrency < 1 or not args.rates:
        p.error("--rounds, --concurrency and --rates must be positive")
    return args


def check_hits(name: str, phase: str, statuses: Counter[str]) -> int | None:
    """Non-hits of a cache target in one phase (None for the others); stop the run if most
    of its responses were not hits."""
    if name not in CACHE_TARGETS:
        return None
    total = sum(statuses.values())
    non_hits = total - statuses["hit"]
    if total == 0 or non_hits > MAX_NON_HIT_SHARE * total:
        raise RuntimeError(f"{name} {phase}: {non_hits} of {total} not hits: {dict(statuses)}")
    return non_hits


async def run_phases(args: argparse.Namespace, targets: dict[str, Target]) -> dict[str, Any]:
    scale = args.duration_scale
    upstream = targets["direct"].child
    names = tuple(targets)
    sessions = {name: make_session(max(args.concurrency, 256)) for name in names}
    results: dict[str, Any] = {"latency": {}, "throughput": {}, "cache_statuses": {}}
    statuses: dict[str, dict[str, Counter[str]]] = {}
    try:
        results["hit_check"] = {
            name: await prime_and_check(sessions[name], targets[name]) for name in CACHE_TARGETS
        }
        for name in names:
            warm = await warm_up(sessions[name], targets[name].base)
            if warm.errors:
                raise RuntimeError(f"{name}: warm-up errors {warm.error_examples}")
        tally()
        log("warm-up done; both cache gateways hit (the Redis one reads Redis)")

        # 1. Latency at fixed rates, open loop, interleaved.
        for rate in args.rates:
            phase = f"latency@{rate:g}"
            merged = {name: Samples() for name in names}
            seen: dict[str, Counter[str]] = {name: Counter() for name in names}
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
                    seen[name] += tally()
                    p99_rounds[name].append(round(1000 * percentile(s.latencies, 99), 2))
                    await asyncio.sleep(0.3)
                log(f"latency @ {rate:g} req/s: round {rnd + 1}/{args.rounds} done")
            per = summarise_latency(merged, rate, gen_util, p99_rounds)
            for name in names:
                per[name]["non_hits"] = check_hits(name, phase, seen[name])
            results["latency"][f"{rate:g}"] = per
            statuses[phase] = seen

        # 2. Max throughput, closed loop, interleaved; CPU per request of every process.
        tput = {name: Samples() for name in names}
        seen = {name: Counter() for name in names}
        cpu: dict[str, dict[str, Any]] = {
            name: {"proxy": 0.0, "upstream": 0.0, "gen": 0.0, "wall": 0.0} for name in names
        }
        for rnd in range(args.rounds):
            for name in rotated(names, rnd):
                child, redis = targets[name].child, targets[name].redis
                r0 = group_cpu_seconds(redis.pid) if redis is not None else 0.0
                p0, u0 = group_cpu_seconds(child.pid), group_cpu_seconds(upstream.pid)
                g0 = self_cpu_seconds()
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
                seen[name] += tally()
                cpu[name].setdefault("rounds", []).append(round(s.completed / s.wall))
                await asyncio.sleep(0.3)
            log(f"throughput c={args.concurrency}: round {rnd + 1}/{args.rounds} done")
        results["throughput"] = summarise_throughput(tput, cpu)
        for name in names:
            results["throughput"][name]["non_hits"] = check_hits(name, "throughput", seen[name])
        statuses["throughput"] = seen
        results["cache_statuses"] = {
            phase: {name: dict(c) for name, c in per.items()} for phase, per in statuses.items()
        }
        results["rss_mb"] = {n: round(group_rss_mb(t.child.pid), 1) for n, t in targets.items()}
        results["goals"] = evaluate(results)

        missed = {g["target_name"] for g in results["goals"] if not g["pass"] and "info" not in g}
        profiled = [
            name
            for name in CACHE_TARGETS
            if args.profile == "always" or (args.profile == "auto" and name in missed)
        ]
        for name in profiled:
            results.setdefault("profiles", {})[name] = await profile_gateway(
                args, targets[name], sessions[name]
            )
            results["profiles"][name]["cache_statuses"] = dict(tally())
    finally:
        for session in sessions.values():
            await session.close()
    return results


def _vs(a: float, b: float) -> float:
    return round(a - b, 3)


def evaluate(results: dict[str, Any]) -> list[dict[str, Any]]:
    goals = []
    for rate, per in results["latency"].items():
        gw = per["gateway"]
        for kind in ("memory", "redis"):
            name = f"gateway-cache-{kind}"
            for q in ("p50", "p99"):
                per[name][f"added_{q}_ms_over_gateway"] = _vs(per[name][f"{q}_ms"], gw[f"{q}_ms"])
            key = f"{kind}_hit_added_p99_ms_over_gateway"
            goals.append(_goal(key, name, per[name]["added_p99_ms_over_gateway"], rate=rate))
    tput = results["throughput"]
    floor = tput["floor-aiohttp"]["rps"]
    for kind in ("memory", "redis"):
        name = f"gateway-cache-{kind}"
        ratio = round(tput[name]["rps"] / floor, 3) if floor else math.nan
        tput[name]["vs_floor_aiohttp"] = ratio
        tput[name]["vs_gateway"] = round(tput[name]["rps"] / max(tput["gateway"]["rps"], 1e-9), 3)
        goals.append(_goal(f"{kind}_hit_throughput_vs_aiohttp_floor", name, ratio, bigger=True))
    return goals


def _goal(
    key: str, name: str, value: float, *, rate: str | None = None, bigger: bool = False
) -> dict[str, Any]:
    info = key in INFO
    limit = INFO[key] if info else GOALS[key]
    ok = not math.isnan(value) and (value >= limit if bigger else value <= limit)
    goal = {
        "goal": key + (f" @ {rate} req/s" if rate else ""),
        "target_name": name,
        "target": (">= " if bigger else "<= ") + f"{limit:g}",
        "value": value,
        "pass": bool(ok),
    }
    if info:
        goal["info"] = "reported, not an acceptance goal"
    return goal


_LAT = [
    ("requests", "ok"),
    ("errors", "err"),
    ("non_hits", "non-hit"),
    ("p50_ms", "p50 ms"),
    ("p99_ms", "p99 ms"),
    ("max_ms", "max ms"),
    ("added_p50_ms", "+p50 direct"),
    ("added_p99_ms", "+p99 direct"),
    ("added_p50_ms_over_gateway", "+p50 gateway"),
    ("added_p99_ms_over_gateway", "+p99 gateway"),
    ("lag_p99_ms", "lag p99"),
    ("generator_cpu_util", "gen cpu"),
]
_TPUT = [
    ("rps", "req/s"),
    ("errors", "err"),
    ("non_hits", "non-hit"),
    ("p50_ms", "p50 ms"),
    ("p99_ms", "p99 ms"),
    ("proxy_cpu_ms_per_req", "cpu ms/req"),
    ("proxy_cpu_util", "cpu util"),
    ("upstream_cpu_ms_per_req", "up ms/req"),
    ("redis_cpu_ms_per_req", "redis ms/req"),
    ("generator_cpu_util", "gen util"),
    ("vs_floor_aiohttp", "/ floor-aio"),
    ("vs_gateway", "/ gateway"),
]


def print_report(r: dict[str, Any]) -> None:
    meta, args = r["meta"], r["meta"]["args"]
    rounds, scale = args["rounds"], args["duration_scale"]
    dirty = " (dirty tree)" if meta.get("dirty") else ""
    print(f"\n=== exact response cache benchmark  commit {meta['commit']}{dirty}")
    print(
        f"    python {meta['python']}  cpus {meta['cpus']}  load avg {meta['loadavg']} -> "
        f"{r['loadavg_end']}  elapsed {r['elapsed_seconds']} s  scale {scale:g}  rounds {rounds}"
    )
    warnings: list[str] = []
    for rate, per in r["latency"].items():
        secs = args["latency_seconds"] * scale
        print(f"\n-- open-loop latency @ {rate} req/s ({rounds} rounds x {secs:g} s per target)")
        rows = []
        for name, s in per.items():
            per_round = "/".join(f"{v:.2f}" for v in s["p99_ms_per_round"])
            rows.append([name, *(s.get(k) for k, _ in _LAT), per_round])
            if s["generator_fell_behind"]:
                warnings.append(f"generator fell behind @ {rate} req/s on {name}")
            if s["errors"]:
                warnings.append(f"{name} @ {rate}: {s['errors']} errors {s['error_examples']}")
        _table(["target", *(h for _, h in _LAT), "p99 ms per round"], rows)
    tput, conc = r["throughput"], args["concurrency"]
    secs = args["throughput_seconds"] * scale
    print(f"\n-- max throughput, closed loop c={conc} ({rounds} rounds x {secs:g} s per target)")
    print_throughput(tput, _TPUT, warnings)
    print("  (cpu = the target's own process; `up ms/req` ~0 on a cache target: no upstream call)")
    for name in CACHE_TARGETS:
        pairs = zip(
            tput[name]["rps_per_round"], tput["floor-aiohttp"]["rps_per_round"], strict=True
        )
        per_round = "/".join(f"{c / f:.2f}" if f else "nan" for c, f in pairs)
        print(f"  {name} / floor-aiohttp per round: {per_round}")
    for phase, per in r["cache_statuses"].items():
        line = ", ".join(f"{n} {dict(sorted(c.items()))}" for n, c in per.items())
        print(f"  x-gateway-cache {phase}: {line}")
        for name in CACHE_TARGETS:
            non_hits = sum(v for k, v in per[name].items() if k != "hit")
            if non_hits:
                warnings.append(f"{name} {phase}: {non_hits} responses were not hits")
    print("\n-- RSS after the run (MB): " + ", ".join(f"{k} {v}" for k, v in r["rss_mb"].items()))
    print_goals("issue 12: exact cache hits", r["goals"], warnings)
    r["warnings"] = warnings


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, _raise_interrupt)
    install()
    started = time.time()
    meta = {
        **run_meta(args, started, git_info()),
        "goals": GOALS,
    }
    with tempfile.TemporaryDirectory(prefix="gateway-bench-cache-") as tmp:
        targets: dict[str, Target] = {}
        aux: list[Child] = []  # the Redis, stopped after the gateways
        try:
            log("starting redis, upstream, floor and gateways ...")
            start_children(Path(tmp), targets, aux)
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
    results = {
        "meta": meta,
        **results,
        "loadavg_end": loadavg(),
        "elapsed_seconds": round(time.time() - started, 1),
    }
    print_report(results)
    for name, profile in results.get("profiles", {}).items():
        if "error" not in profile:
            print(f"\n=== profile: {name} (hits: {profile['cache_statuses']})")
            print_summary(profile)
    write_results(args.out_dir, "cache", started, results)
    return 0


if __name__ == "__main__":
    try:
        raise SystemExit(main())
    except KeyboardInterrupt:
        log("interrupted; child processes stopped")
        raise SystemExit(130) from None
