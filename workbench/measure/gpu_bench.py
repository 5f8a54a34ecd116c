"""GPU measurements without downloadable weights: real architectures, random weights, real speed.

Model weights cannot be downloaded on the GPU machine, so a model is built from its
architecture (the shapes in ``data/catalog/models.csv``) with random weights, directly on the
device. Speed, memory and power are real; quality is not, and every run says
``weights="random weights"``. The engine is Hugging Face transformers' continuous batching
(``generate_batch`` offline, ``transformers serve --continuous-batching`` as a server), never
vLLM, and runs say ``engine="transformers"``.

The pieces, in the order ``benchmarks/gpu/run_gpu_sweep.py`` uses them::

    arch_spec → hf_config → build_random_model          (weights GiB, build time, peak memory)
              → offline_ceiling                          (generate_batch: the engine's ceiling)
              → save_checkpoint → serve → harness.measure (our harness, over HTTP)
              → gpubound.with_roofline                   (% of the roofline bound, workbench.project.roofline)

Fixed output lengths: ``transformers serve`` rejects ``ignore_eos``/``min_tokens`` (HTTP 422),
so the saved checkpoint carries ``generation_config.eos_token_id = -1`` (no token ends a
sequence) and every request runs to its ``max_tokens``; the harness checks lengths from usage.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import random
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from ..errors import WorkbenchError
from ..inputs.catalog import load_catalog
from ..inputs.targets import Deployment, Target
from ..project.roofline import Arch, weight_bytes
from ..results.schema import RANDOM_WEIGHTS
from ..results.store import load
from ..serving.engines import Engine
from ..serving.processes import die_with_parent, free_port, log_tail, stop_process_group
from .loadgen import synthetic_requests

GIB = 2**30

ARCH_FAMILY = {
    "SmolLM2-135M-Instruct": "llama", "Llama-2-7B": "llama", "Llama-2-13B": "llama", "Llama-2-70B": "llama",
    "Llama-3-8B": "llama", "Llama-3-70B": "llama", "Mistral-7B": "mistral", "Mixtral-8x7B": "mixtral",
    "Qwen2-7B": "qwen2", "Gemma-2-9B": "gemma2", "Phi-3-mini": "phi3",
}
"""Catalog model name → transformers ``model_type`` (the catalog stores shapes, not families)."""

TINY_LLAMA = {
    "name": "tiny-llama", "family": "llama", "layers": 2, "hidden": 128, "heads": 4, "kv_heads": 2,
    "head_dim": 32, "ffn": 256, "vocab": 320, "max_context": 2048, "sliding_window": None,
    "experts": 1, "experts_per_token": 1, "tied_embeddings": False,
    "source": "assumed (a test shape, not a published model)", "verified": True,
}
"""A Llama of 0.2 M parameters for CPU tests of the whole pipeline."""

DEFAULT_ARCHS = ("Llama-3-8B", "Mistral-7B", "Qwen2-7B", "Mixtral-8x7B")
WEIGHTS = RANDOM_WEIGHTS
ENGINE = "transformers"


class GpuBenchError(WorkbenchError, RuntimeError):
    pass


# ----------------------------------------------------------------------------- architecture
def _clean(v):
    return None if v is None or (isinstance(v, float) and math.isnan(v)) or v == "" else v


def arch_spec(name: str, catalog=None) -> dict:
    """Shapes of a model: ``tiny-llama`` (built in) or a row of the catalog's models.csv, plus
    its transformers family. Unknown names raise the catalog's error listing close matches."""
    if name == TINY_LLAMA["name"]:
        return dict(TINY_LLAMA)
    if catalog is None:
        catalog = load_catalog()
    row = {k: _clean(v) for k, v in catalog.model(name).items()}
    family = ARCH_FAMILY.get(row.get("name", name))
    if family is None:
        raise GpuBenchError(f"data/catalog/models.csv: model {name!r}: no transformers family known for it; "
                            f"add it to workbench.measure.gpu_bench.ARCH_FAMILY (known: {', '.join(ARCH_FAMILY)})")
    verified = str(row.get("verified", True)).strip().lower() in ("true", "1", "yes")
    return {**row, "family": family, "verified": verified}


