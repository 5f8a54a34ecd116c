"""The one seam to any OpenAI-compatible server: send a request, stream it, time every chunk.

Timing rules (vLLM ``bench serve`` definitions, see docs/metrics.md):

* ``sent_s`` is taken just before the request is written; every content chunk's time is the
  time its bytes reached the socket: on Linux the kernel's receive timestamp of the read that
  brought them, elsewhere ``perf_counter()`` in the event loop's socket-readable callback
  (:mod:`workbench.serving.stamping`) — never when the reading coroutine next runs, which with many
  streams on one loop can be milliseconds later. An event's time is that of the block holding
  its line's last byte; events that arrive in one read share its time (the latest segment's).
* A *content chunk* is an SSE event whose delta carries non-empty text (``content``,
  ``reasoning_content``/``reasoning`` for chat, ``text`` for completions). Role-only chunks,
  empty deltas, the finish chunk and the usage chunk are not content. Reasoning chunks count
  for timing (as in vLLM and aiperf) but are left out of ``Response.text``.
* TTFT = first content chunk − send; E2EL = last content chunk − send (ms).

Token counts: the server's ``usage`` when it sends one (vLLM: a final ``choices: []`` chunk
when ``stream_options.include_usage`` is set; transformers: on the finish chunk), else
llama-server ``timings.predicted_n``, else the number of content chunks (``"chunks"``: a lower
bound when an engine merges tokens into one chunk; llama-cpp-python sends one token per chunk
and no usage at all when streaming). ``Response.token_source`` says which.

The hot path does, per socket read, one ``recvmsg`` and one clock reading, and per stream read one
C-level ``findall``; the escaped
text pieces are joined and decoded with one ``json.loads`` per request, and only the stream's
tail (finish, usage, errors, [DONE]) is parsed as JSON.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..errors import WorkbenchError
from .runloop import run_sync
from .stamping import arrival_connector, start_stamping, stop_stamping, texts_by_block

ENDPOINTS = {"chat": "/chat/completions", "completions": "/completions", "embeddings": "/embeddings"}
_READ_BUFSIZE = 1 << 20  # aiohttp's 64 KiB default starves long streams (vllm #39963)

# The escaped (still JSON-encoded) non-empty text of a content event. A literal prefix keeps
# the regex engine on its fast path: 'content":"' matches both "content" and
# "reasoning_content" keys, never an escaped \"content\" inside a string. A stream that
# reasons (either key) switches to _KEYED_TEXT, which also says which key each text came from.
_CHAT_TEXT = re.compile(rb'content": ?"((?:[^"\\]++|\\.)+)"')
# with the key, to keep reasoning out of the text (slower: only for streams that reason)
_KEYED_TEXT = re.compile(rb'(reasoning_content|reasoning|content)": ?"((?:[^"\\]++|\\.)+)"')
_COMPLETION_TEXT = re.compile(rb'"text": ?"((?:[^"\\]++|\\.)+)"')

@dataclass
class Request:
    """One request. ``body`` is an OpenAI body without ``stream``, and without ``model`` unless it
    names another model than the client's (an adapter, in a mix of adapters on one engine)."""

    endpoint: str  # "chat" | "completions" | "embeddings"
    body: dict
    item_id: str | None = None


@dataclass
class Response:
    """What came back. Times: ``sent_s`` on the client's clock (perf_counter − clock origin);
    ``chunk_times_s`` from send, one per content chunk; ``ttft_ms``/``e2el_ms`` from send."""

    ok: bool
    http_status: int
    error: str
    text: str
    sent_s: float
    chunk_times_s: list[float]
    ttft_ms: float | None
    e2el_ms: float | None
    prompt_tokens: int | None
    output_tokens: int | None
    token_source: str  # "usage" | "timings" | "chunks" | "none"
    finish_reason: str | None
    embeddings: list[list[float]] | None = None
    retry_after_s: float | None = None  # from a 429/503 Retry-After header
    forced_length: bool = False  # ignore_eos / min_tokens were sent
    max_tokens: int | None = None


