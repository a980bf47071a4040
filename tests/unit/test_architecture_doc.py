"""docs/architecture.md stays true to the code: every path, module and class it names in
backticks exists, and it mentions every package it maps.

What counts as a reference (anything else in backticks, such as `/v1/models`,
`x-gateway-target` or `models[].tools`, is prose):

- a path: `gateway/pipeline/executor.py`, `tools/rag/`, `gateway/cli_*.py` (a glob must
  match at least one file): a token whose first segment is a top-level entry of the
  repository, or that ends in a file suffix;
- a module: `gateway.protocol`, `gateway.container` (dotted, starting with a package);
- a class or other top-level name: `RouteDecision`, `TargetPolicy.call`: defined somewhere
  in the packages (`class X`, `X = ...` or `X: ...`), and its attribute in the same file.
"""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "architecture.md"
PACKAGES = ("gateway", "middleware", "policies", "routers", "tools")
TOP_LEVEL = (*PACKAGES, "tests", "deploy", "docs", "bench")
FILE_SUFFIXES = (".py", ".md", ".yaml", ".yml", ".json", ".toml", ".html")
_BACKTICKED = re.compile(r"`([^`\n]+)`")
_PATHLIKE = re.compile(r"[A-Za-z0-9_.*-]+(/[A-Za-z0-9_.*-]+)*/?")
_DOTTED = re.compile(r"[a-z_]+(\.[a-z_][a-z0-9_]*)+")
_NAME = re.compile(r"([A-Z][a-z]+[A-Za-z0-9]*)(\.([A-Za-z_][A-Za-z0-9_]*))?")


def tokens() -> list[str]:
    return _BACKTICKED.findall(DOC.read_text(encoding="utf-8"))


def path_refs() -> list[str]:
    found = []
    for token in tokens():
        if not _PATHLIKE.fullmatch(token) or token.startswith("."):
            continue
        first = token.split("/", 1)[0]
        if ("/" in token and first in TOP_LEVEL) or token.endswith(FILE_SUFFIXES):
            found.append(token)
    return found


def module_refs() -> list[str]:
    return [t for t in tokens() if _DOTTED.fullmatch(t) and t.split(".")[0] in PACKAGES]


def name_refs() -> list[tuple[str, str | None]]:
    found = []
    for token in tokens():
        match = _NAME.fullmatch(token)
        if match:
            found.append((match.group(1), match.group(3)))
    return found


def _exists(ref: str) -> bool:
    if "*" in ref:
        return any(ROOT.glob(ref.rstrip("/")))
    return (ROOT / ref.rstrip("/")).exists()


@cache
def _sources() -> dict[Path, str]:
    return {
        p: p.read_text(encoding="utf-8") for pkg in PACKAGES for p in (ROOT / pkg).rglob("*.py")
    }


def test_the_page_names_paths_modules_and_classes() -> None:
    # The extraction itself: a page that stopped matching would check nothing.
    assert "gateway/pipeline/executor.py" in path_refs()
    assert "gateway.container" in module_refs()
    assert ("RouteDecision", None) in name_refs()


def test_every_path_exists() -> None:
    missing = [ref for ref in path_refs() if not _exists(ref)]
    assert not missing, f"docs/architecture.md names paths that do not exist: {missing}"


def test_every_module_exists() -> None:
    missing = []
    for ref in module_refs():
        base = ROOT.joinpath(*ref.split("."))
        if not (base.with_suffix(".py").is_file() or (base / "__init__.py").is_file()):
            missing.append(ref)
    assert not missing, f"docs/architecture.md names modules that do not exist: {missing}"


def test_every_named_class_and_attribute_exists() -> None:
    missing = []
    for name, attribute in name_refs():
        defined = re.compile(rf"^\s*(class {name}\b|{name}\s*[:=])", re.MULTILINE)
        homes = [text for text in _sources().values() if defined.search(text)]
        if not homes:
            missing.append(name)
        elif attribute is not None:
            member = re.compile(rf"^\s+(async def |def )?{attribute}\b", re.MULTILINE)
            if not any(member.search(text) for text in homes):
                missing.append(f"{name}.{attribute}")
    assert not missing, f"docs/architecture.md names what the code does not define: {missing}"


def _packages() -> list[str]:
    """The five top-level packages and each of their direct subpackages."""
    found = []
    for pkg in PACKAGES:
        found.append(f"{pkg}/")
        for sub in sorted((ROOT / pkg).iterdir()):
            if (sub / "__init__.py").is_file():
                found.append(f"{pkg}/{sub.name}/")
    return found


@pytest.mark.parametrize("package", _packages())
def test_every_package_is_mapped(package: str) -> None:
    assert package in {ref if ref.endswith("/") else f"{ref}/" for ref in path_refs()}, (
        f"docs/architecture.md does not mention `{package}` (add it to the layout)"
    )
