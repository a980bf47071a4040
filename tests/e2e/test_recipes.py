"""The README's tour and docs/recipes.md, run as they are written against a real gateway.

One `gateway serve` with no policy file (the embedded default: SmolLM2-135M through
llama.cpp, the MiniLM embedder, no key) serves the module. Every block marked
`<!-- recipe: NAME -->` is found by name, so a recipe that disappears (or a new one nobody
runs) fails here. The only change made to a block's text is the port: `127.0.0.1:8080`
becomes the test gateway's free port. Python blocks are executed in this process (stdout
captured, their variables read afterwards), shell blocks under `bash -e -o pipefail`, the
Node block with `node` next to an `openai` installed from npm (skipped, saying why, without
node, npm or the package, as in test_client_node.py). The tiktoken recipes get
`TIKTOKEN_CACHE_DIR` from the environment, as the page tells its readers to set it; here a
temporary directory.

The blocks for third-party applications (Continue's config.yaml, Open WebUI's variables)
cannot run here: they are parsed, and the base URL and models they name are checked against
the gateway's own `/v1/models` and called once.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import re
import shlex
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from tests.node_sdk import node_openai_project
from tests.support import ROOT, start_gateway

pytestmark = pytest.mark.e2e
DOCUMENTED = "127.0.0.1:8080"
BASE_URL = f"http://{DOCUMENTED}/v1"
CHAT_MODEL = "smollm2-135m-instruct"
EMBED_MODEL = "all-minilm-l6-v2"
CL100K_URL = "https://openaipublic.blob.core.windows.net/encodings/cl100k_base.tiktoken"
# Every named block, by file: what each test below runs or checks.
EXPECTED = {
    "README.md": {"tour-chat", "tour-stream", "tour-models", "tour-metrics", "tour-python"},
    "docs/recipes.md": {
        "python-sync",
        "python-stream",
        "python-tools",
        "node-chat",
        "langchain-chat",
        "tiktoken-cache",
        "langchain-embeddings",
        "continue",
        "open-webui",
    },
}
_BLOCK = re.compile(r"^<!-- recipe: ([a-z0-9-]+) -->\n```([a-z]+)\n(.*?)^```$", re.M | re.S)


@dataclass(frozen=True)
class Recipe:
    name: str
    lang: str
    code: str


def recipes(doc: str) -> dict[str, Recipe]:
    found: dict[str, Recipe] = {}
    for name, lang, code in _BLOCK.findall((ROOT / doc).read_text(encoding="utf-8")):
        assert name not in found, f"{doc}: two recipes named {name}"
        found[name] = Recipe(name, lang, code)
    return found


def recipe(doc: str, name: str) -> Recipe:
    return recipes(doc)[name]


@dataclass(frozen=True)
class Served:
    base: str  # http://127.0.0.1:<port>
    port: int

    def local(self, code: str) -> str:
        """The recipe as written, pointed at this gateway's port (the one change)."""
        return code.replace(DOCUMENTED, f"127.0.0.1:{self.port}")


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    tmp = tmp_path_factory.mktemp("recipes")
    # No policy file and no upstream: the embedded default the README's first command serves.
    proc, base = start_gateway(tmp, [], env={"GATEWAY_UPSTREAM_URL": "", "GATEWAY_CONFIG": ""})
    yield Served(base, int(base.rsplit(":", 1)[1]))
    proc.stop()


class Writes(io.StringIO):
    """stdout that also keeps each write, so a stream's printed pieces can be counted."""

    def __init__(self) -> None:
        super().__init__()
        self.pieces: list[str] = []

    def write(self, s: str) -> int:
        self.pieces.append(s)
        return super().write(s)


def run_python(served: Served, block: Recipe) -> tuple[dict[str, Any], Writes]:
    assert block.lang == "python"
    out = Writes()
    namespace: dict[str, Any] = {"__name__": f"recipe_{block.name.replace('-', '_')}"}
    with contextlib.redirect_stdout(out):
        exec(compile(served.local(block.code), block.name, "exec"), namespace)
    for value in namespace.values():  # the recipes' SDK clients, closed as a script's exit would
        close = getattr(value, "close", None)
        if type(value).__name__ == "OpenAI" and callable(close):
            close()
    return namespace, out


