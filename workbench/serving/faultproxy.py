"""A fault-injecting HTTP proxy on loopback (aiohttp), placed between the harness and a real engine.

It forwards OpenAI-compatible requests to an upstream server and, on the requests a plan
names, injects one fault instead of (or in the middle of) the upstream answer:

* ``Fault.http(429, retry_after_s=1)`` — answer at once with that status (and ``Retry-After``),
  without contacting the upstream (a gateway or rate limiter rejecting the request);
* ``Fault.reset(after_events=3)`` — relay the first N SSE events, then reset the TCP
  connection (``SO_LINGER`` 0: the client sees a connection reset mid-stream);
* ``Fault.stall(after_events=2, hold_s=60)`` — relay N events, then send nothing for
  ``hold_s`` seconds (then the rest, if the client is still there);
* ``Fault.slow_first(delay_s=2)`` — hold the response for ``delay_s`` before relaying it.

Without a fault the proxy is transparent; when the upstream cannot be reached or dies
mid-stream, it resets the client's connection too, so the client sees what it would see
without the proxy (a killed engine).

The proxy keeps its own ledger (:attr:`FaultProxy.exchanges`, one :class:`Exchange` per
request it received): the fault applied, the upstream status, whether the upstream answer
was complete (``data: [DONE]`` for streams, a full body otherwise) and whether it was
delivered complete to the client. The tests check the harness's rows against it: every
request recorded, and as many successful rows as complete deliveries (nothing lost)::

    with FaultProxy(engine.base_url, plan={1: Fault.http(503), 4: Fault.reset(3)}) as proxy:
        measure(Target(..., base_url=proxy.base_url), ...)
        proxy.counts()  # {"received": .., "delivered_complete": .., "upstream_complete": .., ...}

Command line (rehearse a campaign against faults)::

    python -m workbench.serving.faultproxy --upstream http://127.0.0.1:8000/v1 --port 8124 \\
        --every 5 --fault http:503 --fault reset:3
"""

from __future__ import annotations

import argparse
import asyncio
import re
import socket
import struct
import threading
from dataclasses import asdict, dataclass

from .appthread import AppThread, LoopbackService

_EVENT_END = re.compile(rb"\r?\n\r?\n")
_HOP_HEADERS = {"host", "content-length", "transfer-encoding", "connection", "keep-alive"}


@dataclass(frozen=True)
class Fault:
    """One fault for one request. ``kind``: "http" | "reset" | "stall" | "slow_first"."""

    kind: str
    status: int = 0  # http: the status to answer with
    retry_after_s: float | None = None  # http: Retry-After header (seconds)
    after_events: int = 0  # reset/stall: SSE events relayed first
    delay_s: float = 0.0  # stall: how long to send nothing; slow_first: wait before answering

    @property
    def label(self) -> str:
        """e.g. "http 429 (Retry-After 0.5 s)", "reset after 3 events", "slow_first 1.5 s"."""
        if self.kind == "http":
            return f"http {self.status}" + (f" (Retry-After {self.retry_after_s:g} s)"
                                            if self.retry_after_s is not None else "")
        if self.kind in ("reset", "stall"):
            return f"{self.kind} after {self.after_events} events"
        return f"{self.kind} {self.delay_s:g} s"

    @classmethod
    def http(cls, status: int, retry_after_s: float | None = None) -> Fault:
        return cls("http", status=status, retry_after_s=retry_after_s)

    @classmethod
    def reset(cls, after_events: int = 0) -> Fault:
        return cls("reset", after_events=after_events)

    @classmethod
    def stall(cls, after_events: int = 0, hold_s: float = 3600.0) -> Fault:
        return cls("stall", after_events=after_events, delay_s=hold_s)

    @classmethod
    def slow_first(cls, delay_s: float) -> Fault:
        return cls("slow_first", delay_s=delay_s)

    @classmethod
    def parse(cls, text: str) -> Fault:
        """``http:503[:retry_after_s]``, ``reset:N``, ``stall:N[:hold_s]``, ``slow_first:S``."""
        kind, *args = text.split(":")
        nums = [float(a) for a in args]
        if kind == "http" and nums:
            return cls.http(int(nums[0]), nums[1] if len(nums) > 1 else None)
        if kind == "reset":
            return cls.reset(int(nums[0]) if nums else 0)
        if kind == "stall":
            return cls.stall(int(nums[0]) if nums else 0, nums[1] if len(nums) > 1 else 3600.0)
        if kind == "slow_first" and nums:
            return cls.slow_first(nums[0])
        raise ValueError(f"fault {text!r}: expected http:STATUS[:RETRY_AFTER], reset:N, stall:N[:HOLD_S] "
                         "or slow_first:SECONDS")


