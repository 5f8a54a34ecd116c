"""The streaming client against the fake server (every usage placement, faults) and the real engines."""

from __future__ import annotations

import asyncio
import socket

import pytest

from workbench.serving.client import Client, Request, run_requests
from workbench.serving.fakeserver import FakeConfig, FakeServer

CHAT = Request("chat", {"messages": [{"role": "user", "content": "Say hi"}], "max_tokens": 64})


@pytest.fixture(scope="module")
def fake():
    with FakeServer(FakeConfig(chunks=8)) as server:
        yield server


def one(base_url, request=CHAT, **kw):
    return run_requests(base_url, [request], model="fake", progress=False, **kw)[0]


def with_knobs(request: Request, **knobs) -> Request:
    return Request(request.endpoint, {**request.body, "fake": knobs}, request.item_id)


def test_usage_in_final_chunk_counts_tokens_not_chunks(fake):
    # 8 chunks of 3 tokens each, usage in a separate choices:[] chunk (vLLM's placement)
    r = one(fake.base_url, with_knobs(CHAT, tokens_per_chunk=3, chunks=8, usage="final"))
    assert r.ok and r.http_status == 200 and r.error == ""
    assert len(r.chunk_times_s) == 8
    assert (r.output_tokens, r.token_source) == (24, "usage")
    assert r.prompt_tokens == 1  # the fake counts max(1, len(text) // 4)
    assert r.text == " tok" * 8
    assert r.finish_reason == "stop"


def test_usage_on_finish_chunk(fake):
    r = one(fake.base_url, with_knobs(CHAT, tokens_per_chunk=2, chunks=5, usage="finish"))
    assert (r.output_tokens, r.token_source, len(r.chunk_times_s)) == (10, "usage", 5)


def test_no_usage_falls_back_to_chunk_count(fake):
    # llama-cpp-python: no usage when streaming
    r = one(fake.base_url, with_knobs(CHAT, chunks=6, usage="none"))
    assert r.ok and (r.output_tokens, r.token_source, r.prompt_tokens) == (6, "chunks", None)


def test_role_chunk_and_empty_deltas_are_not_content_and_ttft_waits_for_content(fake):
    r = one(fake.base_url, with_knobs(CHAT, chunks=4, empty_deltas=2, ttft_s=0.12, chunk_delay_s=0.02))
    assert len(r.chunk_times_s) == 4
    assert r.ttft_ms >= 120  # the role chunk came at once; the first content chunk after ttft_s
    assert r.e2el_ms == pytest.approx(r.chunk_times_s[-1] * 1e3)
    assert r.ttft_ms == pytest.approx(r.chunk_times_s[0] * 1e3)
    gaps = [b - a for a, b in zip(r.chunk_times_s, r.chunk_times_s[1:])]
    assert all(g >= 0.015 for g in gaps)


@pytest.mark.parametrize("key", ["reasoning_content", "reasoning"])
def test_reasoning_chunks_count_as_first_tokens(fake, key):
    # as vLLM's and aiperf's TTFT: reasoning is output; but it is not part of the answer text
    r = one(fake.base_url, with_knobs(CHAT, chunks=3, reasoning_chunks=2, reasoning_key=key, chunk_delay_s=0.01))
    assert r.ok and len(r.chunk_times_s) == 5 and r.text == " tok" * 3
    assert r.finish_reason == "stop" and r.output_tokens == 3  # the fake's usage counts content only


def test_escaped_text_is_decoded(fake):
    piece = ' "é" \\ \n✓'
    r = one(fake.base_url, with_knobs(CHAT, chunks=3, piece=piece))
    assert r.text == piece * 3


def test_text_that_looks_like_sse_and_events_split_across_reads(fake):
    piece = 'data: [DONE] "content":"x"\n\n'
    r = one(fake.base_url, with_knobs(CHAT, chunks=3, piece=piece))
    assert r.ok and r.text == piece * 3 and len(r.chunk_times_s) == 3 and r.finish_reason == "stop"
    big = "y" * 300_000  # far larger than one socket read: each event arrives in pieces
    r = one(fake.base_url, with_knobs(CHAT, chunks=2, piece=big, chunk_delay_s=0.01))
    assert r.ok and r.text == big * 2 and len(r.chunk_times_s) == 2 and r.output_tokens == 2


