"""The official Node SDK (`openai` from npm) against the session's real gateway: a plain reply,
a stream, streamed tool calls, a tool round trip and a typed error, run by
`tests/data/node/openai_client.mjs` under `node`.

The SDK is installed by name into a temporary directory (npm's registry, no lock file kept);
`.ci/run` installs `nodejs` and `npm` when missing. Without them the tests skip and say why."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.node_sdk import node_openai_project
from tests.support import ROOT

pytestmark = pytest.mark.e2e
SCRIPT = ROOT / "tests" / "data" / "node" / "openai_client.mjs"


@pytest.fixture(scope="module")
def node_project(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    project = tmp_path_factory.mktemp("node-sdk")
    node_openai_project(project)
    # ESM resolves `openai` next to the script, so it runs from the project directory.
    shutil.copyfile(SCRIPT, project / SCRIPT.name)
    yield project


@pytest.fixture(scope="module")
def seen(node_project: Path, gateway: str) -> dict[str, Any]:
    run = subprocess.run(
        ["node", SCRIPT.name],
        cwd=node_project,
        env={**os.environ, "GATEWAY_BASE": gateway},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stderr
    result: dict[str, Any] = json.loads(run.stdout.strip().splitlines()[-1])
    return result


def test_create_answers_under_the_alias(seen: dict[str, Any]) -> None:
    assert seen["create"] == {"content": "hi node", "model": "fast"}


def test_stream_arrives_in_pieces_with_a_usage_chunk(seen: dict[str, Any]) -> None:
    stream = seen["stream"]
    assert stream["text"] == "streamed from node"
    assert stream["pieces"] > 3
    assert stream["usage"]["completion_tokens"] > 0


def test_stream_helper_assembles_parallel_tool_calls(seen: dict[str, Any]) -> None:
    tools = seen["streamedTools"]
    assert tools["finish"] == "tool_calls"
    assert tools["calls"] == [
        {"id": "call_0", "name": "get_weather", "arguments": {"city": "City0", "days": 1}},
        {"id": "call_1", "name": "get_weather", "arguments": {"city": "City1", "days": 2}},
    ]
    # The scripted upstream interleaves the two calls' argument fragments (as real ones do);
    # this SDK then reports a call "done" at each switch, the last time with all of it.
    last_done = {e["index"]: e for e in tools["argumentsDone"]}
    assert sorted(last_done) == [0, 1]
    for index, call in enumerate(tools["calls"]):
        assert last_done[index]["name"] == "get_weather"
        assert json.loads(last_done[index]["arguments"]) == call["arguments"]


def test_tool_round_trip(seen: dict[str, Any]) -> None:
    assert seen["roundTrip"] == {
        "call": {"name": "get_weather", "arguments": {"city": "Oslo"}},
        "answer": "Result: snow, -3C",
    }


def test_errors_are_the_sdks_typed_errors(seen: dict[str, Any]) -> None:
    assert seen["error"] == {"rateLimit": True, "status": 429, "type": "rate_limit_error"}