def _failed(status: int, error: str, sent_s: float, **kw) -> Response:
    base = dict(ok=False, http_status=status, error=error, text="", sent_s=sent_s, chunk_times_s=[],
                ttft_ms=None, e2el_ms=None, prompt_tokens=None, output_tokens=None,
                token_source="none", finish_reason=None)
    base.update(kw)
    return Response(**base)


def _retry_after_s(headers) -> float | None:
    value = headers.get("Retry-After") if headers is not None else None
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None  # an HTTP date: not worth parsing here


def _token_counts(usage: dict | None, timings: dict | None, n_chunks: int) -> tuple[int | None, int | None, str]:
    """(prompt_tokens, output_tokens, token_source) from usage, else timings, else chunk count."""
    if usage and usage.get("completion_tokens") is not None:
        return usage.get("prompt_tokens"), int(usage["completion_tokens"]), "usage"
    if timings and timings.get("predicted_n") is not None:
        return timings.get("prompt_n"), int(timings["predicted_n"]), "timings"
    prompt = usage.get("prompt_tokens") if usage else None
    return prompt, n_chunks, "chunks"


# Markers of the events that matter after the stream (usage, llama-server timings, errors, a
# finish_reason). Unescaped quotes: they cannot occur inside a JSON string, where quotes are \".
_MARKERS = (b'"usage"', b'"timings"', b'"error"', b'finish_reason":"', b'finish_reason": "')


def _marked_lines(block: bytes):
    """(start, end) of each line of ``block`` holding one of _MARKERS; C-level searches only."""
    for marker in _MARKERS:
        i = block.find(marker)
        while i >= 0:
            start = block.rfind(b"\n", 0, i) + 1
            end = block.find(b"\n", i)
            end = len(block) if end < 0 else end
            yield start, end
            i = block.find(marker, end)


