"""Added latency of the content policy set of issue 11 (`strict`: injection block, PII
redact on the six listed entities plus one custom regex, secrets block, fail_closed) per
1 KB prompt, side by side with a vanilla presidio `AnalyzerEngine().analyze(text,
language="en")` (blank spaCy pipeline, every default recognizer) on the same texts.

(1) The request stages exactly as the gateway builds them: the YAML below through the
    settings loader, `PolicyBook` over `detector_builders()` and `output_stages`, the
    content-policy thread pool (2 workers), the audit log and the metrics; the stages of a
    request on route `chat` (`PolicyBook.for_request`) applied as `Pipeline._prepare` does
    (a Transform re-encodes the body, a Deny ends the loop: time until the verdict). The
    request: a short system message and a 1 KB user prompt, decoded beforehand. Prompts
    (`--mix`): benign (router-intent requests, PII hard negatives), tricky (one hard
    negative of the injection set among them), PII (three fixture sentences, every third
    an `EMP-123456`), secret and injection (one sample each); every pass shuffled.
(2) Each detector's own call on the same user prompts: vanilla presidio, our
    `PiiDetector.find`, `InjectionDetector.score(text, "user")`, `SecretDetector.find`.
(3) End to end (unless `--no-e2e`): the app in process (httpx ASGI transport, fake echo
    backend), the same bodies on route `chat` (policy) and `open` (none), interleaved. The
    `chat` figure also pays the response-side redaction of the echoed prompt.

Warm-up: one untimed pass of everything, then the GC tuned as a started gateway tunes it
(`server.gc_tuning`). (1) also reports the process CPU time per request, which a busy
machine does not inflate as it does the wall time. PASS/MISS: p99 of (1) <= 2 ms. JSON goes to
bench/results/policy_set-<timestamp>.json (git-ignored).

    .venv/bin/python bench/policy_set.py [--reps N] [--no-e2e]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import random
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

# Before presidio imports tldextract, whose module-level extractor reads this once.
os.environ.setdefault("TLDEXTRACT_PUBLIC_SUFFIX_LIST_URLS", "")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import httpx
from _policy_prompts import SIZE, make_prompts
from presidio_analyzer import AnalyzerEngine

from gateway.api.decoding import decode_request
from gateway.context import RequestContext
from gateway.observability.metrics import GatewayMetrics
from gateway.pipeline.parsed import ParsedRequest
from gateway.pipeline.policy_book import DetectorFactory, PolicyBook, pii_config
from gateway.pipeline.policy_registry import detector_builders, output_stages
from gateway.protocol.lossless import reencode
from gateway.runtime import tune_gc
from gateway.settings import load_settings
from policies.audit import AuditLog
from policies.base import Deny, Transform
from policies.pii import blank_nlp_engine

ROOT = Path(__file__).resolve().parent.parent
TARGET_P99_MS = 2.0
CHAT, JSON = "/v1/chat/completions", {"content-type": "application/json"}
VANILLA = "vanilla presidio AnalyzerEngine.analyze"
SYSTEM = "You are a helpful assistant for the support team. Answer briefly."
POLICY_YAML = r"""
server: {access_log: false}
audit: {destination: AUDIT}
backends: {fake: {type: fake}}
models:
  - {id: chat, backend: fake, upstream_model: echo, policy: strict}
  - {id: open, backend: fake, upstream_model: echo}
policies:
  strict:
    injection: {action: block, threshold: 0.5, channels: [user, tool, document]}
    pii: {input: redact, output: redact,
          entities: [EMAIL_ADDRESS, PHONE_NUMBER, CREDIT_CARD, IBAN_CODE, IP_ADDRESS, US_SSN],
          custom: [{name: EMPLOYEE_ID, regex: "EMP-\\d{6}"}]}
    secrets: {input: block, output: redact}
    on_error: fail_closed
