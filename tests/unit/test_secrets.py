"""The secrets detector: every rule's true- and false-positive samples, generated tokens in
each rule's real format (valid checksums where a format has one, a fixed seed; none is, or
was, a real credential) embedded in prose, shell, JSON, logs and YAML, placeholders,
redaction, locality and pathological inputs. `bench/secret_scan.py` reuses the generators."""

from __future__ import annotations

import base64
import itertools
import json
import random
import string
import zlib
from collections.abc import Callable
from pathlib import Path
from urllib.parse import quote

import pytest

from policies.findings import SpanDetector, redact
from policies.secrets import MAX_SPAN, RULES, SecretDetector
from policies.secrets.checksums import base62, crc32_base62_ok
from policies.secrets.entropy import has_sequence, shannon_entropy
from policies.secrets.placeholders import is_placeholder

ALNUM = string.ascii_letters + string.digits
URLSAFE = ALNUM + "_-"
B64 = ALNUM + "+/"
HEX = "0123456789abcdef"
UPPER_DIGITS = string.ascii_uppercase + string.digits

# (snippet as it appears in a text, the secret inside it)
Sample = tuple[str, str]
Generator = Callable[[random.Random], Sample]


def draw(rng: random.Random, alphabet: str, n: int) -> str:
    return "".join(rng.choice(alphabet) for _ in range(n))


def b64(rng: random.Random, n_bytes: int) -> str:
    return base64.b64encode(rng.randbytes(n_bytes)).decode()


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def same(token: str) -> Sample:
    return token, token


def around(before: str, secret: str, after: str = "") -> Sample:
    return before + secret + after, secret


def crc_token(rng: random.Random, prefix: str) -> str:
    random_part = draw(rng, ALNUM, 30)
    return prefix + random_part + base62(zlib.crc32(random_part.encode()), 6)


def uuid(rng: random.Random) -> str:
    h = draw(rng, HEX, 32)
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def password(rng: random.Random, n: int = 14) -> str:
    first = rng.choice(ALNUM)
    return first + draw(rng, ALNUM + "!#%^*+=?", n - 2) + rng.choice(string.digits)


def pem(rng: random.Random) -> Sample:
    kind = rng.choice(["RSA ", "", "EC ", "OPENSSH ", "DSA ", "ENCRYPTED "])
    body = b64(rng, rng.choice([121, 1190, 2350]))
    lines = "\n".join(body[i : i + 64] for i in range(0, len(body), 64))
    block = f"-----BEGIN {kind}PRIVATE KEY-----\n{lines}\n-----END {kind}PRIVATE KEY-----"
    return block, block


def pgp(rng: random.Random) -> Sample:
    body = b64(rng, 900)
    lines = "\n".join(body[i : i + 64] for i in range(0, len(body), 64))
    block = (
        "-----BEGIN PGP PRIVATE KEY BLOCK-----\nVersion: GnuPG v2\n\n"
        f"{lines}\n=Ab3D\n-----END PGP PRIVATE KEY BLOCK-----"
    )
    return block, block


def putty(rng: random.Random) -> Sample:
    body = b64(rng, 600)
    lines = "\n".join(body[i : i + 64] for i in range(0, len(body), 64))
    public = b64(rng, 200)
    text = (
        "PuTTY-User-Key-File-2: ssh-rsa\nEncryption: none\nComment: rsa-key\n"
        f"Public-Lines: 4\n{public}\nPrivate-Lines: 14\n{lines}\n"
        f"Private-MAC: {draw(rng, HEX, 40)}"
    )
    return text, lines


def jwt(rng: random.Random) -> Sample:
    header = {"alg": rng.choice(["HS256", "RS256", "ES256"]), "typ": "JWT"}
    claims = {"sub": str(rng.randrange(10**9)), "iat": rng.randrange(1_600_000_000, 1_800_000_000)}
    if rng.random() < 0.5:
        claims["email"] = f"user{rng.randrange(999)}@corp.example"
    parts = [b64url(json.dumps(p).encode()) for p in (header, claims)]
    token = ".".join([*parts, b64url(rng.randbytes(rng.choice([32, 64, 256])))])
    return same(token)