def hf_config(spec: dict, *, layers: int | None = None):
    """A transformers config with the spec's shapes (``layers`` overrides the layer count, e.g.
    to fit Mixtral-8x7B on an 80 GB GPU). Token ids 1/2/3 are bos/eos/pad of the synthetic
    tokenizer (:func:`synthetic_tokenizer`)."""
    from transformers import AutoConfig

    experts = int(spec.get("experts") or 1)
    kw: dict[str, Any] = dict(
        hidden_size=int(spec["hidden"]), num_hidden_layers=int(layers or spec["layers"]),
        num_attention_heads=int(spec["heads"]), num_key_value_heads=int(spec["kv_heads"]),
        head_dim=int(spec["head_dim"]), intermediate_size=int(spec["ffn"]), vocab_size=int(spec["vocab"]),
        max_position_embeddings=int(spec.get("max_context") or 4096),
        tie_word_embeddings=str(spec.get("tied_embeddings", False)).lower() in ("true", "1"),
        bos_token_id=1, eos_token_id=2, pad_token_id=3,
    )
    if spec.get("sliding_window"):
        kw["sliding_window"] = int(spec["sliding_window"])
    elif spec["family"] in ("mistral", "mixtral", "qwen2"):
        kw["sliding_window"] = None
    if experts > 1:
        kw.update(num_local_experts=experts, num_experts_per_tok=int(spec.get("experts_per_token") or 2))
    return AutoConfig.for_model(spec["family"], **kw)


def weight_gib(spec: dict, *, layers: int | None = None, dtype: str = "bf16") -> float:
    """Resident weight GiB of the spec (with ``layers`` layers): project.weight_bytes / 2^30."""

    arch = _arch(spec, layers)
    return weight_bytes(arch, dtype) / GIB


def _arch(spec: dict, layers: int | None = None):
    return Arch(name=spec["name"], layers=int(layers or spec["layers"]), hidden=int(spec["hidden"]),
                heads=int(spec["heads"]), kv_heads=int(spec["kv_heads"]), head_dim=int(spec["head_dim"]),
                ffn=int(spec["ffn"]), vocab=int(spec["vocab"]), experts=int(spec.get("experts") or 1),
                experts_per_token=int(spec.get("experts_per_token") or 1),
                tied_embeddings=str(spec.get("tied_embeddings", False)).lower() in ("true", "1"),
                sliding_window=int(spec["sliding_window"]) if spec.get("sliding_window") else None,
                source=str(spec.get("source", "catalog")))


