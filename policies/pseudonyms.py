"""Pseudonymisation: each distinct value a detector found becomes a stable numbered
placeholder (`<EMAIL_ADDRESS_1>`) for the model, and the originals are put back in the
answer. The table lives on one request's context only: never shared, never stored."""

from __future__ import annotations

import re
from collections.abc import Sequence

from policies.findings import Finding, replace

PLACEHOLDER = re.compile(r"<([A-Z][A-Z0-9_]{0,63})_(\d{1,6})>")
# The longest placeholder, for a stream's hold-back.
MAX_PLACEHOLDER = 1 + 64 + 1 + 6 + 1


class Pseudonyms:
    __slots__ = ("_by_placeholder", "_by_value", "_counts")

    def __init__(self) -> None:
        self._by_value: dict[tuple[str, str], str] = {}
        self._by_placeholder: dict[str, str] = {}
        self._counts: dict[str, int] = {}

    def __len__(self) -> int:
        return len(self._by_placeholder)

    def pseudonymise(self, text: str, findings: Sequence[Finding]) -> str:
        return replace(text, findings, self._placeholder)

    def restore(self, text: str) -> str:
        if "<" not in text or not self._by_placeholder:
            return text
        return PLACEHOLDER.sub(lambda m: self._by_placeholder.get(m.group(0), m.group(0)), text)

    def _placeholder(self, finding: Finding, value: str) -> str:
        key = (finding.entity, value)
        known = self._by_value.get(key)
        if known is not None:
            return known
        n = self._counts.get(finding.entity, 0) + 1
        self._counts[finding.entity] = n
        name = f"<{finding.entity}_{n}>"
        self._by_value[key] = name
        self._by_placeholder[name] = value
        return name
