"""Backend plugins without pip: `switchyard.backends` entry points faked by monkeypatching
`gateway.settings.plugins.entry_points`, pointing at the shout plugin's source tree (on
sys.path) or at objects that are not backend types. The installed-package path is covered
end to end in tests/e2e/test_backend_plugins.py."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from importlib.metadata import EntryPoint
from pathlib import Path
from typing import Any

import msgspec
import pytest

from gateway.backend_factory import build_backends, discovers
from gateway.backends.base import BackendCall
from gateway.backends.http_pool import HTTPPool
from gateway.context import RequestContext
from gateway.protocol.chat import ChatCompletionRequest
from gateway.protocol.raw import RawFields
from gateway.settings import plugins
from gateway.settings.backend_types import PluginBackendSpec
from gateway.settings.loader import ConfigError, parse_settings

PLUGIN_SOURCE = Path(__file__).resolve().parents[1] / "data" / "plugins" / "switchyard-shout"
GROUP = "switchyard.backends"


@dataclass(frozen=True)
class _Point:
    """An entry point whose `load` is scripted (importlib's needs an importable module)."""

    name: str
    value: str
    loader: Callable[[], Any]
    group: str = GROUP

    def load(self) -> Any:
        return self.loader()


def _install(monkeypatch: pytest.MonkeyPatch, *points: Any) -> None:
    def entry_points(*, group: str, name: str | None = None) -> list[Any]:
        return [p for p in points if p.group == group and (name is None or p.name == name)]

    monkeypatch.setattr(plugins, "entry_points", entry_points)


@pytest.fixture()
def shout(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.syspath_prepend(str(PLUGIN_SOURCE))
    _install(monkeypatch, EntryPoint("shout", "switchyard_shout:BACKEND_TYPE", GROUP))
    yield


def _document(**loud: Any) -> dict[str, Any]:
    return {
        "backends": {"loud": {"type": "shout", **loud}},
        "models": [{"id": "shouty", "backend": "loud", "upstream_model": "s"}],
    }


def _problems(document: dict[str, Any]) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        parse_settings(document, "policy.yaml", {})
    return caught.value.problems


def test_a_plugin_entry_keeps_its_checked_keys_under_its_own_name(shout: None) -> None:
    settings = parse_settings(_document(greeting="HEY", repeat=2), "policy.yaml", {})
    spec = settings.backends["loud"]
    assert spec == PluginBackendSpec(plugin="shout", config={"greeting": "HEY", "repeat": 2})
    assert not discovers(settings, "loud")  # BackendType's default: models need a route


def test_plugin_keys_are_checked_by_the_plugins_struct_at_the_entrys_paths(shout: None) -> None:
    # Both errors, each reported once (the model routed to the dropped entry adds none).
    assert _problems(_document(greeting="HEY", repeat=9, volume=11)) == [
        "$.backends.loud.repeat: Expected `int` <= 5",
        "$.backends.loud: unknown key `volume` (allowed keys: greeting, repeat)",
    ]


def test_a_missing_required_plugin_key_is_named(shout: None) -> None:
    assert _problems(_document()) == ["$.backends.loud: missing required key `greeting`"]


def test_an_unknown_type_lists_built_in_and_installed_types(shout: None) -> None:
    document = _document(greeting="HEY")
    document["backends"]["other"] = {"type": "nosuch"}
    [problem] = _problems(document)
    assert problem.startswith("$.backends.other.type: unknown backend type `nosuch` (known types:")
    assert problem.endswith(", shout)")
    for built_in in ("openai", "anthropic", "gemini", "fake", "llama_cpp"):
        assert built_in in problem
    assert "plugin" not in problem.removeprefix("$.backends.other.type: ")  # an internal tag


def test_an_entry_point_that_fails_to_import_is_one_readable_problem(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def missing() -> Any:
        raise ModuleNotFoundError("No module named 'switchyard_missing'")

    _install(monkeypatch, _Point("shout", "switchyard_missing:BACKEND_TYPE", missing))
    assert _problems({"backends": {"loud": {"type": "shout", "greeting": "HEY"}}}) == [
        "$.backends.loud.type: the backend plugin `shout` (switchyard_missing:BACKEND_TYPE) "
        "failed to import: No module named 'switchyard_missing'"
    ]


def test_an_entry_point_that_is_not_a_backend_type_is_refused(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _install(monkeypatch, _Point("shout", "elsewhere:THING", lambda: {"spec": dict}))
    [problem] = _problems({"backends": {"loud": {"type": "shout", "greeting": "HEY"}}})
    assert problem.startswith("$.backends.loud.type: the backend plugin `shout` (elsewhere:THING)")
    assert "is not a gateway.backends.registry.BackendType" in problem


def test_entry_points_of_other_groups_are_not_types(monkeypatch: pytest.MonkeyPatch) -> None:
    _install(monkeypatch, _Point("shout", "x:Y", lambda: None, group="other.group"))
    [problem] = _problems({"backends": {"loud": {"type": "shout"}}})
    assert "unknown backend type `shout`" in problem
    assert plugins.installed_plugins() == []


def test_a_plugin_uninstalled_after_loading_is_a_config_error_at_build(
    monkeypatch: pytest.MonkeyPatch, shout: None
) -> None:
    settings = parse_settings(_document(greeting="HEY"), "policy.yaml", {})
    _install(monkeypatch)
    with pytest.raises(ConfigError) as caught:
        build_backends(settings, {}, HTTPPool())
    assert caught.value.problems == [
        "$.backends.loud.type: no installed package provides backend type `shout`"
    ]


def _call(body: dict[str, Any]) -> BackendCall:
    request = msgspec.convert(body, ChatCompletionRequest)
    ctx = RequestContext(request_id="r1", endpoint="chat/completions")
    return BackendCall("chat/completions", request, {}, "s", ctx)


def _decoded(fields: RawFields) -> dict[str, Any]:
    return {k: msgspec.json.decode(v) for k, v in fields.items()}


def test_the_built_plugin_backend_answers_and_streams(shout: None) -> None:
    settings = parse_settings(_document(greeting="HEY", repeat=2), "policy.yaml", {})
    backend = build_backends(settings, {}, HTTPPool())["loud"]
    assert type(backend).__name__ == "ShoutBackend" and backend.name == "loud"
    body = {
        "model": "shouty",
        "messages": [
            {"role": "user", "content": "first"},
            {"role": "assistant", "content": "FIRST"},
            {"role": "user", "content": "ping pong"},
        ],
    }

    async def run() -> tuple[dict[str, Any], list[dict[str, Any]]]:
        reply = _decoded(await backend.complete(_call(body)))
        chunks = [_decoded(c) async for c in backend.stream(_call({**body, "stream": True}))]
        return reply, chunks

    reply, chunks = asyncio.run(run())
    assert reply["object"] == "chat.completion"
    assert reply["choices"][0]["message"] == {
        "role": "assistant",
        "content": "HEY PING PONG HEY PING PONG",
    }
    assert reply["usage"] == {"prompt_tokens": 4, "completion_tokens": 6, "total_tokens": 10}
    assert chunks[0]["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    text = "".join(c["choices"][0]["delta"].get("content", "") for c in chunks if c["choices"])
    assert text == "HEY PING PONG HEY PING PONG"
    assert chunks[-2]["choices"][0]["finish_reason"] == "stop"
    assert chunks[-1]["choices"] == [] and chunks[-1]["usage"] == reply["usage"]
    assert all("usage" not in c for c in chunks[:-1])
