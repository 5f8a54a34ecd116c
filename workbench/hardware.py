"""Facts about the machine a run happens on: CPU model, memory, GPUs through NVML when present."""

from __future__ import annotations

import functools
import os
import platform


def cpuinfo(field: str) -> str | None:
    """The value of the first ``field`` line of ``/proc/cpuinfo`` (None where there is none)."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith(field):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return None


def cpu_model() -> str:
    return cpuinfo("model name") or platform.processor() or platform.machine()


def cpu_flags() -> set[str]:
    """The instruction-set flags this CPU advertises (``/proc/cpuinfo``; empty elsewhere). A
    virtual machine may advertise what it does not enable (AMX on some hosts here)."""
    return set((cpuinfo("flags") or "").split())


def mem_gib() -> float | None:
    """Physical memory in GiB (one decimal), None where the OS does not say."""
    try:
        return round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1)
    except (ValueError, OSError, AttributeError):
        return None


def gpus() -> list[dict]:
    """Name, memory and driver of each NVIDIA GPU, or [] when there is no driver."""
    try:
        import pynvml
    except ImportError:
        return []
    try:
        pynvml.nvmlInit()
    except Exception:
        return []
    try:
        driver = pynvml.nvmlSystemGetDriverVersion()
        out = []
        for i in range(pynvml.nvmlDeviceGetCount()):
            h = pynvml.nvmlDeviceGetHandleByIndex(i)
            name = pynvml.nvmlDeviceGetName(h)
            mem = pynvml.nvmlDeviceGetMemoryInfo(h)
            out.append({
                "index": i,
                "name": name.decode() if isinstance(name, bytes) else name,
                "mem_gib": round(mem.total / 2**30, 2),
                "driver": driver.decode() if isinstance(driver, bytes) else driver,
            })
        return out
    finally:
        try:
            pynvml.nvmlShutdown()
        except Exception:
            pass


@functools.lru_cache(maxsize=1)
def host_facts() -> dict:
    """CPU model, core count, memory, GPUs. Cached: the machine does not change within a process."""
    g = gpus()
    return {
        "cpu_model": cpu_model(),
        "cpu_count": os.cpu_count(),
        "mem_gib": mem_gib(),
        "gpus": g,
        "accelerator": g[0]["name"] if g else None,
        "platform": f"{platform.system()} {platform.machine()}",
        "python": platform.python_version(),
    }
