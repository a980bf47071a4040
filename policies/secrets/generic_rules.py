"""Rules for secrets known only by the name they are assigned to: `password=`, `secret:`,
`"api_key":`, `Authorization: Bearer`, `--token`. The value must look generated (or, for
passwords, at least not like a word, a reference or a template)."""

from __future__ import annotations

import re

from policies.secrets.checksums import basic_auth_ok
from policies.secrets.entropy import char_classes, shannon_entropy
from policies.secrets.placeholders import has_placeholder_word, is_common_password
from policies.secrets.rule import MAX_CONTEXT, Rule, looks_random

_PASSWORD_KEY = r"(?i:pass(?:word|wd|phrase)?|pwd)(?![a-z])"
_SECRET_KEY = r"(?i:secret|token|credentials?|key)"
# A `key` is a secret only as one of these: `api_key`, `apiKey`, `MISTRAL_API_KEY`, ...
_SECRET_KEY_NAME = re.compile(
    r"(?:api|access|auth|private|app|client|master|signing|encryption|license|service"
    r"|account|subscription|admin|session|webhook|shared|consumer|secret|openai|anthropic"
    r"|mistral|cohere|groq|gemini|google|azure|stripe|datadog|dd|sentry|algolia|cloudflare"
    r"|vercel|supabase|firebase|okta|auth0|pagerduty|deepseek|together|fireworks|voyage)"
    r"[_\-.]?key",
)
# The key's tail, a closing quote or bracket, a separator, an opening quote. "is" and "was"
# take prose ("my password is ...").
_SEPARATOR = (
    r"[\w.\-]{0,24}\\?[\"'\]]?(?:\s{0,3}(?:=>|:=|==?|:|>)\s{0,3}|\s{1,3}(?:is|was)\s{1,3})"
    r"\\?[\"'`]?"
)
_VALUE = r"(?P<secret>[^\s\"'`,;<>\\]{4,254}[^\s\"'`,;<>\\.)\]}:])"
# Parts of key names that hold something about a secret, not the secret itself.
_NOT_A_SECRET_PART = frozenset(
    {"public", "publishable", "pub", "hash", "hashed", "digest", "salt", "checksum"}
    | {"integrity", "file", "path", "dir", "url", "uri", "endpoint", "name", "type"}
    | {"count", "limit", "max", "min", "size", "length", "len", "expiry", "expires"}
    | {"expiration", "ttl", "format", "header", "field", "param", "policy", "rule"}
    | {"regex", "hint", "label", "prompt", "strength", "reset", "enabled", "required"}
    | {"usage", "budget", "cost", "price", "model", "version", "id", "ids", "env", "var"}
    | {"source", "tokenizer", "tokens", "placeholder"}
)
_NAME_PARTS = re.compile(r"[A-Z]?[a-z0-9]+|[A-Z0-9]+(?![a-z])")
_NAME = re.compile(r"[\w.\-]*")
_IDENTIFIER = re.compile(
    r"[A-Za-z_][\w]*(?:\.[A-Za-z_]\w*)+(?:\(.*)?"  # config.api_key, os.getenv(...)
    r"|[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+"  # DB_PASSWORD
    r"|[a-z]+(?:[_\-.][a-z]+)*"  # words, snake_case, kebab-case
    r"|(?i:none|null|nil|true|false|undefined|required|optional|string|hidden|empty)"
)
_HASH_PREFIX = re.compile(r"(?i:sha\d{0,3}|md5|blake2b?|xxh\d*)[\-:=]|\$\d|\$argon|pk_")
# `$VAR`, `${VAR}`, `%VAR%`, YAML aliases and tags (`*creds`, `!vault`), paths.
_REFERENCE = re.compile(r"\$[A-Za-z_{(]|%\w+%$|[*&!][A-Za-z_][\w\-]*$|~?/|\\")


def _key_name(text: str, match: re.Match[str]) -> str:
    """The whole identifier the value is assigned to (the regex anchors on a part of it)."""
    start = match.start()
    floor = max(0, start - MAX_CONTEXT)
    while start > floor and (text[start - 1].isalnum() or text[start - 1] in "_.-"):
        start -= 1
    name = _NAME.match(text, start, match.start("secret"))
    return name.group() if name else ""


