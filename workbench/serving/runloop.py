"""How the workbench runs its async work from sync code (the harness, the evaluator, notebooks).

:func:`run_sync` runs a coroutine on :func:`loop_factory`'s event loop — on Linux asyncio's
selector loop with kernel receive timestamps (:class:`workbench.serving.stamping.KernelStampingLoop`),
elsewhere uvloop when installed — also from inside Jupyter's running loop (then in a worker
thread), with the heap that existed before frozen for the garbage collector
(:func:`gc_frozen`), and Ctrl-C turned into a clean cancellation.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import threading
from typing import Any

from .stamping import KernelStampingLoop, kernel_stamps_available


def loop_factory():
    """The event loop the harness runs on: on Linux, asyncio's selector loop with kernel receive
    timestamps (:class:`workbench.serving.stamping.KernelStampingLoop`: chunk times do not depend on
    how busy the loop is); elsewhere uvloop when installed, else None (asyncio's default)."""

    if kernel_stamps_available():
        return KernelStampingLoop
    try:
        import uvloop
    except ImportError:
        return None
    return uvloop.new_event_loop


@contextlib.contextmanager
def gc_frozen():
    """Move every object alive now out of the garbage collector's reach (``gc.freeze()``, as
    vLLM's ``bench serve`` does) for the duration, then back (``gc.unfreeze()``). A full
    collection then scans only what the run itself allocated, not a notebook's whole heap:
    such a collection stalls the event loop, and with it every chunk timestamp, for tens to
    hundreds of ms. Objects made during the run are collected as usual; garbage frozen with
    the rest is collected after the unfreeze (no ``gc.collect()`` first: it can take that long)."""
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


def run_sync(coro):
    """Run a coroutine to completion from sync code, also inside Jupyter's running loop (then
    in a worker thread with its own loop), with the heap that existed before frozen for the
    garbage collector (:func:`gc_frozen`). Ctrl-C cancels the coroutine, lets its cleanup run
    (rows already written stay written), and raises KeyboardInterrupt."""
    with gc_frozen():
        return _run_sync(coro)


def _run_sync(coro):
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        with asyncio.Runner(loop_factory=loop_factory()) as runner:
            return runner.run(coro)
    result: dict[str, Any] = {}
    ready = threading.Event()

    def target() -> None:
        loop = (loop_factory() or asyncio.new_event_loop)()
        result["loop"] = loop
        result["task"] = loop.create_task(coro)
        ready.set()
        try:
            result["value"] = loop.run_until_complete(result["task"])
        except BaseException as e:  # re-raised in the caller's thread
            result["error"] = e
        finally:
            loop.close()

    th = threading.Thread(target=target, name="workbench-client", daemon=True)
    th.start()
    ready.wait()
    try:
        while th.is_alive():
            th.join(0.1)
    except KeyboardInterrupt:
        result["loop"].call_soon_threadsafe(result["task"].cancel)
        th.join()
        raise
    if "error" in result:
        raise result["error"]
    return result["value"]