class Client:
    """Async client for one OpenAI-compatible server.

    ``capabilities`` (from the target): ``ignore_eos`` / ``min_tokens`` say whether the
    engine accepts those fields for forcing output length. ``strict`` sends no
    vendor-specific fields at all (``stream_options`` is standard OpenAI and is always sent
    when streaming). ``clock_origin_s``: ``sent_s`` is ``perf_counter() − clock_origin_s``
    (pass a RunWriter's ``t0`` to put requests on the run clock).
    """

    def __init__(self, base_url: str, model: str, api_key: str | None = None, strict: bool = False,
                 timeout_s: float = 300, capabilities: dict | None = None, *,
                 clock_origin_s: float = 0.0, connections: int = 0):
        self.base_url = base_url.rstrip("/")
        self.model = model
        self.strict = strict
        self.timeout_s = timeout_s
        self.capabilities = dict(capabilities or {})
        self.clock_origin_s = clock_origin_s
        self._api_key = api_key
        self._connections = connections
        self._session = None

    async def __aenter__(self) -> Client:
        import aiohttp

        headers = {"Content-Type": "application/json"}
        if self._api_key:
            headers["Authorization"] = f"Bearer {self._api_key}"
        self._session = aiohttp.ClientSession(
            connector=arrival_connector(self._connections),
            headers=headers,
            timeout=aiohttp.ClientTimeout(total=self.timeout_s),
            read_bufsize=_READ_BUFSIZE,
        )
        return self

    async def __aexit__(self, *exc) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    # ------------------------------------------------------------------ request body
    def build_body(self, request: Request, stream: bool, force_output_tokens: int | None) -> tuple[dict, bool]:
        """The JSON body to send and whether the output length was forced."""
        body = {"model": self.model, **request.body}
        forced = False
        if request.endpoint != "embeddings":
            body["stream"] = stream
            if stream:
                body["stream_options"] = {"include_usage": True}
            if force_output_tokens is not None:
                body["max_tokens"] = int(force_output_tokens)
                if not self.strict:
                    if self.capabilities.get("ignore_eos"):
                        body["ignore_eos"] = True
                        forced = True
                    if self.capabilities.get("min_tokens"):
                        body["min_tokens"] = int(force_output_tokens)
                        forced = True
        return body, forced

    # ------------------------------------------------------------------ send
    async def send(self, request: Request, *, stream: bool = True,
                   force_output_tokens: int | None = None) -> Response:
        """Send one request. Never raises for HTTP or network errors: they come back as
        ``ok=False`` with ``http_status`` (0 when no response arrived) and ``error``."""
        import aiohttp

        if self._session is None:
            raise RuntimeError("use `async with Client(...) as client:`")
        if request.endpoint not in ENDPOINTS:
            raise WorkbenchError(f"request {request.item_id!r}: field 'endpoint': "
                                 f"must be one of {', '.join(ENDPOINTS)}, got {request.endpoint!r}")
        body, forced = self.build_body(request, stream, force_output_tokens)
        stream = stream and request.endpoint != "embeddings"
        data = json.dumps(body).encode()
        url = self.base_url + ENDPOINTS[request.endpoint]
        extra = {"forced_length": forced, "max_tokens": body.get("max_tokens")}
        t_send = time.perf_counter()
        sent_s = t_send - self.clock_origin_s
        try:
            async with self._session.post(url, data=data) as resp:
                if resp.status >= 400:
                    text = (await resp.text(errors="replace"))[:500]
                    return _failed(resp.status, f"HTTP {resp.status}: {text}", sent_s,
                                   retry_after_s=_retry_after_s(resp.headers), **extra)
                if stream:
                    return await self._read_stream(resp, request.endpoint, t_send, sent_s, extra)
                payload = await resp.read()
                t_end = time.perf_counter()
                return self._parse_whole(payload, request.endpoint, resp.status, t_send, t_end, sent_s, extra)
        except TimeoutError:
            return _failed(0, f"timeout after {self.timeout_s:g} s", sent_s, **extra)
        except aiohttp.ClientConnectorError as e:
            return _failed(0, f"connection failed: {e}", sent_s, **extra)
        except aiohttp.ClientError as e:
            return _failed(0, f"{type(e).__name__}: {e}", sent_s, **extra)
        except OSError as e:
            return _failed(0, f"{type(e).__name__}: {e}", sent_s, **extra)

    async def _read_stream(self, resp, endpoint: str, t_send: float, sent_s: float, extra: dict) -> Response:
        """Read an SSE stream. Per read: one C-level ``findall`` of the content texts in its
        complete lines, timed by the fed blocks that brought them (module docstring); nothing
        else is parsed while the stream runs. Afterwards only the tail — from the last content
        event on — is searched for usage, timings, finish_reason, errors and [DONE] (engines
        send those at the end; an error event followed by more content would go unnoticed)."""
        import aiohttp

        findall = (_CHAT_TEXT if endpoint == "chat" else _COMPLETION_TEXT).findall
        clock = time.perf_counter
        content = resp.content
        readany = content.readany
        stamps = start_stamping(content, resp.connection)
        k = 0  # index in stamps of the first fed block not yet wholly read
        end_b = 0  # payload bytes up to the end of the complete lines read so far
        times: list[float] = []
        pieces: list[bytes] = []
        tail: list[bytes] = []  # reads since the last one with content
        buf = last = b""
        error = ""
        chat, wide = endpoint == "chat", False
        try:
            while True:
                data = await readany()
                if not data:
                    break
                if buf:
                    data = buf + data
                cut = data.rfind(b"\n") + 1
                if cut < len(data):  # keep an incomplete line for the next read
                    data, buf = data[:cut], data[cut:]
                    if not data:
                        continue
                elif buf:
                    buf = b""
                start_b, end_b = end_b, end_b + len(data)
                if chat and not times and not wide and b'reasoning' in data:
                    wide = True  # reasoning comes before content: only checked until content starts
                    findall = _KEYED_TEXT.findall
                if stamps is None:
                    t = clock() - t_send
                else:
                    while k < len(stamps) and stamps[k] <= start_b:
                        k += 2  # blocks wholly read before this one
                    if k < len(stamps) and stamps[k] < end_b:  # its lines came in several blocks
                        n = len(times)
                        k = texts_by_block(data, start_b, stamps, k, findall, pieces, times, t_send, clock())
                        if len(times) > n:
                            last = data
                            tail.clear()
                        else:
                            tail.append(data)
                        continue
                    t = (stamps[k + 1] if k < len(stamps) else clock()) - t_send
                found = findall(data)
                if found:
                    pieces += found
                    times += [t] * len(found)
                    last = data
                    if tail:
                        tail.clear()
                else:
                    tail.append(data)
        except TimeoutError:
            error = f"timeout after {self.timeout_s:g} s (stream cut)"
        except aiohttp.ClientError as e:
            error = f"stream cut: {type(e).__name__}: {e}"
        finally:
            stop_stamping(content, stamps)
        end_s = clock() - t_send
        region = b"".join(tail)
        if last:
            keys = (b'content":', b'reasoning":') if chat else (b'"text":',)
            start = last.rfind(b"\n", 0, max(last.rfind(m) for m in keys)) + 1
            region = last[start:] + region
        if wide:  # (key, text) pairs: reasoning chunks count for TTFT/ITL, but are not the answer
            pieces = [text for key, text in pieces if key == b"content"]
        return self._finish_stream(resp.status, times, pieces, region, error, end_s, sent_s, extra)

    @staticmethod
    def _finish_stream(status, times, pieces, region, error, end_s, sent_s, extra) -> Response:
        """Parse only the lines of the stream's tail that carry usage, timings, an error or a
        finish_reason (in stream order: later usage wins), and decode the text once."""
        done = region.startswith((b"data: [DONE]", b"data:[DONE]")) or b"\ndata: [DONE]" in region \
            or b"\ndata:[DONE]" in region
        usage = timings = None
        finish = None
        for start, end in sorted(set(_marked_lines(region))):
            raw = region[start:end]
            try:
                ev = json.loads(raw[5:])
            except ValueError:
                continue
            if not isinstance(ev, dict):
                continue
            if ev.get("error") and not error:
                err = ev["error"]
                error = "stream error: " + (err.get("message", str(err)) if isinstance(err, dict) else str(err))
            usage = ev.get("usage") or usage
            timings = ev.get("timings") or timings
            for ch in ev.get("choices") or ():
                finish = ch.get("finish_reason") or finish
        try:
            text = json.loads(b'"' + b"".join(pieces) + b'"') if pieces else ""
        except ValueError:
            text = b"".join(pieces).decode("utf-8", "replace")
        if not error and not done and finish is None:
            error = "stream ended without a finish_reason or [DONE]"
        prompt, output, source = _token_counts(usage, timings, len(times))
        return Response(
            ok=not error, http_status=status, error=error, text=text, sent_s=sent_s,
            chunk_times_s=times,
            ttft_ms=times[0] * 1e3 if times else None,
            e2el_ms=(times[-1] if times else end_s) * 1e3,
            prompt_tokens=prompt, output_tokens=output, token_source=source,
            finish_reason=finish, **extra,
        )

    @staticmethod
    def _parse_whole(payload: bytes, endpoint: str, status: int, t_send: float, t_end: float,
                     sent_s: float, extra: dict) -> Response:
        e2el_ms = (t_end - t_send) * 1e3
        try:
            doc = json.loads(payload)
        except ValueError:
            return _failed(status, f"response is not JSON: {payload[:200]!r}", sent_s, e2el_ms=e2el_ms, **extra)
        usage = doc.get("usage") or {}
        if endpoint == "embeddings":
            vectors = [d.get("embedding") for d in sorted(doc.get("data") or [], key=lambda d: d.get("index", 0))]
            return Response(True, status, "", "", sent_s, [], None, e2el_ms, usage.get("prompt_tokens"), 0,
                            "usage" if usage else "none", None, embeddings=vectors, **extra)
        choice = (doc.get("choices") or [{}])[0]
        text = (choice.get("message") or {}).get("content") if endpoint == "chat" else choice.get("text")
        prompt, output, source = _token_counts(usage, doc.get("timings"), 0)
        if source == "chunks":
            output, source = None, "none"
        return Response(True, status, "", text or "", sent_s, [], None, e2el_ms, prompt, output, source,
                        choice.get("finish_reason"), **extra)


