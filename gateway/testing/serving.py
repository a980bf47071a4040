"""How every loopback test upstream runs as a process: `--host`, `--port`, `--require-key`
(plus its own options), an aiohttp app served until the process is stopped."""

from __future__ import annotations

import argparse
import asyncio

from aiohttp import web


def upstream_parser(doc: str | None, default_port: int) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=doc.splitlines()[0] if doc else None)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=default_port)
    parser.add_argument("--require-key", default=None)
    return parser


async def serve_app(app: web.Application, host: str, port: int, banner: str) -> None:
    """Serve `app` on host:port until cancelled; `banner` names it in the line printed once
    the socket listens."""
    runner = web.AppRunner(app, handler_cancellation=True, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    print(f"{banner} on http://{host}:{port}", flush=True)
    try:
        await asyncio.Event().wait()
    finally:
        await runner.cleanup()
