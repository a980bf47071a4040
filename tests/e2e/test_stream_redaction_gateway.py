"""Streamed output redaction through the real gateway process (issue 11): a loopback
upstream echoes a text holding k secrets and PII values back in random pieces of 1 to 4
characters (`split-SEED`, sometimes one character per chunk), and what the OpenAI SDK
reads from the stream equals the gateway's own JSON reply for the same request and the
whole-text redaction of the same detectors in process, with no value (nor 8 characters of
a secret) left in it, `finish_reason` on the last choice chunk and the usage chunk last."""

from __future__ import annotations

import base64
import json
import os
import random
import string
import zlib
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from openai import OpenAI

from gateway.backends import fake_script
from policies.audit import AuditLog
from policies.output_redaction import OutputRedactionStage
from policies.secrets.checksums import base62
from policies.secrets.placeholders import is_placeholder
from tests.support import start_gateway, start_loopback

pytestmark = pytest.mark.e2e

ENTITIES = ["EMAIL_ADDRESS", "PHONE_NUMBER", "CREDIT_CARD", "IBAN_CODE", "IP_ADDRESS", "US_SSN"]
CONFIG = """
server: {{access_log: false}}
audit: {{destination: {audit}}}
backends:
  loop: {{type: openai, base_url: {base_url}}}
policies:
  redact-out:
    pii: {{input: "off", output: redact, entities: [{entities}]}}
    secrets: {{input: "off", output: redact}}
    timeout_seconds: 30
models:
  - {{id: up/*, backend: loop, upstream_model: "*", policy: redact-out}}
"""

# Words that are no context word of any PII recognizer (`policies/pii`): a value's own
# label, right before it, decides its context. Some non-ASCII too (`İ` lowercases to two
# characters, which the secrets detector scans apart).
WORDS = "hello please note that we will send it today thanks and then later about the plan"
WORDS += " a few notes here is for you weekly summary all good so far see below ok"
FILLER = [*WORDS.split(), "\n", "-", "(see)", "1999", "42", "café", "İstanbul", "日本", "🙂"]
ALNUM = string.ascii_letters + string.digits
UPPER = string.ascii_uppercase + string.digits


def _token(rng: random.Random, alphabet: str, size: int) -> str:
    """`size` (16 or more) random characters as a token generator draws them, but none of
    the rare draws the secrets detector takes for a placeholder (`test`, `xxxx`, `123456`)."""
    while True:
        value = "".join(rng.choice(alphabet) for _ in range(size))
        if not is_placeholder(value):
            return value


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def luhn_complete(digits: str) -> str:
    total = 0
    for i, char in enumerate(reversed(digits + "0")):
        value = int(char)
        if i % 2:
            value = value * 2 - 9 if value > 4 else value * 2
        total += value
    return digits + str((10 - total % 10) % 10)


def iban(country: str, bban: str) -> str:
    rotated = bban + country + "00"
    number = int("".join(str(int(c, 36)) for c in rotated))
    return f"{country}{98 - number % 97:02d}{bban}"


# Each generator: (the label written before the value, the value) from a seeded RNG.
def email(rng: random.Random) -> tuple[str, str]:
    name = rng.choice(["alice", "bob", "j", "maria.lopez", "dev-team", "x9", "k.tanaka"])
    local = name + rng.choice(["", ".", "_", "+"]) + str(rng.randint(0, 999))
    domain = rng.choice(["example.com", "corp.io", "mail.co.uk", "uni-bonn.de", "acme.org"])
    return "mail", f"{local}@{domain}"


def phone(rng: random.Random) -> tuple[str, str]:
    area, exchange, line = rng.randint(201, 989), rng.randint(200, 999), rng.randint(0, 9999)
    forms = [
        f"+1 {area} {exchange} {line:04d}",
        f"+1-{area}-{exchange}-{line:04d}",
        f"({area}) {exchange}-{line:04d}",
        f"+44 20 7946 {line:04d}",
    ]
    return "call", rng.choice(forms)