# ---------------------------------------------------------------------- sync convenience
def _get_json(url: str, timeout: float = 2.0, api_key: str | None = None):
    req = urllib.request.Request(url)
    if api_key:
        req.add_header("Authorization", f"Bearer {api_key}")
    with urllib.request.urlopen(req, timeout=timeout) as r:
        return json.loads(r.read().decode())


def models_ready(base_url: str, timeout: float = 2.0, api_key: str | None = None) -> list[str] | None:
    """Model ids from ``GET {base_url}/models``, or None when it does not answer."""
    try:
        data = _get_json(f"{base_url}/models", timeout=timeout, api_key=api_key)
        return [m.get("id") for m in data.get("data", [])]
    except (OSError, ValueError, urllib.error.URLError):
        return None


def _resolve(endpoint, model: str | None) -> tuple[str, str, str | None, bool, dict]:
    """(base_url, model, api_key, strict, capabilities) of an endpoint: an object with
    ``base_url`` and ``target`` (a :class:`workbench.serving.engines.Engine`: the one way a target is
    resolved, ``engines.endpoint``), or a URL ending in /v1 (``model``, else the first model
    it lists)."""
    if not isinstance(endpoint, str):
        t = endpoint.target
        return endpoint.base_url, model or t.model, t.api_key(), t.strict, dict(t.capabilities)
    if model is None:
        ids = models_ready(endpoint.rstrip("/"), timeout=10.0) or []
        if not ids:
            raise WorkbenchError(f"{endpoint}/models does not answer; pass model= explicitly")
        model = ids[0]
    return endpoint, model, None, False, {}


