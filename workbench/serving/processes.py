"""Processes the workbench starts and watches: free loopback ports, a child that dies with its
parent, stopping a whole process group, whether a pid is alive, the tail of a log, and how a
process that died is named (signal, meaning, the CPU features its log says it was built for)."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import socket
import subprocess
import time
from pathlib import Path


def port_is_free(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        try:
            s.bind((host, port))
        except OSError:
            return False
    return True


def free_port(preferred: int | None = None, host: str = "127.0.0.1") -> int:
    """``preferred`` if it is free, else a port the kernel picks."""
    if preferred and port_is_free(preferred, host):
        return preferred
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def die_with_parent() -> None:  # runs in the child between fork and exec
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except Exception:
        pass


def log_tail(path: Path | None, n: int = 40) -> str:
    if not path or not Path(path).is_file():
        return "(no log)"
    with open(path, "rb") as f:
        f.seek(0, os.SEEK_END)
        f.seek(max(0, f.tell() - 64_000))
        lines = f.read().decode("utf-8", "replace").splitlines()
    return "\n".join(lines[-n:])


def _descendants(pid: int) -> list[int]:
    try:
        import psutil

        return [p.pid for p in psutil.Process(pid).children(recursive=True)]
    except Exception:
        return []


def stop_process_group(pid: int, timeout_s: float = 20.0, popen: subprocess.Popen | None = None) -> None:
    """SIGTERM the process group led by ``pid`` (and any descendant that left it), wait, then SIGKILL."""
    stray = _descendants(pid)
    for sig in (signal.SIGTERM, signal.SIGKILL):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pid, sig)
        for c in stray:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(c, sig)
        deadline = time.monotonic() + (timeout_s if sig == signal.SIGTERM else 5.0)
        while time.monotonic() < deadline:
            alive = pid_alive(pid, popen) or any(pid_alive(c) for c in stray)
            if not alive:
                return
            time.sleep(0.1)


def pid_alive(pid: int, popen: subprocess.Popen | None = None) -> bool:
    if popen is not None:
        return popen.poll() is None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie is not alive
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(") ", 1)[1][0] != "Z"
    except OSError:
        return False


# ----------------------------------------------------------------------------- how a process ended
SIGNAL_MEANING = {
    "SIGILL": "illegal instruction: the engine ran a CPU instruction this machine does not enable",
    "SIGSEGV": "segmentation fault",
    "SIGBUS": "bus error",
    "SIGABRT": "aborted",
    "SIGKILL": "killed (by a user, or by the kernel when memory ran out)",
    "SIGTERM": "terminated by another process",
}
CPU_FEATURE_FLAGS = ("avx2", "fma", "f16c", "avx512f", "avx512_vnni", "avx512_bf16", "avx_vnni",
                     "amx_tile", "amx_int8", "amx_bf16")
"""The /proc/cpuinfo flags worth naming when an engine dies of an illegal instruction."""


def compiled_features(log_text: str) -> list[str]:
    """The CPU features an engine says it was compiled for: llama.cpp's ``system_info`` line
    (``AVX2 = 1 | AVX512 = 1 | AMX_INT8 = 1 ...``) or its ``CPU : SSE3 = 1 | ...`` line."""
    feats: list[str] = []
    for line in log_text.splitlines():
        if "AVX" in line and "= 1" in line:
            feats += [m for m in re.findall(r"([A-Z][A-Z0-9_]+) = 1", line) if m not in feats]
    return feats
