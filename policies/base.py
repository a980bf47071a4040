"""The stage seam: an ordered list of stages sees each request before routing.

A stage returns a value, never acts: `Allow`, `Transform` (a replacement request, e.g. with
PII redacted) or `Deny` (an error the client receives with `x-should-retry: false`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from gateway.context import RequestContext
from gateway.errors import GatewayError
from gateway.protocol.chat import ChatCompletionRequest
from gateway.protocol.completions import CompletionRequest

StageRequest = ChatCompletionRequest | CompletionRequest


@dataclass(frozen=True, slots=True)
class Allow:
    pass


@dataclass(frozen=True, slots=True)
class Transform:
    request: StageRequest
    reason: str


@dataclass(frozen=True, slots=True)
class Deny:
    error: GatewayError

    def __post_init__(self) -> None:
        self.error.should_retry = False


Verdict = Allow | Transform | Deny


class RequestStage(Protocol):
    name: str

    async def check(self, request: StageRequest, ctx: RequestContext) -> Verdict: ...
