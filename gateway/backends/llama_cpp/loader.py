"""Loading GGUF weights into a `llama_cpp.Llama` (blocking: call from a worker thread)."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from typing import Any

from gateway.model_files import ModelFile, ModelFileError
from gateway.settings.schema import LlamaCppBackend

# llama-cpp-python builds its model parameters inside `Llama.__init__`; the only way to set
# `use_extra_bufts` is to wrap the defaults it reads while one model loads.
_PARAMS_LOCK = threading.Lock()


@contextlib.contextmanager
def _model_params(use_extra_bufts: bool) -> Iterator[None]:
    import llama_cpp.llama as llama_module

    module: Any = getattr(llama_module, "llama_cpp")  # noqa: B009 - not re-exported
    with _PARAMS_LOCK:
        original = module.llama_model_default_params

        def defaults() -> Any:
            params = original()
            params.use_extra_bufts = use_extra_bufts
            return params

        module.llama_model_default_params = defaults
        try:
            yield
        finally:
            module.llama_model_default_params = original


def load_llama(
    model: ModelFile, spec: LlamaCppBackend, *, context_tokens: int | None = None
) -> Any:
    """A ready `Llama`; any failure is a `ModelFileError` that names the file."""
    from llama_cpp import Llama

    kwargs: dict[str, Any] = {
        "n_ctx": context_tokens or model.n_ctx or spec.n_ctx,
        "n_threads": spec.n_threads,
        "n_threads_batch": spec.n_threads_batch or spec.n_threads,
        "n_batch": spec.n_batch,
        "n_gpu_layers": spec.n_gpu_layers,
        "main_gpu": spec.main_gpu,
        "flash_attn": spec.flash_attn,
        "verbose": spec.verbose,
    }
    if model.embedding:
        kwargs["embedding"] = True
    if spec.tensor_split:
        kwargs["tensor_split"] = list(spec.tensor_split)
    if spec.type_k:
        kwargs["type_k"] = _ggml_type(spec.type_k)
    if spec.type_v:
        kwargs["type_v"] = _ggml_type(spec.type_v)
    try:
        with _model_params(spec.weight_repack):
            return Llama(str(model.path), **kwargs)
    except (ValueError, RuntimeError, OSError) as exc:
        raise ModelFileError(f"model `{model.name}` ({model.path}) failed to load: {exc}") from exc


# llama.cpp's `general.file_type` codes for the quantisations seen in the wild.
_FILE_TYPES = {
    0: "F32",
    1: "F16",
    2: "Q4_0",
    3: "Q4_1",
    7: "Q8_0",
    8: "Q5_0",
    9: "Q5_1",
    10: "Q2_K",
    11: "Q3_K_S",
    12: "Q3_K_M",
    13: "Q3_K_L",
    14: "Q4_K_S",
    15: "Q4_K_M",
    16: "Q5_K_S",
    17: "Q5_K_M",
    18: "Q6_K",
    32: "BF16",
}


def describe_gguf(model: ModelFile, size: int) -> dict[str, Any]:
    """Facts from a GGUF's header, through a vocabulary-only load (no weights)."""
    from llama_cpp import Llama

    facts: dict[str, Any] = {"format": "gguf", "size_bytes": size}
    try:
        vocab = Llama(str(model.path), vocab_only=True, verbose=False)
    except (ValueError, RuntimeError, OSError):
        facts["error"] = "unreadable GGUF header"
        return facts
    try:
        metadata = vocab.metadata
        arch = metadata.get("general.architecture", "")
        context = metadata.get(f"{arch}.context_length")
        file_type = metadata.get("general.file_type")
        facts.update(
            {
                "architecture": arch or None,
                "context_length": int(context) if context and context.isdigit() else None,
                "quantization": _FILE_TYPES.get(int(file_type))
                if file_type and file_type.isdigit()
                else None,
                "chat_template": "tokenizer.chat_template" in metadata,
            }
        )
    finally:
        vocab.close()
    return facts


def _ggml_type(name: str) -> int:
    import llama_cpp

    value = getattr(llama_cpp, f"GGML_TYPE_{name.upper()}", None)
    if not isinstance(value, int):
        raise ModelFileError(f"KV-cache type `{name}` is not supported by this llama.cpp build")
    return value
