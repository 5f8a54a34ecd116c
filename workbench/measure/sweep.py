"""The measuring loop of a load run: the requests of each load point go through one gate
(closed loop: N workers; open loop: arrivals on a schedule, optionally capped), every response
is a REQUESTS row written to the run as it finishes, failures are counted, and a dead engine
stops everything (:class:`Sweep`; :func:`run_sweep` runs a warm-up and every point).

Retries are off by default. A target with ``retries: N`` re-sends a request refused with
429/500/502/503/504 or that found no connection, at most N times, after Retry-After (when the
server sends one) or an exponential backoff of RETRY_BASE_S·2^attempt, both capped at
RETRY_AFTER_CAP_S. Every attempt is its own row (same ``request_id``, ``attempt`` 0, 1, ...),
so refusals stay counted as failures. Streams cut midway and timeouts are never re-sent.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import math

import numpy as np

from ..serving import engines
from ..serving.client import Client, Request, Response
from .loadgen import LoadPoint, arrival_times_s

RETRY_AFTER_CAP_S = 30.0
RETRY_BASE_S = 0.5
RETRY_STATUSES = (429, 500, 502, 503, 504)
GIVE_UP_AFTER = 100
"""A load point stops after this many failed requests in a row: a dead or broken endpoint answers
at once, and a closed loop would otherwise send thousands of requests that measure nothing (a
GPU sweep whose server had died sent 28,958 in 84 s). The run goes on to the next point."""



def retry_delay_s(attempt: int, retry_after_s: float | None) -> float:
    """Seconds to wait before retry ``attempt + 1``: Retry-After when given, else
    RETRY_BASE_S·2^attempt; at most RETRY_AFTER_CAP_S."""
    delay = retry_after_s if retry_after_s is not None else RETRY_BASE_S * 2 ** attempt
    return min(max(0.0, delay), RETRY_AFTER_CAP_S)


def retryable(resp: Response) -> bool:
    """Refused (429/5xx) or never connected: nothing was generated, re-sending is safe."""
    return resp.http_status in RETRY_STATUSES or (resp.http_status == 0 and resp.error.startswith("connection failed"))


def response_row(resp: Response, *, request_id: int, phase: str, point: LoadPoint, request: Request,
                 scheduled_s: float, attempt: int = 0) -> dict:
    """A REQUESTS row (workbench/results/schema.py) from a response."""
    return {
        "request_id": request_id, "phase": phase, "load_point": point.label,
        "concurrency": point.concurrency, "request_rate": point.request_rate,
        "endpoint": request.endpoint, "item_id": request.item_id,
        "scheduled_s": scheduled_s, "sent_s": resp.sent_s,
        # rounded to 1 µs: far below the timing error, and JSON-encodes ~25% faster
        "chunk_times_s": np.round(np.asarray(resp.chunk_times_s), 6).tolist(),
        "ttft_ms": resp.ttft_ms, "e2el_ms": resp.e2el_ms,
        "prompt_tokens": resp.prompt_tokens, "output_tokens": resp.output_tokens,
        "token_source": resp.token_source, "max_tokens": resp.max_tokens,
        "forced_length": resp.forced_length, "http_status": resp.http_status,
        "error": resp.error, "ok": resp.ok, "attempt": attempt,
    }


class Sweep:
    """State shared by the load points of one run: the client, the run, counters, progress."""

    def __init__(self, client: Client, run, send_kw: dict, bar=None, retries: int = 0,
                 give_up_after: int | None = GIVE_UP_AFTER, notes: list[str] | None = None, engine=None):
        self.client, self.run, self.send_kw, self.bar = client, run, send_kw, bar
        self.retries = retries
        self.give_up_after = give_up_after
        self.watch = engines.EngineWatch(engine)  # the managed engine measured: its death stops the run
        self.next_id = 0
        self.rows: list[dict] = []
        self.failing = 0  # failed requests in a row in the current load point (after retries)
        self.gave_up: str | None = None  # why the current load point stopped early
        self.notes = notes if notes is not None else []  # the run's: a point that gave up says so, even after Ctrl-C

    def _count(self, resp: Response, point: LoadPoint) -> None:
        """A failed request asks whether the engine died: if it did, the run stops sending
        (what follows would measure a dead process). A point whose last ``give_up_after``
        requests all failed stops taking new ones (the endpoint is down or broken: sending on
        measures nothing) and says so; the next point tries again."""
        if not resp.ok and self.watch.died is None and self.watch.failed() is not None:
            self.gave_up = f"{point.label}: {self.watch.died.describe()}"
        self.failing = 0 if resp.ok else self.failing + 1
        if self.give_up_after and self.failing >= self.give_up_after and self.gave_up is None:
            self.gave_up = (f"{point.label}: stopped after {self.failing} failed requests in a row "
                            f"(last: {resp.error[:200] or f'HTTP {resp.http_status}'})")

    async def _one(self, req: Request, point: LoadPoint, phase: str, scheduled_s: float) -> Response:
        request_id, attempt = None, 0
        while True:
            resp = await self.client.send(req, **self.send_kw)
            if request_id is None:
                request_id, self.next_id = self.next_id, self.next_id + 1
            row = response_row(resp, request_id=request_id, phase=phase, point=point, request=req,
                               scheduled_s=scheduled_s, attempt=attempt)
            self.rows.append(row)
            self.run.append("requests", row)
            if resp.ok or attempt >= self.retries or not retryable(resp):
                break
            await asyncio.sleep(retry_delay_s(attempt, resp.retry_after_s))
            attempt += 1
        self._count(resp, point)
        if self.bar is not None:
            self.bar.update(1)
        return resp

    async def closed_loop(self, point: LoadPoint, reqs, phase: str, stop_at_s: float | None) -> None:
        it = iter(reqs)

        async def worker() -> None:
            for req in it:  # shared iterator: a worker takes the next request only when free
                now = self.run.now_s()
                if (stop_at_s is not None and now >= stop_at_s) or self.gave_up:
                    return
                resp = await self._one(req, point, phase, now)
                if resp.retry_after_s:
                    await asyncio.sleep(min(resp.retry_after_s, RETRY_AFTER_CAP_S))

        await asyncio.gather(*(worker() for _ in range(max(1, point.concurrency))))

    async def open_loop(self, point: LoadPoint, reqs: list[Request], offsets_s, phase: str,
                        stop_at_s: float | None) -> None:
        sem = asyncio.Semaphore(point.concurrency) if point.concurrency else contextlib.nullcontext()
        t0 = self.run.now_s()
        tasks = []

        async def gated(req: Request, due: float) -> None:
            async with sem:
                await self._one(req, point, phase, due)

        for req, off in zip(reqs, offsets_s):
            due = t0 + float(off)
            if (stop_at_s is not None and due >= stop_at_s) or self.gave_up:
                break
            delay = due - self.run.now_s()
            if delay > 0:
                await asyncio.sleep(delay)
            if self.gave_up:
                break
            tasks.append(asyncio.create_task(gated(req, due)))
        try:
            await asyncio.gather(*tasks)
        finally:
            for t in tasks:
                t.cancel()

    async def point(self, point: LoadPoint, reqs: list[Request], phase: str, n: int | None,
                    duration_s: float | None, seed: int) -> tuple[float, float]:
        """Run one load point (or its warm-up); returns its window (start_s, end_s) on the run clock."""
        start = self.run.now_s()
        stop_at = start + duration_s if duration_s else None
        self.failing, self.gave_up = 0, None
        if math.isinf(point.request_rate):
            stream = itertools.cycle(reqs) if n is None else itertools.islice(itertools.cycle(reqs), n)
            await self.closed_loop(point, stream, phase, stop_at)
        else:
            count = n if n is not None else int(math.ceil(point.request_rate * duration_s)) + 1
            offsets = arrival_times_s(count, point.request_rate, point.arrival, point.burstiness, seed)
            chosen = list(itertools.islice(itertools.cycle(reqs), count))
            await self.open_loop(point, chosen, offsets, phase, stop_at)
        if self.gave_up:
            self.notes.append(f"{phase} {self.gave_up}")
        return start, self.run.now_s()


async def run_sweep(sweep: Sweep, points, reqs, warm_reqs, *, n, duration_s, telemetry, seed) -> dict:
    """Warm-up through the first point, then every point in turn (until the engine dies);
    returns each point's window on the run clock."""
    bar = sweep.bar
    windows: dict[str, tuple[float, float]] = {}
    try:
        if telemetry is not None:
            telemetry.start()
        if warm_reqs:
            if bar is not None:
                bar.set_postfix_str(f"warm-up through {points[0].label}")
            await sweep.point(points[0], warm_reqs, "warmup", len(warm_reqs), None, seed + 1)
        for i, point in enumerate(points):
            if sweep.watch.died is not None:
                break
            if bar is not None:
                bar.set_postfix_str(point.label)
            windows[point.label] = await sweep.point(point, reqs, "measure", n, duration_s, seed + i)
    finally:
        if telemetry is not None:
            await asyncio.to_thread(telemetry.stop)
        if bar is not None:
            bar.close()
    return windows
