"""The policy file's knowledge bases (`rag:`): where LanceDB keeps them, which embedder fills
them, how documents are cut, and which tenants may use each collection. Routes offer the
`search_knowledge` tool with `models[].tools`."""

from __future__ import annotations

from typing import Annotated

from msgspec import Meta, field

from gateway.settings.base_types import Config, Name

CollectionName = Annotated[str, Meta(pattern=r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")]


class RagCollection(Config, frozen=True):
    """One knowledge base: a LanceDB table of document chunks."""

    # Shown to the model in the tool's description, so it can pick a collection.
    description: Annotated[str, Meta(max_length=500)] = ""
    # The tenants that may ingest into and search this collection, each seeing only its own
    # documents; empty: every caller (a single-tenant gateway, or keys without a tenant).
    tenants: list[Name] = field(default_factory=list)


class Rag(Config, frozen=True):
    """Where the knowledge bases live, how they are embedded and cut, and how they are searched."""

    # A LanceDB directory, or an object-store URI (`s3://bucket/prefix`, credentials from
    # the environment as LanceDB reads them).
    path: Annotated[str, Meta(min_length=1)] = "./data/lancedb"
    # An embeddings model the gateway serves (an `onnx_embedder` backend's model; the
    # built-in all-MiniLM-L6-v2 by default).
    embedder: Name = "all-minilm-l6-v2"
    # A chunk's size in the embedder's tokens (it truncates past its window: 256 for MiniLM).
    chunk_tokens: Annotated[int, Meta(ge=32, le=2048)] = 200
    # Passages a search returns when the call does not say how many (at most `max_k`).
    default_k: Annotated[int, Meta(ge=1, le=50)] = 5
    # The most passages one search may ask for (a larger `k` is capped to it).
    max_k: Annotated[int, Meta(ge=1, le=200)] = 20
    # Passages scoring below this are left out (None: every passage found counts).
    min_score: Annotated[float, Meta(ge=0)] | None = None
    # A larger file is refused (without being read) and the rest of the batch ingested.
    max_file_mb: Annotated[int, Meta(ge=1, le=4096)] = 50
    # The collections by name (one LanceDB table each): only these can be ingested into and
    # searched.
    collections: dict[CollectionName, RagCollection] = field(default_factory=dict)
