"""One model in memory: its `Llama` (vocabulary, template), its batch engine, its queue."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from gateway.backends.llama_cpp.batch_engine import BatchEngine, EngineCounts
from gateway.backends.llama_cpp.chat_prompt import ChatPrompter
from gateway.backends.llama_cpp.loader import context_window
from gateway.errors import RateLimitError
from gateway.model_files import ModelFile
from gateway.resilience.priority_gate import PriorityGate
from gateway.settings.backend_types import LlamaCppSpec


@dataclass(frozen=True, slots=True)
class FimTokens:
    prefix: int
    suffix: int
    middle: int


@dataclass(slots=True)
class LoadedModel:
    file: ModelFile
    llm: Any
    # None for an embedding model: those run whole batches through `Llama.embed`.
    engine: BatchEngine | None
    gate: PriorityGate
    prompter: ChatPrompter
    fim: FimTokens | None
    # The window of one sequence (prompt + completion), and the one the model was trained on.
    n_ctx: int
    n_ctx_train: int = 0
    # The file's size when it was loaded (for the memory budget; stat-ed off the event loop).
    size_bytes: int = 0
    last_used: float = field(default_factory=time.monotonic)
    # Requests holding this model (from lookup to their last chunk): never unload while > 0.
    leases: int = 0

    @property
    def in_use(self) -> bool:
        return self.leases > 0 or self.gate.busy or self.gate.waiting > 0

    @classmethod
    def wrap(
        cls, file: ModelFile, llm: Any, spec: LlamaCppSpec, counts: EngineCounts | None = None
    ) -> LoadedModel:
        """Blocking (builds the engine's context, stats the file): call from a worker thread.
        `counts` outlive the engine (a model unloaded and loaded again keeps counting)."""
        model = llm._model  # llama-cpp-python's vocabulary accessors live here
        bos, eos = llm.token_bos(), llm.token_eos()
        end = {t for t in (eos, model.token_eot()) if t is not None and t >= 0}
        end |= _end_of_generation_tokens(llm)
        fim_ids = (model.token_prefix(), model.token_suffix(), model.token_middle())
        n_ctx = context_window(file, spec)
        engine = None
        if not file.embedding:
            engine = BatchEngine(
                llm,
                parallel=spec.parallel,
                n_ctx=n_ctx,
                n_batch=spec.n_batch,
                n_threads=spec.n_threads,
                n_threads_batch=spec.n_threads_batch or spec.n_threads,
                end_tokens=frozenset(end),
                prefix_cache=spec.prefix_cache,
                prefill_chunk=spec.prefill_chunk,
                counts=counts,
            )
        return cls(
            file=file,
            llm=llm,
            engine=engine,
            gate=PriorityGate(
                1 if engine is None else spec.parallel,
                spec.queue_size,
                refuse=lambda: RateLimitError(
                    f"model `{file.name}` is busy and its queue is full; retry shortly",
                    code="model_overloaded",
                    retry_after=1.0,
                ),
            ),
            prompter=ChatPrompter(
                llm.metadata.get("tokenizer.chat_template"),
                bos_token=model.token_get_text(bos) if bos >= 0 else "",
                eos_token=model.token_get_text(eos) if eos >= 0 else "",
            ),
            fim=FimTokens(*fim_ids) if min(fim_ids) >= 0 else None,
            n_ctx=n_ctx,
            n_ctx_train=model.n_ctx_train(),
            size_bytes=file.size_bytes,
        )

    def tokenize(self, text: str, *, add_bos: bool) -> list[int]:
        tokens: list[int] = self.llm.tokenize(text.encode("utf-8"), add_bos=add_bos, special=True)
        return tokens

    def close(self) -> None:
        if self.engine is not None:
            self.engine.close()
        closer = getattr(self.llm, "close", None)
        if closer is not None:
            closer()


def _end_of_generation_tokens(llm: Any) -> set[int]:
    """Every token the vocabulary marks as ending generation (`<|endoftext|>`, `<|im_end|>`,
    `<|fim_pad|>`, ...): instruct models use one, fill-in-the-middle another."""
    import llama_cpp

    vocab = getattr(llm._model, "vocab", None)
    if vocab is None:
        return set()
    return {t for t in range(llm.n_vocab()) if llama_cpp.llama_vocab_is_eog(vocab, t)}