def connection_string(rng: random.Random) -> Sample:
    scheme = rng.choice(
        [
            "postgres",
            "postgresql",
            "mysql",
            "mongodb+srv",
            "redis",
            "rediss",
            "amqp",
            "amqps",
            "mssql",
            "https",
            "ftp",
        ]
    )
    user = rng.choice(["app", "svc_orders", "admin_rw", "reporting", ""])
    secret = quote(draw(rng, ALNUM, 4) + password(rng, rng.randrange(8, 24)), safe="")
    host = rng.choice(["db.internal", "10.0.3.7", "cluster0.ab1cd.mongodb.net", "mq"])
    url = f"{scheme}://{user}:{secret}@{host}:{rng.randrange(1000, 9999)}/main"
    return url, secret


def assignment(rng: random.Random, keys: list[str], value: str) -> Sample:
    key = rng.choice(keys)
    form = rng.choice(["{k}={v}", "{k}: {v}", '"{k}": "{v}"', "{k} = '{v}'", '{k}: "{v}"'])
    return form.format(k=key, v=value), value


def secret_value(rng: random.Random) -> str:
    kind = rng.randrange(3)
    if kind == 0:
        return draw(rng, HEX, 32)
    if kind == 1:
        return draw(rng, ALNUM, rng.randrange(24, 48))
    return b64(rng, 30)


