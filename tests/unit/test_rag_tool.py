"""The `search_knowledge` tool: its schema (no `collection` to get wrong when there is one),
its description naming the collections, scope errors told to the model, passages as data."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

import pytest

from gateway.errors import NotFoundError
from tools.base import ToolContext, ToolError
from tools.rag.records import SearchResult
from tools.rag.tool import search_knowledge_tool
from tools.schema import args_schema


class Service:
    def __init__(self, visible: set[str]) -> None:
        self.visible = visible
        self.calls: list[tuple[str, str, str | None, int | None]] = []

    def collection(self, name: str | None, tenant: str | None) -> str:
        if name is None and len(self.visible) == 1:
            return next(iter(self.visible))
        if name not in self.visible:
            raise NotFoundError(f"Collection `{name}` not found.")
        return name

    async def search(
        self, query: str, collection: str, tenant: str | None, k: int | None = None
    ) -> Sequence[SearchResult]:
        self.calls.append((query, collection, tenant, k))
        return [SearchResult("Breakers open after five failures.", "ops.md", "Breakers", 0.9, "c1")]


def test_one_collection_means_no_collection_argument() -> None:
    one = search_knowledge_tool(Service({"ops"}), {"ops": "Operations notes"})
    assert set(args_schema(one.Args)["properties"]) == {"query", "k"}
    assert "ops: Operations notes" in one.description
    two = search_knowledge_tool(Service({"ops", "papers"}), {"ops": "", "papers": "Papers"})
    assert set(args_schema(two.Args)["properties"]) == {"query", "collection", "k"}


def test_results_are_passages_as_data_and_scope_errors_reach_the_model() -> None:
    import msgspec

    service = Service({"ops", "papers"})
    tool = search_knowledge_tool(service, {"ops": "", "papers": ""})
    ctx = ToolContext(request_id="r", tenant="team-a")

    async def main() -> None:
        args: Any = msgspec.convert({"query": "breakers", "collection": "ops", "k": 3}, tool.Args)
        text = await tool.run(args, ctx)
        assert '<document index="1" source="ops.md" location="Breakers">' in text
        assert service.calls == [("breakers", "ops", "team-a", 3)]
        hidden: Any = msgspec.convert({"query": "x", "collection": "secret"}, tool.Args)
        with pytest.raises(ToolError, match="Collection `secret` not found"):
            await tool.run(hidden, ctx)

    asyncio.run(main())
