"""Which local models exist (configured + `*.gguf` in `models_dir`) and which are loaded.

Models load on first use (or at startup), one load at a time per model, in a thread. Under a
memory budget the least recently used idle models are unloaded before another loads.

Clients choose the names looked up here (a prefix route sends whatever follows `local/`), so
nothing is kept per name that is not a real file, and the directory is listed at most once
per `LISTING_SECONDS`, in a worker thread, however many unknown names arrive.
"""

from __future__ import annotations

import asyncio
import logging
import time
from pathlib import Path
from typing import Any

from gateway.backends.llama_cpp.batch_engine import EngineCounts
from gateway.backends.llama_cpp.loaded_model import LoadedModel
from gateway.backends.llama_cpp.loader import context_window, describe_gguf, load_llama
from gateway.errors import ModelNotFoundError, ServiceUnavailableError
from gateway.model_files import (
    ModelFile,
    ModelFileError,
    check,
    discover,
    locate,
)
from gateway.settings.backend_types import LlamaCppSpec

log = logging.getLogger("gateway.llama_cpp")
_MB = 1024 * 1024
# The `Llama` object is kept for its vocabulary and template; generation runs in the batch
# engine's own context, so this one stays minimal.
VOCAB_CONTEXT = 256
# A new file in `models_dir` is seen within this long; a flood of unknown names costs one
# directory listing per interval.
LISTING_SECONDS = 1.0


class LocalModels:
    def __init__(self, backend: str, spec: LlamaCppSpec) -> None:
        self._backend = backend
        self._spec = spec
        self._configured = {name: locate(name, m) for name, m in spec.models.items()}
        self._dir = Path(spec.models_dir).expanduser() if spec.models_dir else None
        # (when listed, what was found): replaced whole, so a reader never sees half a listing.
        self._listing: tuple[float, dict[str, ModelFile]] = (float("-inf"), {})
        self._listing_lock = asyncio.Lock()
        self._loaded: dict[str, LoadedModel] = {}
        # One task per load in flight (real files only), removed when it ends.
        self._loading: dict[str, asyncio.Task[LoadedModel]] = {}
        self._checked: set[Path] = set()
        self._warned_window: set[Path] = set()
        # Header facts per path, with the (mtime, size) they were read at.
        self._facts: dict[tuple[Path, int], tuple[tuple[int, int], dict[str, Any]]] = {}
        # Prompt-token counts per model name, kept across unloads (for /metrics).
        self.counts: dict[str, EngineCounts] = {}

    # --- which files exist --------------------------------------------------------------------

    def files(self) -> dict[str, ModelFile]:
        """Every servable model by name. Blocking when the listing is stale (it lists
        `models_dir`): on the event loop use `list_files`."""
        if self._listing_stale():
            self._relist()
        return self._merged()

    async def list_files(self) -> dict[str, ModelFile]:
        """`files` without blocking the event loop; concurrent callers share one listing."""
        if self._listing_stale():
            async with self._listing_lock:
                if self._listing_stale():
                    await asyncio.to_thread(self._relist)
        return self._merged()

    def _listing_stale(self) -> bool:
        return self._dir is not None and time.monotonic() - self._listing[0] >= LISTING_SECONDS

    def _relist(self) -> None:
        assert self._dir is not None
        started = time.monotonic()  # before the glob: a file added during it is seen next time
        self._listing = (started, discover(self._dir))

    def _merged(self) -> dict[str, ModelFile]:
        return {**self._listing[1], **self._configured}

    # --- loading ------------------------------------------------------------------------------

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
                self._loaded[name] = self._wrap(model, llm)

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
        file = (await self.list_files()).get(name)
        if file is None:
            raise ModelNotFoundError(name)
        task = self._loading.get(name)
        if task is None:
            task = asyncio.create_task(self._load_and_keep(name, file))
            self._loading[name] = task
            task.add_done_callback(lambda done: self._load_ended(name, done))
        # Shielded: a client that leaves does not abandon a half-loaded model (nobody would
        # close it); the load finishes, stays loaded, and later requests use it.
        return await asyncio.shield(task)

    async def _load_and_keep(self, name: str, file: ModelFile) -> LoadedModel:
        model = self._loaded.get(name)
        if model is not None:
            return model
        await self._make_room(file)
        model = await asyncio.to_thread(self._load, file)
        self._loaded[name] = model
        return model

    def _load_ended(self, name: str, task: asyncio.Task[LoadedModel]) -> None:
        if self._loading.get(name) is task:
            del self._loading[name]
        if not task.cancelled():
            task.exception()  # retrieved: every waiter has been given it already

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
        model = self._wrap(file, llm)
        log.info(
            "model loaded",
            extra={
                "model": file.name,
                "path": str(file.path),
                "seconds": round(time.monotonic() - started, 3),
            },
        )
        return model

    def _wrap(self, file: ModelFile, llm: Any) -> LoadedModel:
        counts = None if file.embedding else self.counts.setdefault(file.name, EngineCounts())
        model = LoadedModel.wrap(file, llm, self._spec, counts)
        if 0 < model.n_ctx_train < model.n_ctx and file.path not in self._warned_window:
            self._warned_window.add(file.path)
            log.warning(
                "model `%s` serves a %d-token window but was trained on %d tokens: "
                "replies past %d tokens may degrade; set `n_ctx: %d` (or lower) to stay "
                "within what it was trained on",
                file.name,
                model.n_ctx,
                model.n_ctx_train,
                model.n_ctx_train,
                model.n_ctx_train,
                extra={"model": file.name, "n_ctx": model.n_ctx, "n_ctx_train": model.n_ctx_train},
            )
        return model

    async def _make_room(self, incoming: ModelFile) -> None:
        budget = self._spec.memory_budget_mb
        if budget is None:
            return
        need = await asyncio.to_thread(lambda: incoming.size_bytes)
        idle = sorted((m for m in self._loaded.values() if not m.in_use), key=lambda m: m.last_used)
        while idle and sum(m.size_bytes for m in self._loaded.values()) + need > budget * _MB:
            await self._unload(idle.pop(0), "memory budget")

    # --- facts for /v1/models -----------------------------------------------------------------

    def describe(self, names: list[str]) -> dict[str, dict[str, Any]]:
        """Context lengths, quantisation, size and template presence, read from each GGUF's
        header (a vocabulary-only load) and cached while the file is unchanged. Blocking
        (stat, file reads): call from a worker thread."""
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
            stamp = (stat.st_mtime_ns, stat.st_size)
            # One file may be served under several names with different windows.
            key = (file.path, context_window(file, self._spec))
            cached = self._facts.get(key)
            if cached is None or cached[0] != stamp:
                cached = (stamp, describe_gguf(file, stat.st_size, key[1]))
                self._facts[key] = cached
            facts[name] = cached[1]
        # Forget files that are gone, so renames and deletions do not accumulate.
        present = {f.path for f in files.values()}
        for key in [k for k in list(self._facts) if k[0] not in present]:
            del self._facts[key]
        return facts

    # --- unloading ----------------------------------------------------------------------------

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

    def close_loaded(self) -> None:
        """Close every loaded model now (blocking): for a process that only checked them."""
        for model in self._loaded.values():
            model.close()
        self._loaded.clear()

    async def aclose(self) -> None:
        # A load still running would register a model after the loop below: wait for it.
        if self._loading:
            await asyncio.wait(list(self._loading.values()))
        for model in self._loaded.values():
            await asyncio.to_thread(model.close)
        self._loaded.clear()
