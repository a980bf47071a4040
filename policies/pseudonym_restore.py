"""The originals put back where the model wrote the request's pseudonyms
(`<EMAIL_ADDRESS_1>`), in JSON replies and streams (a placeholder split across chunks is
held until it is whole)."""

from __future__ import annotations

from gateway.context import RequestContext
from policies.audit import AuditLog
from policies.base import AnyRequest, ResponseFilter
from policies.findings import Finding
from policies.output_redaction import OutputRedactionStage
from policies.pseudonyms import MAX_PLACEHOLDER, PLACEHOLDER, Pseudonyms


class _Placeholders:
    name = "pseudonyms"
    max_span = MAX_PLACEHOLDER

    def __init__(self, table: Pseudonyms) -> None:
        self._table = table

    def find(self, text: str) -> list[Finding]:
        if "<" not in text:
            return []
        return [
            Finding(m.start(), m.end(), m.group(1))
            for m in PLACEHOLDER.finditer(text)
            if self._table.restore(m.group(0)) != m.group(0)
        ]

    def hold(self, pending: str) -> int:
        """Only an unclosed `<` near the end may still become a placeholder."""
        at = pending.rfind("<", max(0, len(pending) - MAX_PLACEHOLDER))
        return 0 if at < 0 or ">" in pending[at:] else len(pending) - at


class PseudonymRestoreStage:
    name = "pseudonym_restore"

    def open(self, request: AnyRequest, ctx: RequestContext) -> ResponseFilter | None:
        table = ctx.pseudonyms
        if not isinstance(table, Pseudonyms) or not len(table):
            return None
        stage = OutputRedactionStage(
            [_Placeholders(table)],
            audit=AuditLog(None),  # restoring is no security event
            write=lambda _finding, value: table.restore(value),
        )
        return stage.open(request, ctx)
