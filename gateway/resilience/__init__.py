"""Timeouts, retries, circuit breakers and concurrency limits behind the gateway's own small
API (tenacity and pybreaker stay inside)."""

from gateway.resilience.breaker import BreakerRegistry, BreakerState, TargetBreaker
from gateway.resilience.concurrency import RouteLimit
from gateway.resilience.priority_gate import PriorityGate
from gateway.resilience.retry import is_retryable, with_retries
from gateway.resilience.target_policy import TargetPolicy, within_deadline

__all__ = [
    "BreakerRegistry",
    "BreakerState",
    "PriorityGate",
    "RouteLimit",
    "TargetBreaker",
    "TargetPolicy",
    "is_retryable",
    "with_retries",
    "within_deadline",
]