"""


class NullWriter:
    """The audit writer: lines are encoded (the request path's cost), then dropped."""

    lines = 0

    def write(self, line: bytes) -> None:
        self.lines += 1


def body(text: str, model: str = "chat") -> bytes:
    messages = [{"role": "system", "content": SYSTEM}, {"role": "user", "content": text}]
    return json.dumps({"model": model, "messages": messages, "temperature": 0.2}).encode()


def summary(times: Sequence[float]) -> dict[str, float | int]:
    """p50/p99 (nearest rank) and mean, in ms."""
    ordered = sorted(times)
    n = len(ordered)

    def rank(q: float) -> float:
        return ordered[min(n - 1, max(0, int(q * n + 0.999999) - 1))] * 1e3

    return {"n": n, "p50": rank(0.5), "p99": rank(0.99), "mean": sum(ordered) / n * 1e3}


async def apply(book: PolicyBook, parsed: ParsedRequest, times: dict[str, list[float]]) -> str:
    """What `Pipeline._prepare` does with the policy stages after routing to `chat`."""
    ctx = _ctx("chat")
    request = parsed.request
    outcome = "allow"
    for stage in book.for_request(ctx).request:
        started = time.perf_counter()
        verdict = await stage.check(request, ctx)
        if isinstance(verdict, Transform):
            fields = reencode(parsed.fields, verdict.request)
            request = verdict.request
            parsed = ParsedRequest(parsed.endpoint, request, fields)
            outcome = "redact"
        times[stage.name].append(time.perf_counter() - started)
        if isinstance(verdict, Deny):
            return f"block:{stage.name}"
    return outcome


async def run_stages(
    book: PolicyBook, prompts: list[tuple[str, str]], reps: int
) -> tuple[dict[str, list[float]], dict[str, list[float]], dict[str, Counter[str]]]:
    parsed = [(kind, decode_request("chat/completions", body(text))) for kind, text in prompts]
    for _kind, p in parsed:  # warm-up
        await apply(book, p, defaultdict(list))
    totals: dict[str, list[float]] = defaultdict(list)
    stages: dict[str, list[float]] = defaultdict(list)
    outcomes: dict[str, Counter[str]] = defaultdict(Counter)
    rng = random.Random(3)
    for _ in range(reps):
        order = list(parsed)
        rng.shuffle(order)
        for kind, p in order:
            started, cpu = time.perf_counter(), time.process_time()
            outcome = await apply(book, p, stages)
            elapsed = time.perf_counter() - started
            totals["cpu"].append(time.process_time() - cpu)
            totals["all"].append(elapsed)
            totals[kind].append(elapsed)
            outcomes[kind][outcome] += 1
    return totals, stages, outcomes


def run_detectors(
    calls: dict[str, Callable[[str], object]], texts: list[str], reps: int
) -> dict[str, list[float]]:
    """Each call on each text, the order of the calls rotated per text."""
    names = list(calls)
    for text in texts:  # warm-up
        for name in names:
            calls[name](text)
    times: dict[str, list[float]] = defaultdict(list)
    for rep in range(reps):
        for i, text in enumerate(texts):
            shift = (i + rep) % len(names)
            for name in names[shift:] + names[:shift]:
                started = time.perf_counter()
                calls[name](text)
                times[name].append(time.perf_counter() - started)
    return times


async def run_e2e(settings: Any, prompts: list[tuple[str, str]], reps: int) -> dict[str, Any]:
    from gateway.app import create_app
    from gateway.container import Container

    container = Container(settings, env={})
    await container.start()
    times: dict[str, list[float]] = defaultdict(list)
    statuses: dict[str, Counter[int]] = defaultdict(Counter)
    try:
        transport = httpx.ASGITransport(app=create_app(container.settings, container))
        async with httpx.AsyncClient(transport=transport, base_url="http://gateway") as http:

            async def post(model: str, text: str) -> tuple[int, float]:
                started = time.perf_counter()
                reply = await http.post(CHAT, content=body(text, model), headers=JSON)
                return reply.status_code, time.perf_counter() - started

            for _kind, text in prompts:  # warm-up
                for model in ("chat", "open"):
                    await post(model, text)
            for rep in range(reps):
                for i, (_kind, text) in enumerate(prompts):
                    order = ("chat", "open") if (i + rep) % 2 else ("open", "chat")
                    for model in order:
                        status, elapsed = await post(model, text)
                        times[model].append(elapsed)
                        statuses[model][status] += 1
    finally:
        await container.aclose()
    out: dict[str, Any] = {m: summary(t) for m, t in times.items()}
    out["added"] = {q: out["chat"][q] - out["open"][q] for q in ("p50", "p99", "mean")}
    out["statuses"] = {m: dict(c) for m, c in statuses.items()}
    return out


def git(*cmd: str) -> str:
    done = subprocess.run(["git", *cmd], cwd=ROOT, capture_output=True, text=True, check=False)
    return done.stdout.strip()


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def print_table(rows: list[tuple[str, dict[str, Any]]]) -> None:
    print(f"\n{'per 1 KB prompt, ms':52} {'n':>6} {'p50':>8} {'p99':>8} {'mean':>8}")
    for label, s in rows:
        if not s:
            print(label)
            continue
        print(f"{label:52} {s['n']:>6} {s['p50']:8.3f} {s['p99']:8.3f} {s['mean']:8.3f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--reps", type=int, default=3, help="timed passes over the prompts")
    parser.add_argument(
        "--mix",
        default="benign=200,tricky=25,pii=150,secret=25,injection=25",
        help="prompts of each kind",
    )
    parser.add_argument("--e2e-reps", type=int, default=1)
    parser.add_argument("--no-e2e", action="store_true")
    parser.add_argument("--out-dir", type=Path, default=ROOT / "bench" / "results")
    args = parser.parse_args()
    started = time.time()
    counts = {k: int(v) for k, v in (p.split("=") for p in args.mix.split(","))}
    prompts = make_prompts(counts)
    texts = [text for _kind, text in prompts]

    with tempfile.TemporaryDirectory(prefix="policy-set-bench-") as tmp:
        path = Path(tmp) / "policy.yaml"
        path.write_text(POLICY_YAML.replace("AUDIT", str(Path(tmp) / "audit.jsonl")))
        settings = load_settings(path, env={})
        policy = settings.policies["strict"]
        detectors = DetectorFactory(detector_builders())
        writer = NullWriter()
        pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="content-policy")
        book = PolicyBook(
            settings, detectors, AuditLog(writer, GatewayMetrics()), pool, output_stages
        )
        built = [s.name for s in book.for_request(_ctx("chat")).request]
        assert built == ["injection", "secrets", "pii"], built
        assert not book.for_request(_ctx("open")).request
        log(
            f"stages on route `chat`: {built}; {counts} prompts of {SIZE} chars, {args.reps} passes"
        )
        tune_gc()  # what the gateway does once started (`server.gc_tuning`, on by default)
        totals, stage_times, outcomes = asyncio.run(run_stages(book, prompts, args.reps))
        pool.shutdown()

        vanilla_engine = AnalyzerEngine(nlp_engine=blank_nlp_engine(), supported_languages=["en"])
        pii = detectors.get("pii", pii_config(policy))
        injection = detectors.get("injection")
        secrets = detectors.get("secrets")
        calls: dict[str, Callable[[str], object]] = {
            VANILLA: lambda t: vanilla_engine.analyze(t, language="en"),
            "our PiiDetector.find": pii.find,
            "our InjectionDetector.score (user)": lambda t: injection.score(t, "user"),
            "our SecretDetector.find": secrets.find,
        }
        log("detectors alone ...")
        alone = run_detectors(calls, texts, args.reps)
        e2e = None
        if not args.no_e2e:
            log("end to end through the app ...")
            e2e = asyncio.run(run_e2e(settings, prompts, args.e2e_reps))

    results: dict[str, Any] = {
        "policy_set": {k: summary(v) for k, v in totals.items()},
        "stages": {k: summary(v) for k, v in stage_times.items()},
        "outcomes": {k: dict(v) for k, v in outcomes.items()},
        "detectors": {k: summary(v) for k, v in alone.items()},
        "e2e": e2e,
        "audit_lines": writer.lines,
    }
    p99 = results["policy_set"]["all"]["p99"]
    results["goal"] = {"p99_ms": p99, "target_ms": TARGET_P99_MS, "pass": p99 <= TARGET_P99_MS}

    rows: list[tuple[str, dict[str, Any]]] = [("(1) policy set `strict`, request stages", {})]
    rows += [
        (f"    {k} prompts", results["policy_set"][k]) for k in ("all", *counts) if k in totals
    ]
    rows += [("    all prompts, process CPU time", results["policy_set"]["cpu"])]
    rows += [(f"    stage `{k}`.check (when it ran)", v) for k, v in results["stages"].items()]
    rows += [("(2) the same user prompts, one call each", {})]
    rows += [(f"    {k}", v) for k, v in results["detectors"].items()]
    if e2e is not None:
        rows += [("(3) end to end, in-process ASGI, fake echo backend", {})]
        rows += [("    route `chat` (strict, both ways)", e2e["chat"])]
        rows += [("    route `open` (no policy)", e2e["open"])]
    print_table(rows)
    if e2e is not None:
        added = e2e["added"]
        print(
            f"    added by the policy end to end: +p50 {added['p50']:.3f}  +p99 {added['p99']:.3f}"
            f"  +mean {added['mean']:.3f}   statuses {e2e['statuses']}"
        )
    print("\noutcomes per prompt kind:", {k: dict(v) for k, v in outcomes.items()})
    ours, vanilla = results["policy_set"]["all"]["p50"], results["detectors"][VANILLA]["p50"]
    ratio = vanilla / ours
    print(f"p50: policy set {ours:.3f} ms, vanilla presidio {vanilla:.3f} ms ({ratio:.1f}x)")
    verdict = "PASS" if results["goal"]["pass"] else "MISS"
    print(
        f"{verdict}: policy set p99 {p99:.3f} ms per 1 KB prompt (target <= {TARGET_P99_MS:g} ms)"
    )

    meta = {
        "timestamp": time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(started)),
        "commit": git("rev-parse", "--short", "HEAD") or "unknown",
        "dirty": bool(git("status", "--porcelain", "--untracked-files=no")),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpus": len(os.sched_getaffinity(0)),
        "args": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
        "policy_yaml": POLICY_YAML,
    }
    results = {"meta": meta, **results, "elapsed_seconds": round(time.time() - started, 1)}
    args.out_dir.mkdir(parents=True, exist_ok=True)
    out = args.out_dir / time.strftime("policy_set-%Y%m%d-%H%M%S.json", time.localtime(started))
    out.write_text(json.dumps(results, indent=2, default=str) + "\n")
    print(f"\nJSON: {out}")


def _ctx(route: str) -> RequestContext:
    ctx = RequestContext(request_id="bench", endpoint="chat/completions")
    ctx.model = ctx.route_id = route
    return ctx


if __name__ == "__main__":
    main()
