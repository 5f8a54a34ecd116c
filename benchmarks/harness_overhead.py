"""Is the harness ever the bottleneck? Drive the fake streaming server (another process, another
core) far faster than any engine, with the harness and with a minimal plain-aiohttp client.

Two measurements, both at ``--concurrency`` streams (default 256):

1. Throughput: the fake server writes ``--chunks`` pre-rendered chunks per response as fast as
   it can. ``harness_chunks_per_s`` = content chunks the full harness (``workbench.measure.harness.measure``:
   scheduling, the streaming client, rows written to a run) received per second of its measured
   window, in one process pinned to one core. ``baseline_chunks_per_s`` = the same from the
   leanest plain aiohttp client: one ``perf_counter()`` per read and ``bytes.count(b"data:")``,
   no parsing, no text, no rows. ``ratio`` = harness / baseline (best of ``--repeats`` each,
   alternating).
2. Timestamp error: the server paces chunks (``--delay-ms``) and writes its own
   ``time.perf_counter()`` into each chunk just before writing it. On Linux that is
   CLOCK_MONOTONIC, shared across processes, so ``recorded arrival − server stamp`` is how late
   the client's timestamp is vs when the bytes were written (an upper bound on the lateness
   vs when they became readable: it includes loopback transit). ``p99_timestamp_error_ms`` is
   the p99 over every chunk, for the harness's streaming client. Its tail is also printed
   split into first chunks (they come with the headers, while the loop starts a burst of
   requests) and later chunks, with the minimum (a negative error would mean a stamp earlier
   than the write: impossible for a correct clock); docs/metrics.md explains what the error is
   made of. The harness runs on its own event loop (Linux: kernel receive timestamps, see
   workbench/serving/stamping.py); the baselines run on uvloop, the fastest loop for a plain client.

The last line printed is exactly:
``harness_chunks_per_s=N baseline_chunks_per_s=B ratio=R p99_timestamp_error_ms=E concurrency=C``

    .venv/bin/python benchmarks/harness_overhead.py [--concurrency 256] [--seconds 4]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import tempfile
import time
import urllib.request

import numpy as np

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

from workbench.serving.client import Client, Request
from workbench.serving.processes import free_port

BODY = {"messages": [{"role": "user", "content": "go"}]}
CHUNKS = 256  # content chunks per response in the throughput phase (--chunks)


def start_server(port: int, cpu: int | None, **knobs) -> subprocess.Popen:
    argv = [sys.executable, "-m", "workbench.serving.fakeserver", "--port", str(port)]
    for k, v in knobs.items():
        argv += [f"--{k.replace('_', '-')}", str(v)]
    pre = (lambda: os.sched_setaffinity(0, {cpu})) if cpu is not None else None
    proc = subprocess.Popen(argv, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, preexec_fn=pre)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/v1/models", timeout=1).read()
            return proc
        except OSError:
            time.sleep(0.1)
    proc.kill()
    raise SystemExit("fake server did not start")


def configure(base_url: str, **knobs) -> None:
    import json

    req = urllib.request.Request(base_url.replace("/v1", "/fake/config"), data=json.dumps(knobs).encode(),
                                 headers={"Content-Type": "application/json"})
    urllib.request.urlopen(req, timeout=5).read()


# ------------------------------------------------------------------ throughput
def _rates(chunks: int, wall_s: float, cpu_s: float) -> dict:
    return {"wall": chunks / wall_s, "cpu": chunks / cpu_s if cpu_s > 0 else float("inf")}


async def _harness(base_url: str, concurrency: int, requests: int) -> dict:
    """The harness's measuring loop — closed-loop gate, streaming client, a REQUESTS row per
    request appended to a real run on disk — timed around one load point."""
    from workbench.measure.loadgen import LoadPoint
    from workbench.measure.sweep import Sweep
    from workbench.results.store import RunWriter

    with tempfile.TemporaryDirectory() as root:
        with RunWriter(kind="benchmark", target="fake", engine="external", model="fake", root=root,
                       host={}) as run:
            async with Client(base_url, "fake", clock_origin_s=run.t0) as client:
                sweep = Sweep(client, run, {"force_output_tokens": None})
                point = LoadPoint(f"concurrency={concurrency}", concurrency, float("inf"))
                reqs = [Request("chat", BODY, item_id=str(i)) for i in range(64)]
                t0, c0 = time.perf_counter(), time.process_time()
                await sweep.point(point, reqs, "measure", requests, None, 0)
                wall, cpu = time.perf_counter() - t0, time.process_time() - c0
            chunks = sum(len(r["chunk_times_s"]) for r in sweep.rows)
            assert all(r["ok"] for r in sweep.rows) and chunks == requests * CHUNKS
    return _rates(chunks, wall, cpu)


async def _plain_clients(base_url: str, concurrency: int, requests: int, read) -> tuple[float, float]:
    """``concurrency`` plain aiohttp workers sharing ``requests`` streamed chat requests; each
    response goes to ``read(resp)``. Returns (wall, CPU) seconds of the whole."""
    import aiohttp

    todo = iter(range(requests))
    body = {"model": "fake", "stream": True, **BODY}
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0), read_bufsize=1 << 20) as s:
        async def worker() -> None:
            for _ in todo:
                async with s.post(base_url + "/chat/completions", json=body) as resp:
                    await read(resp)

        t0, c0 = time.perf_counter(), time.process_time()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        return time.perf_counter() - t0, time.process_time() - c0


async def _floor(base_url: str, concurrency: int, requests: int) -> dict:
    """The floor: aiohttp reading the stream with one clock reading and a count per read —
    no per-chunk work at all (not a usable client; shows what aiohttp itself costs)."""
    counts: list[int] = []

    async def read(resp) -> None:
        n = 0
        async for data in resp.content.iter_any():
            time.perf_counter()
            n += data.count(b"data:")
        counts.append(n - 3)  # minus the role chunk, the finish chunk and [DONE]

    wall, cpu = await _plain_clients(base_url, concurrency, requests, read)
    assert sum(counts) == requests * CHUNKS
    return _rates(sum(counts), wall, cpu)


async def _plain(base_url: str, concurrency: int, requests: int) -> dict:
    """A minimal plain-aiohttp streaming client, as one writes it by hand (vLLM's bench client
    without its per-chunk json.loads): iterate the SSE lines, stamp each data line."""
    counts: list[int] = []

    async def read(resp) -> None:
        times = []
        async for line in resp.content:
            if line.startswith(b"data:"):
                times.append(time.perf_counter())
        counts.append(len(times) - 3)  # minus the role chunk, the finish chunk and [DONE]

    wall, cpu = await _plain_clients(base_url, concurrency, requests, read)
    assert sum(counts) == requests * CHUNKS
    return _rates(sum(counts), wall, cpu)


def run_loop(coro):
    """The harness's own way of running: ``workbench.serving.runloop.run_sync`` on its event loop (on
    Linux asyncio's selector loop with kernel receive timestamps, see workbench/serving/stamping.py)."""
    from workbench.serving.runloop import run_sync

    return run_sync(coro)


