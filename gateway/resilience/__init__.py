"""Timeouts, retries and (later) circuit breakers behind the gateway's own small API."""

from gateway.resilience.retry import is_retryable, with_retries
from gateway.resilience.target_policy import TargetPolicy, within_deadline

__all__ = ["TargetPolicy", "is_retryable", "with_retries", "within_deadline"]
