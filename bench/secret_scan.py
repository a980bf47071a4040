"""Secrets detector: recall and false positives on the samples, and `find()` latency.

Recall: every secret of `tests/data/secrets_samples.jsonl` and of the test generators
(`--per-rule` random credentials per rule, embedded in prose, shell, JSON, logs, YAML) must
be reported with its span and entity; false positives: findings on the negative samples.
Latency: `find()` p50/p99 over `--reps` calls on ~1 KB prompts without a secret (plain
prose and code; a config-like text full of `token`/`key`/`password` words, which defeats
the pre-filter) and with one, and on 100 KB pathological inputs.

    .venv/bin/python bench/secret_scan.py [--reps 3000] [--per-rule 50]
"""

from __future__ import annotations

import argparse
import base64
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from policies.secrets import RULES, SecretDetector
from tests.unit.test_secrets import FALSE_SAMPLES, TRUE_SAMPLES, generated

PROSE = (
    "I'm migrating our billing service from a cron job to a queue worker. The worker reads "
    "invoices from the orders table, renders a PDF and mails it to the customer. Yesterday "
    "the job ran twice and some customers got two emails, so I want idempotency: each "
    "invoice gets a unique key and the worker skips keys it has already processed. Here is "
    "the current code:\n\n```python\ndef send_invoice(invoice_id: int) -> None:\n"
    "    invoice = repo.get(invoice_id)\n    if invoice.sent_at is not None:\n        return\n"
    "    pdf = render(invoice)\n    mailer.send(invoice.customer.email, pdf)\n"
    "    repo.mark_sent(invoice_id, now())\n```\n\nWhat is the cleanest way to make this safe "
    "when two workers pick up the same message? We run Postgres 16 and RabbitMQ; I'd rather "
    "not add Redis. Please also explain how to test the race in CI without flaky sleeps, and "
    "whether SELECT ... FOR UPDATE SKIP LOCKED is the right tool here or overkill for us."
)
CONFIG = (
    "Our settings loader reads these keys: api_key, token_url, max_tokens, secret_name, "
    "password_min_length and the auth token scope. The tokenizer counts tokens before the "
    "request; the key rotation job renews the access token every hour and stores the secret "
    "in Vault under secret/data/app. Passwords are hashed with bcrypt, the session key is "
    "derived per tenant, and the public key is published at /.well-known/jwks.json. Which "
    "of these settings should be required, and how should the password policy be validated? "
)
CONFIG = (CONFIG * 3)[:1024]


def percentiles(detector: SecretDetector, text: str, reps: int) -> tuple[float, float]:
    times = []
    for _ in range(reps):
        started = time.perf_counter()
        detector.find(text)
        times.append(time.perf_counter() - started)
    times.sort()
    return statistics.median(times) * 1e6, times[int(len(times) * 0.99) - 1] * 1e6


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--reps", type=int, default=3000)
    parser.add_argument("--per-rule", type=int, default=50)
    args = parser.parse_args()
    detector = SecretDetector()

    expected = caught = 0
    for sample in TRUE_SAMPLES:
        text = str(sample["text"])
        found = {(text[f.start : f.end], f.entity) for f in detector.find(text)}
        for secret in sample["secrets"]:  # type: ignore[attr-defined]
            expected += 1
            caught += (secret["value"], secret["entity"]) in found
    for rule in RULES:
        for text, secret in generated(rule.name, n=args.per_rule, seed=2026):
            expected += 1
            found = {(text[f.start : f.end], f.entity) for f in detector.find(text)}
            caught += (secret, rule.entity) in found
    false_hits = sum(bool(detector.find(str(s["text"]))) for s in FALSE_SAMPLES)
    print(f"rules {len(RULES)}, entities {len({r.entity for r in RULES})}")
    print(f"recall {caught}/{expected} = {caught / expected:.4f}")
    print(f"false positives {false_hits}/{len(FALSE_SAMPLES)} negative samples")

    secret_text, secret = generated("github-token", n=1, seed=1)[0]
    with_secret = PROSE[: 1024 - len(secret_text) - 2] + "\n" + secret_text + "\n"
    texts = {
        "1 KB prose+code, no secret": PROSE[:1024],
        "1 KB config words, no secret": CONFIG,
        "1 KB with one GitHub token": with_secret[:1100],
    }
    print(f"\nfind() latency, {args.reps} calls each (microseconds)")
    for label, text in texts.items():
        p50, p99 = percentiles(detector, text, args.reps)
        print(f"  {label:32} {len(text):5} chars  p50 {p50:7.1f}  p99 {p99:7.1f}")
    blob = base64.b64encode(os.urandom(75_000)).decode()
    heavy = {
        "100 KB 'a'": "a" * 100_000,
        "100 KB base64": blob,
        "100 KB '='": "=" * 100_000,
        "108 KB PEM headers": "-----BEGIN PRIVATE KEY-----" * 4000,
        "98 KB 'token: '": "token: " * 14_000,
    }
    print("\npathological inputs, 5 calls each (milliseconds)")
    for label, text in heavy.items():
        p50, p99 = percentiles(detector, text, 5)
        print(f"  {label:32} p50 {p50 / 1000:7.1f}  max {p99 / 1000:7.1f}")


if __name__ == "__main__":
    main()