def run_shell(served: Served, block: Recipe) -> str:
    assert block.lang == "sh"
    if shutil.which("curl") is None:
        pytest.skip("curl is not installed")
    run = subprocess.run(
        ["bash", "-e", "-o", "pipefail", "-c", served.local(block.code)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode == 0, f"{block.name} failed:\n{run.stdout}\n{run.stderr}"
    return run.stdout


def gateway_models(base_url: str) -> set[str]:
    listing = httpx.get(f"{base_url}/models", timeout=10).json()
    return {m["id"] for m in listing["data"]}


@pytest.mark.parametrize("doc", sorted(EXPECTED))
def test_every_recipe_is_there_and_known(doc: str) -> None:
    assert set(recipes(doc)) == EXPECTED[doc]


def test_the_readme_tour(served: Served) -> None:
    reply = json.loads(run_shell(served, recipe("README.md", "tour-chat")))
    assert reply["model"] == CHAT_MODEL
    assert reply["choices"][0]["message"]["content"].strip()
    assert 0 < reply["usage"]["completion_tokens"] <= 32

    events = [
        line.removeprefix("data: ")
        for line in run_shell(served, recipe("README.md", "tour-stream")).splitlines()
        if line.startswith("data: ")
    ]
    assert events[-1] == "[DONE]"
    chunks = [json.loads(e) for e in events[:-1]]
    pieces = [c["choices"][0]["delta"].get("content") for c in chunks if c["choices"]]
    assert len([p for p in pieces if p]) > 1
    assert len({c["id"] for c in chunks}) == 1

    listing = json.loads(run_shell(served, recipe("README.md", "tour-models")))
    by_id = {m["id"]: m for m in listing["data"]}
    assert set(by_id) == {CHAT_MODEL, EMBED_MODEL}
    assert {"context_length", "quantization", "size_bytes"} <= set(by_id[CHAT_MODEL]["meta"])

    counted = run_shell(served, recipe("README.md", "tour-metrics"))
    chat = re.search(
        rf'^gateway_requests_total\{{model="{CHAT_MODEL}",route="/v1/chat/completions",'
        rf'status="200"\}} (\d+)',
        counted,
        re.M,
    )
    assert chat is not None and int(chat.group(1)) >= 2, counted

    namespace, out = run_python(served, recipe("README.md", "tour-python"))
    assert namespace["reply"].choices[0].message.content.strip()
    assert out.getvalue().strip()


def test_python_sdk_reply(served: Served) -> None:
    namespace, out = run_python(served, recipe("docs/recipes.md", "python-sync"))
    reply = namespace["reply"]
    assert reply.choices[0].message.content.strip()
    assert 0 < reply.usage.completion_tokens <= 24
    assert reply.choices[0].message.content in out.getvalue()


def test_python_sdk_stream(served: Served) -> None:
    _, out = run_python(served, recipe("docs/recipes.md", "python-stream"))
    *text, usage = [p for p in out.pieces if p and p != "\n"]
    assert len(text) > 1, out.pieces  # the answer arrived in pieces
    tokens = re.fullmatch(r"\n(\d+) tokens", usage)
    assert tokens is not None and 0 < int(tokens.group(1)) <= 24, usage


def test_python_sdk_tool_call_and_round_trip(served: Served) -> None:
    namespace, _ = run_python(served, recipe("docs/recipes.md", "python-tools"))
    first = namespace["first"].choices[0]
    assert first.finish_reason == "tool_calls"
    call = namespace["call"]
    assert call.type == "function" and call.function.name == "get_weather" and call.id
    assert isinstance(namespace["arguments"]["city"], str) and namespace["arguments"]["city"]
    answer = namespace["answer"].choices[0]
    assert answer.message.content.strip() and not answer.message.tool_calls


def test_node_sdk(served: Served, tmp_path: Path) -> None:
    node = node_openai_project(tmp_path)
    block = recipe("docs/recipes.md", "node-chat")
    assert block.lang == "js"
    (tmp_path / "chat.mjs").write_text(served.local(block.code))
    run = subprocess.run(
        [node, "chat.mjs"], cwd=tmp_path, capture_output=True, text=True, timeout=120
    )
    assert run.returncode == 0, run.stderr
    lines = run.stdout.strip("\n").split("\n")
    assert len(lines) >= 2 and lines[0].strip() and lines[-1].strip(), run.stdout


def test_langchain_chat(served: Served) -> None:
    namespace, out = run_python(served, recipe("docs/recipes.md", "langchain-chat"))
    assert namespace["llm"].model_name == CHAT_MODEL
    pieces = out.pieces
    end_of_invoke = pieces.index("\n")
    assert "".join(pieces[:end_of_invoke]).strip()  # `invoke` printed an answer
    streamed = [p for p in pieces[end_of_invoke + 1 : -1] if p]
    assert len(streamed) > 1, pieces  # `stream` printed it in pieces


def test_langchain_embeddings_offline(
    served: Served, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cache = tmp_path / "tiktoken"
    monkeypatch.setenv("TIKTOKEN_CACHE_DIR", str(cache))
    run_python(served, recipe("docs/recipes.md", "tiktoken-cache"))
    # tiktoken's own cache layout: the file under the SHA-1 of its download URL.
    assert (cache / hashlib.sha1(CL100K_URL.encode()).hexdigest()).stat().st_size > 1_000_000

    namespace, _ = run_python(served, recipe("docs/recipes.md", "langchain-embeddings"))
    vectors, query = namespace["vectors"], namespace["query"]
    assert [len(v) for v in vectors] == [384, 384] and len(query) == 384
    cat, revenue = (sum(a * b for a, b in zip(query, v, strict=True)) for v in vectors)
    assert cat > revenue  # real embeddings: the cat query is nearer the cat text


def test_continue_config_matches_the_gateway(served: Served) -> None:
    block = recipe("docs/recipes.md", "continue")
    assert block.lang == "yaml"
    config = yaml.safe_load(block.code)
    # config.yaml's required top level (Continue's reference: name, version, schema v1).
    assert config["name"] and config["version"] and config["schema"] == "v1"
    roles_known = {"chat", "autocomplete", "embed", "rerank", "edit", "apply", "summarize"}
    roles_seen: set[str] = set()
    for model in config["models"]:
        assert model["provider"] == "openai" and model["apiKey"]
        assert model["apiBase"] == BASE_URL
        api_base = served.local(model["apiBase"])
        assert model["model"] in gateway_models(api_base)
        assert set(model["roles"]) <= roles_known
        roles_seen |= set(model["roles"])
        if "chat" in model["roles"]:
            reply = httpx.post(
                f"{api_base}/chat/completions",
                json={
                    "model": model["model"],
                    "messages": [{"role": "user", "content": "hi"}],
                    "max_tokens": 8,
                },
                timeout=30,
            ).json()
            assert reply["choices"][0]["message"]["content"]
        if "embed" in model["roles"]:
            got = httpx.post(
                f"{api_base}/embeddings", json={"model": model["model"], "input": "hi"}, timeout=30
            ).json()
            assert len(got["data"][0]["embedding"]) == 384
    assert {"chat", "embed"} <= roles_seen


def test_open_webui_variables_match_the_gateway(served: Served) -> None:
    block = recipe("docs/recipes.md", "open-webui")
    assert block.lang == "sh"
    install, launch = block.code.strip().splitlines()
    assert shlex.split(install) == ["pip", "install", "open-webui"]
    words = shlex.split(launch)
    env = dict(w.split("=", 1) for w in words if re.fullmatch(r"[A-Z_]+=.*", w))
    command = [w for w in words if not re.fullmatch(r"[A-Z_]+=.*", w)]
    # Open WebUI's variables for one OpenAI-compatible connection.
    assert set(env) == {"OPENAI_API_BASE_URL", "OPENAI_API_KEY"} and env["OPENAI_API_KEY"]
    assert env["OPENAI_API_BASE_URL"] == BASE_URL
    assert {CHAT_MODEL, EMBED_MODEL} <= gateway_models(served.local(env["OPENAI_API_BASE_URL"]))
    assert command[:2] == ["open-webui", "serve"]
    # Its default port is the gateway's: the recipe must move it.
    assert "--port" in command and command[command.index("--port") + 1] != "8080"


def test_recipes_name_the_embedded_default() -> None:
    # The page promises that every recipe works right after `gateway serve`.
    for doc in EXPECTED:
        for block in recipes(doc).values():
            if block.name == "tiktoken-cache":
                continue  # no gateway involved
            assert DOCUMENTED in block.code, f"{block.name} does not use {BASE_URL}"
            if block.name not in {"tour-models", "tour-metrics", "open-webui"}:  # list them all
                assert CHAT_MODEL in block.code or EMBED_MODEL in block.code, block.name
