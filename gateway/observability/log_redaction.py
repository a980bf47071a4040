"""The redaction pass every log line goes through: credentials the secrets policy's
detector recognises (API keys, tokens, private keys, passwords in URLs, ...) and any
`Bearer <token>` are replaced by `[REDACTED:<KIND>]`, so a key quoted in an upstream's error
message or an exception's text never reaches the log. Request bodies are not logged at all
unless `server.log_bodies` is on, and then only after this same pass (see the access log).

The detector is the policy stage's (`policies.secrets`), not a second set of patterns: one
definition of what a secret looks like."""

from __future__ import annotations

import re

from policies.secrets.detector import SecretDetector

# An Authorization header's value even when the token itself looks like nothing known.
_BEARER = re.compile(r"(?i)\b(bearer|basic)\s+[^\s\"',;]{6,}")
# Short texts seen again and again (model names in access-log lines) are scanned once.
_MEMO_SIZE = 512
_MEMO_MAX_LENGTH = 256


class Redactor:
    def __init__(self) -> None:
        self._detector = SecretDetector()
        self._memo: dict[str, str] = {}

    def text(self, value: str) -> str:
        findings = self._detector.find(value)
        if findings:
            parts: list[str] = []
            at = 0
            for finding in findings:
                parts.append(value[at : finding.start])
                parts.append(f"[REDACTED:{finding.entity}]")
                at = finding.end
            parts.append(value[at:])
            value = "".join(parts)
        if "earer" in value or "asic" in value:
            value = _BEARER.sub(lambda m: f"{m.group(1)} [REDACTED]", value)
        return value

    def short(self, value: str) -> str:
        """`text`, remembered for short values (a bounded memo: the first few hundred)."""
        known = self._memo.get(value)
        if known is not None:
            return known
        redacted = self.text(value)
        if len(value) <= _MEMO_MAX_LENGTH and len(self._memo) < _MEMO_SIZE:
            self._memo[value] = redacted
        return redacted