def card(rng: random.Random) -> tuple[str, str]:
    prefix, size = rng.choice([("4", 16), ("51", 16), ("55", 16), ("37", 15), ("6011", 16)])
    digits = luhn_complete(
        prefix + "".join(rng.choice("0123456789") for _ in range(size - len(prefix) - 1))
    )
    if size == 15:
        grouped = f"{digits[:4]} {digits[4:10]} {digits[10:]}"
    else:
        grouped = " ".join(digits[i : i + 4] for i in range(0, 16, 4))
    return "card", rng.choice([digits, grouped, grouped.replace(" ", "-")])


def iban_code(rng: random.Random) -> tuple[str, str]:
    country, size = rng.choice([("DE", 18), ("FR", 23), ("NL", 14), ("GB", 18)])
    if country in ("NL", "GB"):
        bban = "".join(rng.choice(string.ascii_uppercase) for _ in range(4))
        bban += "".join(rng.choice("0123456789") for _ in range(size - 4))
    else:
        bban = "".join(rng.choice("0123456789") for _ in range(size))
    value = iban(country, bban)
    if rng.random() < 0.5:
        value = " ".join(value[i : i + 4] for i in range(0, len(value), 4))
    return "IBAN", value


def ssn(rng: random.Random) -> tuple[str, str]:
    area = rng.choice([a for a in range(1, 900) if a != 666])
    return "ssn", f"{area:03d}-{rng.randint(1, 99):02d}-{rng.randint(1, 9999):04d}"


def ip(rng: random.Random) -> tuple[str, str]:
    if rng.random() < 0.7:
        first = rng.choice([a for a in range(11, 224) if a != 127])
        rest = ".".join(str(rng.randint(0, 255)) for _ in range(3))
        return "server", f"{first}.{rest}"
    groups = ":".join(f"{rng.randint(1, 0xFFFF):x}" for _ in range(6))
    return "server", f"2001:db8:{groups}"


def aws_key(rng: random.Random) -> tuple[str, str]:
    return "key", rng.choice(["AKIA", "ASIA"]) + _token(rng, UPPER, 16)


def github_token(rng: random.Random) -> tuple[str, str]:
    body = _token(rng, ALNUM, 30)
    return "token", "ghp_" + body + base62(zlib.crc32(body.encode()), 6)


def openai_key(rng: random.Random) -> tuple[str, str]:
    return "key", rng.choice(["sk-", "sk-proj-"]) + _token(rng, ALNUM, rng.randint(32, 48))


