"""Rules the code keeps: module size, dependency direction, lint and types."""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
from pathlib import Path

import msgspec
import pytest

from gateway.settings.reference import documented_schema, reference_markdown

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ["gateway", "middleware", "policies", "routers", "tools"]
MAX_LINES = 600


def modules() -> list[Path]:
    return [p for pkg in PACKAGES for p in sorted((ROOT / pkg).rglob("*.py"))]


def imports_of(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
    return found


def test_no_module_over_the_size_limit() -> None:
    too_big = [
        f"{p.relative_to(ROOT)}: {n}"
        for p in modules()
        if (n := len(p.read_text().splitlines())) > MAX_LINES
    ]
    assert not too_big


def test_protocol_imports_only_msgspec() -> None:
    for path in (ROOT / "gateway" / "protocol").glob("*.py"):
        foreign = {
            m
            for m in imports_of(path)
            if not m.startswith(("gateway.protocol", "msgspec", "__future__", "typing"))
        }
        assert not foreign, f"{path.name} imports {foreign}"


@pytest.mark.parametrize("package", ["policies", "routers", "tools"])
def test_stage_packages_never_import_upward(package: str) -> None:
    allowed = (
        "gateway.protocol",
        "gateway.context",
        "gateway.errors",
        "gateway.embeddings",
        "gateway.holdback",
        package,
    )
    for path in (ROOT / package).rglob("*.py"):
        for module in imports_of(path):
            first = module.split(".")[0]
            if first in PACKAGES:
                assert module.startswith(allowed), f"{path.relative_to(ROOT)} imports {module}"


def test_only_the_app_factory_imports_the_api_and_the_container() -> None:
    for path in modules():
        rel = path.relative_to(ROOT).as_posix()
        if rel in ("gateway/app.py", "gateway/cli.py") or rel.startswith("gateway/api/"):
            continue
        for module in imports_of(path):
            assert not module.startswith(("gateway.api", "gateway.container")), (
                f"{rel} imports {module}"
            )


def test_the_committed_schema_matches_the_types() -> None:
    committed = msgspec.json.decode((ROOT / "deploy" / "gateway.schema.json").read_bytes())
    assert committed == documented_schema(), "run: gateway schema > deploy/gateway.schema.json"


def test_the_configuration_reference_is_current() -> None:
    committed = (ROOT / "docs" / "configuration.md").read_text(encoding="utf-8")
    assert committed == reference_markdown(), (
        "run: gateway schema --markdown > docs/configuration.md"
    )


def _tool(name: str) -> str:
    found = shutil.which(name, path=str(Path(sys.executable).parent))
    if found is None:
        pytest.fail(f"{name} is not installed in the test environment (pip install -e '.[dev]')")
    return found


def test_ruff_is_clean() -> None:
    for args in (["check", "."], ["format", "--check", "."]):
        run = subprocess.run([_tool("ruff"), *args], cwd=ROOT, capture_output=True, text=True)
        assert run.returncode == 0, run.stdout + run.stderr


def test_mypy_is_clean() -> None:
    run = subprocess.run([_tool("mypy")], cwd=ROOT, capture_output=True, text=True)
    assert run.returncode == 0, run.stdout + run.stderr


def test_ci_runs_the_readme_test_command_after_installing_what_the_tests_need() -> None:
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## The two commands", 1)[1].split("\n## ", 1)[0]
    blocks = [b.split("\n", 1)[1].strip() for b in section.split("```sh")[1:]]
    blocks = [b.split("```", 1)[0].strip() for b in blocks]
    assert len(blocks) == 2, "the README gives a run command and a test command"
    run, test = blocks
    assert run.endswith("gateway serve") and test.endswith("python -m pytest")
    ci = (ROOT / ".ci" / "run").read_text()
    commands = [ln for ln in ci.splitlines() if ln.strip() and not ln.lstrip().startswith("#")]
    assert commands[-1] == test  # the last thing CI does is exactly the README's command
    for package in ("redis-server", "postgresql", "chromium chromium-driver", "nodejs npm"):
        assert f"apt-get install -y -qq {package}" in ci, package
