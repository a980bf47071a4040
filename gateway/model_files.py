"""Finding GGUF files and checking them before anything is loaded.

Weights come from a path or from a file shipped inside an installed Python package (located
without importing the package, never copied, never downloaded). A missing file, a file that
is not GGUF, or a sha256 mismatch is a `ModelFileError` naming the file: at startup that stops
the gateway with a clear message instead of a crash loop.
"""

from __future__ import annotations

import hashlib
import importlib.util
from dataclasses import dataclass
from pathlib import Path

from gateway.settings.backend_types import LocalModelSpec

GGUF_MAGIC = b"GGUF"
_HASH_CHUNK = 4 * 1024 * 1024


class ModelFileError(Exception):
    """A configured or discovered model file cannot be served."""


@dataclass(frozen=True, slots=True)
class ModelFile:
    name: str
    path: Path
    sha256: str | None = None
    n_ctx: int | None = None
    embedding: bool = False

    @property
    def size_bytes(self) -> int:
        return self.path.stat().st_size


def package_dir(package: str) -> Path:
    spec = importlib.util.find_spec(package)
    locations = list(spec.submodule_search_locations or []) if spec else []
    if not locations:
        raise ModelFileError(
            f"the package `{package}` that ships this model is not installed "
            f"(see the README for the install command)"
        )
    return Path(locations[0])


def locate(name: str, spec: LocalModelSpec) -> ModelFile:
    if spec.path:
        path = Path(spec.path).expanduser()
    elif spec.package and spec.file:
        path = package_dir(spec.package) / spec.file
    else:
        raise ModelFileError(f"model `{name}`: set `path`, or `package` and `file`")
    return ModelFile(name, path, spec.sha256, spec.n_ctx, embedding=spec.embedding)


def check(model: ModelFile, *, verify_hash: bool = True, magic: bytes | None = GGUF_MAGIC) -> None:
    """Raise `ModelFileError` unless the file exists, starts with `magic` (GGUF) and matches
    its sha256."""
    where = f"model `{model.name}` ({model.path})"
    try:
        with model.path.open("rb") as handle:
            head = handle.read(4)
    except FileNotFoundError:
        raise ModelFileError(f"{where}: file not found") from None
    except OSError as exc:
        raise ModelFileError(f"{where}: cannot read the file: {exc.strerror}") from None
    if magic is not None and head != magic:
        raise ModelFileError(f"{where}: not a GGUF file (it starts with {head!r})")
    if verify_hash and model.sha256:
        actual = sha256_of(model.path)
        if actual != model.sha256:
            raise ModelFileError(
                f"{where}: sha256 mismatch (expected {model.sha256}, found {actual}); "
                "the file is corrupt or not the one configured"
            )


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(_HASH_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def discover(models_dir: Path) -> dict[str, ModelFile]:
    """Every `*.gguf` in the directory, by file stem (sorted, so names are stable)."""
    if not models_dir.is_dir():
        return {}
    return {p.stem: ModelFile(p.stem, p) for p in sorted(models_dir.glob("*.gguf")) if p.is_file()}