GENERATORS: dict[str, Generator] = {
    "aws-access-key-id": lambda r: same(
        r.choice(["AKIA", "ASIA"]) + draw(r, "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", 16)
    ),
    "aws-session-token": lambda r: same("IQoJb3JpZ2luX2Vj" + b64(r, 300)),
    "google-api-key": lambda r: same("AIza" + draw(r, URLSAFE, 35)),
    "google-oauth-client-secret": lambda r: same("GOCSPX-" + draw(r, URLSAFE, 28)),
    "google-oauth-access-token": lambda r: same("ya29." + draw(r, URLSAFE, 160)),
    "azure-ad-client-secret": lambda r: same(
        draw(r, ALNUM, 3) + r.choice(string.digits) + "Q~" + draw(r, URLSAFE + "~.", 34)
    ),
    "digitalocean-token": lambda r: same(
        r.choice(["dop", "doo", "dor"]) + "_v1_" + draw(r, HEX, 64)
    ),
    "heroku-api-key": lambda r: same("HRKU-AA" + draw(r, URLSAFE, 58)),
    "vault-token": lambda r: same("hvs." + draw(r, URLSAFE, 90)),
    "databricks-token": lambda r: same("dapi" + draw(r, HEX, 32)),
    "terraform-cloud-token": lambda r: same(
        draw(r, ALNUM, 14) + ".atlasv1." + draw(r, URLSAFE, 67)
    ),
    "github-token": lambda r: same(
        crc_token(r, r.choice(["ghp_", "gho_", "ghu_", "ghs_", "ghr_"]))
    ),
    "github-fine-grained-token": lambda r: same(
        "github_pat_" + draw(r, ALNUM, 22) + "_" + draw(r, ALNUM, 59)
    ),
    "gitlab-token": lambda r: same(r.choice(["glpat-", "gldt-", "glrt-"]) + draw(r, URLSAFE, 20)),
    "gitlab-runner-registration-token": lambda r: same("GR1348941" + draw(r, URLSAFE, 20)),
    "bitbucket-app-password": lambda r: same("ATBB" + draw(r, ALNUM, 32)),
    "bitbucket-data-center-token": lambda r: same("BBDC-" + draw(r, ALNUM + "+/@_", 44)),
    "atlassian-api-token": lambda r: same(
        "ATATT3xFfGF0" + draw(r, URLSAFE, 170) + "=" + draw(r, HEX.upper(), 8)
    ),
    "npm-token": lambda r: same(crc_token(r, "npm_")),
    "pypi-token": lambda r: same("pypi-AgEIcHlwaS5vcmc" + draw(r, URLSAFE, 150)),
    "rubygems-token": lambda r: same("rubygems_" + draw(r, HEX, 48)),
    "nuget-key": lambda r: same("oy2" + draw(r, string.ascii_lowercase + string.digits, 43)),
    "docker-hub-token": lambda r: same("dckr_pat_" + draw(r, URLSAFE, 27)),
    "postman-api-key": lambda r: same(f"PMAK-{draw(r, HEX, 24)}-{draw(r, HEX, 34)}"),
    "slack-token": lambda r: same(
        f"{r.choice(['xoxb', 'xoxp'])}-{draw(r, string.digits, 12)}-"
        f"{draw(r, string.digits, 13)}-{draw(r, ALNUM, 24)}"
    ),
    "slack-config-token": lambda r: same("xoxe.xoxp-1-" + draw(r, UPPER_DIGITS, 150)),
    "slack-app-token": lambda r: same(
        f"xapp-1-A{draw(r, UPPER_DIGITS, 10)}-{draw(r, string.digits, 13)}-{draw(r, HEX, 64)}"
    ),
    "slack-webhook": lambda r: same(
        f"https://hooks.slack.com/services/T{draw(r, UPPER_DIGITS, 8)}/"
        f"B{draw(r, UPPER_DIGITS, 10)}/{draw(r, ALNUM, 24)}"
    ),
    "discord-webhook": lambda r: same(
        f"https://discord.com/api/webhooks/{draw(r, string.digits, 18)}/{draw(r, URLSAFE, 68)}"
    ),
    "discord-bot-token": lambda r: same(
        b64url(str(r.randrange(10**17, 10**19)).encode())
        + "."
        + draw(r, URLSAFE, 6)
        + "."
        + draw(r, URLSAFE, 38)
    ),
    "telegram-bot-token": lambda r: same(f"{r.randrange(10**8, 10**10)}:AA{draw(r, URLSAFE, 33)}"),
    "teams-webhook": lambda r: same(
        f"https://contoso.webhook.office.com/webhookb2/{uuid(r)}@{uuid(r)}/IncomingWebhook/"
        f"{draw(r, HEX, 32)}/{uuid(r)}"
    ),
    "stripe-secret-key": lambda r: same(
        r.choice(["sk_live_", "rk_live_", "sk_test_"]) + draw(r, ALNUM, r.choice([24, 99]))
    ),
    "stripe-webhook-secret": lambda r: same("whsec_" + draw(r, ALNUM, 32)),
    "square-token": lambda r: same(
        r.choice(["sq0atp-" + draw(r, URLSAFE, 22), "EAAA" + draw(r, URLSAFE, 60)])
    ),
    "braintree-access-token": lambda r: same(
        "access_token$production$"
        + draw(r, string.ascii_lowercase + string.digits, 16)
        + "$"
        + draw(r, HEX, 32)
    ),
    "shopify-token": lambda r: same(r.choice(["shpat_", "shpss_"]) + draw(r, HEX, 32)),
    "facebook-access-token": lambda r: same("EAAB" + draw(r, ALNUM, 150)),
    "twilio-account-sid": lambda r: same("AC" + draw(r, HEX, 32)),
    "twilio-api-key": lambda r: same("SK" + draw(r, HEX, 32)),
    "sendgrid-api-key": lambda r: same(f"SG.{draw(r, URLSAFE, 22)}.{draw(r, URLSAFE, 43)}"),
    "mailgun-api-key": lambda r: same("key-" + draw(r, ALNUM, 32)),
    "mailchimp-api-key": lambda r: same(f"{draw(r, HEX, 32)}-us{r.randrange(1, 21)}"),
    "newrelic-key": lambda r: same("NRAK-" + draw(r, UPPER_DIGITS, 27)),
    "linear-api-key": lambda r: same("lin_api_" + draw(r, ALNUM, 40)),
    "notion-token": lambda r: same(
        r.choice(["secret_" + draw(r, ALNUM, 43), "ntn_" + draw(r, ALNUM, 46)])
    ),
    "grafana-token": lambda r: same(f"glsa_{draw(r, ALNUM, 32)}_{draw(r, HEX, 8)}"),
    "openai-api-key": lambda r: same(
        r.choice(
            [
                f"sk-proj-{draw(r, URLSAFE, 74)}T3BlbkFJ{draw(r, URLSAFE, 74)}",
                f"sk-{draw(r, ALNUM, 20)}T3BlbkFJ{draw(r, ALNUM, 20)}",
                f"sk-svcacct-{draw(r, URLSAFE, 74)}T3BlbkFJ{draw(r, URLSAFE, 74)}",
                f"sk-{draw(r, HEX, 32)}",
            ]
        )
    ),
    "anthropic-api-key": lambda r: same(f"sk-ant-api03-{draw(r, URLSAFE, 93)}AA"),
    "openrouter-api-key": lambda r: same("sk-or-v1-" + draw(r, HEX, 64)),
    "groq-api-key": lambda r: same("gsk_" + draw(r, ALNUM, 52)),
    "xai-api-key": lambda r: same("xai-" + draw(r, ALNUM, 80)),
    "huggingface-token": lambda r: same("hf_" + draw(r, string.ascii_letters, 34)),
    "replicate-api-token": lambda r: same("r8_" + draw(r, ALNUM, 37)),
    "perplexity-api-key": lambda r: same("pplx-" + draw(r, ALNUM, 48)),
    "langsmith-api-key": lambda r: same(f"lsv2_pt_{draw(r, HEX, 32)}_{draw(r, HEX, 10)}"),
    "tavily-api-key": lambda r: same("tvly-dev-" + draw(r, ALNUM, 32)),
    "pinecone-api-key": lambda r: same(f"pcsk_{draw(r, ALNUM, 6)}_{draw(r, ALNUM, 60)}"),
    "aws-secret-access-key": lambda r: assignment(
        r,
        ["aws_secret_access_key", "AWS_SECRET_ACCESS_KEY", "SecretAccessKey", "secretAccessKey"],
        draw(r, B64, 40),
    ),
    "aws-secret-after-key-id": lambda r: around(
        f"AKIA{draw(r, 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567', 16)},", draw(r, B64, 40)
    ),
    "azure-storage-account-key": lambda r: around(
        f"DefaultEndpointsProtocol=https;AccountName=acct{r.randrange(999)};AccountKey=",
        b64(r, 64),
        ";EndpointSuffix=core.windows.net",
    ),
    "azure-shared-access-key": lambda r: around(
        "Endpoint=sb://orders.servicebus.windows.net/;SharedAccessKeyName="
        "RootManageSharedAccessKey;SharedAccessKey=",
        b64(r, 32),
    ),
    "azure-sas-signature": lambda r: around(
        "https://acct.blob.core.windows.net/backups/db.bak?sv=2022-11-02&ss=b&srt=o"
        "&sp=r&se=2026-01-01T00:00:00Z&spr=https&sig=",
        quote(b64(r, 32), safe=""),
    ),
    "gcp-service-account-key-id": lambda r: around('"private_key_id": "', draw(r, HEX, 40), '"'),
    "pem-private-key": lambda r: r.choice([pem, pgp])(r),
    "putty-private-key": putty,
    "jwt": jwt,
    "connection-string-password": connection_string,
    "password-assignment": lambda r: assignment(
        r,
        ["password", "DB_PASSWORD", "db_password", "passwd", "PGPASSWORD", "smtp_pass", "pwd"],
        password(r, r.randrange(10, 24)),
    ),
    "secret-assignment": lambda r: assignment(
        r,
        [
            "api_key",
            "SECRET_KEY",
            "client_secret",
            "auth_token",
            "access_token",
            "x-api-key",
            "MISTRAL_API_KEY",
            "apiKey",
            "COHERE_API_KEY",
            "secret",
            "token",
        ],
        secret_value(r),
    ),
    "cli-secret-flag": lambda r: around(
        r.choice(["--password ", "--token ", "--api-key "]), password(r, 16)
    ),
    "bearer-token": lambda r: around("Authorization: Bearer ", draw(r, URLSAFE + ".", 48)),
    "basic-auth-header": lambda r: around(
        "Authorization: Basic ",
        base64.b64encode(f"svc{r.randrange(99)}:{password(r)}".encode()).decode(),
    ),
    "curl-user-password": lambda r: around(
        "curl -u deploy:", password(r, 16), " https://ci.internal/api"
    ),
}

