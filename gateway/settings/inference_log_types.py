"""The `inference_log` section: request/response pairs written as JSON lines for evaluation
or fine-tuning datasets (`gateway.observability.inference_log`)."""

from __future__ import annotations

from typing import Annotated, Literal

from msgspec import Meta, field

from gateway.settings.base_types import Config, Share

LoggedEndpoint = Literal["chat", "completions", "responses", "messages"]
Redaction = Literal["secrets", "pii"]


class InferenceLog(Config, frozen=True):
    """Each answered request as one JSON line (request id, time, key id and tenant, never
    the key; route, served target, the request, the final answer with usage, latency, the
    gateway's tool calls), redacted and written by a background thread: the request path
    only queues a record. Read at startup (a reload keeps the running log). With
    `server.workers` > 1 every worker appends to the same file."""

    # The JSON Lines file (its directory is created); opened at startup.
    path: Annotated[str, Meta(min_length=1)]
    # The APIs whose requests are written: `chat` (/v1/chat/completions), `completions`
    # (/v1/completions), `responses` (/v1/responses), `messages` (/v1/messages). A record
    # holds the chat-completions form the gateway ran, whichever API the client spoke.
    endpoints: list[LoggedEndpoint] = field(
        default_factory=lambda: ["chat", "completions", "responses", "messages"]
    )
    # The gateway-run tool calls of each request: name, arguments, result, duration, outcome.
    tool_traces: bool = True
    # The share of requests written, chosen at random per request.
    sample_rate: Share = 1.0
    # Rewritten in every text before a line is written, each span as its `<ENTITY>`
    # placeholder: `secrets` (API keys, tokens, private keys, passwords in URLs: the secrets
    # policy's rules) and `pii` (e-mail addresses, phone, card, IBAN and US SSN numbers, IP
    # addresses: the PII policy's default entities). `[]` writes the texts as they came.
    redact: list[Redaction] = field(default_factory=lambda: ["secrets", "pii"])
    # A tool result longer than this many characters is cut in the trace (after redaction).
    max_tool_result_chars: Annotated[int, Meta(ge=0, le=10_000_000)] = 4096
    # Past this size the file is renamed to `<path>.1` (replacing the previous one) and a
    # new one begins.
    max_bytes: Annotated[int, Meta(ge=1024)] = 100 * 1024 * 1024
    # Records waiting for the writer; when it is full a new record is dropped and counted
    # in `gateway_inference_log_dropped_total` (the request is never slowed down).
    queue_size: Annotated[int, Meta(ge=1, le=1_000_000)] = 10_000
    # At shutdown the queued records are written for at most this long.
    drain_seconds: Annotated[float, Meta(ge=0, le=600)] = 5.0
