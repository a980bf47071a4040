"""A third-party backend type installed by pip, served by a real gateway process.

The plugin is tests/data/plugins/switchyard-shout: a setuptools project registering
`shout` in the `switchyard.backends` entry-point group. The fixture installs it with
`pip install --no-deps --target <tmp>/site` and puts that directory on the gateway's
PYTHONPATH, so the venv itself is never changed and nothing needs uninstalling.

The build uses the venv's own setuptools (>= 70.1, a dev dependency, builds wheels
without the `wheel` package) with no build isolation and no index: nothing is fetched.
The source tree is copied first because setuptools writes `build/` and `*.egg-info`
beside it. The broken plugin needs no build at all: it is a hand-written `.dist-info`
whose entry point names a module that does not exist.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from openai import OpenAI
from openai.types.chat import ChatCompletionMessageParam

from tests.support import GATEWAY, ROOT, free_port, start_gateway

pytestmark = pytest.mark.e2e

PLUGIN_SOURCE = ROOT / "tests" / "data" / "plugins" / "switchyard-shout"
USER: list[ChatCompletionMessageParam] = [{"role": "user", "content": "ping pong"}]
POLICY = """
backends:
  loud: {type: shout, greeting: "HEY"}
models:
  - {id: shouty, backend: loud, upstream_model: shout-v1}
