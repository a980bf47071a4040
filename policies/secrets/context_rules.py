"""Rules for credentials found by structure or by the key in front of them: cloud secrets
named by their key, PEM blocks, JWTs and connection strings."""

from __future__ import annotations

import re

from policies.secrets.checksums import jwt_header_ok
from policies.secrets.entropy import shannon_entropy
from policies.secrets.placeholders import is_common_password, is_placeholder
from policies.secrets.rule import Rule, assigned, random_body

# PEM bodies are capped so a block fits in `MAX_SPAN` (4096): a 4096-bit RSA key in PKCS#8
# is ~3.3 KB, JSON-escaped (`\n` as two characters) ~3.4 KB. A longer block is still
# reported, over its first 3900 body characters.
_PEM_BODY = 3900
_PEM_KIND = r"(?:[A-Z0-9]{1,10} ){0,3}PRIVATE KEY(?: BLOCK)?-----"
_NEWLINE = r"(?:\\[rn]|\s)"


def _pem_body_ok(_text: str, match: re.Match[str]) -> bool:
    body = re.sub(r"\\[rn]|\s", "", match.group("body"))
    return len(body) >= 40 and shannon_entropy(body) >= 4.0 and not is_placeholder(body)


def _jwt_ok(_text: str, match: re.Match[str]) -> bool:
    return jwt_header_ok(match.group("secret"))


def _url_password_ok(_text: str, match: re.Match[str]) -> bool:
    password, user = match.group("secret"), match.group("user")
    if password == user or is_common_password(password) or len(password) < 3:
        return False
    # `host:5432@...` is a port before a stray `@`, not a password.
    return not (password.isdigit() and "." in user)


_AWS_SECRET = "[A-Za-z0-9/+]{40}"

KEYED = (
    assigned(
        "aws-secret-access-key",
        "AWS_SECRET_ACCESS_KEY",
        r"(?i:aws[\w.\- ]{0,20}secret[\w.\- ]{0,20}|secret_?access_?key)",
        _AWS_SECRET,
        ("aws", "secret"),
        min_entropy=3.5,
    ),
    Rule(
        "aws-secret-after-key-id",
        "AWS_SECRET_ACCESS_KEY",
        ("akia", "asia"),
        re.compile(
            rf"(?:AKIA|ASIA)[A-Z0-9]{{16}}[\"']?[\s,;:|=\"']{{1,6}}"
            rf"(?P<secret>{_AWS_SECRET})(?![A-Za-z0-9+/=])"
        ),
        3.5,
        random_body,
    ),
    assigned(
        "azure-storage-account-key",
        "AZURE_STORAGE_KEY",
        r"(?i:accountkey)",
        r"[A-Za-z0-9+/]{86}==",
        ("accountkey",),
    ),
    assigned(
        "azure-shared-access-key",
        "AZURE_SHARED_ACCESS_KEY",
        r"(?i:sharedaccesskey)",
        r"[A-Za-z0-9+/]{42,43}=",
        ("sharedaccesskey",),
    ),
    Rule(
        "azure-sas-signature",
        "AZURE_SAS_TOKEN",
        ("sig=",),
        re.compile(r"[?&;]sig=(?P<secret>[A-Za-z0-9%+/]{30,120}={0,2})(?![A-Za-z0-9%+/=])"),
        3.0,
        random_body,
        lead=1,
        reach=130,
    ),
    Rule(
        "gcp-service-account-key-id",
        "GCP_PRIVATE_KEY_ID",
        ("private_key_id",),
        re.compile(r"private_key_id\\?\"\s{0,3}:\s{0,3}\\?\"(?P<secret>[a-f0-9]{40})(?![a-f0-9])"),
        3.0,
        None,
    ),
)

STRUCTURED = (
    Rule(
        "pem-private-key",
        "PRIVATE_KEY",
        ("-----begin ",),
        re.compile(
            rf"(?P<secret>-----BEGIN {_PEM_KIND}"
            rf"(?:{_NEWLINE}{{1,4}}[A-Za-z][A-Za-z\-]{{0,30}}: [^\r\n\\]{{1,100}}){{0,4}}"
            rf"(?P<body>[A-Za-z0-9+/=\s\\]{{40,{_PEM_BODY}}})"
            rf"(?:-----END {_PEM_KIND})?)"
        ),
        0.0,
        _pem_body_ok,
    ),
    Rule(
        "putty-private-key",
        "PRIVATE_KEY",
        ("private-lines:",),
        re.compile(
            rf"Private-Lines: \d{{1,3}}{_NEWLINE}{{1,4}}(?P<secret>(?P<body>"
            rf"(?:[A-Za-z0-9+/=]{{64}}(?:\\r|\r)?(?:\\n|\n)){{0,60}}[A-Za-z0-9+/=]{{1,64}}))"
            # The key's lines end where `Private-MAC:` starts, not at its first word.
            r"(?![A-Za-z0-9+/=\-])"
        ),
        0.0,
        _pem_body_ok,
    ),
    # Each part bounded so that a token fits in `MAX_SPAN`.
    Rule(
        "jwt",
        "JWT",
        ("eyj",),
        re.compile(
            r"(?<![A-Za-z0-9_\-])(?P<secret>eyJ[A-Za-z0-9_\-]{5,1000}\.[A-Za-z0-9_\-]{5,2500}"
            r"\.[A-Za-z0-9_\-]{16,550})(?![A-Za-z0-9_\-])"
        ),
        3.0,
        _jwt_ok,
    ),
    Rule(
        "connection-string-password",
        "CONNECTION_STRING_PASSWORD",
        ("://",),
        re.compile(
            r"://(?P<user>[^\s:/@\"'`<>]{0,64}):(?P<secret>[^\s@/\"'`]{1,128})@(?=[\w\[.\-%])"
        ),
        0.0,
        _url_password_ok,
    ),
)