# Where a snippet sits: prose, shell, JSON (escaped), a log line, YAML, a code block.
TEMPLATES = (
    "Can you help? I keep getting 401 with {s} when I call the API.",
    "```\n{s}\n```\nWhy does this fail?",
    '{{"messages": [{{"role": "user", "content": {j}}}], "stream": true}}',
    "2024-05-01T12:00:00Z ERROR upstream rejected credentials {s} (status=401)",
    "config:\n  region: eu-west-1\n  creds: |\n    {s}\n  retries: 3",
    "{s}",
    "Here it is:\n\n{s}\n\nThanks!",
)


def embed(rng: random.Random, snippet: str) -> str:
    template = rng.choice(TEMPLATES)
    return template.format(s=snippet, j=json.dumps(snippet))


SAMPLES_FILE = Path(__file__).resolve().parents[1] / "data" / "secrets_samples.jsonl"
ENTITY = {rule.name: rule.entity for rule in RULES}
DETECTOR = SecretDetector()
PER_RULE = 25


def load_samples() -> list[dict[str, object]]:
    return [json.loads(line) for line in SAMPLES_FILE.read_text().splitlines() if line]


def generated(rule: str, n: int = PER_RULE, seed: int = 11) -> list[tuple[str, str]]:
    """`n` texts holding one generated credential of `rule`, and the secret as it appears
    in the text (JSON-escaped where the template escapes it)."""
    rng = random.Random(f"{seed}:{rule}")
    texts = []
    for _ in range(n):
        snippet, secret = GENERATORS[rule](rng)
        text = embed(rng, snippet)
        texts.append((text, secret if secret in text else json.dumps(secret)[1:-1]))
    return texts