def test_chunk_times_are_arrival_times_when_the_reader_runs_late(fake, monkeypatch):
    # Every read returns 100 ms after its bytes came in (a loop busy with other streams); the
    # chunks arrive 30 ms apart, so each late read picks up several. The fake server writes its
    # perf_counter() (the same clock) into each chunk just before writing it: every recorded
    # time must stay close to that, while a read's time is >= 100 ms after it by construction.
    # The first chunk comes with the headers, whose processing is made 20 ms late too (its read
    # time would be >= 120 ms late).
    from aiohttp import ClientResponse
    from aiohttp.client_proto import ResponseHandler
    from aiohttp.streams import StreamReader

    readany, start = StreamReader.readany, ClientResponse.start

    async def late_readany(self):
        data = await readany(self)
        if isinstance(self._protocol, ResponseHandler):  # the client's streams, not the fake server's
            await asyncio.sleep(0.1)
        return data

    async def late_start(self, connection):
        out = await start(self, connection)
        await asyncio.sleep(0.02)
        return out

    monkeypatch.setattr(StreamReader, "readany", late_readany)
    monkeypatch.setattr(ClientResponse, "start", late_start)
    r = one(fake.base_url, with_knobs(CHAT, chunks=5, chunk_delay_s=0.03, tokens_per_chunk=2, stamp=True))
    assert r.ok and (r.output_tokens, r.token_source, r.finish_reason) == (10, "usage", "stop")
    written_s = [float(s) for s in r.text.split("|") if s]
    assert len(written_s) == len(r.chunk_times_s) == 5
    late_ms = [(r.sent_s + t - w) * 1e3 for t, w in zip(r.chunk_times_s, written_s)]
    assert all(0 <= ms < 60 for ms in late_ms), late_ms
    gaps_ms = [(b - a) * 1e3 for a, b in zip(r.chunk_times_s, r.chunk_times_s[1:])]
    assert all(g > 10 for g in gaps_ms), gaps_ms  # not one time per read
    assert r.ttft_ms == pytest.approx(r.chunk_times_s[0] * 1e3)
    assert r.e2el_ms == pytest.approx(r.chunk_times_s[-1] * 1e3)


def _lateness_with_a_blocked_loop(loop_factory, base_url) -> list[float]:
    """ms between the fake server writing each chunk (its perf_counter() is the chunk's text)
    and the time the client recorded for it, with the client's loop blocked (time.sleep, as a
    burst of Python work would) from 30 to 170 ms: the second chunk, written at 100 ms, waits
    in the socket until 170 ms."""
    import time

    async def main():
        async with Client(base_url, "fake", timeout_s=30) as client:  # clock origin 0: absolute perf_counter
            async def block():
                await asyncio.sleep(0.03)
                time.sleep(0.14)  # noqa: ASYNC251 - blocks the loop on purpose, as a burst of Python work would

            blocker = asyncio.ensure_future(block())
            r = await client.send(with_knobs(CHAT, chunks=3, chunk_delay_s=0.1, stamp=True))
            await blocker
        return r

    with asyncio.Runner(loop_factory=loop_factory) as runner:
        r = runner.run(main())
    written = [float(x) for x in r.text.split("|") if x]
    assert r.ok and len(written) == len(r.chunk_times_s) == 3
    return [(r.sent_s + t - w) * 1e3 for t, w in zip(r.chunk_times_s, written)]


def test_chunk_times_are_kernel_receive_times_however_long_the_loop_is_blocked(fake):
    from workbench.serving import stamping
    from workbench.serving.runloop import loop_factory

    assert loop_factory() is stamping.KernelStampingLoop  # the harness's loop on Linux
    late = _lateness_with_a_blocked_loop(stamping.KernelStampingLoop, fake.base_url)
    assert all(0 <= ms < 25 for ms in late), late  # ~0.05 ms on a quiet machine; margin for a loaded CI
    assert stamping._RX.t is None  # no kernel time left behind for a data_received from elsewhere
    # the same client on a loop without kernel stamps times the second chunk when the loop got to it
    late_plain = _lateness_with_a_blocked_loop(asyncio.SelectorEventLoop, fake.base_url)
    assert late_plain[1] > 50, late_plain


def test_lines_read_together_are_timed_by_the_block_that_brought_each():
    import re

    from workbench.serving.stamping import texts_by_block as _by_block

    findall = re.compile(rb"(\w+)\n").findall
    data = b"a\nbb\nccc\n"  # payload bytes 10..18; newlines at 11, 14 and 18
    pieces, times = [], []
    k = _by_block(data, 10, [12, 1.0, 15, 2.0, 19, 3.0], 0, findall, pieces, times, 0.5, 9.0)
    assert (pieces, times, k) == ([b"a", b"bb", b"ccc"], [0.5, 1.5, 2.5], 4)
    pieces, times = [], []  # "a" in the first block, its newline in the second: the second's time
    k = _by_block(data, 10, [11, 1.0, 19, 3.0], 0, findall, pieces, times, 0.5, 9.0)
    assert (pieces, times, k) == ([b"a", b"bb", b"ccc"], [2.5, 2.5, 2.5], 2)
    pieces, times = [], []  # bytes no block accounts for get the read time
    k = _by_block(data, 10, [12, 1.0], 0, findall, pieces, times, 0.5, 9.0)
    assert (pieces, times) == ([b"a", b"bb", b"ccc"], [0.5, 8.5, 8.5])


def test_max_tokens_caps_chunks_and_completions_endpoint(fake):
    r = one(fake.base_url, Request("completions", {"prompt": "Once upon a time", "max_tokens": 5}))
    assert r.ok and r.text == " tok" * 5 and r.output_tokens == 5 and r.finish_reason == "length"
    assert r.prompt_tokens == 4