def run_requests(endpoint, requests: list[Request], *, concurrency: int = 4, model: str | None = None,
                 progress: bool = True, on_response: Callable[[int, Response], Any] | None = None,
                 stop: Callable[[], bool] | None = None, stream: bool = True, **send_kw) -> list[Response | None]:
    """Send ``requests`` with at most ``concurrency`` in flight; results in input order.
    ``stream`` and ``send_kw`` (``force_output_tokens``) go to :meth:`Client.send` (embeddings
    never stream).

    ``endpoint``: an Engine (``workbench.serving.engines.endpoint`` resolves a target name or Target
    into one) or a URL ending in /v1. Starts nothing. ``on_response(i, response)`` is called as each finishes.
    Once ``stop()`` returns true no further request is sent; those not sent are None.
    Safe to call from Jupyter (runs its own event loop in a worker thread when one is running).
    """
    base_url, model, api_key, strict, caps = _resolve(endpoint, model)

    async def main() -> list[Response]:
        out: list[Response | None] = [None] * len(requests)
        bar = None
        if progress:
            from tqdm.auto import tqdm

            bar = tqdm(total=len(requests), desc="requests", unit="req")
        sem = asyncio.Semaphore(max(1, concurrency))
        async with Client(base_url, model, api_key=api_key, strict=strict, capabilities=caps) as client:
            async def one(i: int, req: Request) -> None:
                async with sem:
                    if stop is not None and stop():
                        return
                    r = await client.send(req, stream=stream and req.endpoint != "embeddings", **send_kw)
                out[i] = r
                if on_response is not None:
                    on_response(i, r)
                if bar is not None:
                    bar.update(1)

            try:
                await asyncio.gather(*(one(i, r) for i, r in enumerate(requests)))
            finally:
                if bar is not None:
                    bar.close()
        return out

    return run_sync(main())
