"""Policy stages: request stages return a verdict, response stages filter the reply."""

from policies.base import (
    Allow,
    Deny,
    RequestStage,
    ResponseFilter,
    ResponseStage,
    StreamOutcome,
    Transform,
    Verdict,
)

__all__ = [
    "Allow",
    "Deny",
    "RequestStage",
    "ResponseFilter",
    "ResponseStage",
    "StreamOutcome",
    "Transform",
    "Verdict",
]
