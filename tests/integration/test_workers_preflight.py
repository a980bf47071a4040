"""`gateway serve --workers N` checks local models in the supervisor before forking; it must
not keep what it loaded (a model and its KV cache) alive as an N+1th copy."""

from __future__ import annotations

import asyncio
from typing import Any

import msgspec
import pytest

from gateway import cli
from gateway.backends.llama_cpp.loaded_model import LoadedModel
from gateway.container import Container
from gateway.settings.defaults import DEFAULT_MODEL, DEFAULT_MODEL_ID
from gateway.settings.loader import parse_settings

DOCUMENT: dict[str, Any] = {
    "backends": {
        "local": {
            "type": "llama_cpp",
            "n_ctx": 512,
            "parallel": 1,
            "load": "at_startup",
            "models": {DEFAULT_MODEL_ID: DEFAULT_MODEL},
        }
    },
}


def settings(workers: int) -> Any:
    parsed = parse_settings(DOCUMENT, "test", {})
    server = msgspec.structs.replace(parsed.server, workers=workers)
    return msgspec.structs.replace(parsed, server=server)


@pytest.fixture()
def closed(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    names: list[str] = []
    original = LoadedModel.close

    def recording_close(self: LoadedModel) -> None:
        names.append(self.file.name)
        original(self)

    monkeypatch.setattr(LoadedModel, "close", recording_close)
    return names


def test_with_several_workers_the_supervisor_keeps_no_model(closed: list[str]) -> None:
    assert cli.preflight(settings(workers=2)) is None
    assert closed == [DEFAULT_MODEL_ID]  # it was loaded (checked), then let go


def test_with_one_worker_the_checked_container_serves_with_its_model(closed: list[str]) -> None:
    container = cli.preflight(settings(workers=1))
    assert isinstance(container, Container)
    local = container.backends["local"]
    assert DEFAULT_MODEL_ID in local.models.loaded()  # type: ignore[attr-defined]
    assert closed == []
    asyncio.run(container.aclose())
    assert closed == [DEFAULT_MODEL_ID]
