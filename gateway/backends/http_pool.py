"""The process's one pooled HTTP client for upstream calls on the hot path.

aiohttp, not httpx: as the client of a pass-through proxy here httpx cost ~4.5 ms CPU per
request and aiohttp ~0.2 ms (bench/overhead.py measures both floors). httpx stays for work
off the hot path (model discovery, health probes, CLI and test clients).
"""

from __future__ import annotations

import aiohttp

from gateway.errors import ServiceUnavailableError


class HTTPPool:
    def __init__(self, *, max_connections: int = 0) -> None:
        self._max_connections = max_connections
        self._session: aiohttp.ClientSession | None = None

    async def start(self) -> None:
        if self._session is None:
            connector = aiohttp.TCPConnector(
                limit=self._max_connections,
                ttl_dns_cache=300,
                keepalive_timeout=30,
            )
            self._session = aiohttp.ClientSession(
                connector=connector,
                timeout=aiohttp.ClientTimeout(total=None),
                # The gateway forwards bytes: no cookie state shared between clients.
                cookie_jar=aiohttp.DummyCookieJar(),
                auto_decompress=True,
                skip_auto_headers=("User-Agent",),
            )

    @property
    def session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            raise ServiceUnavailableError("the upstream HTTP client is not running")
        return self._session

    def ready(self) -> bool:
        return self._session is not None and not self._session.closed

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None
