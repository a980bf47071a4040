"""What a refused request is told: OpenAI's duration format in `x-ratelimit-reset-*`, and
the status, code and retry headers of each kind of refusal."""

from __future__ import annotations

import calendar

import pytest

from gateway.quota.model import Admitted, Refused, ScopeLimits, Window
from gateway.quota.refusals import duration, rate_limit_headers, refusal_error

SCOPE = ScopeLimits("key:k", "key `k`", rpm=10)


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(0.0, "0ms"), (0.0201, "21ms"), (1.0, "1s"), (7.66, "7.66s"), (360.0, "6m0s"),
     (3723.5, "1h2m3.5s")],
)  # fmt: skip
def test_durations_are_written_as_openai_writes_them(seconds: float, text: str) -> None:
    assert duration(seconds) == text


def test_retry_after_is_rounded_up_and_exact_in_milliseconds() -> None:
    error = refusal_error(Refused("requests", SCOPE, 10, 12.2), 0, 0.0)
    assert error.status_code == 429 and error.error_code == "rate_limit_exceeded"
    headers = dict(error.headers())
    assert headers[b"retry-after"] == b"13"
    assert headers[b"retry-after-ms"] == b"12200"
    assert b"x-should-retry" not in headers  # the SDKs retry after the wait


def test_a_budget_refusal_is_insufficient_quota_until_the_period_ends() -> None:
    now = calendar.timegm((2026, 12, 31, 23, 0, 0))
    day = refusal_error(Refused("day_budget", SCOPE, 5_000_000_000, 0.0), 0, now)
    assert (day.status_code, day.error_type, day.error_code) == (
        429, "insufficient_quota", "insufficient_quota",
    )  # fmt: skip
    assert dict(day.headers())[b"x-should-retry"] == b"false"
    assert day.retry_after == 3600.0 and "$5.00" in day.message
    month = refusal_error(Refused("month_budget", SCOPE, 1, 0.0), 0, now)
    assert month.retry_after == 3600.0  # the year rolls over with the month


def test_too_large_is_not_retried_and_says_what_it_asked() -> None:
    error = refusal_error(Refused("too_large", SCOPE, 100, 0.0), 250, 0.0)
    assert dict(error.headers())[b"x-should-retry"] == b"false"
    assert "about 250 tokens" in error.message and "100 tokens per minute" in error.message


def test_headers_cover_each_kind_with_a_window() -> None:
    decision = Admitted(Window(60, 59, 0.5), None)
    assert rate_limit_headers(decision) == [
        (b"x-ratelimit-limit-requests", b"60"),
        (b"x-ratelimit-remaining-requests", b"59"),
        (b"x-ratelimit-reset-requests", b"500ms"),
    ]