def fit_layers(spec: dict, mem_gib: float, *, dtype: str = "bf16", budget_frac: float = 0.6) -> int:
    """Layers that fit: all of them when weights ≤ budget_frac · mem_gib, else the largest L
    with embeddings + L · per-layer bytes ≤ budget_frac · mem_gib (at least 1)."""
    full = int(spec["layers"])
    budget = budget_frac * mem_gib
    if weight_gib(spec, dtype=dtype) <= budget:
        return full
    one, two = weight_gib(spec, layers=1, dtype=dtype), weight_gib(spec, layers=2, dtype=dtype)
    per_layer, fixed = two - one, one - (two - one)
    return max(1, min(full, int((budget - fixed) // per_layer)))


# ----------------------------------------------------------------------------- model, tokenizer
def build_random_model(config, *, device: str = "cuda", dtype: str = "bfloat16", seed: int = 0):
    """Random-initialised model built directly on ``device`` (no files). Returns (model, facts):
    params, weight_gib = Σ parameter bytes / 2^30, build_s, peak_mem_gib (torch allocator, GPU only)."""
    import torch
    from transformers import AutoModelForCausalLM

    torch.manual_seed(seed)
    if device.startswith("cuda"):
        torch.cuda.reset_peak_memory_stats()
    t0 = time.perf_counter()
    with torch.device(device):
        model = AutoModelForCausalLM.from_config(config, dtype=getattr(torch, dtype), attn_implementation="sdpa")
    model.eval()
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    facts = {
        "params": sum(p.numel() for p in model.parameters()),
        "weight_gib": sum(p.numel() * p.element_size() for p in model.parameters()) / GIB,
        "build_s": time.perf_counter() - t0,
        "peak_mem_gib": peak_mem_gib(device),
    }
    return model, facts


def peak_mem_gib(device: str) -> float | None:
    """Peak memory the torch allocator held on a CUDA device since the last reset (GiB); None on CPU."""
    if not device.startswith("cuda"):
        return None
    import torch

    return torch.cuda.max_memory_allocated() / GIB


def synthetic_tokenizer(vocab_size: int):
    """A word-level tokenizer whose vocabulary matches the model's: ids 0-3 are <unk> <s> </s>
    <pad>, id i ≥ 4 is the word ``t<i>``; whitespace splits words, so a prompt of N words is
    N tokens (unknown words are <unk>). The chat template concatenates message contents."""
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    vocab = {"<unk>": 0, "<s>": 1, "</s>": 2, "<pad>": 3}
    vocab.update({f"t{i}": i for i in range(4, vocab_size)})
    tok = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="<unk>", bos_token="<s>",
                                   eos_token="</s>", pad_token="<pad>")
    fast.chat_template = "{% for m in messages %}{{ m['content'] }} {% endfor %}"
    # transformers serve parses replies of some model types (qwen2 among them) with a response
    # template whose anchor ("<|im_start|>assistant\n") this chat template never writes; without
    # the anchor the parser streams the whole decoded prompt as a first content chunk, before any
    # token is generated (a TTFT of 3 ms on the H100). This template anchors at the prompt's end:
    # content is only what the model generates, for every model type.
    fast.response_template = {"start_anchor_pattern": r"\Z", "fields": {"content": {"content": "text"}}}
    return fast


def fixed_length_generation_config(output_tokens: int | None = None):
    """Greedy decoding that never stops on a token: eos_token_id = -1 (no id is -1); with
    ``output_tokens``, min = max = that many new tokens."""
    from transformers import GenerationConfig

    kw: dict[str, Any] = {"eos_token_id": -1, "do_sample": False, "bos_token_id": 1, "pad_token_id": 3}
    if output_tokens:
        kw.update(max_new_tokens=int(output_tokens), min_new_tokens=int(output_tokens))
    return GenerationConfig(**kw)


def save_checkpoint(model, out_dir: str | Path) -> Path:
    """Save the model (safetensors), a synthetic tokenizer of its vocabulary, and a generation
    config that never stops early, so ``transformers serve`` honours max_tokens exactly."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    model.generation_config = fixed_length_generation_config()
    model.save_pretrained(out)
    synthetic_tokenizer(int(model.config.vocab_size)).save_pretrained(out)
    _pin_tokenizer_class(out)
    return out


def _pin_tokenizer_class(checkpoint: Path) -> None:
    """Make ``AutoTokenizer`` load the synthetic word-level tokenizer for every model type.

    transformers 5 ignores a checkpoint's ``tokenizer_class`` for model types it lists as having
    wrong hub classes (qwen2 among them) and loads its own class (Qwen2Tokenizer), which turns
    any prompt into zero tokens here: the server's batch is empty and its worker dies. An
    ``auto_map`` entry takes the tokenizer out of that rule (it is never executed as remote
    code: the serving process does not trust remote code). Checked by reloading."""
    from transformers import AutoTokenizer

    cfg_path = checkpoint / "tokenizer_config.json"
    cfg = json.loads(cfg_path.read_text(encoding="utf-8"))
    cfg["auto_map"] = {"AutoTokenizer": [None, cfg.get("tokenizer_class") or "TokenizersBackend"]}
    cfg_path.write_text(json.dumps(cfg, indent=2), encoding="utf-8")
    tok = AutoTokenizer.from_pretrained(checkpoint)
    ids = tok("t5 t6")["input_ids"]
    if ids != [5, 6] or not getattr(tok, "response_template", None):
        raise GpuBenchError(f"the synthetic tokenizer saved in {checkpoint} reloads as a different tokenizer "
                            f"('t5 t6' → {ids}, expected [5, 6]; response template "
                            f"{getattr(tok, 'response_template', None)!r}): the server would see empty prompts "
                            "or echo them as output")


def random_prompts(n: int, input_tokens: int, vocab_size: int, seed: int = 0) -> list[list[int]]:
    """``n`` prompts of exactly ``input_tokens`` random ids in [4, vocab) (no special tokens)."""
    rng = random.Random(seed)
    return [[rng.randrange(4, vocab_size) for _ in range(input_tokens)] for _ in range(n)]


# ----------------------------------------------------------------------------- offline ceiling
def offline_ceiling(model, run, *, n_prompts: int, input_tokens: int, output_tokens: int, seed: int = 0,
                    cb_kwargs: dict | None = None, warmup_prompts: int = 2) -> list[dict]:
    """All ``n_prompts`` at once through ``generate_batch`` (continuous batching, fixed lengths);
    one REQUESTS row per prompt into ``run`` (load point ``offline=N``), on the run clock:
    sent = request created, chunk times = each token's timestamp. Returns the rows.
    Not inside ``torch.inference_mode()``: generate_batch fails there."""
    from transformers import ContinuousBatchingConfig

    vocab = int(model.config.vocab_size)
    cb = ContinuousBatchingConfig(**cb_kwargs) if cb_kwargs else None
    if warmup_prompts:
        model.generate_batch(random_prompts(warmup_prompts, input_tokens, vocab, seed + 1),
                             fixed_length_generation_config(min(output_tokens, 4)),
                             continuous_batching_config=cb, record_timestamps=True)
    prompts = random_prompts(n_prompts, input_tokens, vocab, seed)
    gen = fixed_length_generation_config(output_tokens)
    outs = model.generate_batch(prompts, gen, continuous_batching_config=cb, record_timestamps=True)
    label = f"offline={n_prompts}"
    rows = []
    for i, o in enumerate(outs.values()):
        sent_s = o.created_time - run.t0
        times = [t - o.created_time for t in (o.timestamps or [])]
        ok = o.error is None and len(o.generated_tokens) == output_tokens
        rows.append({
            "request_id": i, "phase": "measure", "load_point": label, "concurrency": 0,
            "request_rate": math.inf, "endpoint": "completions", "item_id": f"random-{i}",
            "scheduled_s": sent_s, "sent_s": sent_s, "chunk_times_s": times,
            "ttft_ms": times[0] * 1e3 if times else None, "e2el_ms": times[-1] * 1e3 if times else None,
            "prompt_tokens": len(o.prompt_ids), "output_tokens": len(o.generated_tokens),
            "token_source": "usage", "max_tokens": output_tokens, "forced_length": True,
            "http_status": 0, "error": o.error or ("" if ok else f"{len(o.generated_tokens)} tokens"),
            "ok": ok,
        })
    missing = n_prompts - len(rows)
    run.extend("requests", rows)
    if missing:
        raise GpuBenchError(f"generate_batch returned {len(rows)} of {n_prompts} requests")
    return rows


# ----------------------------------------------------------------------------- the server
def serve_command(checkpoint: str | Path, *, port: int, device: str, dtype: str,
                  cb_args: dict | None = None) -> list[str]:
    """``transformers serve <checkpoint> --continuous-batching`` on loopback; ``cb_args`` maps
    the CLI's ``--cb-*`` options (e.g. {"num-blocks": 16}) to values."""
    argv = [sys.executable, "-m", "transformers.cli.transformers", "serve", str(checkpoint),
            "--continuous-batching", "--host", "127.0.0.1", "--port", str(port),
            "--device", device, "--dtype", dtype, "--log-level", "warning"]
    for k, v in (cb_args or {}).items():
        argv += [f"--cb-{k}", str(v)]
    return argv


def serve_env(work_dir: str | Path, extra_pythonpath: str | None = None) -> dict[str, str]:
    """The server's environment: offline, a hub cache directory that exists (GET /v1/models
    fails without one), and the carried serving wheels first on PYTHONPATH when given."""
    hub = Path(work_dir) / "hf-hub"
    hub.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "HF_HUB_CACHE": str(hub),
           "PYTHONUNBUFFERED": "1"}
    if extra_pythonpath:
        env["PYTHONPATH"] = os.pathsep.join(p for p in (extra_pythonpath, env.get("PYTHONPATH")) if p)
    return env


def _health(base: str) -> bool:
    import urllib.request

    try:
        with urllib.request.urlopen(base + "/health", timeout=2) as r:
            return r.status == 200
    except OSError:
        return False


def _first_request(base: str, model: str, log_path: Path) -> None:
    """One short chat completion before any measuring: a server that answers /health but cannot
    generate (its batching worker died) would otherwise fail every request of the sweep."""
    import urllib.error
    import urllib.request


    body = json.dumps({"model": model, "messages": [{"role": "user", "content": "t5 t6 t7"}],
                       "max_tokens": 2, "stream": False}).encode()
    req = urllib.request.Request(base + "/v1/chat/completions", data=body,
                                 headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=300) as r:
            reply = json.loads(r.read())
        problem = None if reply.get("choices") else f"no choices in {str(reply)[:300]}"
    except urllib.error.HTTPError as e:
        problem = f"HTTP {e.code}: {e.read()[:300]!r}"
    except (OSError, ValueError) as e:
        problem = f"{type(e).__name__}: {e}"
    if problem:
        raise GpuBenchError(f"transformers serve is up but a first 2-token request failed ({problem}); "
                            f"log {log_path}:\n" + log_tail(log_path, 30))


SERVE_TIMEOUT_S = 600.0
"""How long ``transformers serve`` may take to load a checkpoint and answer /health."""


@contextlib.contextmanager
def serve(checkpoint: str | Path, *, name: str, device: str, dtype: str, work_dir: str | Path,
          cb_args: dict | None = None, extra_pythonpath: str | None = None, accelerator: str | None = None):
    """Start ``transformers serve`` for ``checkpoint``, wait for /health, yield a
    :class:`workbench.serving.engines.Engine` whose target is external, strict (no vendor fields) and
    labelled engine "transformers"; stop the server and its process group on exit."""
    from importlib.metadata import version


    port = free_port()
    log_path = Path(work_dir) / f"serve-{name}.log"
    log = open(log_path, "ab")  # noqa: SIM115 - closed in the finally below, after the server stops
    t0 = time.perf_counter()
    proc = subprocess.Popen(serve_command(checkpoint, port=port, device=device, dtype=dtype, cb_args=cb_args),
                            env=serve_env(work_dir, extra_pythonpath), stdout=log, stderr=subprocess.STDOUT,
                            stdin=subprocess.DEVNULL, start_new_session=True,
                            preexec_fn=die_with_parent)  # noqa: PLW1509 - as workbench.serving.engines: dies with us
    base = f"http://127.0.0.1:{port}"
    try:
        while not _health(base):
            if proc.poll() is not None:
                raise GpuBenchError(f"transformers serve exited with {proc.returncode}; log {log_path}:\n"
                                    + log_tail(log_path, 30))
            if time.perf_counter() - t0 > SERVE_TIMEOUT_S:
                raise GpuBenchError(f"transformers serve not ready after {SERVE_TIMEOUT_S:g} s; log {log_path}:\n"
                                    + log_tail(log_path, 30))
            time.sleep(0.5)
        _first_request(base, str(checkpoint), log_path)
        target = Target(name=f"transformers-{name}", engine="external", model=str(checkpoint),
                        base_url=base + "/v1", strict=True, capabilities={},
                        deployment=Deployment(kind="self-hosted", accelerator=accelerator, count=1,
                                              dtype=dtype, engine=ENGINE),
                        source="workbench.measure.gpu_bench.serve")
        engine = Engine(target=target, base_url=base + "/v1", process=proc, port=port, log_path=log_path,
                        start_s=time.perf_counter() - t0, version=version("transformers"))
        yield engine
    finally:
        stop_process_group(proc.pid, 20.0, popen=proc)
        log.close()


def harness_input_tokens(prompt_tokens: int) -> int:
    """The ``input_tokens`` to give :func:`workbench.measure.loadgen.synthetic_requests` so that its
    prompt is ``prompt_tokens`` tokens under :func:`synthetic_tokenizer` (one token per
    whitespace-separated word; the harness adds a short preamble and assumes BPE)."""

    def words(n: int) -> int:
        return len(synthetic_requests(1, n)[0].body["messages"][0]["content"].split())

    return max(1, prompt_tokens + (prompt_tokens - words(prompt_tokens)))


def length_note(run_dir: str | Path, output_tokens: int) -> str:
    """Whether every measured request of a run returned exactly ``output_tokens`` tokens
    (from the server's usage); the server cannot take ignore_eos, the checkpoint's
    generation config (eos_token_id = -1) fixes the length instead."""

    req = load(run_dir).requests
    req = req[(req["phase"] == "measure") & req["ok"].astype(bool)]
    exact = int((req["output_tokens"] == output_tokens).sum())
    return (f"output length fixed by the checkpoint's generation config (eos_token_id=-1), not by "
            f"ignore_eos: {exact} of {len(req)} completed requests returned exactly {output_tokens} "
            f"tokens (server usage)")
