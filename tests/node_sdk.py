"""A Node project with the official `openai` SDK installed, for the tests that run Node
clients against the gateway (skipped with the reason when Node or the package is missing)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

# By Node's major version: 7.x wants Node >= 22; 6.x supports 20 and later; Node 18 (Debian
# 12's `nodejs`, what `.ci/run` would install) gets the last 4.x. The scripts run on each.
OPENAI_NPM = {18: "openai@4.104.0", 20: "openai@6.49.0"}


def node_openai_project(project: Path) -> str:
    """Install the `openai` SDK that suits this Node into `project` (an ES-module package);
    the path of `node`. Skips the test when Node, npm or the package is missing."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        pytest.skip("node/npm not installed (.ci/run installs Debian's nodejs and npm)")
    version = subprocess.run([node, "--version"], capture_output=True, text=True, timeout=30)
    major = int(version.stdout.strip().lstrip("v").split(".")[0])
    if major < 18:
        pytest.skip(f"node {version.stdout.strip()} is too old for the openai SDK (18+)")
    package = OPENAI_NPM[20 if major >= 20 else 18]
    (project / "package.json").write_text('{"private": true, "type": "module"}\n')
    install = subprocess.run(
        [npm, "install", "--no-audit", "--no-fund", "--no-package-lock", package],
        cwd=project,
        capture_output=True,
        text=True,
        timeout=300,
    )
    if install.returncode != 0:
        pytest.skip(f"npm could not install {package}: {install.stderr.strip()[-500:]}")
    return node
