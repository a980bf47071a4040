"""The batch engine's state for each request (its choices and their sequences) and where a
new prompt's sequence starts from: the longest prefix any kept or running sequence holds,
and whether waiting for a prompt still being read saves enough prefill."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from gateway.backends.llama_cpp.engine_job import Job
from gateway.backends.llama_cpp.generation import Outcome, SequenceText
from gateway.backends.llama_cpp.prefix_index import Match, common_prefix
from gateway.backends.llama_cpp.slot_table import SlotTable

log = logging.getLogger("gateway.llama_cpp")

# A newcomer waits for a prompt still being read when that saves it at least this many
# tokens of prefill (concurrent requests sharing a system prompt read it once).
_DEFER_MIN_TOKENS = 16


@dataclass(slots=True, eq=False)
class Choices:
    job: Job
    outcomes: list[Outcome | None]
    open: int
    failed: bool = False


@dataclass(slots=True, eq=False)
class Sequence:
    seq_id: int
    index: int
    choices: Choices
    sampler: Any
    text: SequenceText
    pending: list[int]  # prompt tokens not yet decoded
    position: int
    held: list[int]  # the tokens this sequence's cells hold, in position order
    limit: int
    next_token: int | None = None
    # Batch indices of this step's logits for this sequence (one, or one per drafted token).
    logits_at: list[int] = field(default_factory=list)
    # The token sequences the reply may go on with (`Sampling.drafts`, less what has been
    # sampled; those the sampler left are gone): the first is decoded ahead and kept only
    # where the sampler picks it; `drafted` are this step's.
    drafts: list[tuple[int, ...]] = field(default_factory=list)
    drafted: list[int] = field(default_factory=list)
    # Sequences of the same request that take this one's cells once its prompt is read.
    forks: list[Sequence] = field(default_factory=list)

    def follow(self, token: int) -> None:
        """Keep the drafts that `token` continues, each less that token."""
        if self.drafts:
            self.drafts = [d[1:] for d in self.drafts if len(d) > 1 and d[0] == token]


def reuse_source(slots: SlotTable, active: list[Sequence], prompt: list[int]) -> Match | None:
    """The kept or running sequence whose cells hold the longest start of `prompt`."""
    best = slots.kept.longest(prompt)
    for sequence in active:
        length = common_prefix(prompt, sequence.held)
        if length and (best is None or length > best.length):
            best = Match(sequence.seq_id, length, len(sequence.held))
    return best


def worth_waiting(active: list[Sequence], prompt: list[int], source: Match | None) -> bool:
    """Whether a prompt still being read holds enough more of `prompt` than `source` that
    starting after it (from its cells) beats starting now."""
    have = source.length if source is not None else 0
    for sequence in active:
        if sequence.pending:
            soon = common_prefix(prompt, sequence.choices.job.tokens)
            if min(soon, len(prompt) - 1) - have >= _DEFER_MIN_TOKENS:
                return True
    return False


def notify(job: Job, result: list[Outcome] | BaseException) -> None:
    try:
        job.done(result)
    except Exception:
        log.exception("a finished sequence's callback failed")
