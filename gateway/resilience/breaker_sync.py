"""Circuit-breaker state shared by every replica through Redis (`state.redis_url_env`).

This sits beside the `BreakerRegistry`, never under it: requests only read local memory,
and Redis being down or slow leaves each replica on its own breakers.

- **Publish.** The registry's listener (`RedisBreakerSync.on_transition`, called
  synchronously from the request path) only records the transition in a per-key outbox and
  wakes a background task; it never awaits or blocks. The task writes an opening as
  `SET switchyard:breaker:{key} {"replica", "opened_at"} PX <remaining cooldown>` and a
  closing as `DEL`, each followed by a `PUBLISH` on `switchyard:breaker:_events`.
  Half-open is never published: every replica times the cooldown itself.
- **Apply.** A second task subscribes to the channel; a third reads the keys of every known
  target about once a second (the backstop for a lost message or a reconnect). Another
  replica's opening becomes `registry.get(key).trip(opened_seconds_ago=...)` (wall-clock
  difference, so replica clocks are assumed NTP-synced), its closing `reset()`. Messages
  carry the replica id, so a replica skips its own; transitions this module applies are
  not published again.
- **Outage.** Every Redis call has a timeout; a failure is counted in `errors`, flips
  `connected` to False, is logged once per outage, and the task retries with exponential
  backoff. Unpublished transitions stay in the outbox (coalesced per key); when Redis is
  back, this replica's still-open breakers are published again (Redis may have lost them)
  and the poll catches up with the others'.

Wiring (in the container)::

    fanout = ListenerFanout()                       # the registry takes one listener
    breakers = BreakerRegistry(settings.defaults.breaker, listener=fanout)
    url = env.get(settings.state.redis_url_env) if settings.state.redis_url_env else None
    if url:
        sync = RedisBreakerSync(url, breakers, replica_id=socket.gethostname() + ...)
        fanout.add(sync.on_transition)
        await sync.start()      # in Container.start(); `await sync.aclose()` in aclose()
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from gateway.resilience.breaker import BreakerRegistry, BreakerState, Listener

log = logging.getLogger("gateway.breaker_sync")

DEFAULT_PREFIX = "switchyard:breaker:"
# Target keys are `<backend>/<upstream model>`: they always hold a slash, so no key collides.
DEFAULT_CHANNEL = "switchyard:breaker:_events"

_OPEN = "open"
_CLOSED = "closed"
# What a Redis call can raise when the server is down, slow or answers garbage.
_REDIS_ERRORS = (RedisError, OSError, TimeoutError, ValueError)


class ListenerFanout:
    """One registry listener that calls several (metrics, the Redis sync, ...) in order.

    A listener that raises is logged and skipped, so one bad listener never breaks a
    request or starves the others.
    """

    def __init__(self, *listeners: Listener) -> None:
        self._listeners: tuple[Listener, ...] = tuple(listeners)

    def add(self, listener: Listener) -> None:
        self._listeners = (*self._listeners, listener)

    def remove(self, listener: Listener) -> None:
        self._listeners = tuple(x for x in self._listeners if x is not listener)

    def __call__(self, key: str, state: BreakerState) -> None:
        for listener in self._listeners:
            try:
                listener(key, state)
            except Exception:
                log.exception("breaker listener failed for %s", key)


def default_replica_id() -> str:
    """Host name, pid and a random suffix: unique per process, readable in Redis."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


@dataclass(frozen=True, slots=True)
class _Event:
    key: str
    state: str  # _OPEN or _CLOSED
    opened_at: float  # wall clock (time.time()) of the opening; 0 for a closing


