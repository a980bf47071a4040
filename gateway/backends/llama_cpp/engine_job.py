"""What a request hands the batch engine, and the prompt-token counts it keeps per model."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass

from gateway.backends.llama_cpp.generation import Outcome, Piece, Sampling


@dataclass(slots=True)
class EngineCounts:
    """Prompt tokens of one model since it was first loaded (read by /metrics)."""

    prefix_hit_tokens: int = 0  # prompt tokens found in the KV cache
    prefill_tokens: int = 0  # prompt tokens decoded
    draft_accepted_tokens: int = 0  # drafted tokens the sampler picked (decoded ahead)


@dataclass(slots=True)
class Job:
    tokens: list[int]
    sampling: Sampling
    # Called from the engine thread with each piece of text (`Piece.index`: the choice).
    emit: Callable[[Piece], None]
    cancelled: threading.Event
    deadline: float
    # Called from the engine thread once: every choice's outcome, or what ended the job.
    done: Callable[[list[Outcome] | BaseException], None]
    n: int = 1
