"""An aiohttp web application served on loopback by a background thread's own event loop.

Used by the fake OpenAI server and the fault-injecting proxy, so tests and notebooks can run
them beside a client that has its own event loop (or none).
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable


class LoopbackService:
    """What the fake server and the fault proxy share: ``start()`` sets ``port``, ``stop()``
    shuts down; a ``with`` block does both; ``base_url`` ends in /v1."""

    port: int | None = None

    def start(self):
        raise NotImplementedError

    def stop(self) -> None:
        raise NotImplementedError

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


class AppThread:
    """``start(make_app)`` serves the app returned by the coroutine ``make_app`` on
    127.0.0.1:``port`` (0: a free port) and returns the port; ``stop()`` shuts it down."""

    def __init__(self, name: str):
        self.name = name
        self.loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._runner = None

    def start(self, make_app: Callable[[], Awaitable], port: int = 0, **runner_kw) -> int:
        from aiohttp import web

        ready = threading.Event()
        errors: list[BaseException] = []
        bound: list[int] = []

        async def serve() -> None:
            self._runner = web.AppRunner(await make_app(), access_log=None, **runner_kw)
            await self._runner.setup()
            site = web.TCPSite(self._runner, "127.0.0.1", port)
            await site.start()
            bound.append(site._server.sockets[0].getsockname()[1])

        def run() -> None:
            self.loop = asyncio.new_event_loop()
            try:
                self.loop.run_until_complete(serve())
            except BaseException as e:  # noqa: BLE001 (reported to the starting thread)
                errors.append(e)
                ready.set()
                return
            ready.set()
            self.loop.run_forever()

        self._thread = threading.Thread(target=run, name=self.name, daemon=True)
        self._thread.start()
        ready.wait(10)
        if errors:
            raise errors[0]
        return bound[0]

    def stop(self, *, before: Callable[[], None] | None = None,
             after: Callable[[], Awaitable] | None = None, timeout_s: float = 10.0) -> None:
        """Stop serving: ``before()`` then the runner's cleanup then ``await after()``, on the loop."""
        loop = self.loop
        if loop is None:
            return

        async def shutdown() -> None:
            if before is not None:
                before()
            await self._runner.cleanup()
            if after is not None:
                await after()

        asyncio.run_coroutine_threadsafe(shutdown(), loop).result(timeout_s)
        loop.call_soon_threadsafe(loop.stop)
        self._thread.join(10)
        self.loop = None