class RedisBreakerSync:
    """Mirror a `BreakerRegistry`'s openings and closings across replicas through Redis.

    `client` is a `redis.asyncio.Redis` (the caller keeps ownership) or a URL (a client is
    built with short socket timeouts and closed by `aclose`). `cooldown(key)` gives a
    target's cooldown in seconds (default: the breaker's own `limits.cooldown_seconds`); it
    is the TTL of an opening's key. Remote transitions are applied only to targets the
    registry already knows (`accept(key)` overrides that); the poll picks up a target's
    shared state within `poll_interval` of its first local use.

    Counters for `/metrics`: `errors` (failed Redis calls), `connected` (the last Redis
    call succeeded), `subscribed` (listening on the channel), `published`, `applied`.
    """

    def __init__(
        self,
        client: aioredis.Redis | str,
        registry: BreakerRegistry,
        replica_id: str | None = None,
        *,
        cooldown: Callable[[str], float] | None = None,
        accept: Callable[[str], bool] | None = None,
        prefix: str = DEFAULT_PREFIX,
        channel: str = DEFAULT_CHANNEL,
        poll_interval: float = 1.0,
        op_timeout: float = 0.5,
        backoff_initial: float = 0.1,
        backoff_max: float = 2.0,
    ) -> None:
        if isinstance(client, str):
            self._client = aioredis.Redis.from_url(
                client,
                socket_timeout=op_timeout,
                socket_connect_timeout=op_timeout,
                retry_on_timeout=False,
            )
            self._owns_client = True
        else:
            self._client = client
            self._owns_client = False
        self.registry = registry
        self.replica_id = replica_id or default_replica_id()
        self._cooldown = cooldown or (lambda key: registry.get(key).limits.cooldown_seconds)
        self._accept = accept
        self.prefix = prefix
        self.channel = channel
        self.poll_interval = poll_interval
        self.op_timeout = op_timeout
        self.backoff_initial = backoff_initial
        self.backoff_max = backoff_max

        self.errors = 0
        self.connected = False
        self.subscribed = False
        self.published = 0
        self.applied = 0

        self._outage_logged = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._wake: asyncio.Event | None = None
        self._poll_now: asyncio.Event | None = None
        self._applying = threading.local()
        # All of the below is touched on the event loop's thread only.
        self._outbox: dict[str, _Event] = {}
        self._local_open: dict[str, float] = {}  # opened here: key -> wall-clock opened-at
        # Open here because another replica said so: key -> its wall-clock opened-at.
        self._remote_open: dict[str, float] = {}
        self._touched: dict[str, float] = {}  # key -> monotonic time of its last change
        self._known: set[str] = set()

    # -- the registry's listener (request path: enqueue only) -------------------------

    def on_transition(self, key: str, state: BreakerState) -> None:
        """The registry's listener. Never blocks, never awaits, never raises."""
        if getattr(self._applying, "key", None) == key or state is BreakerState.HALF_OPEN:
            return
        event = _Event(key, _OPEN if state is BreakerState.OPEN else _CLOSED, time.time())
        loop = self._loop
        try:
            running: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        try:
            if loop is None or running is loop:
                self._enqueue(event)
            elif not loop.is_closed():
                loop.call_soon_threadsafe(self._enqueue, event)
        except Exception:  # a closing loop: the transition stays local
            log.debug("breaker transition of %s not queued", key, exc_info=True)

    def _enqueue(self, event: _Event) -> None:
        key = event.key
        self._touched[key] = time.monotonic()
        self._remote_open.pop(key, None)
        if event.state == _OPEN:
            self._local_open[key] = event.opened_at
        else:
            self._local_open.pop(key, None)
        self._outbox[key] = event
        if self._wake is not None:
            self._wake.set()

    # -- lifecycle ---------------------------------------------------------------------

    async def start(self) -> None:
        if self._tasks:
            return
        self._loop = asyncio.get_running_loop()
        self._wake = asyncio.Event()
        self._poll_now = asyncio.Event()
        if self._outbox:
            self._wake.set()
        self._tasks = [
            asyncio.create_task(self._publisher(), name="breaker-sync-publish"),
            asyncio.create_task(self._subscriber(), name="breaker-sync-subscribe"),
            asyncio.create_task(self._poller(), name="breaker-sync-poll"),
        ]

    async def aclose(self) -> None:
        tasks, self._tasks = self._tasks, []
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        if self._owns_client:
            with contextlib.suppress(*_REDIS_ERRORS):
                async with asyncio.timeout(self.op_timeout):
                    await self._client.aclose()
        self._loop = None

    # -- health --------------------------------------------------------------------------

    def _failed(self, what: str, exc: BaseException) -> None:
        self.errors += 1
        self.connected = False
        if not self._outage_logged:
            self._outage_logged = True
            log.warning(
                "breaker sync: Redis unavailable (%s: %s: %s); breakers stay local until it "
                "is back",
                what,
                type(exc).__name__,
                exc,
            )

    def _succeeded(self) -> None:
        if self.connected:
            return
        self.connected = True
        if self._outage_logged:
            self._outage_logged = False
            log.warning("breaker sync: Redis reachable again; sharing breaker state")
            # Redis may have lost what was published before: publish the openings again.
            for key, opened_at in self._local_open.items():
                self._outbox.setdefault(key, _Event(key, _OPEN, opened_at))
            if self._outbox and self._wake is not None:
                self._wake.set()
        if self._poll_now is not None:
            self._poll_now.set()

    def _backoff(self, current: float) -> float:
        return min(self.backoff_max, max(self.backoff_initial, current * 2))

    # -- publishing --------------------------------------------------------------------

    async def _publisher(self) -> None:
        assert self._wake is not None
        delay = 0.0
        while True:
            if not self._outbox:
                self._wake.clear()
                await self._wake.wait()
            events, self._outbox = self._outbox, {}
            failed: list[_Event] = []
            for event in events.values():
                try:
                    await self._publish(event)
                except _REDIS_ERRORS as exc:
                    self._failed("publish", exc)
                    failed.append(event)
                except Exception:  # a bug, not an outage: drop the event, keep the task
                    log.exception("breaker sync: could not publish %s", event.key)
                else:
                    self.published += 1
                    self._succeeded()
            if not failed:
                delay = 0.0
                continue
            for event in failed:
                # A newer transition of the same key, queued meanwhile, supersedes it.
                self._outbox.setdefault(event.key, event)
            delay = self._backoff(delay)
            await asyncio.sleep(delay)

    async def _publish(self, event: _Event) -> None:
        message: dict[str, Any] = {
            "replica": self.replica_id,
            "key": event.key,
            "state": event.state,
        }
        async with asyncio.timeout(self.op_timeout):
            pipe = self._client.pipeline(transaction=False)
            if event.state == _OPEN:
                remaining = self._cooldown(event.key) - (time.time() - event.opened_at)
                if remaining <= 0:
                    return  # the cooldown is over already: nothing left to share
                message["opened_at"] = event.opened_at
                value = json.dumps({"replica": self.replica_id, "opened_at": event.opened_at})
                pipe.set(self.prefix + event.key, value, px=max(1, int(remaining * 1000)))
            else:
                pipe.delete(self.prefix + event.key)
            pipe.publish(self.channel, json.dumps(message))
            await pipe.execute()

    # -- applying other replicas' transitions --------------------------------------------

    def _is_known(self, key: str) -> bool:
        if self._accept is not None:
            return self._accept(key)
        if key not in self._known:
            self._known = set(self.registry.states())
        return key in self._known

    def _apply_open(self, key: str, opened_at: float) -> None:
        ago = max(0.0, time.time() - opened_at)
        if ago >= self._cooldown(key):
            return  # expired: this replica times its own half-open
        breaker = self.registry.get(key)
        if breaker.state is BreakerState.OPEN and (
            self._remote_open.get(key) == opened_at or self._local_open.get(key, 0.0) >= opened_at
        ):
            return  # open here already, for at least as long
        self._applying.key = key
        try:
            breaker.trip(opened_seconds_ago=ago)
        finally:
            self._applying.key = None
        self._local_open.pop(key, None)
        self._remote_open[key] = opened_at
        self.applied += 1

    def _apply_closed(self, key: str) -> None:
        breaker = self.registry.get(key)
        self._applying.key = key
        try:
            if breaker.state is not BreakerState.CLOSED:
                breaker.reset()
                self.applied += 1
        finally:
            self._applying.key = None
        self._local_open.pop(key, None)
        self._remote_open.pop(key, None)

    def _on_message(self, data: bytes | str) -> None:
        try:
            message = json.loads(data)
            replica, key, state = message["replica"], message["key"], message["state"]
            if replica == self.replica_id or not isinstance(key, str):
                return
            if not self._is_known(key):
                return
            self._touched[key] = time.monotonic()
            if state == _OPEN:
                self._apply_open(key, float(message["opened_at"]))
            elif state == _CLOSED:
                self._apply_closed(key)
        except Exception:
            log.warning("breaker sync: ignored a bad message %r", data, exc_info=True)

    async def _subscriber(self) -> None:
        delay = 0.0
        read_timeout = max(0.05, self.poll_interval)
        while True:
            pubsub = self._client.pubsub()
            try:
                async with asyncio.timeout(self.op_timeout):
                    await pubsub.subscribe(self.channel)
                self.subscribed = True
                self._succeeded()
                delay = 0.0
                while True:
                    async with asyncio.timeout(read_timeout + self.op_timeout):
                        message = await pubsub.get_message(
                            ignore_subscribe_messages=True, timeout=read_timeout
                        )
                    if message is not None and message.get("type") == "message":
                        self._on_message(message["data"])
            except _REDIS_ERRORS as exc:
                self._failed("subscribe", exc)
            except Exception:
                log.exception("breaker sync: subscriber failed")
            finally:
                self.subscribed = False
                with contextlib.suppress(*_REDIS_ERRORS):
                    async with asyncio.timeout(self.op_timeout):
                        await pubsub.aclose()  # type: ignore[no-untyped-call]
            delay = self._backoff(delay)
            await asyncio.sleep(delay)

    async def _poller(self) -> None:
        assert self._poll_now is not None
        delay = 0.0
        while True:
            try:
                await self._poll()
            except _REDIS_ERRORS as exc:
                self._failed("poll", exc)
                delay = self._backoff(delay)
            except Exception:
                log.exception("breaker sync: poll failed")
            else:
                self._succeeded()
                delay = 0.0
            self._poll_now.clear()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(max(delay, self.poll_interval)):
                    await self._poll_now.wait()

    def _prune(self, now: float) -> None:
        """Forget bookkeeping of targets the registry dropped (client-named ones)."""
        horizon = now - 10 * self.poll_interval - self.op_timeout
        self._touched = {k: t for k, t in self._touched.items() if t >= horizon}
        for table in (self._local_open, self._remote_open):
            for key in [k for k in table if k not in self._known]:
                del table[key]

    async def _poll(self) -> None:
        states = self.registry.states()
        self._known = set(states)
        keys = sorted(states)
        started = time.monotonic()
        self._prune(started)
        if not keys:
            async with asyncio.timeout(self.op_timeout):
                await self._client.ping()
            return
        async with asyncio.timeout(self.op_timeout):
            values = await self._client.mget([self.prefix + key for key in keys])
        for key, raw in zip(keys, values, strict=True):
            if self._touched.get(key, 0.0) >= started:
                continue  # changed while the read was in flight: the change is newer
            if self._accept is not None and not self._accept(key):
                continue
            if raw is None:
                # Opened here by another replica, gone from Redis well before the cooldown
                # ends: its close message was lost.
                breaker = self.registry.get(key)
                if (
                    key in self._remote_open
                    and breaker.state is BreakerState.OPEN
                    and breaker.retry_after() > self.poll_interval + self.op_timeout
                ):
                    self._apply_closed(key)
                continue
            try:
                value = json.loads(raw)
                if value["replica"] == self.replica_id:
                    continue
                self._apply_open(key, float(value["opened_at"]))
            except Exception:
                log.warning("breaker sync: ignored a bad value at %s", key, exc_info=True)


__all__ = ["DEFAULT_CHANNEL", "DEFAULT_PREFIX", "ListenerFanout", "RedisBreakerSync"]
