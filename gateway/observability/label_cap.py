"""Bounded label values. Every label value the gateway records comes from its own tables
(route ids from the catalog, key ids from the key table, stage and tool names from the
policy file), never from a request; the cap is the second line of defence: a table that
grows at run time (keys created through the admin API, models an upstream lists) cannot
grow a metric's series without bound either. Past the cap, new values count as `other`."""

from __future__ import annotations

OTHER = "other"
# Distinct values one label keeps per metric: enough for a large policy file, small
# enough that a scrape stays a few hundred kilobytes.
DEFAULT_LIMIT = 200


class LabelCap:
    __slots__ = ("_limit", "_seen")

    def __init__(self, limit: int = DEFAULT_LIMIT) -> None:
        self._limit = limit
        self._seen: set[str] = set()

    def __call__(self, value: str) -> str:
        if value in self._seen:
            return value
        if len(self._seen) >= self._limit:
            return OTHER
        self._seen.add(value)
        return value