def spans(text: str) -> set[tuple[str, str]]:
    return {(text[f.start : f.end], f.entity) for f in DETECTOR.find(text)}


SAMPLES = load_samples()
TRUE_SAMPLES = [s for s in SAMPLES if s["secrets"]]
FALSE_SAMPLES = [s for s in SAMPLES if not s["secrets"]]


def test_the_detector_is_a_span_detector() -> None:
    detector: SpanDetector = SecretDetector()
    assert detector.name == "secrets"
    assert detector.max_span == MAX_SPAN == 4096


def test_at_least_thirty_credential_types() -> None:
    assert len({rule.entity for rule in RULES}) >= 30
    assert len({rule.name for rule in RULES}) == len(RULES)


def test_every_rule_ships_true_and_false_positive_samples_and_a_generator() -> None:
    names = {rule.name for rule in RULES}
    assert names == set(GENERATORS)
    assert names <= {s["rule"] for s in TRUE_SAMPLES}
    assert names <= {s["rule"] for s in FALSE_SAMPLES}


@pytest.mark.parametrize("sample", TRUE_SAMPLES, ids=lambda s: str(s["rule"]))
def test_sample_true_positives_are_found_with_their_entity_and_span(
    sample: dict[str, object],
) -> None:
    text = str(sample["text"])
    found = spans(text)
    for secret in sample["secrets"]:  # type: ignore[attr-defined]
        assert (secret["value"], secret["entity"]) in found


