"""The gateway's one error tree, rendered once as an OpenAI error body.

    GatewayError                      500 server_error
    ├── InvalidRequestError           400 invalid_request_error
    │   └── UnsupportedMediaTypeError 415
    ├── AuthenticationError           401 authentication_error
    ├── PermissionDeniedError         403 permission_error
    ├── NotFoundError                 404 invalid_request_error / model_not_found
    ├── MethodNotAllowedError         405
    ├── RequestTimeoutError           408
    ├── PayloadTooLargeError          413
    ├── UnprocessableEntityError      422
    ├── RateLimitError                429 + retry-after
    │   └── QuotaExceededError        429 insufficient_quota: a budget is spent (no retry)
    ├── BadGatewayError               502 upstream unreachable, reset, truncated, malformed
    │   └── UpstreamAuthError         502 the upstream refused the gateway's own credentials
    ├── ServiceUnavailableError       503 + retry-after
    │   └── CircuitOpenError          503 a target's circuit breaker is open
    ├── GatewayTimeoutError           504 upstream stalled before its first byte
    │   └── DeadlineExceededError     504 the request's own deadline passed
    ├── UpstreamStatusError           the upstream's own 4xx/5xx: status, body and retry-after kept
    └── FinalError                    another error refused for good (a policy's `Deny`)

Status, type and code are class data; instances add the message and, where it helps, the
request parameter at fault. Foreign exceptions are translated into this tree at the boundary
that meets them (`gateway.backends.upstream_errors` for the HTTP client), never per endpoint.
"""

from __future__ import annotations

import math

import msgspec

from gateway.protocol.errors import ErrorBody, ErrorResponse

_encoder = msgspec.json.Encoder()


