"""A tiny, fast OpenAI-compatible server on loopback (aiohttp.web), with knobs for faults.

Used by the tests, by ``benchmarks/harness_overhead.py`` and for fault injection. It serves
``/v1/chat/completions``, ``/v1/completions`` (SSE streaming or not), ``/v1/embeddings``,
``/v1/models`` and a vLLM-style Prometheus ``/metrics`` (``vllm:num_requests_running`` is
the real number of streams in flight).

Knobs (:class:`FakeConfig`) are set when the server starts, changed at run time with
``POST /fake/config`` (JSON of fields), or overridden per request by a ``"fake": {...}``
field in the request body. ``stamp=True`` makes every content chunk's text the server's
``time.perf_counter()`` at the moment it is written ("12.345678901|"): on Linux that is
CLOCK_MONOTONIC, shared by all processes, so a client in another process can measure how
late its recorded arrival times are.

In-process (tests)::

    with FakeServer(FakeConfig(chunks=8, chunk_delay_s=0.01)) as fake:
        run_requests(fake.base_url, reqs, model="fake")

Separate process (benchmarks)::

    python -m workbench.serving.fakeserver --port 8123 --chunks 256
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import hashlib
import json
import time
from dataclasses import dataclass

from aiohttp import web

from .appthread import AppThread, LoopbackService

MODEL = "fake"
STATE_KEY = web.AppKey("fake_state", "FakeState")


@dataclass
class FakeConfig:
    chunks: int = 16  # content chunks per streamed response (capped by max_tokens // tokens_per_chunk)
    tokens_per_chunk: int = 1  # tokens each content chunk stands for (engines merge tokens under load)
    piece: str = " tok"  # text of each content chunk (unless stamp)
    ttft_s: float = 0.0  # delay between the response headers and the first content chunk
    header_delay_s: float = 0.0  # delay before the response headers (a hung server, for timeouts)
    chunk_delay_s: float = 0.0  # delay between content chunks (0: written in batches, as fast as possible)
    usage: str = "final"  # "final": a choices:[] chunk when include_usage is asked (vLLM); "finish": on the finish chunk; "none"
    role_chunk: bool = True  # a role-only first chunk with empty content, like vLLM
    empty_deltas: int = 0  # empty-content chunks sent after each content chunk (partial UTF-8 in real engines)
    status: int = 200  # HTTP status for failing requests (see fail_every)
    fail_every: int = 0  # with status != 200: 0 = every request fails, N = every Nth request fails
    retry_after_s: float | None = None  # Retry-After header sent with a failing status
    cut_after: int | None = None  # close the connection after this many content chunks (a stream cut midway)
    stamp: bool = False  # content = server perf_counter() when the chunk is written
    reasoning_chunks: int = 0  # chunks of reasoning text sent before the content (chat only)
    reasoning_key: str = "reasoning_content"  # vLLM's key; some servers use "reasoning"
    embedding_dim: int = 8


class FakeState:
    def __init__(self, config: FakeConfig):
        self.config = config
        self.requests = 0
        self.running = 0
        self.max_running = 0
        self.chunks_sent = 0


def _cfg(state: FakeState, body: dict) -> FakeConfig:
    over = body.get("fake")
    if isinstance(over, dict):
        return dataclasses.replace(state.config, **over)
    return state.config


def _prompt_tokens(body: dict) -> int:
    if "messages" in body:
        text = "".join(str(m.get("content", "")) for m in body["messages"])
    else:
        text = str(body.get("prompt", body.get("input", "")))
    return max(1, len(text) // 4)


def _chunk_bytes(endpoint: str, text: str | None, finish: str | None = None, usage: dict | None = None) -> bytes:
    if endpoint == "chat":
        delta = {} if text is None else {"content": text}
        choice = {"index": 0, "delta": delta, "finish_reason": finish}
        obj = "chat.completion.chunk"
    else:
        choice = {"index": 0, "text": text or "", "finish_reason": finish}
        obj = "text_completion"
    ev = {"id": "fake-1", "object": obj, "model": MODEL, "choices": [choice]}
    if usage is not None:
        ev["usage"] = usage
    return b"data: " + json.dumps(ev, separators=(",", ":")).encode() + b"\n\n"


async def _stream(request, state: FakeState, cfg: FakeConfig, endpoint: str, body: dict):
    max_tokens = body.get("max_tokens")
    n = cfg.chunks
    if max_tokens is not None:
        n = min(n, max(1, int(max_tokens) // max(1, cfg.tokens_per_chunk)))
    resp = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"})
    await resp.prepare(request)
    write = resp.write
    await _preamble(write, cfg, endpoint)
    plain = _chunk_bytes(endpoint, cfg.piece) + _chunk_bytes(endpoint, "") * cfg.empty_deltas
    clock = time.perf_counter
    sent = 0
    batch: list[bytes] = []
    while sent < n:
        if cfg.cut_after is not None and sent >= cfg.cut_after:
            if batch:
                await write(b"".join(batch))
            state.chunks_sent += sent
            request.transport.close()  # a stream cut midway: no finish, no [DONE]
            return resp
        if cfg.stamp:
            chunk = _chunk_bytes(endpoint, f"{clock():.9f}|") + _chunk_bytes(endpoint, "") * cfg.empty_deltas
        else:
            chunk = plain
        sent += 1
        if cfg.chunk_delay_s:
            await write(chunk)
            if sent < n:
                await asyncio.sleep(cfg.chunk_delay_s)
        else:
            batch.append(chunk)
            if len(batch) >= 64:
                await write(b"".join(batch))
                batch.clear()
    batch.append(_tail(cfg, endpoint, body, n) + b"data: [DONE]\n\n")
    await write(b"".join(batch))
    state.chunks_sent += n
    await resp.write_eof()
    return resp


def _event(payload: dict) -> bytes:
    return b"data: " + json.dumps(payload, separators=(",", ":")).encode() + b"\n\n"


async def _preamble(write, cfg: FakeConfig, endpoint: str) -> None:
    """What comes before the content: a role chunk, the time to first token, reasoning chunks."""
    delta = {"id": "fake-1", "object": "chat.completion.chunk", "model": MODEL}
    if cfg.role_chunk and endpoint == "chat":
        await write(_event({**delta, "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""},
                                                  "finish_reason": None}]}))
    if cfg.ttft_s:
        await asyncio.sleep(cfg.ttft_s)
    if endpoint == "chat" and cfg.reasoning_chunks:
        think = _event({**delta, "choices": [{"index": 0, "delta": {cfg.reasoning_key: " hmm"}, "finish_reason": None}]})
        for _ in range(cfg.reasoning_chunks):
            await write(think)
            if cfg.chunk_delay_s:
                await asyncio.sleep(cfg.chunk_delay_s)


def _tail(cfg: FakeConfig, endpoint: str, body: dict, n: int) -> bytes:
    """The finish chunk after ``n`` content chunks, with usage on it or in a final chunk
    (``cfg.usage``; the final one only when the request asked ``include_usage``)."""
    max_tokens = body.get("max_tokens")
    usage = {"prompt_tokens": _prompt_tokens(body), "completion_tokens": n * cfg.tokens_per_chunk}
    usage["total_tokens"] = usage["prompt_tokens"] + usage["completion_tokens"]
    finish = "length" if max_tokens is not None and n * cfg.tokens_per_chunk >= int(max_tokens) else "stop"
    tail = _chunk_bytes(endpoint, None, finish, usage if cfg.usage == "finish" else None)
    if cfg.usage == "final" and (body.get("stream_options") or {}).get("include_usage"):
        tail += b"data: " + json.dumps({"id": "fake-1", "object": "chat.completion.chunk", "model": MODEL,
                                        "choices": [], "usage": usage}).encode() + b"\n\n"
    return tail


def _whole(cfg: FakeConfig, endpoint: str, body: dict) -> dict:
    max_tokens = body.get("max_tokens")
    n = cfg.chunks if max_tokens is None else min(cfg.chunks, max(1, int(max_tokens) // cfg.tokens_per_chunk))
    text = cfg.piece * n
    usage = {"prompt_tokens": _prompt_tokens(body), "completion_tokens": n * cfg.tokens_per_chunk}
    usage["total_tokens"] = usage["prompt_tokens"] + usage["completion_tokens"]
    if endpoint == "chat":
        choice = {"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "length"}
    else:
        choice = {"index": 0, "text": text, "finish_reason": "length"}
    return {"id": "fake-1", "object": "chat.completion", "model": MODEL, "choices": [choice], "usage": usage}


def _embedding(text: str, dim: int) -> list[float]:
    h = hashlib.sha256(text.encode()).digest()
    return [(h[i % len(h)] - 127.5) / 127.5 for i in range(dim)]


class _Handlers:
    """The fake's endpoints over one FakeState (counters and the current config)."""

    def __init__(self, state: FakeState):
        self.state = state

    async def completions(self, request):
        state = self.state
        endpoint = "chat" if request.path.endswith("chat/completions") else "completions"
        body = await request.json()
        cfg = _cfg(state, body)
        state.requests += 1
        if cfg.header_delay_s:
            await asyncio.sleep(cfg.header_delay_s)
        if cfg.status != 200 and (cfg.fail_every <= 0 or state.requests % cfg.fail_every == 0):
            headers = {"Retry-After": f"{cfg.retry_after_s:g}"} if cfg.retry_after_s is not None else None
            return web.json_response({"error": {"message": f"fake failure {cfg.status}", "code": cfg.status}},
                                     status=cfg.status, headers=headers)
        if not body.get("stream"):
            return web.json_response(_whole(cfg, endpoint, body))
        state.running += 1
        state.max_running = max(state.max_running, state.running)
        try:
            return await _stream(request, state, cfg, endpoint, body)
        finally:
            state.running -= 1

    async def embeddings(self, request):
        body = await request.json()
        cfg = _cfg(self.state, body)
        self.state.requests += 1
        inputs = body.get("input")
        inputs = [inputs] if isinstance(inputs, str) else list(inputs or [])
        data = [{"index": i, "object": "embedding", "embedding": _embedding(str(t), cfg.embedding_dim)}
                for i, t in enumerate(inputs)]
        tokens = sum(max(1, len(str(t)) // 4) for t in inputs)
        return web.json_response({"object": "list", "data": data, "model": MODEL,
                                  "usage": {"prompt_tokens": tokens, "total_tokens": tokens}})

    async def models(self, request):
        return web.json_response({"object": "list", "data": [{"id": MODEL, "object": "model"}]})

    async def metrics(self, request):
        labels, running = f'engine="0",model_name="{MODEL}"', self.state.running
        text = (
            f"# TYPE vllm:num_requests_running gauge\nvllm:num_requests_running{{{labels}}} {running}.0\n"
            f"# TYPE vllm:num_requests_waiting gauge\nvllm:num_requests_waiting{{{labels}}} 0.0\n"
            f"# TYPE vllm:kv_cache_usage_perc gauge\nvllm:kv_cache_usage_perc{{{labels}}} {min(1.0, running / 64):.4f}\n"
            f"# TYPE vllm:num_preemptions_total counter\nvllm:num_preemptions_total{{{labels}}} 0.0\n"
        )
        return web.Response(text=text, content_type="text/plain")

    async def get_config(self, request):
        st = self.state
        return web.json_response({**dataclasses.asdict(st.config), "requests": st.requests, "running": st.running,
                                  "max_running": st.max_running, "chunks_sent": st.chunks_sent})

    async def set_config(self, request):
        self.state.config = dataclasses.replace(self.state.config, **(await request.json()))
        return await self.get_config(request)


def make_app(config: FakeConfig | None = None):
    """The aiohttp application; ``app[STATE_KEY]`` is the FakeState (counters, config)."""
    h = _Handlers(FakeState(config or FakeConfig()))
    app = web.Application()
    app[STATE_KEY] = h.state
    for path, handler in (("/v1/chat/completions", h.completions), ("/v1/completions", h.completions),
                          ("/v1/embeddings", h.embeddings), ("/fake/config", h.set_config)):
        app.router.add_post(path, handler)
    for path, handler in (("/v1/models", h.models), ("/metrics", h.metrics), ("/fake/config", h.get_config)):
        app.router.add_get(path, handler)
    return app


class FakeServer(LoopbackService):
    """The fake server on a free loopback port, served by a background thread's event loop.

    ``base_url`` ends in /v1; ``state`` exposes counters; ``configure(**fields)`` changes knobs."""

    def __init__(self, config: FakeConfig | None = None, port: int = 0):
        self.app = make_app(config)
        self.state: FakeState = self.app[STATE_KEY]
        self._port = port
        self._server = AppThread("fakeserver")
        self.port: int | None = None

    def configure(self, **fields) -> None:
        self.state.config = dataclasses.replace(self.state.config, **fields)

    def start(self) -> FakeServer:
        async def make_app():
            return self.app

        self.port = self._server.start(make_app, self._port)
        return self

    def stop(self) -> None:
        self._server.stop()


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m workbench.serving.fakeserver", description=__doc__.splitlines()[0])
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8123)
    for f in dataclasses.fields(FakeConfig):
        kind = {"int": int, "float": float, "str": str, "bool": lambda s: s.lower() in ("1", "true", "yes")}
        conv = kind.get(str(f.type).split(" ")[0], str)
        p.add_argument(f"--{f.name.replace('_', '-')}", type=conv, default=f.default)
    args = vars(p.parse_args(argv))
    host, port = args.pop("host"), args.pop("port")
    try:
        import uvloop  # optional: a faster event loop for the server process

        uvloop.install()
    except ImportError:
        pass
    print(f"fake OpenAI server on http://{host}:{port}/v1", flush=True)
    web.run_app(make_app(FakeConfig(**args)), host=host, port=port, access_log=None, print=None)


if __name__ == "__main__":
    main()
