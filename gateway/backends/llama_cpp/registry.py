"""Which local models exist (configured + `*.gguf` in `models_dir`) and which are loaded.

Models load on first use (or at startup), one load at a time per model, in a thread. Under a
memory budget the least recently used idle models are unloaded before another loads.
"""

from __future__ import annotations

import asyncio
import logging
import time
from pathlib import Path
from typing import Any

from gateway.backends.llama_cpp.loaded_model import LoadedModel
from gateway.backends.llama_cpp.loader import describe_gguf, load_llama
from gateway.errors import ModelNotFoundError, ServiceUnavailableError
from gateway.model_files import (
    ModelFile,
    ModelFileError,
    check,
    discover,
    locate,
)
from gateway.settings.schema import LlamaCppBackend

log = logging.getLogger("gateway.llama_cpp")
_MB = 1024 * 1024
# The `Llama` object is kept for its vocabulary and template; generation runs in the batch
# engine's own context, so this one stays minimal.
VOCAB_CONTEXT = 256


class LocalModels:
    def __init__(self, backend: str, spec: LlamaCppBackend) -> None:
        self._backend = backend
        self._spec = spec
        self._configured = {name: locate(name, m) for name, m in spec.models.items()}
        self._loaded: dict[str, LoadedModel] = {}
        self._loading: dict[str, asyncio.Lock] = {}
        self._checked: set[Path] = set()
        self._facts: dict[tuple[Path, int, int], dict[str, Any]] = {}

    def files(self) -> dict[str, ModelFile]:
        found = discover(Path(self._spec.models_dir).expanduser()) if self._spec.models_dir else {}
        return {**found, **self._configured}

    def preflight(self, *, load: bool) -> None:
        """Check every configured file (exists, GGUF, sha256) before serving anything and,
        with `load`, load it now, so that a corrupt file stops startup with its name."""
        for name, model in self._configured.items():
            check(model)
            self._checked.add(model.path)
            if load and name not in self._loaded:
                llm = load_llama(
                    model, self._spec, context_tokens=None if model.embedding else VOCAB_CONTEXT
                )
                self._loaded[name] = LoadedModel.wrap(model, llm, self._spec)

    async def load_configured(self) -> None:
        for name in self._configured:
            await self.get(name)

    def loaded(self) -> dict[str, LoadedModel]:
        return dict(self._loaded)

    async def acquire(self, name: str) -> LoadedModel:
        """The loaded model, held until `release`: it cannot be unloaded in between."""
        model = await self.get(name)
        model.leases += 1  # no await since `get` returned: nothing can unload it first
        return model

    def release(self, model: LoadedModel) -> None:
        model.leases -= 1
        model.last_used = time.monotonic()

    async def get(self, name: str) -> LoadedModel:
        model = self._loaded.get(name)
        if model is not None:
            return model
        lock = self._loading.setdefault(name, asyncio.Lock())
        async with lock:
            model = self._loaded.get(name)
            if model is not None:
                return model
            file = self.files().get(name)
            if file is None:
                raise ModelNotFoundError(name)
            await self._make_room(file)
            model = await asyncio.to_thread(self._load, file)
            self._loaded[name] = model
            return model

    def _load(self, file: ModelFile) -> LoadedModel:
        started = time.monotonic()
        try:
            if file.path not in self._checked:
                check(file)
                self._checked.add(file.path)
            llm = load_llama(
                file, self._spec, context_tokens=None if file.embedding else VOCAB_CONTEXT
            )
        except ModelFileError as exc:
            raise ServiceUnavailableError(str(exc), code="model_unavailable") from exc
        log.info(
            "model loaded",
            extra={
                "model": file.name,
                "path": str(file.path),
                "seconds": round(time.monotonic() - started, 3),
            },
        )
        return LoadedModel.wrap(file, llm, self._spec)

    async def _make_room(self, incoming: ModelFile) -> None:
        budget = self._spec.memory_budget_mb
        if budget is None:
            return
        need = incoming.size_bytes
        idle = sorted((m for m in self._loaded.values() if not m.in_use), key=lambda m: m.last_used)
        while idle and sum(m.file.size_bytes for m in self._loaded.values()) + need > budget * _MB:
            await self._unload(idle.pop(0), "memory budget")

    def describe(self, names: list[str]) -> dict[str, dict[str, Any]]:
        """Context length, quantisation, size and template presence, read from each GGUF's
        header (a vocabulary-only load) and cached while the file is unchanged."""
        files = self.files()
        facts: dict[str, dict[str, Any]] = {}
        for name in names:
            file = files.get(name)
            if file is None:
                continue
            try:
                stat = file.path.stat()
            except OSError:
                continue
            key = (file.path, stat.st_mtime_ns, stat.st_size)
            if key not in self._facts:
                self._facts[key] = describe_gguf(file, stat.st_size)
            facts[name] = self._facts[key]
        return facts

    async def unload_idle(self) -> list[str]:
        """Unload models idle past `idle_unload_seconds`; the names unloaded."""
        limit = self._spec.idle_unload_seconds
        if limit is None:
            return []
        now = time.monotonic()
        idle = [m for m in self._loaded.values() if not m.in_use and now - m.last_used > limit]
        return [m.file.name for m in idle if await self._unload(m, "idle")]

    async def _unload(self, model: LoadedModel, why: str) -> bool:
        # Checked again here, with no await before the removal: a request may have taken
        # the model while an earlier unload was awaited.
        if model.in_use or self._loaded.get(model.file.name) is not model:
            return False
        del self._loaded[model.file.name]
        await asyncio.to_thread(model.close)
        log.info("model unloaded", extra={"model": model.file.name, "reason": why})
        return True

    async def aclose(self) -> None:
        for model in self._loaded.values():
            await asyncio.to_thread(model.close)
        self._loaded.clear()
