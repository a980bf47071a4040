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
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections.abc import Callable

import redis.asyncio as aioredis

from gateway.resilience.breaker import BreakerRegistry, BreakerState
from gateway.resilience.breaker_wire import (
    CLOSED,
    DEFAULT_CHANNEL,
    DEFAULT_PREFIX,
    OPEN,
    REDIS_ERRORS,
    Transition,
    default_replica_id,
    event_message,
    read_event,
    read_opening,
    stored_opening,
)
from gateway.resilience.redis_client import connect_redis
from gateway.resilience.redis_health import RedisHealth

log = logging.getLogger("gateway.breaker_sync")


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
            self._client = connect_redis(client, op_timeout)
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
        self.health = RedisHealth("breaker sync", backoff_initial, backoff_max)
        self.subscribed = False
        self.published = 0
        self.applied = 0

        self._loop: asyncio.AbstractEventLoop | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._wake: asyncio.Event | None = None
        self._poll_now: asyncio.Event | None = None
        self._applying = threading.local()
        # All of the below is touched on the event loop's thread only.
        self._outbox: dict[str, Transition] = {}
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
        event = Transition(key, OPEN if state is BreakerState.OPEN else CLOSED, time.time())
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

    def _enqueue(self, event: Transition) -> None:
        key = event.key
        self._touched[key] = time.monotonic()
        self._remote_open.pop(key, None)
        if event.state == OPEN:
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
            with contextlib.suppress(*REDIS_ERRORS):
                async with asyncio.timeout(self.op_timeout):
                    await self._client.aclose()
        self._loop = None

    # -- health --------------------------------------------------------------------------

    @property
    def errors(self) -> int:
        return self.health.errors

    @property
    def connected(self) -> bool:
        return self.health.connected

    def _failed(self, what: str, exc: BaseException) -> None:
        self.health.failed(what, exc)

    def _succeeded(self) -> None:
        if self.health.succeeded():
            # Redis may have lost what was published before: publish the openings again.
            for key, opened_at in self._local_open.items():
                self._outbox.setdefault(key, Transition(key, OPEN, opened_at))
            if self._outbox and self._wake is not None:
                self._wake.set()
        if self._poll_now is not None and self.health.just_connected:
            self._poll_now.set()

    def _backoff(self, current: float) -> float:
        return self.health.backoff(current)

    # -- publishing --------------------------------------------------------------------

    async def _publisher(self) -> None:
        assert self._wake is not None
        delay = 0.0
        while True:
            if not self._outbox:
                self._wake.clear()
                await self._wake.wait()
            events, self._outbox = self._outbox, {}
            failed: list[Transition] = []
            for event in events.values():
                try:
                    await self._publish(event)
                except REDIS_ERRORS as exc:
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

    async def _publish(self, event: Transition) -> None:
        async with asyncio.timeout(self.op_timeout):
            pipe = self._client.pipeline(transaction=False)
            if event.state == OPEN:
                remaining = self._cooldown(event.key) - (time.time() - event.opened_at)
                if remaining <= 0:
                    return  # the cooldown is over already: nothing left to share
                value = stored_opening(self.replica_id, event.opened_at)
                pipe.set(self.prefix + event.key, value, px=max(1, int(remaining * 1000)))
            else:
                pipe.delete(self.prefix + event.key)
            pipe.publish(self.channel, event_message(self.replica_id, event))
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
            replica, key, state, opened_at = read_event(data)
            if replica == self.replica_id:
                return
            if not self._is_known(key):
                return
            self._touched[key] = time.monotonic()
            if state == OPEN:
                self._apply_open(key, opened_at)
            elif state == CLOSED:
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
            except REDIS_ERRORS as exc:
                self._failed("subscribe", exc)
            except Exception:
                log.exception("breaker sync: subscriber failed")
            finally:
                self.subscribed = False
                with contextlib.suppress(*REDIS_ERRORS):
                    async with asyncio.timeout(self.op_timeout):
                        await pubsub.aclose()  # type: ignore[no-untyped-call, unused-ignore]  # typed from redis 8.2
            delay = self._backoff(delay)
            await asyncio.sleep(delay)

    async def _poller(self) -> None:
        assert self._poll_now is not None
        delay = 0.0
        while True:
            try:
                await self._poll()
            except REDIS_ERRORS as exc:
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
                replica, opened_at = read_opening(raw)
                if replica != self.replica_id:
                    self._apply_open(key, opened_at)
            except Exception:
                log.warning("breaker sync: ignored a bad value at %s", key, exc_info=True)


__all__ = ["DEFAULT_CHANNEL", "DEFAULT_PREFIX", "RedisBreakerSync"]
