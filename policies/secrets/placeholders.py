"""Values that have the shape of a credential but are not one: placeholders, variable
references and the example keys vendors print in their documentation."""

from __future__ import annotations

import re

from policies.secrets.entropy import has_sequence

# Words templates and docs put in a value. A generated token holds one only by chance, so a
# word counts only in one of its three spellings (`your`, `YOUR`, `Your`) and at a boundary
# (an end, a digit or a separator next to it): ~5e-5 for 40 random base62 characters.
# Over `_WORDY` characters (PEM bodies, JWTs) chance hits add up: markers only.
_WORDS = (
    "example",
    "sample",
    "dummy",
    "placeholder",
    "changeme",
    "change_me",
    "your",
    "xxxx",
    "redacted",
    "insert",
    "replace",
    "fake",
    "test",
    "mock",
    "secret",
    "password",
    "passwd",
    "token",
    "apikey",
    "api_key",
    "api-key",
    "notreal",
    "not_real",
)
_WORDY = 64
_MARKERS = ("...", "\u2026", "***", "<", ">", "{{", "}}", "${", "$(", "%(", "%s", "[", "]")
_REFERENCE = re.compile(
    r"\$[A-Za-z_][A-Za-z0-9_]{0,64}|\$env:[A-Za-z_]\w{0,64}|%[A-Za-z_]\w{0,64}%"
)

# Documented examples (AWS, Stripe, Telegram, jwt.io, GitHub and Slack docs). Those that
# carry EXAMPLE are caught by the word list already; they stay here so the list reads whole.
KNOWN_EXAMPLES = frozenset(
    {
        "AKIAIOSFODNN7EXAMPLE",
        "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
        "sk_test_4eC39HqLyjWDarjtT1zdp7dc",
        "pk_test_TYooMQauvdEDq54NiTphI7jx",
        "123456:ABC-DEF1234ghIkl-zyx57W2v1u123ew11",
        "110201543:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw",
        "ghp_16C7e42F292c6912E7710c838347Ae178B4a",
        "xoxb-17653672481-19874698323-pdFZKVeTuE8sk7oOcBrzbqgy",
        "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6Ikpv"
        "aG4gRG9lIiwiaWF0IjoxNTE2MjM5MDIyfQ.SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c",
    }
)


# Defaults from compose files and tutorials, and the leetspeak of the placeholder words.
COMMON_PASSWORDS = frozenset(
    {"guest", "admin", "root", "postgres", "mysql", "redis", "redispw", "rabbitmq", "mongo"}
    | {"default", "pass", "pw", "pwd", "user", "username", "letmein", "qwerty", "sa"}
    | {"p@ssw0rd", "p@ssword", "passw0rd", "p4ssw0rd", "pa55word", "pa$$word", "pa$$w0rd"}
    | {"s3cr3t", "s3cret", "secr3t", "qwerty123", "admin123", "root123", "welcome1"}
    | {"hunter2", "letmein1", "abc123", "iloveyou", "trustno1"}
)


def is_common_password(value: str) -> bool:
    return value.lower() in COMMON_PASSWORDS


def is_placeholder(value: str) -> bool:
    """Whether `value` is a template, a reference or a made-up filler rather than a secret."""
    if len(set(value)) <= 3 or any(m in value for m in _MARKERS):
        return True
    if _REFERENCE.fullmatch(value):
        return True
    if len(value) > _WORDY:
        return False
    return has_placeholder_word(value) or has_sequence(value)


def has_placeholder_word(value: str) -> bool:
    lowered = value.lower()
    return any(word in lowered and _has_word(value, word) for word in _WORDS)


def _has_word(value: str, word: str) -> bool:
    for spelling in {word, word.upper(), word.capitalize()}:
        at = value.find(spelling)
        while at != -1:
            end = at + len(spelling)
            if _edge(value, at - 1) or _edge(value, end):
                return True
            at = value.find(spelling, at + 1)
    return False


def _edge(value: str, at: int) -> bool:
    return at < 0 or at >= len(value) or not value[at].isalpha()


def is_known_example(value: str) -> bool:
    return value in KNOWN_EXAMPLES