def jwt(rng: random.Random) -> tuple[str, str]:
    header = _b64url(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    claims = {"sub": _token(rng, ALNUM, 16), "iat": rng.randint(1_600_000_000, 1_800_000_000)}
    payload = _b64url(json.dumps(claims).encode())
    signature = _b64url(rng.randbytes(32))
    return "bearer", f"{header}.{payload}.{signature}"


PII = [email, phone, card, iban_code, ssn, ip]
SECRETS = [aws_key, github_token, openai_key, jwt]
Generator = Callable[[random.Random], tuple[str, str]]


@st.composite
def texts(draw: st.DrawFn) -> tuple[str, list[str], list[str]]:
    """A text with 0 to 4 values in filler, its PII values and its secrets."""
    k = draw(st.sampled_from(range(5)))  # uniform: hypothesis would favour k = 0
    kinds: list[Generator] = draw(st.lists(st.sampled_from(PII + SECRETS), min_size=k, max_size=k))
    rng = random.Random(draw(st.integers(0, 2**32)))
    words = st.lists(st.sampled_from(FILLER), max_size=25).map(" ".join)
    # A lead longer than the secrets detector's hold-back (640) makes the gateway release
    # text while the stream still runs, with the values arriving after that.
    lead = " ".join(
        rng.choice(WORDS.split()) for _ in range(draw(st.sampled_from([0, 40, 130, 180])))
    )
    parts = [lead, draw(words)]
    pii: list[str] = []
    secrets: list[str] = []
    for kind in kinds:
        label, value = kind(rng)
        (secrets if kind in SECRETS else pii).append(value)
        separator = draw(st.sampled_from([" ", ", ", ". ", "; ", "\n"]))
        parts += [f"{label} {value}{separator}", draw(words)]
    text = " ".join(p for p in parts if p).strip(" ")
    return text or "nothing", pii, secrets


@pytest.fixture(scope="module")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    """The gateway's base URL and the loopback upstream's."""
    tmp = tmp_path_factory.mktemp("stream-redaction")
    upstream, base_url = start_loopback(tmp)
    config = tmp / "gateway.yaml"
    config.write_text(
        CONFIG.format(audit=tmp / "audit.jsonl", base_url=base_url, entities=", ".join(ENTITIES))
    )
    try:
        proc, base = start_gateway(tmp, ["--config", str(config)])
    except BaseException:
        upstream.stop()
        raise
    yield base, base_url
    proc.stop()
    upstream.stop()


@pytest.fixture(scope="module")
def client(servers: tuple[str, str]) -> Iterator[OpenAI]:
    with OpenAI(base_url=f"{servers[0]}/v1", api_key="x", max_retries=0, timeout=60) as sdk:
        yield sdk


@pytest.fixture(scope="module")
def whole() -> Callable[[str], str]:
    """The whole-text redaction of the route's detectors, in process."""
    from policies.pii import PiiDetector
    from policies.secrets.detector import SecretDetector

    stage = OutputRedactionStage([SecretDetector(), PiiDetector(ENTITIES)], audit=AuditLog(None))
    return lambda text: stage.rewrite(text, stage.scanner.scan(text)[0])


def leaks(output: str, pii: list[str], secrets: list[str]) -> list[str]:
    found = [v for v in pii + secrets if v in output]
    found += [s[i : i + 8] for s in secrets for i in range(len(s) - 7) if s[i : i + 8] in output]
    return found


@settings(
    max_examples=int(os.environ.get("STREAM_REDACTION_EXAMPLES", "25")),  # more to hunt
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(case=texts(), seed=st.integers(0, 10**6))
def test_streamed_redaction_through_the_gateway_equals_whole_text_redaction(
    servers: tuple[str, str],
    client: OpenAI,
    whole: Callable[[str], str],
    case: tuple[str, list[str], list[str]],
    seed: int,
) -> None:
    text, pii, secrets = case
    model = f"up/split-{seed}"
    messages: Any = [{"role": "user", "content": text}]
    pieces = fake_script.split_pieces(text, seed)
    assert "".join(pieces) == text and max(map(len, pieces)) <= fake_script.SPLIT_MAX

    stream = client.chat.completions.create(
        model=model, messages=messages, stream=True, stream_options={"include_usage": True}
    )
    chunks = list(stream)
    reply = client.chat.completions.create(model=model, messages=messages)
    # The route leaves the input alone: the upstream got (and echoed) every value.
    records = httpx.get(servers[1].removesuffix("/v1") + "/_test/requests", timeout=10).json()
    assert [r["body"]["messages"][-1]["content"] for r in records[-2:]] == [text, text]

    streamed = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    expected = whole(text)
    context = f"text={text!r} pieces={pieces!r}"
    # (a) the JSON reply of the same request, (b) the whole text redacted in process.
    assert streamed == reply.choices[0].message.content, context
    assert streamed == expected, context
    # (c) nothing of any value left.
    assert not leaks(streamed, pii, secrets), context
    # (d) finish_reason on the last choice chunk, no text after it; the usage chunk last.
    with_choices = [i for i, c in enumerate(chunks) if c.choices]
    finishing = [i for i in with_choices if chunks[i].choices[0].finish_reason]
    assert finishing == [with_choices[-1]], context
    assert chunks[finishing[0]].choices[0].finish_reason == "stop"
    assert not chunks[finishing[0]].choices[0].delta.content
    assert chunks[-1].choices == [] and chunks[-1].usage is not None
    assert chunks[-1].usage.completion_tokens == len(pieces)
    if len(text) > 1000:
        # The gateway let text out while the stream still ran, not all at its end.
        assert sum(1 for c in chunks if c.choices and c.choices[0].delta.content) > 1
