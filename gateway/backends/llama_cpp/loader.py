"""Loading GGUF weights into a `llama_cpp.Llama` (blocking: call from a worker thread)."""

from __future__ import annotations

import ctypes
import functools
from typing import Any

from gateway.model_files import ModelFile, ModelFileError
from gateway.settings.backend_types import LlamaCppSpec


def context_window(model: ModelFile, spec: LlamaCppSpec) -> int:
    """The tokens one sequence may hold (prompt + completion): what the gateway enforces."""
    return model.n_ctx or spec.n_ctx


@functools.cache
def hide_context_size_warning() -> Any:
    """Drop llama.cpp's `n_ctx_seq (N) > n_ctx_train (M)` warning; pass every other line on.

    In this gateway it is never true: a vocabulary-only read (`describe_gguf`) has no
    training length (0) and never decodes, and the batch engine gives each sequence its own
    `n_ctx` cells. When `n_ctx` itself exceeds the training length, the registry logs its
    own warning at load. Installed once per process; the cache keeps the callback alive,
    since llama.cpp holds only a raw pointer to it."""
    import llama_cpp
    from llama_cpp import _logger

    forward = _logger.llama_log_callback

    @llama_cpp.llama_log_callback  # type: ignore[untyped-decorator]
    def callback(level: int, text: bytes, user_data: Any) -> None:
        if not (text and b"n_ctx_seq (" in text and b") > n_ctx_train (" in text):
            forward(level, text, user_data)

    llama_cpp.llama_log_set(callback, ctypes.c_void_p(0))
    return callback


@functools.cache
def _llama_class() -> Any:
    """`Llama` with `use_extra_bufts` chosen per instance.

    llama-cpp-python has no argument for it: `Llama.__init__` fills `self.model_params` from
    `llama_model_default_params()` and loads the weights with that struct. Intercepting the
    assignment edits this instance's struct only; swapping the module's default function
    instead would be seen by every `Llama` built meanwhile in another thread (a header read
    for /v1/models, another model's load)."""
    from llama_cpp import Llama

    base: Any = Llama  # untyped ctypes-backed class

    class ParamsLlama(base):  # type: ignore[misc]
        def __init__(self, path: str, *, use_extra_bufts: bool, **kwargs: Any) -> None:
            self._use_extra_bufts = use_extra_bufts  # read by the setter below
            super().__init__(path, **kwargs)

        @property
        def model_params(self) -> Any:
            return self.__dict__["model_params"]

        @model_params.setter
        def model_params(self, params: Any) -> None:
            params.use_extra_bufts = self._use_extra_bufts
            self.__dict__["model_params"] = params

    return ParamsLlama


def load_llama(model: ModelFile, spec: LlamaCppSpec, *, context_tokens: int | None = None) -> Any:
    """A ready `Llama`; any failure is a `ModelFileError` that names the file."""
    kwargs: dict[str, Any] = {
        "n_ctx": context_tokens or context_window(model, spec),
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
    hide_context_size_warning()
    try:
        return _llama_class()(str(model.path), use_extra_bufts=spec.weight_repack, **kwargs)
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


def describe_gguf(model: ModelFile, size: int, context_length: int) -> dict[str, Any]:
    """Facts from a GGUF's header, through a vocabulary-only load (no weights).

    `context_length` is the window the gateway enforces (`context_window`);
    `context_length_train` is the one the model was trained with, from the header."""
    from llama_cpp import Llama

    facts: dict[str, Any] = {
        "format": "gguf",
        "size_bytes": size,
        "context_length": context_length,
    }
    hide_context_size_warning()
    try:
        vocab = Llama(str(model.path), vocab_only=True, verbose=False)
    except (ValueError, RuntimeError, OSError):
        facts["error"] = "unreadable GGUF header"
        return facts
    try:
        metadata = vocab.metadata
        arch = metadata.get("general.architecture", "")
        trained = metadata.get(f"{arch}.context_length")
        file_type = metadata.get("general.file_type")
        facts.update(
            {
                "architecture": arch or None,
                "context_length_train": int(trained) if trained and trained.isdigit() else None,
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
