"""Paths to ingest -> files with their source names; a file's bytes read under a size cap.

A file's `source` (what results cite and what re-ingest matches on) is its path relative to
the parent of the directory argument it was found under ("docs/guide/setup.md" for
`ingest docs/`), or its bare name for a file argument, or its path relative to `base`
when one is given. Hidden files and directories (".git", ".venv") are not walked.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from tools.rag.parsers import kind_of
from tools.rag.records import FileOutcome

DEFAULT_MAX_BYTES = 50 * 1024 * 1024


class TooLargeError(ValueError):
    pass


@dataclass(frozen=True)
class FoundFile:
    path: Path
    source: str


def _source(path: Path, root: Path, base: Path | None) -> str:
    anchor = base.resolve() if base is not None else root
    try:
        return path.resolve().relative_to(anchor).as_posix()
    except ValueError:
        return path.name


def _walk(directory: Path) -> Iterator[Path]:
    for dirpath, dirnames, filenames in os.walk(directory):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for name in sorted(filenames):
            if not name.startswith("."):
                yield Path(dirpath) / name


def find_files(
    paths: Iterable[str | os.PathLike[str]], base: str | os.PathLike[str] | None = None
) -> tuple[list[FoundFile], list[FileOutcome]]:
    """Files to ingest, in a stable order, and the paths refused with their reasons."""
    found: list[FoundFile] = []
    refused: list[FileOutcome] = []
    seen: set[str] = set()
    base_path = Path(base) if base is not None else None

    def add(path: Path, root: Path) -> None:
        source = _source(path, root, base_path)
        if source in seen:
            return
        seen.add(source)
        if kind_of(path.name) is None:
            reason = f"unsupported file type {path.suffix or '(none)'!r}"
            refused.append(FileOutcome(source, "skipped", reason=reason))
        else:
            found.append(FoundFile(path, source))

    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            files = list(_walk(path))
            if not files:
                reason = "empty directory: no files to ingest"
                refused.append(FileOutcome(str(path), "skipped", reason=reason))
            root = path.resolve().parent
            for file in files:
                add(file, root)
        elif path.is_file():
            add(path, path.resolve().parent)
        else:
            refused.append(FileOutcome(str(path), "skipped", reason="no such file or directory"))
    return found, refused


def check_size(size: int, max_bytes: int) -> None:
    if size > max_bytes:
        raise TooLargeError(
            f"file is {size / 1e6:.1f} MB, over the {max_bytes / 1e6:.1f} MB size cap"
        )


def read_capped(path: Path, max_bytes: int = DEFAULT_MAX_BYTES) -> bytes:
    """The file's bytes; `TooLargeError` before reading anything when it is over the cap
    (and after reading at most `max_bytes + 1` if it grew meanwhile)."""
    check_size(path.stat().st_size, max_bytes)
    with path.open("rb") as handle:
        data = handle.read(max_bytes + 1)
    check_size(len(data), max_bytes)
    return data
