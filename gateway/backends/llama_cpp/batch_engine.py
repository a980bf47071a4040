"""Continuous batching: several sequences share each llama.cpp decode.

One engine thread per loaded model owns a llama.cpp context with `parallel` sequence slots,
each with its own KV stream of `n_ctx` cells. Each step it builds one batch from every
active sequence: the next token of each generating sequence, then prompt tokens of
sequences still being read, at most `prefill_chunk` of them while others generate (a long
new prompt is read over several steps, so running streams keep their pace; with nothing
generating, a whole `n_batch`). It decodes the batch once, then samples each sequence with
its own sampler chain (penalties, grammar, top-k / top-p / min-p, temperature, seed).
Requests join and leave between steps; a cancelled or timed-out sequence frees its slot at
the next step.

Prompt prefixes are reused (`prefix_cache`): a finished sequence's cells stay in its slot
(`SlotTable`), and a new prompt starts from the longest prefix any kept or running sequence
holds, prefilling only the rest. A request for `n` choices reads its prompt once; when the
prompt's logits exist, its cells are copied to `n - 1` more sequences, each sampled with its
own seed (`seed + i`).

Drafts (`Sampling.drafts`, a forced tool call's head): a generating sequence's next token
goes into the batch followed by the tokens a draft expects after it, each with logits; the
sampler then runs at each position in turn, and a drafted token it picks is already in the
cells, while at the first it does not the rest of the draft's cells are dropped. What is
sampled is what one token a step samples (greedy replies were identical with drafts on,
off and wrong); the steps are fewer.

Why a stream per slot rather than one unified cache: llama.cpp sums a sequence's cells in
cell order, and in a unified cache a sequence's new cells land before its older ones once
holes open; measured, that moved logits by up to ~1.0 and changed greedy output depending on
what else had run. In its own stream a sequence's cells always lie in position order, so its
logits do not depend on the other sequences nor on where a reused prefix came from
(measured bit-identical), and no write of one sequence can reach another's cells. What still
moves logits (up to ~0.6 measured) is how a prompt is split into decode calls, with or
without reuse (`n_batch`, `prefill_chunk`): greedy output matched with reuse on and off over
the 50-prompt test, which is evidence, not a bitwise guarantee.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from typing import Any

from gateway.backends.llama_cpp import engine_sampler
from gateway.backends.llama_cpp.engine_job import EngineCounts, Job
from gateway.backends.llama_cpp.engine_sequences import (
    Choices,
    Sequence,
    notify,
    reuse_source,
    worth_waiting,
)
from gateway.backends.llama_cpp.generation import (
    GenerationTimeout,
    Outcome,
    Sampling,
    SequenceText,
)
from gateway.backends.llama_cpp.loader import hide_context_size_warning
from gateway.backends.llama_cpp.prefix_index import Match
from gateway.backends.llama_cpp.slot_table import SlotTable
from gateway.errors import InvalidRequestError, ServiceUnavailableError

__all__ = ["BatchEngine", "EngineCounts", "Job"]

log = logging.getLogger("gateway.llama_cpp")


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
        prefix_cache: bool = True,
        prefill_chunk: int = 32,
        counts: EngineCounts | None = None,
    ) -> None:
        import llama_cpp
        from llama_cpp import _internals

        # Typed as Any: llama-cpp-python's internals are untyped ctypes wrappers.
        self._llama_cpp: Any = llama_cpp
        self._internals: Any = _internals
        self._llm = llm
        self._n_ctx = n_ctx
        self._n_batch = n_batch
        self._parallel = parallel
        self._prefill_chunk = max(1, min(prefill_chunk, n_batch))
        self._reuse = prefix_cache
        self._end_tokens = end_tokens
        self.counts = counts or EngineCounts()
        # The Llama's own context parameters (threads, flash attention, KV types) with room
        # for `parallel` sequences.
        params = llama_cpp.llama_context_params.from_buffer_copy(llm.context_params)
        params.n_ctx = n_ctx * parallel  # every sequence can use its whole window
        params.n_batch = n_batch
        params.n_ubatch = n_batch
        params.n_seq_max = parallel
        params.kv_unified = False  # a stream per slot: see the module docstring
        params.n_threads = n_threads
        params.n_threads_batch = n_threads_batch
        # A window past the training length is logged once by the registry at load.
        hide_context_size_warning()
        self._ctx: Any = self._internals.LlamaContext(
            model=llm._model, params=params, verbose=False
        )
        self._batch: Any = self._internals.LlamaBatch(
            n_tokens=n_batch, embd=0, n_seq_max=parallel, verbose=False
        )
        self._slots = SlotTable(llama_cpp, self._ctx.ctx, self._ctx.memory, parallel)
        self._active: list[Sequence] = []
        # Jobs taken from the queue that wait: for free slots (`n` of them), or for a prompt
        # they share to be read by a running sequence.
        self._held: list[Job] = []
        self._incoming: queue.SimpleQueue[Job | None] = queue.SimpleQueue()
        self._wake = threading.Event()
        self._stopping = False
        self._thread = threading.Thread(target=self._run, name="llama-batch", daemon=True)
        self._thread.start()

    def submit(self, job: Job) -> None:
        if self._stopping:
            raise ServiceUnavailableError("the local model is unloading; retry", retry_after=1)
        if job.n > self._parallel:
            raise InvalidRequestError(
                f"`n` is at most {self._parallel} for this model (its `parallel` setting)",
                param="n",
            )
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
                        self._finish(sequence, failure, keep=False)
                    self._slots.clear()  # what the failed batch wrote cannot be trusted
        finally:
            # Nobody may wait forever: answer everything still active or queued.
            gone = ServiceUnavailableError("the local model is unloading; retry", retry_after=1)
            for sequence in list(self._active):
                self._finish(sequence, gone, keep=False)
            waiting = list(self._held)
            while True:
                try:
                    job = self._incoming.get_nowait()
                except queue.Empty:
                    break
                if job is not None:
                    waiting.append(job)
            for job in waiting:
                notify(job, gone)

    def _admit(self) -> None:
        held, self._held = self._held, []
        while True:
            job: Job | None
            if held:  # jobs that waited come before the queue, in their order
                job = held.pop(0)
            else:
                try:
                    job = self._incoming.get_nowait()
                except queue.Empty:
                    return
                if job is None:
                    return
            verdict = self._try_start(job)
            if verdict == "defer":
                self._held.append(job)
            elif verdict == "full":  # first come, first served: the rest wait behind it
                self._held.extend([job, *held])
                return

    def _try_start(self, job: Job) -> str:
        """Start or answer `job` ("started"), or say why it waits ("full", "defer")."""
        if job.cancelled.is_set():
            notify(job, [Outcome(finish_reason=None)] * job.n)
            return "started"
        if not job.tokens:
            notify(job, ValueError("an empty prompt cannot be decoded"))
            return "started"
        if self._slots.available < job.n:
            return "full"
        source = reuse_source(self._slots, self._active, job.tokens) if self._reuse else None
        if self._reuse and worth_waiting(self._active, job.tokens, source):
            return "defer"
        try:
            texts = [SequenceText(self._llm, job.sampling, index=i) for i in range(job.n)]
            samplers = [self._sampler(job.sampling, i) for i in range(job.n)]
        except Exception as exc:  # this job's setup failed: only it is answered
            notify(job, exc)
            return "started"
        self._start(job, source, texts, samplers)
        return "started"

    def _start(
        self, job: Job, source: Match | None, texts: list[SequenceText], samplers: list[Any]
    ) -> None:
        slot, reused = self._slots.claim(job.tokens, source)
        self.counts.prefix_hit_tokens += reused
        choices = Choices(job, [None] * job.n, job.n)
        limit = min(job.sampling.max_tokens, self._n_ctx - len(job.tokens))
        sequences = [
            Sequence(
                seq_id=slot if i == 0 else self._slots.claim_empty(exclude=(slot,)),
                index=i,
                choices=choices,
                sampler=samplers[i],
                text=texts[i],
                # The first reads the prompt; the others take its cells once it is read.
                pending=job.tokens[reused:] if i == 0 else [],
                position=reused if i == 0 else 0,
                held=job.tokens[:reused] if i == 0 else [],
                limit=limit,
                drafts=list(job.sampling.drafts),
            )
            for i in range(job.n)
        ]
        first = sequences[0]
        first.forks = sequences[1:]
        self._active.append(first)

    def _sampler(self, sampling: Sampling, choice: int) -> Any:
        return engine_sampler.build(self._llm, sampling, choice)

    def _step(self) -> None:
        batch = self._batch.batch
        batch.n_tokens = 0
        now = time.monotonic()
        for sequence in list(self._active):
            job = sequence.choices.job
            if sequence.choices.failed or job.cancelled.is_set():
                self._finish(sequence, Outcome(finish_reason=None))
            elif now > job.deadline:
                self._finish(sequence, GenerationTimeout())
        room = self._n_batch
        reading: list[Sequence] = []
        step: list[tuple[Sequence, list[int]]] = []  # what each sequence adds this step
        for sequence in self._active:  # generating sequences first: one token each
            if sequence.pending:
                reading.append(sequence)
            elif sequence.next_token is not None and room:
                # Plus the draft that follows it, within the room and the token limit.
                ahead = sequence.limit - sequence.text.tokens - 1
                guess = sequence.drafts[0] if sequence.drafts else ()
                sequence.drafted = list(guess[: max(0, min(room - 1, ahead))])
                step.append((sequence, [sequence.next_token, *sequence.drafted]))
                sequence.next_token = None
                room -= 1 + len(sequence.drafted)
        budget = room if room == self._n_batch else min(room, self._prefill_chunk)
        for sequence in reading:  # then prompts, oldest first, within the step's budget
            if budget == 0:
                break
            take = sequence.pending[:budget]
            del sequence.pending[: len(take)]
            step.append((sequence, take))
            budget -= len(take)
            self.counts.prefill_tokens += len(take)
        if not step:
            return
        # In ascending `seq_id` order: with a KV stream per sequence llama.cpp decodes a batch
        # out of that order much slower (measured on SmolLM2, 8 sequences: 63 ms in order,
        # 87-97 ms permuted), and arrivals, forks and reused slots leave `_active` in any order.
        step.sort(key=lambda entry: entry[0].seq_id)
        for sequence, tokens in step:
            for i, token in enumerate(tokens):
                last = not sequence.pending and i == len(tokens) - 1
                self._add(batch, token, sequence, logits=last or bool(sequence.drafted))
        self._ctx.decode(self._batch)
        for sequence in list(self._active):
            if not sequence.logits_at:
                continue
            at, sequence.logits_at = sequence.logits_at, []
            for each in (sequence, *self._fork(sequence)):
                try:
                    self._take(each, at)
                except Exception as exc:  # one sequence's failure ends only its request
                    log.exception("sampling failed")
                    if each in self._active:
                        self._finish(each, exc)

    def _fork(self, sequence: Sequence) -> list[Sequence]:
        """The other choices of a request take the prompt's cells (shared, not copied)."""
        forks, sequence.forks = sequence.forks, []
        for fork in forks:
            self._slots.copy(sequence.seq_id, fork.seq_id)
            fork.position = sequence.position
            fork.held = list(sequence.held)
            self._active.append(fork)
        return forks

    def _add(self, batch: Any, token: int, sequence: Sequence, *, logits: bool) -> None:
        j = batch.n_tokens
        batch.token[j] = token
        batch.pos[j] = sequence.position
        batch.n_seq_id[j] = 1
        batch.seq_id[j][0] = sequence.seq_id
        batch.logits[j] = logits
        batch.n_tokens = j + 1
        sequence.position += 1
        sequence.held.append(token)
        if logits:
            sequence.logits_at.append(j)

    def _take(self, sequence: Sequence, at: list[int]) -> None:
        """Sample at each of this step's logits in turn: a drafted token the sampler picks
        is already in the cells; at the first it does not, the rest are dropped and the
        sampled token goes next. What is sampled is what one token a step would sample."""
        drafted, sequence.drafted = sequence.drafted, []
        for i, index in enumerate(at):
            token = self._sample(sequence, index)
            if token is None:
                return  # finished (cells past the end still hold what they say: reusable)
            if i < len(drafted) and token == drafted[i]:
                self.counts.draft_accepted_tokens += 1
                continue
            if i < len(drafted):
                rejected = len(drafted) - i
                sequence.position -= rejected
                del sequence.held[-rejected:]
                self._slots.trim(sequence.seq_id, sequence.position)
            sequence.next_token = token
            return

    def _sample(self, sequence: Sequence, index: int) -> int | None:
        """The next token, or None when the sequence ended (and was finished)."""
        if sequence.limit <= 0:
            self._finish(sequence, sequence.text.done("length"))
            return None
        token = int(sequence.sampler.sample(self._ctx, index))
        sequence.follow(token)
        if token in self._end_tokens:
            self._finish(sequence, sequence.text.done("stop"))
            return None
        emit = sequence.choices.job.emit
        stopped = sequence.text.push(token, self._ctx.ctx, index, emit)
        if stopped:
            self._finish(sequence, sequence.text.done("stop"))
            return None
        if sequence.text.tokens >= sequence.limit:
            self._finish(sequence, sequence.text.done("length"))
            return None
        return token

    def _finish(
        self, sequence: Sequence, result: Outcome | BaseException, *, keep: bool = True
    ) -> None:
        if sequence in self._active:
            self._active.remove(sequence)
        for fork in sequence.forks:  # ended before its prompt was read: so did its siblings
            self._finish(fork, Outcome(finish_reason=None), keep=False)
        sequence.forks = []
        keep = keep and self._reuse
        self._slots.release(sequence.seq_id, sequence.held if keep else None)
        sequence.sampler.close()
        choices = sequence.choices
        try:
            if isinstance(result, Outcome) and result.finish_reason is not None:
                sequence.text.flush(choices.job.emit)
        except Exception:
            log.exception("sending a finished sequence's last text failed")
        if choices.failed:
            return
        if isinstance(result, BaseException):
            choices.failed = True  # the other choices end at the next step
            notify(choices.job, result)
            return
        choices.outcomes[sequence.index] = result
        choices.open -= 1
        if choices.open == 0:
            notify(choices.job, [o or Outcome(finish_reason=None) for o in choices.outcomes])
