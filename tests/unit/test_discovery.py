"""Discovered models: a miss refreshes in the background, rate-limited, and a client never
waits long for it (a typo gets its 404 at once, even behind a slow upstream)."""

from __future__ import annotations

import asyncio
import time

from gateway.context import RequestContext
from gateway.pipeline.discovery import ModelDiscovery
from gateway.protocol.chat import ChatCompletionRequest, UserMessage
from routers import CatalogEntry, ModelCatalog, StaticRouter


class SlowLister:
    def __init__(self, delay: float) -> None:
        self.delay = delay
        self.models = ["one"]
        self.calls = 0

    async def list_models(self) -> list[str]:
        self.calls += 1
        await asyncio.sleep(self.delay)
        return list(self.models)


def test_a_miss_waits_only_briefly_and_the_refresh_finishes_in_the_background() -> None:
    lister = SlowLister(delay=0.5)
    discovery = ModelDiscovery({"up": lister}, min_interval=0.0, miss_wait=0.05)
    catalog = ModelCatalog([], discovered=discovery)

    async def run() -> tuple[float, bool, bool]:
        lister.models = ["new"]
        started = time.monotonic()
        found = await catalog.find("new")
        waited = time.monotonic() - started
        await asyncio.sleep(0.6)  # the refresh goes on without the client
        later = await catalog.find("new")
        await discovery.aclose()
        return waited, found is not None, later is not None

    waited, found_at_once, found_later = asyncio.run(run())
    assert waited < 0.3 and not found_at_once and found_later


def test_misses_are_rate_limited() -> None:
    lister = SlowLister(delay=0.0)
    discovery = ModelDiscovery({"up": lister}, min_interval=60.0, miss_wait=0.5)
    catalog = ModelCatalog([], discovered=discovery)
    router = StaticRouter(catalog)

    async def run() -> None:
        await discovery.refresh()
        for i in range(200):
            request = ChatCompletionRequest(model=f"typo-{i}", messages=[UserMessage(content="x")])
            try:
                await router.route(request, RequestContext(request_id="r", endpoint="chat"))
            except Exception as exc:
                assert type(exc).__name__ == "ModelNotFoundError"
        await discovery.aclose()

    asyncio.run(run())
    assert lister.calls == 1  # the startup listing only


def test_a_quick_refresh_on_a_miss_finds_a_new_model() -> None:
    lister = SlowLister(delay=0.0)
    discovery = ModelDiscovery({"up": lister}, min_interval=0.0, miss_wait=0.5)
    catalog = ModelCatalog([CatalogEntry("fixed", "up", "one")], discovered=discovery)

    async def run() -> bool:
        await discovery.refresh()
        lister.models = ["one", "two"]
        resolved = await catalog.find("two")
        await discovery.aclose()
        return resolved is not None and resolved.entry.backend == "up"

    assert asyncio.run(run())
    assert [e.id for e in catalog.entries()] == ["fixed", "one", "two"]


def test_describe_shows_a_prefix_route_under_the_asked_id() -> None:
    catalog = ModelCatalog([CatalogEntry("openai/*", "a", "*", owned_by="openai")])
    entry = catalog.describe("openai/gpt-4o")
    assert entry is not None
    assert (entry.id, entry.upstream_model, entry.owned_by) == ("openai/gpt-4o", "gpt-4o", "openai")
    assert catalog.describe("nope") is None
