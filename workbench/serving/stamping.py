"""Chunk arrival times taken when the bytes reached the socket, not when the reading
coroutine next runs.

aiohttp's HTTP parser calls the response stream's ``feed_data`` synchronously inside the
protocol's ``data_received`` (the socket-readable callback). :func:`start_stamping` swaps an
open response's stream to a subclass whose ``feed_data`` records (payload bytes fed so far,
arrival time) per block; :func:`texts_by_block` then times each SSE line by the block that
brought its last byte. Bytes that came with the headers get the connection's last
``data_received`` time (:func:`arrival_connector`).

The arrival time is the **kernel's receive timestamp** of the bytes when the event loop is
:class:`KernelStampingLoop` (Linux, the harness's default): its sockets ask for
``SO_TIMESTAMPNS`` and read with ``recvmsg``, so a chunk's time is when the network stack
received it, however long the loop was busy with other streams before reading it (a burst of
256 streams' tokens takes milliseconds of Python to get through; the stamps do not move). A
read that drains several segments carries the last one's time. Elsewhere (uvloop, another OS,
a socket that refuses the option, TLS) it is ``perf_counter()`` at the start of ``data_received``.
"""

from __future__ import annotations

import asyncio
import socket
import struct
import sys
import threading
import time

SO_TIMESTAMPNS = 35
"""Linux's SO_TIMESTAMPNS (SO_TIMESTAMPNS_OLD in asm-generic/socket.h, x86-64 and arm64): a
struct timespec of CLOCK_REALTIME per recvmsg, as SCM_TIMESTAMPNS (the same number). Python's
socket module does not export it."""
_TIMESPEC = struct.Struct("@qq")
_CMSG_SPACE = socket.CMSG_SPACE(_TIMESPEC.size) if hasattr(socket, "CMSG_SPACE") else 0


class _Arrival(threading.local):
    """Kernel receive time (perf_counter seconds) of the bytes this thread's loop is delivering
    right now, set by _StampedSocket's reads just before the transport hands them to its
    protocol and cleared after; None: unknown. Per thread: loops in two threads (a notebook's
    worker thread beside another run) must not see each other's reads."""

    t: float | None = None


_RX = _Arrival()


def _kernel_time(ancdata) -> float | None:
    """The SCM_TIMESTAMPNS of a recvmsg, moved from CLOCK_REALTIME to perf_counter's clock."""
    for level, kind, raw in ancdata:
        if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS and len(raw) >= _TIMESPEC.size:
            sec, nsec = _TIMESPEC.unpack_from(raw)
            return (sec * 1_000_000_000 + nsec - time.time_ns() + time.perf_counter_ns()) * 1e-9
    return None


class _StampedSocket(socket.socket):
    """A stream socket whose ``recv``/``recv_into`` (what asyncio's selector transports call)
    read with ``recvmsg`` and leave the kernel receive time of what they read in ``_RX``."""

    __slots__ = ()

    def recv(self, bufsize: int, flags: int = 0) -> bytes:
        data, anc, _, _ = self.recvmsg(bufsize, _CMSG_SPACE, flags)
        _RX.t = _kernel_time(anc)
        return data

    def recv_into(self, buffer, nbytes: int = 0, flags: int = 0) -> int:
        view = memoryview(buffer)
        n, anc, _, _ = self.recvmsg_into([view[:nbytes] if nbytes else view], _CMSG_SPACE, flags)
        _RX.t = _kernel_time(anc)
        return n


def kernel_stamped(sock: socket.socket) -> socket.socket:
    """``sock`` (a connected TCP socket) as a :class:`_StampedSocket` on the same descriptor,
    with receive timestamps on; ``sock`` itself when the option is refused."""
    if sys.platform != "linux" or not _CMSG_SPACE or sock.type != socket.SOCK_STREAM:
        return sock
    try:
        sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
    except OSError:
        return sock
    stamped = _StampedSocket(sock.family, sock.type, sock.proto, fileno=sock.detach())
    stamped.setblocking(False)
    return stamped


def _stamped_transport_class():
    """asyncio's selector socket transport, forgetting the kernel time once the read it belongs
    to has been handed to the protocol: a ``data_received`` called from elsewhere (aiohttp
    replays bytes it held back) must not take another socket's time."""
    from asyncio import selector_events

    class _StampedTransport(selector_events._SelectorSocketTransport):
        def _read_ready(self):
            try:
                super()._read_ready()
            finally:
                _RX.t = None

    return _StampedTransport