def run_plain_loop(coro):
    """The baselines' loop: the fastest there is for a plain aiohttp client, uvloop when
    installed (asyncio's default otherwise), with the same frozen-heap GC setting as the harness."""
    from workbench.serving.runloop import gc_frozen

    try:
        import uvloop

        factory = uvloop.new_event_loop
    except ImportError:
        factory = None
    with gc_frozen(), asyncio.Runner(loop_factory=factory) as runner:
        return runner.run(coro)


# ------------------------------------------------------------------ timestamp error
async def _stamped(base_url: str, concurrency: int, requests: int) -> tuple[np.ndarray, np.ndarray]:
    """(error_ms of every chunk, whether it was its response's first chunk). First chunks come
    with the response headers, in bursts of up to ``concurrency`` new requests at once (all
    workers start together and finish together): the loop is busiest then."""
    errors: list[np.ndarray] = []
    todo = iter(range(requests))
    async with Client(base_url, "fake", timeout_s=120) as client:  # clock origin 0: absolute perf_counter
        async def worker() -> None:
            for _ in todo:
                r = await client.send(Request("chat", BODY))
                stamps = np.array([float(s) for s in r.text.split("|") if s])
                arrived = r.sent_s + np.asarray(r.chunk_times_s)
                if r.ok and len(stamps) == len(arrived):
                    errors.append(arrived - stamps)

        await asyncio.gather(*(worker() for _ in range(concurrency)))
    first = np.concatenate([np.arange(len(e)) == 0 for e in errors])
    return np.concatenate(errors) * 1e3, first


