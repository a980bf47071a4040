from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import msgspec
import pytest

from gateway.settings import ConfigError, Settings, load_settings, parse_settings
from gateway.settings.defaults import default_document
from gateway.settings.reference import documented_schema

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "deploy" / "gateway.example.yaml"


def problems(document: object, env: dict[str, str] | None = None) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        parse_settings(document, "test", env or {})
    return caught.value.problems


def test_every_error_is_reported_with_its_path() -> None:
    found = problems(
        {
            "servr": {},
            "server": {"port": "eighty", "workerz": 2},
            "backends": {
                "up": {"type": "openai", "base_url": "ftp://x", "timeouts": {"idel": 3}},
                "odd": {"type": "carrier-pigeon"},
            },
            "models": [{"id": "a", "backend": 1}],
        }
    )
    text = "\n".join(found)
    assert (
        "$: unknown key `servr` (allowed keys: version, server, defaults, state, auth, keys, tenants, prices, policies, audit, inference_log, cache, tools, rag, workflows, backends, models)"
        in found
    )
    assert "$.server.port: Expected `int`, got `str`" in found
    assert "$.server: unknown key `workerz`" in text and "workers" in text
    assert "$.backends.up.base_url:" in text
    assert (
        "$.backends.up.timeouts: unknown key `idel` (allowed keys: connect, first_byte, idle)"
        in found
    )
    assert (
        "$.backends.odd.type: unknown backend type `carrier-pigeon` (known types: openai, "
        "anthropic, gemini, fake, llama_cpp, onnx_embedder)" in found
    )
    assert "$.models[0].backend: Expected `str`, got `int`" in found
    assert len(found) == 7


def test_references_between_sections_are_checked() -> None:
    found = problems(
        {
            "backends": {"a": {"type": "fake"}},
            "models": [
                {"id": "m", "backend": "b", "fallbacks": ["ghost"]},
                {"id": "m", "backend": "a"},
                {"id": "x*y", "backend": "a"},
            ],
        }
    )
    assert "$.models[0].backend: unknown backend `b` (defined: a)" in found
    assert any(p.startswith("$.models[0].fallbacks[0]: unknown model `ghost`") for p in found)
    assert "$.models[1].id: duplicate model id `m`" in found
    assert "$.models[2].id: `*` is only allowed as a trailing `/*`" in found


def test_environment_overrides_apply_before_validation() -> None:
    settings = parse_settings(
        {"server": {"port": 1}},
        "test",
        {"GATEWAY__SERVER__PORT": "9001", "GATEWAY__SERVER__ACCESS_LOG": "false"},
    )
    assert settings.server.port == 9001 and settings.server.access_log is False
    assert "$.server.port: Expected `int` <= 65535" in problems(
        {}, {"GATEWAY__SERVER__PORT": "99999"}
    )


def test_settings_are_frozen() -> None:
    settings = parse_settings({}, "test", {})
    with pytest.raises(AttributeError):
        settings.server.port = 1  # type: ignore[misc]


def test_file_errors_name_the_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read the file"):
        load_settings(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("server: [unclosed\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_settings(bad)
    listy = tmp_path / "list.yaml"
    listy.write_text("- 1\n- 2\n")
    with pytest.raises(ConfigError, match="top level must be a mapping"):
        load_settings(listy)


@pytest.mark.parametrize(
    "name", ["gateway.example.yaml", "gateway.gpu.yaml", "examples/barrier.yaml"]
)
def test_the_documented_examples_are_valid(name: str) -> None:
    settings = load_settings(ROOT / "deploy" / name, env={})
    assert settings.backends


def test_embedded_default_serves_the_local_model_or_an_upstream_named_by_the_environment() -> None:
    local = parse_settings(default_document({}), "default", {})
    backend = local.backends["local"]
    assert getattr(backend, "models", {}).keys() == {"smollm2-135m-instruct"}
    proxied = parse_settings(
        default_document({"GATEWAY_UPSTREAM_URL": "http://127.0.0.1:1/v1"}), "default", {}
    )
    backend = proxied.backends["upstream"]
    assert getattr(backend, "discover_models", False) is True


def test_cli_check_prints_every_error_and_schema_matches_the_types(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("server: {port: x, hots: 1}\nbackends: {a: {type: nope}}\n")
    run = subprocess.run(
        [sys.executable, "-m", "gateway", "check", str(bad)], capture_output=True, text=True
    )
    assert run.returncode == 1
    assert "$.server.port" in run.stderr and "`hots`" in run.stderr and "nope" in run.stderr
    ok = subprocess.run(
        [sys.executable, "-m", "gateway", "check", str(EXAMPLE)], capture_output=True, text=True
    )
    assert ok.returncode == 0, ok.stderr
    schema = subprocess.run(
        [sys.executable, "-m", "gateway", "schema"], capture_output=True, text=True, check=True
    )
    printed = msgspec.json.decode(schema.stdout)
    assert printed == documented_schema()
    # The documented schema is msgspec's, with field comments added as descriptions.
    assert printed["$defs"].keys() == msgspec.json.schema(Settings)["$defs"].keys()


def test_environment_overrides_find_existing_keys_lists_and_exponents() -> None:
    document = {
        "backends": {"OpenAI": {"type": "openai", "base_url": "http://a"}},
        "models": [{"id": "m", "backend": "OpenAI"}],
    }
    env = {
        "GATEWAY__BACKENDS__OPENAI__BASE_URL": "http://b",
        "GATEWAY__MODELS__0__OWNED_BY": "ops",
        "GATEWAY__DEFAULTS__TIMEOUTS__IDLE": "1e3",
    }
    settings = parse_settings(document, "test", env)
    assert getattr(settings.backends["OpenAI"], "base_url", None) == "http://b"
    assert settings.models[0].owned_by == "ops"
    assert settings.defaults.timeouts.idle == 1000.0
    with pytest.raises(ConfigError, match="not an index"):
        parse_settings(document, "test", {"GATEWAY__MODELS__5__ID": "x"})


def test_yaml_words_like_off_and_no_stay_words(tmp_path: Path) -> None:
    path = tmp_path / "gateway.yaml"
    path.write_text(
        "server: {access_log: false}\n"
        "backends: {fake: {type: fake}}\n"
        "models:\n  - {id: m, backend: fake, cache: {mode: off}, coalesce: true}\n"
    )
    settings = load_settings(path)
    assert settings.models[0].cache.mode == "off"
    assert settings.server.access_log is False and settings.models[0].coalesce is True