class KernelStampingLoop(asyncio.SelectorEventLoop):
    """asyncio's selector event loop whose TCP transports read through :func:`kernel_stamped`
    sockets: chunk times are the kernel's receive times (module docstring). TLS connections
    (asyncio builds their transports elsewhere) keep the callback-time stamps."""

    _transport_class = None

    def _make_socket_transport(self, sock, protocol, waiter=None, *, extra=None, server=None):
        cls = KernelStampingLoop._transport_class
        if cls is None:
            cls = KernelStampingLoop._transport_class = _stamped_transport_class()
        return cls(self, kernel_stamped(sock), protocol, waiter, extra, server)


def kernel_stamps_available() -> bool:
    """Whether this machine gives TCP receive timestamps (Linux)."""
    return sys.platform == "linux" and bool(_CMSG_SPACE)


_STAMPED_CLASS = None


def _stamping_reader():
    """``(StreamReader, _StampingReader)``: a StreamReader subclass (same slots, so an open
    response's ``content.__class__`` can be swapped to it) whose ``feed_data`` — called
    synchronously by aiohttp's HTTP parser from the protocol's ``data_received`` — appends
    (payload bytes fed so far, arrival time) to its connection's ``stamps`` list."""
    global _STAMPED_CLASS
    if _STAMPED_CLASS is None:
        from aiohttp.streams import StreamReader

        clock, rx, feed = time.perf_counter, _RX, StreamReader.feed_data

        class _StampingReader(StreamReader):
            __slots__ = ()

            def feed_data(self, data: bytes, size: int = 0) -> bool:
                t = rx.t or clock()
                more = feed(self, data, size)
                stamps = getattr(self._protocol, "stamps", None)
                if stamps is not None and data:
                    stamps.append(self.total_bytes)
                    stamps.append(t)
                return more

        _STAMPED_CLASS = (StreamReader, _StampingReader)
    return _STAMPED_CLASS


def arrival_connector(limit: int):
    """aiohttp's TCPConnector whose connections time what they receive, inside the socket
    callback: ``arrived_s`` = the arrival time of the bytes of the last ``data_received``, and
    the moment a response's headers are parsed its body stream is swapped to the stamping
    reader, with ``stamps`` = [body bytes already fed, this read's arrival time]. So every body
    byte is timed by the read that brought it, even when the reading coroutine resumes after
    several chunks have arrived (a burst of 256 responses takes tens of ms to get through).
    Uses the connector's protocol factory (``_factory``, there since aiohttp 3.0) and the
    handler's ``_payload`` (the body being parsed); without them, stamping starts when the
    coroutine begins reading (:func:`start_stamping`)."""
    import functools

    import aiohttp
    from aiohttp.client_proto import ResponseHandler

    clock, rx = time.perf_counter, _RX
    plain, stamping = _stamping_reader()

    class _ArrivalHandler(ResponseHandler):
        arrived_s = None
        stamps = None  # the current body's [payload_end_bytes, arrival_s, ...]
        _stamped = None  # the body those stamps belong to

        def data_received(self, data: bytes) -> None:
            t = self.arrived_s = rx.t or clock()
            super().data_received(data)
            body = getattr(self, "_payload", None)
            if body is not None and body is not self._stamped and type(body) is plain:
                body.__class__ = stamping  # before the next read feeds it: from here on every block is timed
                self.stamps = [body.total_bytes, t]  # what this read already fed arrived now
                self._stamped = body

    conn = aiohttp.TCPConnector(limit=limit, ttl_dns_cache=300)
    if isinstance(getattr(conn, "_factory", None), functools.partial) and conn._factory.func is ResponseHandler:
        conn._factory = functools.partial(_ArrivalHandler, *conn._factory.args, **conn._factory.keywords)
    return conn


def start_stamping(content, connection) -> list | None:
    """The stamps of ``content``: those its connection began in the socket callback
    (:func:`arrival_connector`), else begun now — ``content`` swapped to the stamping reader
    with [bytes already fed, the connection's last ``arrived_s``, else now] (those bytes
    arrived no later than that). None when the stream is neither (then reads are stamped as
    they are read)."""
    plain, stamping = _stamping_reader()
    protocol = getattr(connection, "protocol", None)
    if type(content) is stamping and getattr(protocol, "_stamped", None) is content:
        return protocol.stamps
    if type(content) is not plain or protocol is None:
        return None
    stamps = [content.total_bytes, getattr(protocol, "arrived_s", None) or time.perf_counter()]
    try:
        protocol.stamps, protocol._stamped = stamps, content
    except AttributeError:  # a protocol without a __dict__: no place for the stamps
        return None
    content.__class__ = stamping
    return stamps


def stop_stamping(content, stamps: list | None) -> None:
    if stamps is not None and _STAMPED_CLASS is not None and type(content) is _STAMPED_CLASS[1]:
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