async def _stamped_floor(base_url: str, concurrency: int, requests: int) -> np.ndarray:
    """The same timestamp-error measurement for the floor client (clock per read, nothing else):
    the part of the error that is the machine and aiohttp, not the harness."""
    import re

    stamp_re = re.compile(rb'"content":"([0-9.]+)\|"')
    errors: list[float] = []

    async def read(resp) -> None:
        reads = []
        async for data in resp.content.iter_any():
            reads.append((time.perf_counter(), data))
        errors.extend(t - float(m) for t, data in reads for m in stamp_re.findall(data))

    await _plain_clients(base_url, concurrency, requests, read)
    return np.asarray(errors) * 1e3


def main() -> None:
    global CHUNKS
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--concurrency", type=int, default=256)
    ap.add_argument("--chunks", type=int, default=256, help="chunks per response, throughput phase")
    ap.add_argument("--requests", type=int, default=1536, help="requests per throughput measurement")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--delay-ms", type=float, default=20.0, help="chunk pacing, timestamp phase")
    ap.add_argument("--stamped-chunks", type=int, default=50)
    args = ap.parse_args()
    CHUNKS = args.chunks

    cpus = sorted(os.sched_getaffinity(0))
    client_cpu, server_cpu = (cpus[0], cpus[1]) if len(cpus) > 1 else (None, None)
    if client_cpu is not None:
        os.sched_setaffinity(0, {client_cpu})
    port = free_port()
    base_url = f"http://127.0.0.1:{port}/v1"
    server = start_server(port, server_cpu, chunks=args.chunks, usage="final")
    try:
        print(f"client on cpu {client_cpu}, fake server on cpu {server_cpu}; load average "
              f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} cpus (other work shares these cores)", flush=True)
        runs: dict[str, list[dict]] = {"harness": [], "plain": [], "floor": []}
        fns = {"harness": _harness, "plain": _plain, "floor": _floor}
        for i in range(args.repeats):  # alternate, so all see the same conditions
            for name, fn in fns.items():
                runner = run_loop if name == "harness" else run_plain_loop
                runs[name].append(runner(fn(base_url, args.concurrency, args.requests)))
            print(f"  repeat {i}: " + ", ".join(
                f"{k} {v[-1]['cpu']:,.0f} chunks per client-CPU-second ({v[-1]['wall']:,.0f}/s wall)"
                for k, v in runs.items()), flush=True)
        configure(base_url, stamp=True, chunks=args.stamped_chunks, chunk_delay_s=args.delay_ms / 1e3)
        err_floor = run_plain_loop(_stamped_floor(base_url, args.concurrency, 2 * args.concurrency))
        print(f"  floor client's timestamp error (same load): p50 {np.percentile(err_floor, 50):.3f} ms, "
              f"p99 {np.percentile(err_floor, 99):.3f} ms", flush=True)
        err, first = run_loop(_stamped(base_url, args.concurrency, 2 * args.concurrency))
        print(f"  timestamp error over {err.size:,} chunks ({args.concurrency} streams, one chunk every "
              f"{args.delay_ms:g} ms each): p50 {np.percentile(err, 50):.3f} ms, p99 {np.percentile(err, 99):.3f} ms, "
              f"min {err.min():.3f} ms, max {err.max():.3f} ms; first chunks (with the headers, in request bursts) p99 "
              f"{np.percentile(err[first], 99):.3f} ms, later chunks p99 {np.percentile(err[~first], 99):.3f} ms",
              flush=True)
    finally:
        server.terminate()
        server.wait(10)
    best = {k: {m: max(r[m] for r in v) for m in ("cpu", "wall")} for k, v in runs.items()}
    n, b, f = best["harness"]["cpu"], best["plain"]["cpu"], best["floor"]["cpu"]
    print(f"  wall clock (contended): harness {best['harness']['wall']:,.0f} chunks/s, plain client "
          f"{best['plain']['wall']:,.0f}, floor {best['floor']['wall']:,.0f}")
    print(f"  per client-CPU-second: harness / floor = {n / f:.2f}")
    print(f"harness_chunks_per_s={n:.0f} baseline_chunks_per_s={b:.0f} ratio={n / b:.2f} "
          f"p99_timestamp_error_ms={np.percentile(err, 99):.3f} concurrency={args.concurrency}")

if __name__ == "__main__":
    main()