@pytest.mark.parametrize("sample", FALSE_SAMPLES, ids=lambda s: str(s["rule"]))
def test_sample_false_positives_yield_nothing(sample: dict[str, object]) -> None:
    assert DETECTOR.find(str(sample["text"])) == []


@pytest.mark.parametrize("rule", sorted(GENERATORS))
def test_generated_true_positives_are_all_caught(rule: str) -> None:
    missed = [
        (text, secret)
        for text, secret in generated(rule)
        if (secret, ENTITY[rule]) not in spans(text)
    ]
    assert not missed


def test_redaction_of_a_text_with_several_secrets() -> None:
    rng = random.Random(3)
    parts = {name: GENERATORS[name](rng) for name in ("github-token", "jwt", "pem-private-key")}
    url, password_value = connection_string(rng)
    text = (
        f"deploy with {parts['github-token'][0]} then call the API with "
        f"Authorization: Bearer {parts['jwt'][0]}; the db is {url}.\n"
        f"Key:\n{parts['pem-private-key'][0]}\nthanks"
    )
    redacted = redact(text, DETECTOR.find(text))
    for _, secret in parts.values():
        assert secret not in redacted
    assert password_value not in redacted
    for entity in ("GITHUB_TOKEN", "JWT", "PRIVATE_KEY", "CONNECTION_STRING_PASSWORD"):
        assert f"<{entity}>" in redacted
    # Only the password is replaced: the rest of the URL stays readable.
    assert url.replace(password_value, "<CONNECTION_STRING_PASSWORD>") in redacted
    assert redacted.startswith("deploy with <GITHUB_TOKEN> then")


@pytest.mark.parametrize(
    "value",
    [
        "xxxxxxxxxxxxxxxxxxxx",
        "XXXXXXXXXXXXXXXX",
        "<your-key>",
        "your_api_key_here",
        "YOUR_TOKEN",
        "IOSFODNN7EXAMPLE",
        "abc...xyz",
        "****************",
        "changeme",
        "test-token-1",
        "dummy_value_42",
        "sample0123",
        "1234567890",
        "abcdefghij",
        "${API_KEY}",
        "$OPENAI_API_KEY",
        "%APPDATA%",
        "{{ vault_token }}",
        "aaaaaaaaaaaaaaaa",
        "abababababababab",
    ],
)
def test_placeholders_are_not_secrets(value: str) -> None:
    assert is_placeholder(value)


@pytest.mark.parametrize(
    "text",
    [
        "sk-xxxx",
        "OPENAI_API_KEY=sk-xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
        "api_key: <your-key>",
        "AKIAIOSFODNN7EXAMPLE",
        "aws_secret_access_key=wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
        "token = '****************************************'",
        "password: changeme",
        'GITHUB_TOKEN="ghp_xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"',
        "sk-proj-abc123...",
        "api_key=test_test_test_test_test",
        "secret: dummy-secret-value-0001",
        "api_key = 'sample_key_1234567890'",
    ],
)
def test_placeholder_credentials_are_not_reported(text: str) -> None:
    assert DETECTOR.find(text) == []


def test_random_tokens_are_not_placeholders() -> None:
    rng = random.Random(5)
    tokens = [draw(rng, ALNUM, 40) for _ in range(2000)]
    assert sum(is_placeholder(t) for t in tokens) <= 2


def test_github_checksum_confirms_a_token_and_a_bad_one_scores_lower() -> None:
    rng = random.Random(9)
    good = crc_token(rng, "ghp_")
    assert crc32_base62_ok(good)
    bad = good[:-1] + ("A" if good[-1] != "A" else "B")
    assert not crc32_base62_ok(bad)
    (found_good,) = DETECTOR.find(f"token {good}")
    (found_bad,) = DETECTOR.find(f"token {bad}")
    assert found_good.score == 1.0
    assert found_bad.entity == "GITHUB_TOKEN"
    assert found_bad.score < found_good.score


