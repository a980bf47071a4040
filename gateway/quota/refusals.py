"""How a refused request is told: OpenAI's statuses, codes and headers, so that the SDKs
back off (`retry-after`, `retry-after-ms`) or stop (`x-should-retry: false`) as they do
against OpenAI itself."""

from __future__ import annotations

import calendar
import math
import time

from gateway.errors import GatewayError, QuotaExceededError, RateLimitError
from gateway.quota.model import Admitted, Refused

_PER_MINUTE = {"requests": "requests per minute", "tokens": "tokens per minute"}


def refusal_error(refused: Refused, requested_tokens: int, now: float) -> GatewayError:
    scope, kind, limit = refused.scope.label, refused.kind, refused.limit
    if kind in ("day_budget", "month_budget"):
        period = "daily" if kind == "day_budget" else "monthly"
        error: GatewayError = QuotaExceededError(
            f"The {period} budget of {scope} (${limit / 1e9:.2f}) is spent; "
            "requests resume when the period ends (UTC) or the budget is raised.",
            retry_after=_until_period_end(now, kind),
        )
        return error
    if kind == "too_large":
        error = RateLimitError(
            f"Request too large for {scope}: about {requested_tokens} tokens (prompt plus "
            f"max_tokens) against a limit of {limit} tokens per minute. Shorten the prompt "
            "or lower max_tokens.",
        )
        error.should_retry = False
        return error
    if kind == "parallel":
        message = f"Too many requests in flight for {scope} (limit {limit}); retry shortly."
    else:
        message = (
            f"Rate limit reached for {scope}: {limit} {_PER_MINUTE[kind]}. "
            f"Retry in {_seconds(refused.retry_after)}."
        )
    # Whole seconds in `retry-after` (rounded up: never earlier than the window frees),
    # the exact wait in `retry-after-ms`.
    wait = max(refused.retry_after, 0.001)
    error = RateLimitError(message, retry_after=max(1, math.ceil(wait)))
    error.extra_headers = ((b"retry-after-ms", str(math.ceil(wait * 1000)).encode()),)
    return error


def rate_limit_headers(decision: Admitted | Refused) -> list[tuple[bytes, bytes]]:
    """`x-ratelimit-{limit,remaining,reset}-{requests,tokens}` for the tightest window of
    each kind among the request's scopes."""
    headers: list[tuple[bytes, bytes]] = []
    for names, window in ((_REQUESTS, decision.requests), (_TOKENS, decision.tokens)):
        if window is not None:
            headers.append((names[0], b"%d" % window.limit))
            headers.append((names[1], b"%d" % window.remaining))
            headers.append((names[2], duration(window.reset_seconds).encode()))
    return headers


_REQUESTS = tuple(f"x-ratelimit-{h}-requests".encode() for h in ("limit", "remaining", "reset"))
_TOKENS = tuple(f"x-ratelimit-{h}-tokens".encode() for h in ("limit", "remaining", "reset"))


def duration(seconds: float) -> str:
    """A duration as OpenAI writes it in `x-ratelimit-reset-*`: `20ms`, `1s`, `6m0s`,
    `1h2m3.5s`."""
    if seconds < 1:
        return f"{max(0, math.ceil(seconds * 1000))}ms"
    millis = math.ceil(seconds * 1000)
    hours, millis = divmod(millis, 3_600_000)
    minutes, millis = divmod(millis, 60_000)
    secs = f"{millis / 1000:.3f}".rstrip("0").rstrip(".")
    if hours:
        return f"{hours}h{minutes}m{secs}s"
    if minutes:
        return f"{minutes}m{secs}s"
    return f"{secs}s"


def _seconds(seconds: float) -> str:
    return f"{max(1, math.ceil(seconds))}s"


def _until_period_end(now: float, kind: str) -> float:
    t = time.gmtime(now)
    if kind == "day_budget":
        end = calendar.timegm((t.tm_year, t.tm_mon, t.tm_mday, 0, 0, 0)) + 86_400
    else:
        year, month = (t.tm_year + 1, 1) if t.tm_mon == 12 else (t.tm_year, t.tm_mon + 1)
        end = calendar.timegm((year, month, 1, 0, 0, 0))
    return max(1.0, end - now)
