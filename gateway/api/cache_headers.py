"""The client's say over the response cache: `Cache-Control: no-cache` (do not answer from
the cache; the new answer is still stored), `no-store` (neither look up nor store), and
`x-gateway-cache-ttl: <seconds>` (this answer's entry lives at most that long)."""

from __future__ import annotations

import math

from gateway.context import RequestContext
from gateway.errors import InvalidRequestError

_MAX_TTL = 31_536_000.0


def cache_directives(headers: list[tuple[bytes, bytes]], ctx: RequestContext) -> None:
    for name, value in headers:
        if name == b"cache-control":
            directives = {d.strip().split(b"=", 1)[0].lower() for d in value.split(b",")}
            if b"no-store" in directives:
                ctx.cache_lookup = ctx.cache_store = False
            elif b"no-cache" in directives:
                ctx.cache_lookup = False
        elif name == b"x-gateway-cache-ttl":
            ctx.cache_ttl = _ttl(value)


def _ttl(value: bytes) -> float:
    try:
        seconds = float(value)
    except ValueError:
        seconds = math.nan
    if not math.isfinite(seconds) or not 0 < seconds <= _MAX_TTL:
        raise InvalidRequestError(
            f"x-gateway-cache-ttl must be a number of seconds in (0, {_MAX_TTL:.0f}]",
            param="x-gateway-cache-ttl",
            code="invalid_header",
        )
    return seconds
