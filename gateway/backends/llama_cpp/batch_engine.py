"""Continuous batching: several sequences share each llama.cpp decode.

One engine thread per loaded model owns a llama.cpp context with `parallel` sequence slots
over a unified KV cache. Each step it builds one batch from every active sequence: the next
token of sequences that are generating, and a chunk of prompt for sequences still being read
(generating sequences go first, so a long new prompt never stalls running streams), decodes
it once, then samples each sequence with its own sampler chain (penalties, grammar, top-k /
top-p / min-p, temperature, seed). Requests join and leave between steps; a cancelled or
timed-out sequence frees its slot and its KV cells at the next step.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from gateway.backends.llama_cpp.generation import (
    DEFAULT_SEED,
    GenerationTimeout,
    Outcome,
    Piece,
    Sampling,
    SequenceText,
)
from gateway.backends.llama_cpp.loader import hide_context_size_warning
from gateway.errors import ServiceUnavailableError

log = logging.getLogger("gateway.llama_cpp")


@dataclass(slots=True)
class Job:
    tokens: list[int]
    sampling: Sampling
    emit: Callable[[Piece], None]
    cancelled: threading.Event
    deadline: float
    # Called from the engine thread with the outcome or the exception that ended the job.
    done: Callable[[Outcome | BaseException], None]


@dataclass(slots=True)
class _Sequence:
    seq_id: int
    job: Job
    sampler: Any
    text: SequenceText
    pending: list[int] = field(default_factory=list)  # prompt tokens not yet decoded
    position: int = 0
    next_token: int | None = None
    logits_index: int = -1
    limit: int = 0


class BatchEngine:
    def __init__(
        self,
        llm: Any,
        *,
        parallel: int,
        n_ctx: int,
        n_batch: int,
        n_threads: int,
        n_threads_batch: int,
        end_tokens: frozenset[int],
    ) -> None:
        import llama_cpp
        from llama_cpp import _internals

        # Typed as Any: llama-cpp-python's internals are untyped ctypes wrappers.
        self._llama_cpp: Any = llama_cpp
        self._internals: Any = _internals
        self._llm = llm
        self._n_ctx = n_ctx
        self._n_batch = n_batch
        self._end_tokens = end_tokens
        # The Llama's own context parameters (threads, flash attention, KV types) with room
        # for `parallel` sequences.
        params = llama_cpp.llama_context_params.from_buffer_copy(llm.context_params)
        params.n_ctx = n_ctx * parallel  # every sequence can use its whole window
        params.n_batch = n_batch
        params.n_ubatch = n_batch
        params.n_seq_max = parallel
        params.kv_unified = True
        params.n_threads = n_threads
        params.n_threads_batch = n_threads_batch
        # llama.cpp takes the whole unified cache as each sequence's limit and warns that it
        # exceeds the training length; the engine ends every sequence at `n_ctx` instead.
        hide_context_size_warning()
        self._ctx: Any = self._internals.LlamaContext(
            model=llm._model, params=params, verbose=False
        )
        self._batch: Any = self._internals.LlamaBatch(
            n_tokens=n_batch, embd=0, n_seq_max=parallel, verbose=False
        )
        self._free = list(range(parallel))
        self._active: list[_Sequence] = []
        self._incoming: queue.SimpleQueue[Job | None] = queue.SimpleQueue()
        self._wake = threading.Event()
        self._stopping = False
        self._thread = threading.Thread(target=self._run, name="llama-batch", daemon=True)
        self._thread.start()

    def submit(self, job: Job) -> None:
        if self._stopping:
            raise ServiceUnavailableError("the local model is unloading; retry", retry_after=1)
        self._incoming.put(job)
        self._wake.set()

    def close(self) -> None:
        self._stopping = True
        self._incoming.put(None)
        self._wake.set()
        self._thread.join()
        self._batch.close()
        self._ctx.close()

    # --- the engine thread ------------------------------------------------------------------

    def _run(self) -> None:
        try:
            while not self._stopping:
                self._admit()
                if not self._active:
                    self._wake.wait(0.5)
                    self._wake.clear()
                    continue
                try:
                    self._step()
                except Exception as exc:  # a failed decode ends the sequences it carried
                    log.exception("batched decode failed")
                    failure = ServiceUnavailableError(
                        f"the local model failed to decode: {exc}", code="model_decode_failed"
                    )
                    for sequence in list(self._active):
                        self._finish(sequence, failure)
        finally:
            # Nobody may wait forever: answer everything still active or queued.
            gone = ServiceUnavailableError("the local model is unloading; retry", retry_after=1)
            for sequence in list(self._active):
                self._finish(sequence, gone)
            while True:
                try:
                    job = self._incoming.get_nowait()
                except queue.Empty:
                    break
                if job is not None:
                    _notify(job, gone)

    def _admit(self) -> None:
        while self._free:
            try:
                job = self._incoming.get_nowait()
            except queue.Empty:
                return
            if job is None:
                return
            if job.cancelled.is_set():
                _notify(job, Outcome(finish_reason=None))
                continue
            if not job.tokens:
                _notify(job, ValueError("an empty prompt cannot be decoded"))
                continue
            try:
                sampler = self._sampler(job.sampling)
                text = SequenceText(self._llm, job.sampling)
            except Exception as exc:  # this job's setup failed: only it is answered
                _notify(job, exc)
                continue
            self._active.append(
                _Sequence(
                    seq_id=self._free.pop(0),
                    job=job,
                    sampler=sampler,
                    text=text,
                    pending=list(job.tokens),
                    limit=min(job.sampling.max_tokens, self._n_ctx - len(job.tokens)),
                )
            )

    def _step(self) -> None:
        batch = self._batch.batch
        batch.n_tokens = 0
        room = self._n_batch
        now = time.monotonic()
        for sequence in list(self._active):
            if sequence.job.cancelled.is_set():
                self._finish(sequence, Outcome(finish_reason=None))
            elif now > sequence.job.deadline:
                self._finish(sequence, GenerationTimeout())
        # Generating sequences first: a long prompt must not stall running streams.
        ordered = sorted(self._active, key=lambda s: bool(s.pending))
        for sequence in ordered:
            if room == 0:
                break
            if sequence.pending:
                take = sequence.pending[:room]
                del sequence.pending[: len(take)]
                for i, token in enumerate(take):
                    last = not sequence.pending and i == len(take) - 1
                    self._add(batch, token, sequence, logits=last)
                room -= len(take)
            elif sequence.next_token is not None:
                self._add(batch, sequence.next_token, sequence, logits=True)
                sequence.next_token = None
                room -= 1
        if batch.n_tokens == 0:
            return
        self._ctx.decode(self._batch)
        for sequence in list(self._active):
            if sequence.logits_index >= 0:
                index, sequence.logits_index = sequence.logits_index, -1
                try:
                    self._sample(sequence, index)
                except Exception as exc:  # one sequence's failure ends only that sequence
                    log.exception("sampling failed")
                    if sequence in self._active:
                        self._finish(sequence, exc)

    def _add(self, batch: Any, token: int, sequence: _Sequence, *, logits: bool) -> None:
        j = batch.n_tokens
        batch.token[j] = token
        batch.pos[j] = sequence.position
        batch.n_seq_id[j] = 1
        batch.seq_id[j][0] = sequence.seq_id
        batch.logits[j] = logits
        batch.n_tokens = j + 1
        sequence.position += 1
        if logits:
            sequence.logits_index = j

    def _sample(self, sequence: _Sequence, index: int) -> None:
        if sequence.limit <= 0:
            self._finish(sequence, sequence.text.done("length"))
            return
        token = int(sequence.sampler.sample(self._ctx, index))
        if token in self._end_tokens:
            self._finish(sequence, sequence.text.done("stop"))
            return
        stopped = sequence.text.push(token, self._ctx.ctx, index, sequence.job.emit)
        if stopped:
            self._finish(sequence, sequence.text.done("stop"))
        elif sequence.text.tokens >= sequence.limit:
            self._finish(sequence, sequence.text.done("length"))
        else:
            sequence.next_token = token

    def _finish(self, sequence: _Sequence, result: Outcome | BaseException) -> None:
        self._active.remove(sequence)
        self._llama_cpp.llama_memory_seq_rm(self._ctx.memory, sequence.seq_id, -1, -1)
        self._free.append(sequence.seq_id)
        sequence.sampler.close()
        try:
            if isinstance(result, Outcome) and result.finish_reason is not None:
                sequence.text.flush(sequence.job.emit)
        except Exception:
            log.exception("sending a finished sequence's last text failed")
        _notify(sequence.job, result)

    def _sampler(self, sampling: Sampling) -> Any:
        sampler = self._internals.LlamaSampler()
        model = self._llm._model
        if sampling.logit_bias:
            sampler.add_logit_bias(self._llm.n_vocab(), sampling.logit_bias)
        if sampling.frequency_penalty or sampling.presence_penalty:
            sampler.add_penalties(
                self._llm.n_vocab(),
                64,
                1.0,
                sampling.frequency_penalty,
                sampling.presence_penalty,
            )
        if sampling.grammar is not None:
            sampler.add_grammar(model, sampling.grammar)
        if sampling.temperature <= 0:
            sampler.add_greedy()
            return sampler
        sampler.add_top_k(sampling.top_k)
        sampler.add_top_p(sampling.top_p, 1)
        sampler.add_min_p(sampling.min_p, 1)
        sampler.add_temp(sampling.temperature)
        sampler.add_dist(DEFAULT_SEED if sampling.seed is None else sampling.seed & 0xFFFFFFFF)
        return sampler


def _notify(job: Job, result: Outcome | BaseException) -> None:
    try:
        job.done(result)
    except Exception:
        log.exception("a finished sequence's callback failed")
