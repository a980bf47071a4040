"""The policy file's caching types: the shared response store (`cache:`) and each route's
use of it (`models[].cache`, `models[].coalesce`)."""

from __future__ import annotations

from typing import Annotated, Literal

from msgspec import Meta, field

from gateway.settings.base_types import Config, Name, Share

# Parts of a request that scope a semantic entry beyond tenant and route: a paraphrase
# only hits an answer given under the same system prompt and the same tools.
SemanticScope = Literal["system_prompt", "tools"]


class CacheStore(Config, frozen=True):
    """Where cached answers live: `memory` (this process, a bounded LRU) or `redis` (the
    `state.redis_url_env` server, shared by every replica)."""

    # `memory` (bounded by `max_entries` and `max_bytes`) or `redis` (`state.redis_url_env`).
    backend: Literal["memory", "redis"] = "memory"
    # Answers `memory` holds at most (least recently used go first); the semantic index's cap.
    max_entries: Annotated[int, Meta(ge=1, le=100_000_000)] = 10_000
    # An entry's lifetime in seconds, unless its route sets its own `cache.ttl_seconds`.
    ttl_seconds: Annotated[float, Meta(gt=0, le=31_536_000)] = 3600.0
    # An answer larger than this (its stored form) is served but never stored; `memory`
    # holds at most `max_bytes` of answers (least recently used go first).
    max_entry_bytes: Annotated[int, Meta(ge=1024, le=64 * 1024 * 1024)] = 1024 * 1024
    # Bytes of answers `memory` holds at most (least recently used go first).
    max_bytes: Annotated[int, Meta(ge=1024 * 1024, le=1 << 40)] = 256 * 1024 * 1024
    # The semantic cache's LanceDB directory (unset: a temporary one per process).
    semantic_path: Annotated[str, Meta(min_length=1)] | None = None
    # The embeddings model id the semantic cache embeds with (an `onnx_embedder` model the
    # gateway serves; unset: the built-in all-MiniLM-L6-v2).
    embedder: Name | None = None


class SemanticCache(Config, frozen=True):
    """A paraphrase of an earlier last user turn hits its answer: cosine similarity at or
    above `threshold`, and a lexical guard (numbers, negation, names must agree)."""

    # The cosine similarity (0..1) at or above which a paraphrase hits.
    threshold: Share = 0.90
    # What a hit must share too: the system prompt, the tools (leave one out to ignore it).
    scope: list[SemanticScope] = field(default_factory=lambda: ["system_prompt", "tools"])
    # Requests that carry tools only hit semantically when this is set.
    with_tools: bool = False


class RouteCache(Config, frozen=True):
    """How one route uses the response cache (`cache:` is the store)."""

    # `off`, `exact` (an identical request is answered from the cache) or `semantic` (exact
    # first, then a paraphrase of the last user turn).
    mode: Literal["off", "exact", "semantic"] = "off"
    # This route's entries' lifetime (unset: `cache.ttl_seconds`).
    ttl_seconds: Annotated[float, Meta(gt=0, le=31_536_000)] | None = None
    # Cache answers sampled at temperature > 0 (or with temperature omitted: 1.0) too.
    cache_sampled: bool = False
    # How a paraphrase hits under `mode: semantic`.
    semantic: SemanticCache = field(default_factory=SemanticCache)
