"""The engine lifecycle against the real local engines (llama.cpp starts in ~1 s, so the
lifecycle cases use it; vLLM is exercised through the shared session fixture)."""

import dataclasses
import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time

import pytest

from workbench.inputs.targets import get_target
from workbench.serving import client, engines, processes
from workbench.serving.engines import EngineError

pytestmark = pytest.mark.engines


def _stream_chat(base_url: str, model: str) -> tuple[str, list]:
    from openai import OpenAI

    client = OpenAI(base_url=base_url, api_key="unused")
    chunks = list(client.chat.completions.create(
        model=model, messages=[{"role": "user", "content": "Name a colour."}],
        max_tokens=16, temperature=0, stream=True,
    ))
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    return text, chunks


@pytest.mark.parametrize("fixture", ["vllm_engine", "llamacpp_engine"])
def test_streamed_chat_completion_on_each_engine(fixture, request):
    engine = request.getfixturevalue(fixture)
    assert engine.target.model in (client.models_ready(engine.base_url, timeout=60) or [])
    text, chunks = _stream_chat(engine.base_url, engine.target.model)
    assert len(chunks) >= 3 and text.strip(), f"empty answer from {engine.target.name}"


def _alive(pid: int) -> bool:
    return processes.pid_alive(pid)


def _child_script(ending: str) -> str:
    return textwrap.dedent(f"""
        import os, signal, sys, time
        from workbench.serving.engines import start_engine, running
        with running("local-llamacpp") as e:
            print(e.pid, e.base_url, flush=True)
            {ending}
    """)


@pytest.mark.parametrize("ending, how", [
    ("pass", "normal exit"),
    ("raise RuntimeError('boom')", "exception"),
    ("time.sleep(60)", "sigint"),
    ("time.sleep(60)", "sigkill"),
])
def test_no_orphan_engine_whatever_ends_the_parent(ending, how):
    p = subprocess.Popen([sys.executable, "-c", _child_script(ending)], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
    line = p.stdout.readline().split()
    assert line, p.stderr.read()
    pid = int(line[0])
    if how == "sigint":
        p.send_signal(signal.SIGINT)
    elif how == "sigkill":
        p.kill()
    p.wait(timeout=60)
    deadline = time.monotonic() + 30
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not _alive(pid), f"engine pid {pid} left running after {how}"


def test_busy_port_gives_another_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        busy = s.getsockname()[1]
        assert processes.free_port(busy) != busy
        with engines.running("local-llamacpp", port=busy) as e:
            assert e.port != busy and client.models_ready(e.base_url)


@pytest.mark.parametrize("name", ["local-llamacpp", "local-vllm"])
def test_engine_that_fails_to_start_gives_log_tail_and_leaves_nothing(name):
    bad = dataclasses.replace(get_target(name), engine_args=("--no-such-flag", "1"))
    with pytest.raises(EngineError) as e:
        engines.start_engine(bad, timeout_s=60)
    msg = str(e.value)
    assert "exited with code" in msg and "no-such-flag" in msg  # the engine's own complaint
    time.sleep(0.5)
    assert _pids_with("--no-such-flag") == []


def test_missing_model_is_a_clear_error(tmp_path):
    bad = dataclasses.replace(get_target("local-llamacpp"), model_path=str(tmp_path / "nope.gguf"))
    from workbench.serving.smollm import ModelError

    with pytest.raises(ModelError, match="does not exist"):
        engines.start_engine(bad)


def _pids_with(arg: str) -> list[int]:
    import psutil

    return [p.pid for p in psutil.process_iter(["cmdline"]) if arg in (p.info["cmdline"] or [])]


def test_cli_start_status_stop(tmp_path):
    env = {**os.environ, "WORKBENCH_CACHE_DIR": str(tmp_path)}
    wb = [sys.executable, "-m", "workbench.cli"]
    run = lambda *a: subprocess.run(wb + list(a), env=env, capture_output=True, text=True, timeout=120)
    started = run("engine", "start", "local-llamacpp")
    assert started.returncode == 0, started.stderr
    state = json.loads((tmp_path / "engines" / "local-llamacpp.json").read_text())
    assert _alive(state["pid"]) and "ready" in run("engine", "status").stdout
    assert "already running" in run("engine", "start", "local-llamacpp").stdout
    assert run("engine", "stop", "local-llamacpp").returncode == 0
    time.sleep(0.5)
    assert not _alive(state["pid"])
    assert "no engines" in run("engine", "status").stdout
    bad = run("engine", "start", "nope")
    assert bad.returncode == 2 and "Known targets" in bad.stderr and "Traceback" not in bad.stderr


def test_llamacpp_build_is_portable():
    """The installed llama.cpp runs on any x86-64 CPU with AVX2: its own CPU-feature line says
    AVX2 and no AVX-512 or AMX, and its CPU backend holds no AMX tile or AVX-512 (zmm)
    instruction, whatever this host's CPU advertises (a native build on an AMX-advertising
    host died with SIGILL on `tileloadd`)."""
    import platform
    import shutil
    from pathlib import Path

    import llama_cpp

    line = subprocess.run([sys.executable, "-c", "import llama_cpp; print(llama_cpp.llama_print_system_info().decode())"],
                          capture_output=True, text=True, timeout=60).stdout
    assert "AVX512" not in line and "AMX" not in line, line
    if platform.machine() not in ("x86_64", "AMD64"):
        return  # the AVX2 baseline is an x86-64 rule: elsewhere, no x86 feature at all is the check above
    assert "AVX2 = 1" in line, line
    lib = next((Path(llama_cpp.__file__).parent / "lib").glob("libggml-cpu.so*"))
    assert shutil.which("objdump"), "objdump (binutils) is needed to read the engine's instructions"
    asm = subprocess.run(["objdump", "-d", "--no-show-raw-insn", str(lib)], capture_output=True, text=True,
                         timeout=300).stdout
    assert "ymm" in asm  # it is an AVX2 build
    for insn in ("tileloadd", "ldtilecfg", "tdpbssd", "zmm"):
        assert insn not in asm, f"{lib.name} contains {insn}: not portable to AVX2-only hosts"