def test_non_streaming_and_embeddings(fake):
    r = one(fake.base_url, Request("chat", {"messages": [{"role": "user", "content": "x"}], "max_tokens": 3}),
            stream=False)
    assert r.ok and r.text == " tok" * 3 and (r.output_tokens, r.token_source) == (3, "usage")
    assert r.ttft_ms is None and r.e2el_ms > 0 and r.chunk_times_s == []
    e = one(fake.base_url, Request("embeddings", {"input": ["a", "b"]}))
    assert e.ok and len(e.embeddings) == 2 and len(e.embeddings[0]) == 8
    assert e.embeddings[0] != e.embeddings[1]


def test_body_forces_length_only_where_capabilities_allow_and_never_in_strict_mode():
    caps = {"ignore_eos": True, "min_tokens": True}
    body, forced = Client("http://x/v1", "m", capabilities=caps).build_body(CHAT, True, 32)
    assert forced and body["ignore_eos"] is True and body["min_tokens"] == 32 and body["max_tokens"] == 32
    assert body["stream"] is True and body["stream_options"] == {"include_usage": True}
    assert body["model"] == "m" and body["messages"] == CHAT.body["messages"]
    body, forced = Client("http://x/v1", "m", capabilities=caps, strict=True).build_body(CHAT, True, 32)
    assert not forced and "ignore_eos" not in body and "min_tokens" not in body and body["max_tokens"] == 32
    assert "stream_options" in body  # standard OpenAI: allowed in strict mode
    body, forced = Client("http://x/v1", "m", capabilities={"ignore_eos": False}).build_body(CHAT, True, 8)
    assert not forced and "ignore_eos" not in body


def test_http_errors_come_back_as_responses(fake):
    r = one(fake.base_url, with_knobs(CHAT, status=500))
    assert not r.ok and r.http_status == 500 and "fake failure 500" in r.error
    r = one(fake.base_url, with_knobs(CHAT, status=429, retry_after_s=2))
    assert not r.ok and r.http_status == 429 and r.retry_after_s == 2.0


def test_stream_cut_midway_keeps_the_chunks_that_arrived(fake):
    r = one(fake.base_url, with_knobs(CHAT, chunks=10, cut_after=3, chunk_delay_s=0.01))
    assert not r.ok and len(r.chunk_times_s) == 3 and r.error
    assert r.output_tokens == 3 and r.token_source == "chunks"


def test_endpoint_down_and_timeout():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed once the block ends: nothing listens there
    r = one(f"http://127.0.0.1:{port}/v1")
    assert not r.ok and r.http_status == 0 and "connection failed" in r.error

    async def timed_out():
        with FakeServer(FakeConfig(header_delay_s=2.0)) as slow:
            async with Client(slow.base_url, "fake", timeout_s=0.3) as c:
                return await c.send(CHAT)

    r = asyncio.run(timed_out())
    assert not r.ok and r.http_status == 0 and "timeout" in r.error


def test_run_requests_keeps_input_order_calls_back_and_works_inside_a_running_loop(fake):
    reqs = [with_knobs(CHAT, chunks=n, chunk_delay_s=0.002 * (6 - n)) for n in range(1, 6)]
    seen = []

    async def inside_jupyter_like_loop():
        return run_requests(fake.base_url, reqs, model="fake", concurrency=5, progress=False,
                            on_response=lambda i, r: seen.append(i))

    out = asyncio.run(inside_jupyter_like_loop())
    assert [len(r.chunk_times_s) for r in out] == [1, 2, 3, 4, 5]
    assert sorted(seen) == [0, 1, 2, 3, 4]


def test_model_is_discovered_from_models_endpoint(fake):
    from workbench.serving.client import _resolve

    assert _resolve(fake.base_url, None)[:2] == (fake.base_url, "fake")  # the id /v1/models lists
    assert _resolve(fake.base_url, "mine")[1] == "mine"  # an explicit model is not asked for
    r = run_requests(fake.base_url, [CHAT], progress=False)[0]
    assert r.ok


# ---------------------------------------------------------------------------- real engines
@pytest.mark.engines
def test_vllm_sends_usage_in_a_final_chunk_and_honours_forced_length(vllm_engine):
    r = run_requests(vllm_engine, [CHAT], progress=False, force_output_tokens=12)[0]
    assert r.ok, r.error
    assert r.token_source == "usage" and r.output_tokens == 12 and r.forced_length
    assert r.prompt_tokens > 0 and r.finish_reason == "length"
    assert 1 <= len(r.chunk_times_s) <= 12 and r.ttft_ms > 0


@pytest.mark.engines
def test_llamacpp_streams_without_usage(llamacpp_engine):
    r = run_requests(llamacpp_engine, [CHAT], progress=False, force_output_tokens=8)[0]
    assert r.ok, r.error
    assert r.token_source == "chunks" and r.prompt_tokens is None
    assert r.output_tokens == len(r.chunk_times_s) and 1 <= r.output_tokens <= 10
    assert not r.forced_length  # its capabilities say it cannot force length
