"""Grammar-constrained sampling that checks the grammar against one token, not the vocabulary.

A grammar sampler in the chain tests every token of the vocabulary (49k for SmolLM2) against
the grammar at every step, which on CPU costs about as much as the decode itself. Like
llama.cpp's own `common_sampler` (llama-server's default), this samples with the rest of the
chain first and asks the grammar about that one token; only when the grammar refuses it are
all candidates filtered by the grammar and sampled again. Greedy decoding picks the same
token either way (the most likely token, if allowed, is the most likely allowed token); with
temperature the draw is the usual rejection-then-resample of llama.cpp.

The object has the two methods the batch engine uses on a sampler: `sample` and `close`.
"""

from __future__ import annotations

import ctypes
import math
from typing import Any


class GrammarFirstSampler:
    def __init__(self, chain: Any, llm: Any, grammar: Any) -> None:
        import llama_cpp
        import numpy as np

        self._lib: Any = llama_cpp
        self._np = np
        self._chain = chain  # an `_internals.LlamaSampler` without the grammar
        self._grammar = llama_cpp.llama_sampler_init_grammar(
            llm._model.vocab, grammar._grammar.encode("utf-8"), grammar._root.encode("utf-8")
        )
        if not self._grammar:
            raise ValueError("llama.cpp could not parse the grammar")
        self._n_vocab = int(llm.n_vocab())
        # One candidate buffer per sequence, refilled from the logits at every step.
        layout = np.dtype([("id", np.int32), ("logit", np.float32), ("p", np.float32)])
        assert layout.itemsize == ctypes.sizeof(llama_cpp.llama_token_data)
        self._data = np.zeros(self._n_vocab, dtype=layout)
        self._ids = np.arange(self._n_vocab, dtype=np.int32)
        self._one: Any = (llama_cpp.llama_token_data * 1)()  # ctypes fields, untyped

    def sample(self, ctx: Any, index: int) -> int:
        lib = self._lib
        raw = lib.llama_get_logits_ith(ctx.ctx, index)
        logits = self._np.ctypeslib.as_array(raw, shape=(self._n_vocab,))
        token = self._pick(logits, grammar=False)
        if not self._allowed(token):
            token = self._pick(logits, grammar=True)
        lib.llama_sampler_accept(self._grammar, token)
        lib.llama_sampler_accept(self._chain.sampler, token)
        return token

    def close(self) -> None:
        if self._grammar:
            self._lib.llama_sampler_free(self._grammar)
            self._grammar = None
        self._chain.close()

    def _pick(self, logits: Any, *, grammar: bool) -> int:
        lib = self._lib
        data = self._data
        data["id"] = self._ids
        data["logit"] = logits
        data["p"] = 0.0
        candidates = lib.llama_token_data_array(
            data=data.ctypes.data_as(ctypes.POINTER(lib.llama_token_data)),
            size=self._n_vocab,
            selected=-1,
            sorted=False,
        )
        if grammar:
            lib.llama_sampler_apply(self._grammar, ctypes.byref(candidates))
        lib.llama_sampler_apply(self._chain.sampler, ctypes.byref(candidates))
        return int(data["id"][candidates.selected])

    def _allowed(self, token: int) -> bool:
        one = self._one
        one[0].id, one[0].logit, one[0].p = token, 0.0, 0.0
        candidates = self._lib.llama_token_data_array(data=one, size=1, selected=-1, sorted=False)
        self._lib.llama_sampler_apply(self._grammar, ctypes.byref(candidates))
        return not math.isinf(one[0].logit)
