from __future__ import annotations

import asyncio

from gateway.api.asgi_io import DisconnectWatch


def test_a_disconnect_cancels_the_work_and_is_swallowed() -> None:
    async def run() -> tuple[bool, bool]:
        left = asyncio.Event()
        cancelled = False

        async def receive() -> dict[str, str]:
            await left.wait()
            return {"type": "http.disconnect"}

        async def handler() -> bool:
            nonlocal cancelled
            async with DisconnectWatch(receive) as watch:
                try:
                    await asyncio.sleep(30)
                except asyncio.CancelledError:
                    cancelled = True
                    raise
            return watch.disconnected

        task = asyncio.create_task(handler())
        await asyncio.sleep(0.01)
        left.set()
        disconnected = await asyncio.wait_for(task, 1)
        return disconnected, cancelled

    assert asyncio.run(run()) == (True, True)


def test_a_disconnect_reported_after_finishing_never_cancels_the_task() -> None:
    async def run() -> tuple[bool, bool]:
        finished = asyncio.Event()

        async def receive() -> dict[str, str]:
            await finished.wait()  # servers report this as soon as the response is complete
            return {"type": "http.disconnect"}

        survived = False
        async with DisconnectWatch(receive, start_after=0.01) as watch:
            await asyncio.sleep(0.05)  # the watching task is running by now
            watch.finishing()
            finished.set()
            await asyncio.sleep(0.05)  # work after the final send must not be cancelled
            survived = True
        return survived, watch.disconnected

    assert asyncio.run(run()) == (True, False)