def test_entropy_and_sequences() -> None:
    assert shannon_entropy("aaaa") == 0.0
    assert shannon_entropy("abcd") == 2.0
    assert has_sequence("pass123456word")
    assert has_sequence("zyxwvu")
    assert not has_sequence("a1b2c3d4e5")


def test_public_keys_and_certificates_are_not_secrets() -> None:
    rng = random.Random(1)
    body = "\n".join(b64(rng, 48) for _ in range(6))
    for kind in ("PUBLIC KEY", "RSA PUBLIC KEY", "CERTIFICATE", "PGP PUBLIC KEY BLOCK"):
        assert DETECTOR.find(f"-----BEGIN {kind}-----\n{body}\n-----END {kind}-----") == []
    assert DETECTOR.find(f"ssh-rsa AAAAB3NzaC1yc2E{b64(rng, 270)} me@laptop") == []
    assert DETECTOR.find("const stripe = Stripe('pk_live_" + draw(rng, ALNUM, 24) + "')") == []


def test_lockfile_hashes_are_not_secrets() -> None:
    rng = random.Random(2)
    lock = (
        '"node_modules/js-tokens": {\n  "version": "4.0.0",\n'
        '  "resolved": "https://registry.npmjs.org/js-tokens/-/js-tokens-4.0.0.tgz",\n'
        f'  "integrity": "sha512-{b64(rng, 64)}"\n}}\n'
        f'secret-lib = {{ version = "1.2.0", hash = "sha256:{draw(rng, HEX, 64)}" }}\n'
        f"token-bucket==0.3.0 --hash=sha256:{draw(rng, HEX, 64)}\n"
    )
    assert DETECTOR.find(lock) == []


def test_findings_are_sorted_and_do_not_overlap() -> None:
    rng = random.Random(4)
    text = " ".join(embed(rng, GENERATORS[name](rng)[0]) for name in sorted(GENERATORS))
    found = DETECTOR.find(text)
    assert len(found) >= len(GENERATORS)
    assert all(a.end <= b.start for a, b in itertools.pairwise(found))


@pytest.mark.parametrize("rule", sorted(GENERATORS))
def test_a_finding_depends_only_on_text_within_max_span(rule: str) -> None:
    filler = "Some unrelated words about the weather and the build. " * 200
    for text, secret in generated(rule, n=3):
        padded = filler + "\n" + text + "\n" + filler
        at = padded.index(secret)
        window_start = max(0, at + len(secret) - MAX_SPAN)
        window = padded[window_start : at + MAX_SPAN]
        assert len(secret) <= MAX_SPAN
        expected = (secret, ENTITY[rule])
        assert expected in spans(padded)
        assert expected in spans(window)


@pytest.mark.parametrize(
    "text",
    [
        "a" * 100_000,
        "=" * 100_000,
        "key=" * 25_000,
        "-----BEGIN PRIVATE KEY-----" * 4_000,
        ("-----BEGIN RSA PRIVATE KEY-----\n" + "A" * 3_000) * 30,
        "eyJ" * 33_000,
        "sk-" * 33_000,
        "1234567890:" * 9_000,
        "postgres://u:p@" * 6_000,
        "token: " * 14_000,
        "Bearer " * 14_000,
        " " * 100_000,
        "\u200b\u202e\x00\ufffd" * 20_000,
    ],
    ids=lambda t: repr(t[:12]),
)
def test_pathological_inputs_are_scanned_without_findings(text: str) -> None:
    # No timing assert: every quantifier is bounded and each rule's regex is linear in the
    # text (`bench/secret_scan.py` times these); a regression shows as a slow test.
    assert DETECTOR.find(text) == []


def test_long_base64_blobs_are_not_secrets() -> None:
    rng = random.Random(6)
    blob = b64(rng, 60_000)
    assert DETECTOR.find(f"data:image/png;base64,{blob}") == []
    assert DETECTOR.find("\n".join(b64(rng, 48) for _ in range(1_000))) == []