"""


def _pythonpath(*dirs: Path) -> dict[str, str]:
    existing = os.environ.get("PYTHONPATH")
    return {"PYTHONPATH": os.pathsep.join([*map(str, dirs), *([existing] if existing else [])])}


@pytest.fixture(scope="module")
def tmp_module(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("plugins")


@pytest.fixture(scope="module")
def site(tmp_module: Path) -> Path:
    source = tmp_module / "switchyard-shout"
    shutil.copytree(PLUGIN_SOURCE, source)
    target = tmp_module / "site"
    pip = [
        *(sys.executable, "-m", "pip", "install", "-q", "--no-deps"),
        *("--no-build-isolation", "--no-index"),
    ]
    installed = subprocess.run(
        [*pip, "--target", str(target), str(source)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert installed.returncode == 0, installed.stdout + installed.stderr
    assert (target / "switchyard_shout" / "__init__.py").is_file()
    return target


@pytest.fixture(scope="module")
def broken_site(tmp_module: Path) -> Path:
    """An installed distribution whose entry point names a module that is not there."""
    target = tmp_module / "broken-site"
    info = target / "switchyard_broken-0.1.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: switchyard-broken\nVersion: 0.1.0\n"
    )
    (info / "entry_points.txt").write_text(
        "[switchyard.backends]\nbroken = switchyard_missing_module:BACKEND_TYPE\n"
    )
    return target


@pytest.fixture(scope="module")
def gateway(tmp_module: Path, site: Path) -> Iterator[str]:
    policy = tmp_module / "policy.yaml"
    policy.write_text(POLICY)
    proc, base = start_gateway(tmp_module, ["--config", str(policy)], env=_pythonpath(site))
    yield base
    proc.stop()


@pytest.fixture()
def client(gateway: str) -> Iterator[OpenAI]:
    with OpenAI(base_url=f"{gateway}/v1", api_key="unused", max_retries=0, timeout=20) as sdk:
        yield sdk


def _run(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*GATEWAY, *args],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
        env={**os.environ, **env},
    )


def _policy(tmp_path: Path, text: str) -> str:
    path = tmp_path / "policy.yaml"
    path.write_text(text)
    return str(path)


def test_json_reply_comes_from_the_plugin(client: OpenAI) -> None:
    assert [m.id for m in client.models.list()] == ["shouty"]
    reply = client.chat.completions.create(
        model="shouty",
        messages=[
            {"role": "system", "content": "be loud"},
            {"role": "user", "content": "hello"},
            {"role": "assistant", "content": "HEY HELLO"},
            *USER,
        ],
    )
    assert reply.object == "chat.completion"
    assert reply.model == "shouty"
    assert reply.choices[0].message.content == "HEY PING PONG"
    assert reply.choices[0].finish_reason == "stop"
    assert reply.usage is not None
    assert (reply.usage.prompt_tokens, reply.usage.completion_tokens) == (7, 3)


def test_streamed_reply_comes_from_the_plugin_without_usage_unless_asked(
    client: OpenAI,
) -> None:
    chunks = list(client.chat.completions.create(model="shouty", messages=USER, stream=True))
    assert chunks[0].choices[0].delta.role == "assistant"
    assert "".join(c.choices[0].delta.content or "" for c in chunks) == "HEY PING PONG"
    assert len([c for c in chunks if c.choices[0].delta.content]) == 3  # one chunk a word
    assert chunks[-1].choices[0].finish_reason == "stop"
    assert all(c.choices and c.usage is None for c in chunks)


def test_streamed_usage_reaches_the_client_when_asked(client: OpenAI) -> None:
    chunks = list(
        client.chat.completions.create(
            model="shouty",
            messages=USER,
            stream=True,
            stream_options={"include_usage": True},
        )
    )
    *content, last = chunks
    assert "".join(c.choices[0].delta.content or "" for c in content) == "HEY PING PONG"
    assert last.choices == []
    assert last.usage is not None
    assert (last.usage.prompt_tokens, last.usage.completion_tokens) == (2, 3)
    assert all(c.usage is None for c in content)


def test_check_accepts_the_plugin_entry(tmp_path: Path, site: Path) -> None:
    path = _policy(tmp_path, POLICY)
    checked = _run(["check", path], _pythonpath(site))
    assert checked.returncode == 0, checked.stderr
    assert checked.stdout.strip() == f"{path}: OK (1 backends, 1 models)"


def test_check_reports_bad_plugin_keys_at_their_paths(tmp_path: Path, site: Path) -> None:
    path = _policy(
        tmp_path,
        "backends:\n  loud: {type: shout, greeting: HEY, repeat: 9, volume: 11}\n"
        "models: [{id: shouty, backend: loud, upstream_model: s}]\n",
    )
    checked = _run(["check", path], _pythonpath(site))
    assert checked.returncode == 1
    assert checked.stderr.splitlines() == [
        f"invalid configuration in {path}:",
        "  - $.backends.loud.repeat: Expected `int` <= 5",
        "  - $.backends.loud: unknown key `volume` (allowed keys: greeting, repeat)",
    ]


def test_check_reports_an_unknown_type_with_the_known_ones(tmp_path: Path, site: Path) -> None:
    path = _policy(tmp_path, "backends:\n  other: {type: nosuch}\n  loud: {type: shout}\n")
    installed = _run(["check", path], _pythonpath(site))
    assert installed.returncode == 1
    known = "openai, anthropic, gemini, fake, llama_cpp, onnx_embedder"
    assert (
        f"$.backends.other.type: unknown backend type `nosuch` (known types: {known}, shout)"
        in installed.stderr
    )
    assert "$.backends.loud: missing required key `greeting`" in installed.stderr
    # Without the plugin on the path, `shout` is unknown too, and not listed.
    bare = _run(["check", path], {})
    assert bare.returncode == 1
    assert f"$.backends.loud.type: unknown backend type `shout` (known types: {known})" in (
        bare.stderr
    )


def test_a_broken_plugin_is_a_clear_error_not_a_traceback(
    tmp_path: Path, site: Path, broken_site: Path
) -> None:
    path = _policy(tmp_path, POLICY.replace("backends:\n", "backends:\n  b: {type: broken}\n", 1))
    message = (
        "$.backends.b.type: the backend plugin `broken` "
        "(switchyard_missing_module:BACKEND_TYPE) failed to import: "
        "No module named 'switchyard_missing_module'"
    )
    env = _pythonpath(site, broken_site)
    checked = _run(["check", path], env)
    assert checked.returncode == 1
    assert checked.stderr.splitlines() == [f"invalid configuration in {path}:", f"  - {message}"]
    served = _run(["serve", "--config", path, "--port", str(free_port())], env)
    assert served.returncode != 0
    assert message in served.stderr + served.stdout
    assert "Traceback" not in served.stderr + served.stdout
    # Listing the known types names both installed plugins without importing either.
    listed = _run(["check", _policy(tmp_path, "backends: {x: {type: nosuch}}\n")], env)
    assert "onnx_embedder, broken, shout)" in listed.stderr