def _names_a_non_secret(name: str) -> bool:
    """Whether the key says it holds a hash, a limit, a path, a public key, ..."""
    return any(part.lower() in _NOT_A_SECRET_PART for part in _NAME_PARTS.findall(name))


def _plausible_value(value: str) -> bool:
    if _REFERENCE.match(value) or "://" in value or "(" in value or "{" in value:
        return False
    if value.startswith(("./", "../")) or _HASH_PREFIX.match(value):
        return False
    # The rule table checks words only in short values; a long assigned value with one is
    # a template or a chain of `k=v` pairs, not a secret.
    if has_placeholder_word(value):
        return False
    return not _IDENTIFIER.fullmatch(value)


def _password_ok(text: str, match: re.Match[str]) -> bool:
    value = match.group("secret")
    if len(value) < 6 or not _plausible_value(value) or is_common_password(value):
        return False
    if _names_a_non_secret(_key_name(text, match)):
        return False
    return char_classes(value) >= 2 or (len(value) >= 12 and shannon_entropy(value) >= 3.0)


def _secret_ok(text: str, match: re.Match[str]) -> bool:
    value = match.group("secret")
    if len(value) < 16 or not _plausible_value(value) or not looks_random(value):
        return False
    name = _key_name(text, match)
    if match.group("key").lower() == "key" and not _SECRET_KEY_NAME.search(name.lower()):
        return False
    return not _names_a_non_secret(name)


def _basic_ok(_text: str, match: re.Match[str]) -> bool:
    return basic_auth_ok(match.group("secret"))


def _curl_password_ok(_text: str, match: re.Match[str]) -> bool:
    value = match.group("secret")
    return not is_common_password(value) and value != match.group("user")


def _token_ok(_text: str, match: re.Match[str]) -> bool:
    return looks_random(match.group("secret"))


GENERIC = (
    Rule(
        "password-assignment",
        "PASSWORD",
        ("pass", "pwd"),
        re.compile(_PASSWORD_KEY + _SEPARATOR + _VALUE),
        0.0,
        _password_ok,
        score=0.9,
    ),
    Rule(
        "secret-assignment",
        "GENERIC_SECRET",
        ("secret", "token", "credential", "key"),
        re.compile(f"(?P<key>{_SECRET_KEY})" + _SEPARATOR + _VALUE),
        3.0,
        _secret_ok,
        score=0.9,
    ),
    Rule(
        "cli-secret-flag",
        "GENERIC_SECRET",
        ("--",),
        re.compile(
            r"--(?i:password|passwd|pass|token|api-key|apikey|secret|client-secret|auth-token)"
            r"[ =][\"']?" + _VALUE
        ),
        0.0,
        _password_ok,
        score=0.9,
    ),
    Rule(
        "bearer-token",
        "BEARER_TOKEN",
        ("bearer",),
        re.compile(
            r"(?i:bearer)\s{1,3}(?P<secret>[A-Za-z0-9._~+/\-]{16,2048}=*)(?![A-Za-z0-9._~+/=\-])"
        ),
        3.0,
        _token_ok,
        score=0.9,
    ),
    Rule(
        "basic-auth-header",
        "BASIC_AUTH_CREDENTIALS",
        ("authorization",),
        re.compile(
            r"(?i:authorization)[\"']?\s{0,3}[:=]\s{0,3}[\"']?(?i:basic)\s{1,3}"
            r"(?P<secret>[A-Za-z0-9+/]{8,512}={0,2})(?![A-Za-z0-9+/=])"
        ),
        2.5,
        _basic_ok,
    ),
    Rule(
        "curl-user-password",
        "PASSWORD",
        ("-u ", "--user "),
        re.compile(
            r"(?<![\w-])(?:-u|--user)\s{1,3}[\"']?(?P<user>[^\s:\"']{1,64}):"
            r"(?P<secret>[^\s\"'@]{4,128})(?=[\s\"']|$)"
        ),
        0.0,
        _curl_password_ok,
        score=0.9,
    ),
)
