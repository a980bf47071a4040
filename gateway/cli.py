"""`gateway serve | check | schema | keys | verify | rag | workflow | --version`."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import shutil
import sys
import tempfile
from collections.abc import Iterator, Sequence
from importlib.metadata import PackageNotFoundError, version
from typing import Any

import msgspec

from gateway.cli_keys import add_keys_parser, run_keys
from gateway.cli_rag import add_rag_parser, run_rag
from gateway.cli_verify import add_verify_parser, run_verify
from gateway.cli_workflow import add_workflow_parser, run_workflow_cli
from gateway.settings.backend_types import OpenAIBackendSpec
from gateway.settings.checks import policy_warnings
from gateway.settings.defaults import upstream_document
from gateway.settings.loader import ConfigError, load_settings, parse_settings
from gateway.settings.schema import Settings

CONFIG_ENV = "GATEWAY_CONFIG"


def _version() -> str:
    try:
        return version("switchyard")
    except PackageNotFoundError:
        return "0+unknown"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="gateway", description="An OpenAI-compatible LLM gateway."
    )
    parser.add_argument("--version", action="version", version=f"gateway {_version()}")
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="run the gateway")
    source = serve.add_mutually_exclusive_group()
    source.add_argument("--config", metavar="FILE", help=f"policy file (or ${CONFIG_ENV})")
    source.add_argument(
        "--upstream",
        metavar="BASE_URL",
        help="quick start: proxy every model an OpenAI-compatible server lists "
        "(e.g. http://127.0.0.1:11434/v1)",
    )
    serve.add_argument(
        "--upstream-key-env", metavar="NAME", help="environment variable holding the upstream key"
    )
    serve.add_argument("--host", help="bind address (default from the policy file)")
    serve.add_argument("--port", type=int, help="port (default from the policy file)")
    serve.add_argument("--workers", type=int, help="worker processes (default 1)")
    serve.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])

    check = commands.add_parser("check", help="validate a policy file and print every error")
    check.add_argument("file")
    schema = commands.add_parser("schema", help="print the policy file's JSON Schema")
    schema.add_argument(
        "--markdown", action="store_true", help="print the configuration reference instead"
    )
    add_keys_parser(commands)
    add_verify_parser(commands)
    add_rag_parser(commands)
    add_workflow_parser(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "schema":
        from gateway.settings.reference import documented_schema, reference_markdown

        if args.markdown:
            sys.stdout.write(reference_markdown())
            return 0
        schema = msgspec.json.encode(documented_schema())
        sys.stdout.write(msgspec.json.format(schema).decode())
        sys.stdout.write("\n")
        return 0
    if args.command == "check":
        return _check(args.file)
    if args.command == "keys":
        return run_keys(args)
    if args.command == "verify":
        return run_verify(args)
    if args.command == "rag":
        return run_rag(args)
    if args.command == "workflow":
        return run_workflow_cli(args)
    return _serve(args)


def _check(path: str) -> int:
    try:
        settings = load_settings(path)
        unset = {
            variable: f"$.tools.mcp_servers.{name}.headers_env.{header}"
            for name, spec in settings.tools.mcp_servers.items()
            for header, variable in spec.headers_env.items()
            if variable not in os.environ
        }
        if any(m.tools for m in settings.models) or settings.workflows is not None:
            from gateway.tool_wiring import check_tools

            # An unset variable is a warning here, as `api_key_env` is: `serve` needs it.
            check_tools(settings, {**os.environ, **dict.fromkeys(unset, "")})
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return 1
    missing = [
        f"$.backends.{name}.api_key_env: `{spec.api_key_env}` is not set in this environment"
        for name, spec in settings.backends.items()
        if isinstance(spec, OpenAIBackendSpec)
        and spec.api_key_env
        and spec.api_key_env not in os.environ
    ]
    missing += [
        f"{where}: `{variable}` is not set in this environment" for variable, where in unset.items()
    ]
    redis_env = settings.state.redis_url_env
    if redis_env and redis_env not in os.environ:
        missing.append(f"$.state.redis_url_env: `{redis_env}` is not set in this environment")
    missing += policy_warnings(settings)
    for warning in missing:
        print(f"warning: {warning}", file=sys.stderr)
    print(f"{path}: OK ({len(settings.backends)} backends, {len(settings.models)} models)")
    return 0


def _load_for_serve(args: argparse.Namespace) -> Settings:
    if args.upstream:
        document = upstream_document(args.upstream, args.upstream_key_env)
        settings = parse_settings(document, "--upstream", os.environ)
    else:
        settings = load_settings(args.config or os.environ.get(CONFIG_ENV) or None)
    server = settings.server
    overrides = {
        "host": args.host if args.host is not None else server.host,
        "port": args.port if args.port is not None else server.port,
        "workers": args.workers if args.workers is not None else server.workers,
    }
    return msgspec.structs.replace(settings, server=msgspec.structs.replace(server, **overrides))


def _serve(args: argparse.Namespace) -> int:
    import uvicorn

    from gateway.app import CONFIG_PATH_ENV, SETTINGS_ENV, create_app
    from gateway.observability.logs import configure_logging

    configure_logging(args.log_level)
    try:
        settings = _load_for_serve(args)
        container = preflight(settings)
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return 2
    server = settings.server
    common: dict[str, Any] = {
        "host": server.host,
        "port": server.port,
        "loop": "uvloop" if sys.platform != "win32" else "asyncio",
        "http": "httptools",
        "access_log": False,
        "log_config": None,
        "lifespan": "on",
        "timeout_graceful_shutdown": 10,
        # Client addresses are not used (nor logged): skip X-Forwarded-* rewriting.
        "proxy_headers": False,
        "server_header": False,
    }
    config_path = None if args.upstream else (args.config or os.environ.get(CONFIG_ENV) or None)
    if server.workers > 1:
        os.environ[SETTINGS_ENV] = msgspec.json.encode(settings).decode()
        if config_path:
            os.environ[CONFIG_PATH_ENV] = config_path
        os.environ["GATEWAY_LOG_LEVEL"] = args.log_level
        with _shared_metrics_dir():
            uvicorn.run(
                "gateway.app:create_app_from_env", factory=True, workers=server.workers, **common
            )
    else:
        assert container is not None
        uvicorn.run(create_app(settings, container, config_path), **common)
    return 0


@contextlib.contextmanager
def _shared_metrics_dir() -> Iterator[None]:
    """A fresh directory for the workers' metric files (prometheus-client's multiprocess
    mode, read by each worker as it imports the library): counters from an earlier run
    must not add in, so it is never reused, and it is removed at exit. This process's own
    metrics (the preflight container's) were built before, in memory, and stay out."""
    from gateway.observability.multiprocess import MULTIPROC_ENV

    directory = tempfile.mkdtemp(prefix="gateway-metrics-")
    os.environ[MULTIPROC_ENV] = directory
    try:
        yield
    finally:
        os.environ.pop(MULTIPROC_ENV, None)
        shutil.rmtree(directory, ignore_errors=True)


def preflight(settings: Settings) -> Any:
    """Check (and with `load: at_startup`, load) the local models before serving, so a bad
    file stops startup with its name. With one worker the checked container serves; with
    several, each worker builds its own, so this one is closed first: a loaded model (and
    its KV cache) must not stay alive in the supervisor as an N+1th copy."""
    from gateway.container import Container

    container = Container(settings)
    container.preflight()
    if settings.server.workers <= 1:
        return container
    asyncio.run(container.aclose())
    return None


if __name__ == "__main__":
    raise SystemExit(main())