class GatewayError(Exception):
    status_code: int = 500
    error_type: str = "server_error"
    error_code: str | None = None
    # Refusals a client must not retry carry `x-should-retry: false` (the OpenAI SDKs obey it).
    should_retry: bool | None = None
    retry_after: float | None = None
    # Whether the backend itself said when to come back (an upstream's `retry-after`), as
    # opposed to the default every 429/503 carries: only then does a retry wait for it.
    retry_after_given: bool = False
    # Whether another attempt on the same target may succeed (the next target may, even
    # when this is False: e.g. one upstream's credentials are wrong).
    retry_same_target: bool = True
    extra_headers: tuple[tuple[bytes, bytes], ...] = ()

    def __init__(
        self,
        message: str,
        *,
        param: str | None = None,
        code: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.param = param
        if code is not None:
            self.error_code = code
        if retry_after is not None:
            self.retry_after = retry_after

    @property
    def retryable_upstream(self) -> bool:
        """Whether another attempt (or the next fallback target) may succeed."""
        return self.status_code in (408, 429, 502, 503, 504) or self.status_code >= 500

    def body(self) -> bytes:
        return _encoder.encode(
            ErrorResponse(
                error=ErrorBody(
                    message=self.message,
                    type=self.error_type,
                    param=self.param,
                    code=self.error_code,
                )
            )
        )

    def headers(self) -> list[tuple[bytes, bytes]]:
        headers: list[tuple[bytes, bytes]] = []
        if self.retry_after is not None and math.isfinite(self.retry_after):
            seconds = max(0, min(86_400, round(self.retry_after)))
            headers.append((b"retry-after", str(seconds).encode()))
        headers.extend(self.extra_headers)
        if self.should_retry is not None:
            headers.append((b"x-should-retry", b"true" if self.should_retry else b"false"))
        return headers


class InvalidRequestError(GatewayError):
    status_code = 400
    error_type = "invalid_request_error"
    should_retry = False


class UnsupportedMediaTypeError(InvalidRequestError):
    status_code = 415
    error_code = "unsupported_media_type"


class AuthenticationError(GatewayError):
    status_code = 401
    error_type = "authentication_error"
    error_code = "invalid_api_key"
    should_retry = False


class PermissionDeniedError(GatewayError):
    status_code = 403
    error_type = "permission_error"
    should_retry = False


class NotFoundError(GatewayError):
    status_code = 404
    error_type = "invalid_request_error"
    error_code = "not_found"
    should_retry = False


class ModelNotFoundError(NotFoundError):
    error_code = "model_not_found"

    def __init__(self, model: str) -> None:
        super().__init__(
            f"The model `{model}` does not exist or you do not have access to it.",
            param="model",
        )


class MethodNotAllowedError(GatewayError):
    status_code = 405
    error_type = "invalid_request_error"
    error_code = "method_not_allowed"
    should_retry = False

    def __init__(self, message: str, *, allow: str | None = None) -> None:
        super().__init__(message)
        if allow:
            self.extra_headers = ((b"allow", allow.encode("latin-1")),)


class RequestTimeoutError(GatewayError):
    status_code = 408
    error_type = "timeout_error"
    error_code = "request_timeout"


class PayloadTooLargeError(GatewayError):
    status_code = 413
    error_type = "invalid_request_error"
    error_code = "request_too_large"
    should_retry = False


class UnprocessableEntityError(GatewayError):
    status_code = 422
    error_type = "invalid_request_error"
    should_retry = False


class RateLimitError(GatewayError):
    status_code = 429
    error_type = "rate_limit_error"
    error_code = "rate_limit_exceeded"
    retry_after = 1.0


class QuotaExceededError(RateLimitError):
    """A spend budget is exhausted: retrying before the period ends cannot succeed."""

    error_type = "insufficient_quota"
    error_code = "insufficient_quota"
    should_retry = False


class BadGatewayError(GatewayError):
    status_code = 502
    error_type = "upstream_error"
    error_code = "bad_gateway"


class ServiceUnavailableError(GatewayError):
    status_code = 503
    error_type = "server_error"
    error_code = "service_unavailable"
    retry_after = 1.0


class UpstreamAuthError(BadGatewayError):
    """The upstream refused the gateway's own key: the operator's problem, not the client's
    (an SDK must not raise `AuthenticationError` about a key its user never sent)."""

    error_type = "upstream_auth_error"
    error_code = "upstream_auth_failed"
    retry_same_target = False


class CircuitOpenError(ServiceUnavailableError):
    """A target's circuit breaker is open: skipped without a network call (the next target
    may answer); the client sees it only when no target is left."""

    error_code = "circuit_open"
    retry_same_target = False


class GatewayTimeoutError(GatewayError):
    status_code = 504
    error_type = "timeout_error"
    error_code = "upstream_timeout"


class DeadlineExceededError(GatewayTimeoutError):
    """The request's own deadline passed before its reply was committed: final, since the
    next target would only start later still."""

    error_code = "deadline_exceeded"

    @property
    def retryable_upstream(self) -> bool:
        return False


class UpstreamStatusError(GatewayError):
    """An upstream answered with an error status: the client sees that status and body."""

    def __init__(
        self,
        status_code: int,
        body: bytes,
        message: str,
        *,
        retry_after: float | None = None,
    ) -> None:
        given = retry_after is not None
        if retry_after is None and status_code in (429, 503):
            retry_after = 1.0  # the client must always learn when to come back
        super().__init__(message, retry_after=retry_after)
        self.retry_after_given = given
        self.status_code = status_code
        self.error_type = "invalid_request_error" if status_code < 500 else "upstream_error"
        if status_code in (400, 401, 403, 404, 413, 422):
            self.should_retry = False
        self._body = body

    def body(self) -> bytes:
        return self._body


class FinalError(GatewayError):
    """Another error, refused for good: its status, body and headers, plus
    `x-should-retry: false`. The original is left as it was."""

    should_retry = False

    def __init__(self, cause: GatewayError) -> None:
        super().__init__(cause.message, param=cause.param, code=cause.error_code)
        self.status_code = cause.status_code
        self.error_type = cause.error_type
        self.retry_after = cause.retry_after
        self.extra_headers = cause.extra_headers
        self._cause = cause

    @property
    def retryable_upstream(self) -> bool:
        return False

    def body(self) -> bytes:
        return self._cause.body()


def error_from_status(status_code: int, message: str) -> GatewayError:
    """The tree's class for an HTTP status raised by the web framework itself (404, 405...)."""
    cls = _BY_STATUS.get(status_code, GatewayError if status_code >= 500 else InvalidRequestError)
    return cls(message)


_BY_STATUS: dict[int, type[GatewayError]] = {
    400: InvalidRequestError,
    401: AuthenticationError,
    403: PermissionDeniedError,
    404: NotFoundError,
    405: MethodNotAllowedError,
    408: RequestTimeoutError,
    413: PayloadTooLargeError,
    415: UnsupportedMediaTypeError,
    422: UnprocessableEntityError,
    429: RateLimitError,
    502: BadGatewayError,
    503: ServiceUnavailableError,
    504: GatewayTimeoutError,
}
