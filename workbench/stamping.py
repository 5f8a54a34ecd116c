"""Chunk arrival times taken when the bytes come off the socket, not when the reading
coroutine next runs.

aiohttp's HTTP parser calls the response stream's ``feed_data`` synchronously inside the
protocol's ``data_received`` (the socket-readable callback). :func:`start_stamping` swaps an
open response's stream to a subclass whose ``feed_data`` records (payload bytes fed so far,
``perf_counter()``) per block; :func:`texts_by_block` then times each SSE line by the block
that brought its last byte. Bytes that came with the headers get the connection's last
``data_received`` time (:func:`arrival_connector`).
"""

from __future__ import annotations

import time

# id(stream) -> flat [payload_end_bytes, perf_counter_s, ...] of each block fed to a stream being
# read; filled by _stamping_reader's feed_data (StreamReader has __slots__: no room on the object).
_STAMPS: dict[int, list] = {}
_STAMPED_CLASS = None


def _stamping_reader():
    """A StreamReader subclass (same slots, so an open response's ``content.__class__`` can be
    swapped to it) whose ``feed_data`` — called synchronously by aiohttp's HTTP parser from the
    protocol's ``data_received`` — records (payload bytes fed so far, perf_counter()) per block."""
    global _STAMPED_CLASS
    if _STAMPED_CLASS is None:
        from aiohttp.streams import StreamReader

        clock, stamps_of, feed = time.perf_counter, _STAMPS.get, StreamReader.feed_data

        class _StampingReader(StreamReader):
            __slots__ = ()

            def feed_data(self, data: bytes, size: int = 0) -> bool:
                t = clock()
                more = feed(self, data, size)
                stamps = stamps_of(id(self))
                if stamps is not None and data:
                    stamps.append(self.total_bytes)
                    stamps.append(t)
                return more

        _STAMPED_CLASS = (StreamReader, _StampingReader)
    return _STAMPED_CLASS


def arrival_connector(limit: int):
    """aiohttp's TCPConnector whose connections note ``arrived_s`` = perf_counter() at the start
    of each ``data_received`` (the bytes just came off the socket). That times the bytes that
    come with the headers, before the reader can start stamping (often the first token).
    Uses the connector's protocol factory (``_factory``, there since aiohttp 3.0); without it
    those bytes get the time stamping began."""
    import functools

    import aiohttp
    from aiohttp.client_proto import ResponseHandler

    clock = time.perf_counter

    class _ArrivalHandler(ResponseHandler):
        arrived_s = None

        def data_received(self, data: bytes) -> None:
            self.arrived_s = clock()
            super().data_received(data)

    conn = aiohttp.TCPConnector(limit=limit, ttl_dns_cache=300)
    if isinstance(getattr(conn, "_factory", None), functools.partial) and conn._factory.func is ResponseHandler:
        conn._factory = functools.partial(_ArrivalHandler, *conn._factory.args, **conn._factory.keywords)
    return conn


def start_stamping(content, connection) -> list | None:
    """Swap ``content`` to the stamping reader; the stamp list starts with (bytes already fed,
    the connection's last ``arrived_s``, else now) — those bytes arrived no later than that.
    None when the stream is not a plain StreamReader (then reads are stamped as they are read)."""
    plain, stamping = _stamping_reader()
    if type(content) is not plain:
        return None
    arrived_s = getattr(getattr(connection, "protocol", None), "arrived_s", None)
    stamps = [content.total_bytes, arrived_s or time.perf_counter()]
    _STAMPS[id(content)] = stamps
    content.__class__ = stamping
    return stamps


def stop_stamping(content, stamps: list | None) -> None:
    if stamps is not None:
        _STAMPS.pop(id(content), None)
        content.__class__ = _STAMPED_CLASS[0]


def texts_by_block(data: bytes, start_b: int, stamps: list, k: int, findall, pieces: list, times: list,
              t_send: float, t_read: float) -> int:
    """Texts of ``data`` (complete lines; payload bytes [start_b, start_b + len)) that span
    several fed blocks, each line timed by the block that holds its last byte. ``k`` indexes
    the first block ending after start_b; returns the index of the block holding the last line."""
    n, size, pos = len(stamps), len(data), 0
    while pos < size:
        if k < n:
            end, t = stamps[k] - start_b, stamps[k + 1]
        else:  # not expected: every byte read was fed; fall back to the read time
            end, t = size, t_read
        cut = size if end >= size else data.rfind(b"\n", pos, end) + 1
        if cut > pos:
            found = findall(data[pos:cut])
            if found:
                pieces += found
                times += [t - t_send] * len(found)
            pos = cut
        if pos < size:
            k += 2
    return k