@dataclass
class Exchange:
    """The proxy's record of one request."""

    index: int
    path: str
    fault: str = "none"  # Fault.label
    status: int = 0  # status sent to the client (0: connection reset before any status)
    upstream_status: int = 0  # 0: upstream not contacted or unreachable
    upstream_complete: bool = False  # the upstream's answer ended properly
    delivered_complete: bool = False  # the client got all of it
    events_relayed: int = 0


class FaultProxy(LoopbackService):
    """The proxy on a free loopback port, served by a background thread's event loop.

    ``plan``: {request index (0-based, in arrival order): Fault}; or set ``every`` and
    ``cycle`` to apply ``cycle[k % len(cycle)]`` to every ``every``-th request. ``base_url``
    ends in /v1 like the upstream's."""

    def __init__(self, upstream: str, plan: dict[int, Fault] | None = None, *, every: int = 0,
                 cycle: list[Fault] | None = None, port: int = 0):
        self.upstream = upstream.rstrip("/")
        self.upstream = self.upstream.removesuffix("/v1")
        self.plan = dict(plan or {})
        self.every, self.cycle = every, list(cycle or [])
        self.exchanges: list[Exchange] = []
        self.authorizations: set[str] = set()  # Authorization headers seen (in memory only; for the secrets test)
        self.port: int | None = None
        self._want_port = port
        self._server = AppThread("faultproxy")
        self._session = None
        self._closing: asyncio.Event | None = None

    def fault_for(self, index: int) -> Fault | None:
        if index in self.plan:
            return self.plan[index]
        if self.every and self.cycle and (index + 1) % self.every == 0:
            return self.cycle[((index + 1) // self.every - 1) % len(self.cycle)]
        return None

    def counts(self) -> dict:
        """Totals of the ledger: received, delivered_complete, upstream_complete, and
        ``faults`` = {fault label: requests}."""
        ex = list(self.exchanges)
        faults: dict[str, int] = {}
        for e in ex:
            faults[e.fault] = faults.get(e.fault, 0) + 1
        return {"received": len(ex), "delivered_complete": sum(e.delivered_complete for e in ex),
                "upstream_complete": sum(e.upstream_complete for e in ex), "faults": faults}

    def ledger(self) -> list[dict]:
        return [asdict(e) for e in self.exchanges]

    # ------------------------------------------------------------------ handlers
    async def _handle(self, request):
        from aiohttp import ClientError, web

        body = await request.read()
        ex = Exchange(index=len(self.exchanges), path=request.path)
        self.exchanges.append(ex)
        if "Authorization" in request.headers:
            self.authorizations.add(request.headers["Authorization"])
        fault = self.fault_for(ex.index) if request.method == "POST" else None
        ex.fault = fault.label if fault else "none"
        if fault is not None and fault.kind == "http":
            ex.status = fault.status
            headers = {"Retry-After": f"{fault.retry_after_s:g}"} if fault.retry_after_s is not None else None
            return web.json_response({"error": {"message": f"injected fault: HTTP {fault.status}",
                                                "type": "fault_proxy", "code": fault.status}},
                                     status=fault.status, headers=headers)
        if fault is not None and fault.kind == "slow_first":
            await self._hold(fault.delay_s)
        headers = {k: v for k, v in request.headers.items() if k.lower() not in _HOP_HEADERS}
        url = self.upstream + request.path_qs
        try:
            async with self._session.request(request.method, url, data=body or None, headers=headers) as up:
                ex.upstream_status = up.status
                if "text/event-stream" not in up.headers.get("Content-Type", ""):
                    payload = await up.read()
                    ex.upstream_complete = up.status < 400
                    if fault is not None and fault.kind == "reset":
                        return self._reset(request)
                    ex.status = up.status
                    ex.delivered_complete = ex.upstream_complete
                    return web.Response(body=payload, status=up.status,
                                        content_type=up.headers.get("Content-Type", "application/json").split(";")[0])
                return await self._relay_stream(request, up, ex, fault)
        except (TimeoutError, ClientError, OSError):
            return self._reset(request)  # upstream unreachable or died: the client sees a reset too

    async def _relay_stream(self, request, up, ex: Exchange, fault: Fault | None):
        from aiohttp import web

        resp = web.StreamResponse(status=up.status, headers={"Content-Type": "text/event-stream",
                                                             "Cache-Control": "no-cache"})
        await resp.prepare(request)
        ex.status = up.status
        trigger = fault.after_events if fault is not None and fault.kind in ("reset", "stall") else None
        buf = b""
        client_ok = True
        async for data in up.content.iter_any():
            buf += data
            while True:
                m = _EVENT_END.search(buf)
                if m is None:
                    break
                event, buf = buf[: m.end()], buf[m.end():]
                if b"[DONE]" in event:
                    ex.upstream_complete = True
                if trigger is not None and ex.events_relayed >= trigger:
                    if fault.kind == "reset":
                        await self._drain(up, ex)
                        self._reset(request)
                        return resp
                    trigger = None
                    await self._hold(fault.delay_s)
                if client_ok:
                    try:
                        await resp.write(event)
                        ex.events_relayed += 1
                    except (ConnectionError, RuntimeError):
                        client_ok = False  # the client went away (e.g. its timeout): keep draining
        if ex.upstream_complete and client_ok:
            try:
                await resp.write_eof()
                ex.delivered_complete = True
            except (ConnectionError, RuntimeError):
                pass
        elif not ex.upstream_complete:
            self._reset(request)  # the upstream's stream broke off: pass the break on
        return resp

    @staticmethod
    async def _drain(up, ex: Exchange) -> None:
        """Read the rest of the upstream answer (frees a single-slot engine; learns if it completed)."""
        async for data in up.content.iter_any():
            if b"[DONE]" in data:
                ex.upstream_complete = True

    async def _hold(self, seconds: float) -> None:
        try:
            await asyncio.wait_for(self._closing.wait(), timeout=seconds)
        except TimeoutError:
            pass

    @staticmethod
    def _reset(request):
        """Reset the client's TCP connection (RST, not FIN)."""
        from aiohttp import web

        transport = request.transport
        if transport is not None:
            sock = transport.get_extra_info("socket")
            if sock is not None:
                try:
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                except OSError:
                    pass
            transport.abort()
        return web.Response(status=502)  # never reaches the client: the connection is gone

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> FaultProxy:
        import aiohttp
        from aiohttp import web

        async def make_app():
            self._closing = asyncio.Event()
            self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=None, sock_connect=5),
                                                  auto_decompress=False)
            app = web.Application(client_max_size=64 * 1024 * 1024)
            app.router.add_route("*", "/{tail:.*}", self._handle)
            return app

        self.port = self._server.start(make_app, self._want_port, shutdown_timeout=2.0)
        return self

    def stop(self) -> None:
        # release stalled streams, stop serving, then close the upstream session
        self._server.stop(before=self._closing.set, after=lambda: self._session.close(), timeout_s=15)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m workbench.serving.faultproxy", description=__doc__.splitlines()[0])
    p.add_argument("--upstream", required=True, help="base URL of the real server, e.g. http://127.0.0.1:8000/v1")
    p.add_argument("--port", type=int, default=8124)
    p.add_argument("--every", type=int, default=5, help="inject a fault into every Nth request")
    p.add_argument("--fault", action="append", default=[], type=Fault.parse,
                   help="http:503[:RETRY_AFTER_S], reset:N, stall:N[:HOLD_S], slow_first:S (repeat to cycle)")
    args = p.parse_args(argv)
    proxy = FaultProxy(args.upstream, every=args.every, cycle=args.fault or [Fault.http(503)], port=args.port)
    proxy.start()
    print(f"fault proxy on {proxy.base_url} -> {proxy.upstream} (Ctrl-C prints the ledger counts)", flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        print(proxy.counts())
    finally:
        proxy.stop()


if __name__ == "__main__":
    main()
