"""Is the harness ever the bottleneck? Drive the fake streaming server (another process, another
core) far faster than any engine, with the harness and with a minimal plain-aiohttp client.

Two measurements, both at ``--concurrency`` streams (default 256):

1. Throughput: the fake server writes ``--chunks`` pre-rendered chunks per response as fast as
   it can. ``harness_chunks_per_s`` = content chunks the full harness (``workbench.harness.measure``:
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
   the p99 over every chunk, for the harness's streaming client.

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

from workbench.client import Client, Request  # noqa: E402
from workbench.engines import free_port  # noqa: E402

BODY = {"messages": [{"role": "user", "content": "go"}]}


def start_server(port: int, cpu: int | None, **knobs) -> subprocess.Popen:
    argv = [sys.executable, "-m", "workbench.fakeserver", "--port", str(port)]
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
def harness_chunks_per_s(base_url: str, concurrency: int, requests: int) -> float:
    from workbench.harness import measure

    with tempfile.TemporaryDirectory() as root:
        res = measure(base_url, profile=f"concurrency={concurrency}", requests_per_point=requests, warmup=0,
                      max_tokens=100_000, results_root=root, progress=False, telemetry_interval_s=1.0)
        import pandas as pd

        rows = pd.read_json(f"{res.run_dir}/requests.jsonl", lines=True)
        chunks = int(rows["chunk_times_s"].map(len).sum())
        return chunks / float(res.summary["duration_s"].iloc[0])


async def _baseline(base_url: str, concurrency: int, requests: int) -> float:
    import aiohttp

    todo = iter(range(requests))
    counts: list[int] = []
    ends: list[float] = []
    body = {"model": "fake", "stream": True, **BODY}

    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0), read_bufsize=1 << 20) as s:
        async def worker() -> None:
            for _ in todo:
                n = 0
                async with s.post(base_url + "/chat/completions", json=body) as resp:
                    async for data in resp.content.iter_any():
                        time.perf_counter()
                        n += data.count(b"data:")
                counts.append(n - 2)  # minus the role chunk and [DONE] (finish chunk: below)
                ends.append(time.perf_counter())

        t0 = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
    return (sum(counts) - len(counts)) / (max(ends) - t0)  # minus each finish chunk


def baseline_chunks_per_s(base_url: str, concurrency: int, requests: int) -> float:
    return asyncio.run(_baseline(base_url, concurrency, requests))


# ------------------------------------------------------------------ timestamp error
async def _stamped(base_url: str, concurrency: int, requests: int) -> np.ndarray:
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
    return np.concatenate(errors) * 1e3


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--concurrency", type=int, default=256)
    ap.add_argument("--chunks", type=int, default=256, help="chunks per response, throughput phase")
    ap.add_argument("--requests", type=int, default=1536, help="requests per throughput measurement")
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--delay-ms", type=float, default=20.0, help="chunk pacing, timestamp phase")
    ap.add_argument("--stamped-chunks", type=int, default=50)
    args = ap.parse_args()

    cpus = sorted(os.sched_getaffinity(0))
    client_cpu, server_cpu = (cpus[0], cpus[1]) if len(cpus) > 1 else (None, None)
    if client_cpu is not None:
        os.sched_setaffinity(0, {client_cpu})
    port = free_port()
    base_url = f"http://127.0.0.1:{port}/v1"
    server = start_server(port, server_cpu, chunks=args.chunks, usage="final")
    try:
        print(f"client on cpu {client_cpu}, fake server on cpu {server_cpu}; load average "
              f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} cpus", flush=True)
        harness_runs, base_runs = [], []
        for i in range(args.repeats):
            base_runs.append(baseline_chunks_per_s(base_url, args.concurrency, args.requests))
            harness_runs.append(harness_chunks_per_s(base_url, args.concurrency, args.requests))
            print(f"  repeat {i}: harness {harness_runs[-1]:,.0f} chunks/s, baseline {base_runs[-1]:,.0f} chunks/s",
                  flush=True)
        configure(base_url, stamp=True, chunks=args.stamped_chunks, chunk_delay_s=args.delay_ms / 1e3)
        err = asyncio.run(_stamped(base_url, args.concurrency, 2 * args.concurrency))
        print(f"  timestamp error over {err.size:,} chunks: p50 {np.percentile(err, 50):.3f} ms, "
              f"p99 {np.percentile(err, 99):.3f} ms, max {err.max():.3f} ms, min {err.min():.3f} ms", flush=True)
    finally:
        server.terminate()
        server.wait(10)
    n, b = max(harness_runs), max(base_runs)
    print(f"harness_chunks_per_s={n:.0f} baseline_chunks_per_s={b:.0f} ratio={n / b:.2f} "
          f"p99_timestamp_error_ms={np.percentile(err, 99):.3f} concurrency={args.concurrency}")


if __name__ == "__main__":
    main()
