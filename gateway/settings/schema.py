"""The policy file's types: one frozen tree, decoded strictly (unknown keys are errors).
Its sections' types live beside it (`backend_types`, `cache_types`, `content_policies`,
`rag_types`, `tool_types`, `workflow_types`); the backend types are re-exported here.

Secrets never appear in the file: a backend names the environment variable that holds its key.
`gateway schema` prints the JSON Schema generated from these same types.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from msgspec import Meta, field

from gateway.settings.backend_types import BackendSpec, OnnxEmbedderSpec
from gateway.settings.base_types import Config, EnvVarName, Name, Port, PositiveSeconds, Share
from gateway.settings.cache_types import CacheStore, RouteCache
from gateway.settings.content_policies import Audit, PolicySet
from gateway.settings.inference_log_types import InferenceLog
from gateway.settings.rag_types import Rag
from gateway.settings.tool_types import ToolName, Tools
from gateway.settings.upstream_types import CapabilitiesSpec, Timeouts
from gateway.settings.workflow_types import Workflows


class RouteTarget(Config, frozen=True):
    """One place a route can send a request: a backend and the model name it receives."""

    # The backend (a key of `backends`) this target calls.
    backend: Name
    # The model name the backend receives (unset: the route's id, or `*` for a prefix route).
    upstream_model: Name | None = None
    # Share of requests under `balance: weighted` (relative to the route's other targets).
    weight: Annotated[float, Meta(gt=0, le=1_000_000)] = 1.0
    # This target's own capabilities, over its backend's.
    capabilities: CapabilitiesSpec | None = None


Balance = Literal["ordered", "weighted", "least_busy", "latency"]


class IntentRoute(Config, frozen=True):
    """One intent of a `route_by: intent` route: a few example utterances (and keywords),
    and the model id that serves it."""

    # The intent's name, unique within the route (its words count like `keywords`).
    name: Name
    # The model id (another entry of `models`) that serves this intent.
    model: Name
    # Example utterances of the intent, compared with the request's last user turn.
    examples: list[Annotated[str, Meta(min_length=1)]] = field(default_factory=list)
    # Words or phrases that mark the intent (weighted above a single example).
    keywords: list[Annotated[str, Meta(min_length=1)]] = field(default_factory=list)


class ModelRoute(Config, frozen=True):
    """A client-visible model id and where it goes: one `backend` (+ `upstream_model`), or
    several `targets` chosen by `balance`; then `fallbacks` (other model ids) when every
    target failed.

    An id ending in `/*` routes every model with that prefix; its `upstream_model` may use
    `*` for the rest of the name (`openai/*` -> `*` sends `openai/gpt-4o` as `gpt-4o`).
    """

    # The model id clients send as `model` (unique; a trailing `/*` makes a prefix route).
    id: Name
    # The backend (a key of `backends`) of a one-target route; or set `targets`.
    backend: Name | None = None
    # The model name the backend receives (unset: the id, or `*` for a prefix route).
    upstream_model: Name | None = None
    # Several targets instead of one `backend`; `balance` says which goes first.
    targets: list[RouteTarget] = field(default_factory=list)
    # Which target goes first: `ordered` (as listed), `weighted` (random by weight),
    # `least_busy` (fewest requests in flight), `latency` (fastest recent answers, EWMA);
    # the others follow as failover targets.
    balance: Balance = "ordered"
    # Other model ids (exact ones, no cycles), tried in order when every target failed.
    fallbacks: list[Name] = field(default_factory=list)
    # A classifying route picks another model id for each request: `intent` (the last user
    # turn against each intent's examples and keywords; below `threshold`, `default`) or
    # `complexity` (a cheap score of length, code, maths, tools, turns: at or above
    # `threshold`, `complex`, else `simple`). It has no `backend` or `targets` of its own.
    route_by: Literal["intent", "complexity"] | None = None
    # `route_by`'s cut-off in [0, 1]: the intent confidence below which `default` serves, or
    # the complexity score at or above which `complex` does.
    threshold: Share = 0.5
    # `route_by: intent`: the model id for a request no intent matches (below `threshold`).
    default: Name | None = None
    # `route_by: intent`: the intents, each with its examples, keywords and model id.
    intents: list[IntentRoute] = field(default_factory=list)
    # `route_by: complexity`: the model id for requests scoring below `threshold`.
    simple: Name | None = None
    # `route_by: complexity`: the model id for requests scoring at or above `threshold`.
    complex: Name | None = None
    # Requests in flight on this route (None: no limit); beyond it a request waits up to
    # `queue_timeout_seconds` for a slot, then gets a 429 with `retry-after`.
    max_concurrency: Annotated[int, Meta(ge=1, le=1_000_000)] | None = None
    # Seconds a request waits for a `max_concurrency` slot before its 429.
    queue_timeout_seconds: Annotated[float, Meta(ge=0, le=600)] = 1.0
    # Rate limits on the whole route (every caller together), beside each key's and tenant's.
    limits: Limits | None = None
    # The content policy set (a name under `policies`) for every request to this route.
    policy: Name | None = None
    # Answers served from the response cache, and identical requests in flight sharing one
    # upstream call (never across tenants).
    cache: RouteCache = field(default_factory=RouteCache)
    # Identical requests in flight share one upstream call (per tenant; deterministic ones
    # only, unless `cache.cache_sampled`), whatever the cache `mode`.
    coalesce: bool = False
    # Gateway-run tools this route offers the model, beside the client's own.
    tools: list[ToolName] = field(default_factory=list)
    # What `/v1/models` reports as this model's `owned_by`.
    owned_by: str = "gateway"
    # A prompt longer than a local model's window: `error` (400 context_length_exceeded) or
    # `trim_oldest` (drop the oldest turns, always keeping system messages and the last turn).
    context_overflow: Literal["error", "trim_oldest"] = "error"

    def route_targets(self) -> list[RouteTarget]:
        """The targets, the one-target shorthand included (`upstream_model` defaults to the
        route's id, or `*` for a prefix route)."""
        default = "*" if self.id.endswith("/*") else self.id
        if self.targets:
            return [
                RouteTarget(
                    backend=t.backend,
                    upstream_model=t.upstream_model or default,
                    weight=t.weight,
                    capabilities=t.capabilities,
                )
                for t in self.targets
            ]
        if self.backend is None:
            return []
        return [RouteTarget(backend=self.backend, upstream_model=self.upstream_model or default)]


class Retries(Config, frozen=True):
    """Retries of a failed upstream call on the same target, before the next target."""

    # Attempts on the same target before moving to the next fallback (1 = no retry).
    attempts: Annotated[int, Meta(ge=1, le=10)] = 1
    # Seconds before the first retry (longer when the upstream's `retry-after` asks); later
    # waits are random up to an exponentially growing bound (at most 5 s).
    backoff_seconds: Annotated[float, Meta(ge=0, le=60)] = 0.05
    # A retry waits at least the upstream's `retry-after`; when it asks for longer than
    # this, the next target (a fallback) is tried at once instead.
    max_retry_after_seconds: Annotated[float, Meta(ge=0, le=600)] = 1.0


class Breaker(Config, frozen=True):
    """Per target: open after `failures` failures within `window_seconds` (an open target
    is skipped without a network call), half-open after `cooldown_seconds` (one probe),
    closed again when the probe succeeds."""

    # Failures (5xx, 429, timeouts, unreachable) within `window_seconds` that open it.
    failures: Annotated[int, Meta(ge=1, le=10_000)] = 5
    # The sliding window, in seconds, that failures are counted in.
    window_seconds: Annotated[float, Meta(gt=0, le=86_400)] = 30.0
    # Seconds an open breaker waits before letting one probe through (half-open).
    cooldown_seconds: Annotated[float, Meta(ge=0, le=86_400)] = 10.0


class Defaults(Config, frozen=True):
    """What every target gets (a backend may set its own `timeouts`), and a request's deadline."""

    # Every upstream call's timeouts (a backend's own `timeouts` override them).
    timeouts: Timeouts = field(default_factory=Timeouts)
    # Retries of a failed call on the same target (not after a timeout) before the next one.
    retries: Retries = field(default_factory=Retries)
    # The circuit breaker each target (`<backend>/<upstream model>`) gets.
    breaker: Breaker = field(default_factory=Breaker)
    # A request's whole budget before its commit point (every target, retry and backoff
    # included): past it the client gets a 504. A client's own shorter timeout (the
    # `x-stainless-read-timeout` header the OpenAI SDKs send) lowers it. None: only the
    # backends' own timeouts apply.
    deadline_seconds: PositiveSeconds | None = None
    # What a token limit reserves for the completion when a request sets no `max_tokens`.
    estimated_completion_tokens: Annotated[int, Meta(ge=1, le=1_000_000)] = 256


class Server(Config, frozen=True):
    """The HTTP server (`gateway serve`'s `--host`, `--port` and `--workers` win)."""

    # The address to listen on (`0.0.0.0`: every interface); `gateway serve --host` wins.
    host: str = "127.0.0.1"
    # The TCP port to listen on; `gateway serve --port` wins.
    port: Port = 8080
    # Worker processes (`--workers` wins); `/metrics` on any one reports every worker's sums.
    workers: Annotated[int, Meta(ge=1, le=64)] = 1
    # Larger request bodies get a 413.
    max_body_bytes: Annotated[int, Meta(ge=1024)] = 16 * 1024 * 1024
    # A request body that takes longer to arrive gets a 408 (slow-loris protection).
    body_timeout_seconds: PositiveSeconds = 30.0
    # `: keep-alive` comment lines while a committed stream is idle (0 turns them off).
    sse_keepalive_seconds: Annotated[float, Meta(ge=0)] = 15.0
    # One JSON line per request on stderr (no bodies unless `log_bodies`, never keys).
    access_log: bool = True
    # Debugging only: add each request's body (its first 8 KiB) to its access-log line,
    # after the secrets redaction pass (`[REDACTED:<KIND>]`). Prompts then reach the log
    # (PII is not redacted): keep it off in production.
    log_bodies: bool = False
    # OpenTelemetry spans per request and stage (router, cache, policies, each target and
    # attempt) over OTLP/HTTP, configured by the `OTEL_*` variables; needs the `otel` extra.
    # An `OTEL_EXPORTER_OTLP_ENDPOINT` in the environment turns it on too.
    tracing: bool = False
    # `x-gateway-overhead-ms` on every response: the gateway's own time, backends' excluded.
    overhead_header: bool = True
    # Browser origins allowed to call the API (CORS), e.g. a chat frontend; `*` for any.
    cors_allow_origins: list[str] = field(default_factory=list)
    # Freeze the start-up heap and collect garbage less often (see gateway/runtime.py).
    gc_tuning: bool = True


class Auth(Config, frozen=True):
    """Who may call: with `required`, every `/v1/*` request needs a key from `keys`."""

    # Every `/v1/*` and `/mcp` request needs a valid, unexpired key from `keys` (else 401
    # `invalid_api_key`); `/healthz` and `/readyz` stay open.
    required: bool = False
    # The environment variable holding the admin key, which `/metrics` and `/admin/*` then
    # need (with or without `required`); unset: `/admin/*` and `/ui` answer loopback only.
    admin_key_env: EnvVarName | None = None


class Limits(Config, frozen=True):
    """Rate limits over a sliding 60-second window (exact: never more than `rpm` requests
    in any 60 s), and requests in flight. Unset: no limit of that kind."""

    # Requests per minute.
    rpm: Annotated[int, Meta(ge=1, le=10_000_000)] | None = None
    # Tokens per minute: a request reserves its prompt plus `max_tokens` (or
    # `defaults.estimated_completion_tokens`) and is settled with the real usage afterwards.
    tpm: Annotated[int, Meta(ge=1, le=10_000_000_000)] | None = None
    # Requests in flight at once (each held until it is settled).
    max_parallel: Annotated[int, Meta(ge=1, le=1_000_000)] | None = None


class Budget(Config, frozen=True):
    """Spend caps in USD (cost from `prices` and the reported usage), per UTC day / month;
    exhausted: 429 `insufficient_quota` until the period ends."""

    # The cap per UTC day, in USD.
    usd_per_day: Annotated[float, Meta(gt=0)] | None = None
    # The cap per UTC calendar month, in USD.
    usd_per_month: Annotated[float, Meta(gt=0)] | None = None


class Tenant(Config, frozen=True):
    """Limits and budget shared by every key of one tenant."""

    # Rate limits over every key of the tenant together (besides each key's own).
    limits: Limits | None = None
    # Spend caps over every key of the tenant together (besides each key's own).
    budget: Budget | None = None


class Price(Config, frozen=True):
    """USD per 1M tokens."""

    # USD per 1M prompt (input) tokens.
    input: Annotated[float, Meta(ge=0)] = 0.0
    # USD per 1M completion (output) tokens.
    output: Annotated[float, Meta(ge=0)] = 0.0


class ApiKey(Config, frozen=True):
    """A client key, stored as its sha256 (hex) only: the key itself never appears here."""

    # The key's name (not secret): metrics and usage show it; `gateway keys revoke` takes it.
    id: Name
    # The sha256 (lowercase hex) of the key sent as `Authorization: Bearer` or `x-api-key`.
    sha256: Annotated[str, Meta(pattern=r"^[0-9a-f]{64}$")]
    # The tenant it belongs to (that `tenants` entry's limits and budget apply too); cache,
    # usage, stored responses and RAG documents are kept per tenant.
    tenant: Name | None = None
    # Route ids (and `prefix/*` patterns) this key may use; omitted: every model.
    models: list[Name] | None = None
    # After this instant the key is refused (RFC 3339, e.g. 2027-01-01T00:00:00Z).
    expires: datetime | None = None
    # Queue priority at a busy local model (lower runs sooner); `x-priority` may only
    # raise the number (run later), never jump the queue.
    priority: Annotated[int, Meta(ge=-10, le=10)] = 0
    # This key's own rate limits (besides its tenant's and the route's).
    limits: Limits | None = None
    # This key's own spend caps (besides its tenant's).
    budget: Budget | None = None
    # A content policy set for this key's requests, applied besides the route's own.
    policy: Name | None = None


class StoredResponses(Config, frozen=True):
    """`/v1/responses` answers kept (unless a request says `store: false`) so that
    `previous_response_id` chains a conversation and `GET /v1/responses/{id}` reads one
    back. In Redis when `state.redis_url_env` is set (every replica sees them), else in
    this process's memory, bounded by the two limits (least recently used go first)."""

    # How long a response can be chained or read (OpenAI keeps them 30 days).
    ttl_seconds: Annotated[float, Meta(gt=0)] = 30 * 86_400.0
    # Responses held at most in memory (least recently used go first); Redis ignores it.
    max_entries: Annotated[int, Meta(ge=1)] = 10_000
    # Bytes of responses held at most in memory; Redis ignores it.
    max_bytes: Annotated[int, Meta(ge=1024)] = 256 * 1024 * 1024


class State(Config, frozen=True):
    """Where state shared by replicas lives (embedded, per process, when unset)."""

    # The environment variable holding a Redis URL (`redis://host:6379/0`): circuit-breaker
    # state is then shared by every replica; Redis down leaves each on its own state.
    redis_url_env: EnvVarName | None = None
    # Redis unreachable: `fail_open` (each replica enforces limits and budgets on its own,
    # logs a warning and sets `gateway_state_degraded`) or `fail_closed` (503 with
    # `retry-after` for requests that need shared state).
    on_unavailable: Literal["fail_open", "fail_closed"] = "fail_open"
    # Every Redis call is bounded by this (an unreachable Redis never hangs a request).
    timeout_seconds: Annotated[float, Meta(gt=0, le=10)] = 0.25
    # `/v1/responses` answers kept for `previous_response_id` and `GET /v1/responses/{id}`.
    responses: StoredResponses = field(default_factory=StoredResponses)


class Settings(Config, frozen=True):
    # The policy file format's version (only 1 exists).
    version: Literal[1] = 1
    # The HTTP server: address, workers, body limits, logs and tracing.
    server: Server = field(default_factory=Server)
    # Timeouts, retries and the circuit breaker for every target, and a request's deadline.
    defaults: Defaults = field(default_factory=Defaults)
    # Where state shared by replicas lives (Redis), and the stored `/v1/responses`.
    state: State = field(default_factory=State)
    # Who may call: whether `/v1/*` needs a key, and the admin key.
    auth: Auth = field(default_factory=Auth)
    # Client keys (as sha256 hashes): allowed models, tenant, limits, budget, policy.
    keys: list[ApiKey] = field(default_factory=list)
    # Limits and budget shared by every key of a tenant, by the keys' `tenant` name.
    tenants: dict[Name, Tenant] = field(default_factory=dict)
    # Per model: the route id or the upstream model name (the upstream name wins). Models
    # without a price cost nothing (local models, unless priced).
    prices: dict[Name, Price] = field(default_factory=dict)
    # Named content policy sets, selected by `models[].policy` and `keys[].policy`.
    policies: dict[Name, PolicySet] = field(default_factory=dict)
    # Where security events (content-policy findings and failures) are written.
    audit: Audit = field(default_factory=Audit)
    # Request/response pairs written as JSON lines, redacted (None: off).
    inference_log: InferenceLog | None = None
    # The response cache's store (routes opt in with `models[].cache`).
    cache: CacheStore = field(default_factory=CacheStore)
    # Gateway-run tools: the loop's limits, MCP servers, `verify` (routes opt in: `models[].tools`).
    tools: Tools = field(default_factory=Tools)
    # Knowledge bases the `search_knowledge` tool and `/v1/rag/*` serve (None: no RAG).
    rag: Rag | None = None
    # Durable DAG workflows (`run_workflow`, `/v1/workflows/*`; None: no workflows).
    workflows: Workflows | None = None
    # Where requests go, by name: remote APIs, local models, the embedder, plugins.
    backends: dict[Name, BackendSpec] = field(default_factory=dict)
    # The model ids clients see, and where each one goes.
    models: list[ModelRoute] = field(default_factory=list)

    def onnx_embedder(self, model: str | None) -> OnnxEmbedderSpec | None:
        """The `onnx_embedder` backend spec that serves `model` (None: the built-in
        all-MiniLM-L6-v2, which is there even when no backend names it); None when no
        backend serves it."""
        builtin = OnnxEmbedderSpec()
        name = builtin.model if model is None else model
        for spec in self.backends.values():
            if isinstance(spec, OnnxEmbedderSpec) and spec.model == name:
                return spec
        return builtin if name == builtin.model else None
