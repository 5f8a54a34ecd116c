"""Fine-tune a base model on a workload's train split: a LoRA adapter (peft) or all weights,
stopped early on the dev split's primary metric, recorded as a run of kind ``finetune``.

    workbench finetune --base smollm2 --workload ticket-classification --method lora --max-steps 200

Why these libraries: ``peft`` is the maintained LoRA implementation that vLLM and llama.cpp
load adapters from (``adapter_config.json`` + ``adapter_model.safetensors``), and
``transformers`` loads the base from the HF folder the embedded model already has
(``workbench model prepare``; nothing is downloaded). The loop itself is a plain PyTorch one
rather than ``transformers.Trainer``: early stopping here needs a generated-and-scored dev
metric (the workload's own scorer), and every step's loss goes to the results store as it
happens; both are a few lines in a loop and awkward through Trainer callbacks.

An item becomes one training example: the chat messages the workload sends (system, few-shot,
user; ``Workload.messages``) through the model's chat template, followed by the reference
answer (a label, or JSON for a dict or list) and the end-of-turn token. Only the answer's
tokens carry loss. Serving sends the same messages, so the adapter sees at inference exactly
the prompt it learned on.

torch, transformers and peft are imported inside the functions that need them, so
``import workbench`` stays light.
"""

from __future__ import annotations

import hashlib
import json
import random
import resource
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from ..errors import WorkbenchError
from ..inputs.workloads import Workload, load_workload
from ..results.schema import EXIT_CODES, FinetuneSummary
from ..results.store import RunWriter
from .scorers import SCORERS, metrics

METHODS = ("lora", "full")


class FinetuneError(WorkbenchError, RuntimeError):
    pass


@dataclass
class FinetuneConfig:
    """Everything a fine-tuning run depends on besides the data (stored as the run's params)."""

    base: str = "smollm2"
    """A model folder in HF format, or ``smollm2`` (the embedded model's HF folder)."""
    workload: str = ""
    method: str = "lora"
    max_steps: int = 200
    batch_size: int = 8
    lr: float = 2e-4
    warmup_steps: int = 3
    lora_r: int = 16
    lora_alpha: int = 32
    lora_dropout: float = 0.05
    target_modules: list[str] = field(default_factory=lambda: ["q_proj", "k_proj", "v_proj", "o_proj",
                                                              "gate_proj", "up_proj", "down_proj"])
    eval_every: int = 25
    patience: int = 3
    """Evaluations in a row without a better dev metric before training stops."""
    dev_limit: int | None = 40
    """At most this many dev items per evaluation (a seeded subset; None: all)."""
    max_minutes: float | None = None
    """Stop (as after early stopping) when training has run this long."""
    seed: int = 0
    threads: int | None = None
    out_dir: str | None = None
    """Where the adapter goes; default ``<results root>/<run id>/adapter``."""

    def check(self) -> None:
        if self.method not in METHODS:
            raise FinetuneError(f"field 'method': must be one of {', '.join(METHODS)}, got {self.method!r}")
        for name in ("max_steps", "batch_size", "eval_every", "patience", "lora_r"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise FinetuneError(f"field {name!r}: must be a positive whole number, got {v!r}")
        if not self.lr > 0:
            raise FinetuneError(f"field 'lr': must be positive, got {self.lr!r}")


def base_path(base: str) -> Path:
    """The HF folder of ``base``: the embedded model's (derived once from its GGUF) for
    ``smollm2``, else ``base`` itself, which must hold a config.json."""
    if base in ("smollm2", "smollm2:hf", "SmolLM2-135M-Instruct"):
        from ..serving.smollm import prepare_hf

        return prepare_hf()
    p = Path(base)
    if not (p / "config.json").is_file():
        raise FinetuneError(f"field 'base': {base!r} is neither 'smollm2' nor a folder with an HF config.json")
    return p


def answer_text(item: dict) -> str:
    """The text a model should answer for ``item``: its reference, as JSON unless a string."""
    ref = item["reference"]
    return ref if isinstance(ref, str) else json.dumps(ref, ensure_ascii=False)


def data_hash(wl: Workload, splits=("train", "dev")) -> str:
    """sha256 of the items of ``splits`` (ids, prompt fields and references) and the prompt
    spec: the same hash means the same training data."""
    h = hashlib.sha256(json.dumps(wl.spec.get("prompt"), sort_keys=True).encode())
    for s in splits:
        for it in wl.split(s):
            h.update(json.dumps(it, sort_keys=True, ensure_ascii=False).encode())
    return h.hexdigest()


def encode(tok, wl: Workload, item: dict) -> tuple[list[int], list[int]]:
    """(input ids, labels) of one training example: prompt tokens carry label -100."""
    prompt = tok.apply_chat_template(wl.messages(item), add_generation_prompt=True, tokenize=True)
    if isinstance(prompt, dict) or hasattr(prompt, "input_ids"):  # transformers 5 returns a BatchEncoding
        prompt = prompt["input_ids"]
    answer = tok(answer_text(item), add_special_tokens=False)["input_ids"] + [tok.eos_token_id]
    return list(prompt) + answer, [-100] * len(prompt) + answer


def _batch(rows: list[tuple[list[int], list[int]]], pad_id: int):
    import torch

    n = max(len(ids) for ids, _ in rows)
    ids = torch.full((len(rows), n), pad_id, dtype=torch.long)
    labels = torch.full((len(rows), n), -100, dtype=torch.long)
    mask = torch.zeros((len(rows), n), dtype=torch.long)
    for i, (x, y) in enumerate(rows):
        ids[i, : len(x)], labels[i, : len(y)], mask[i, : len(x)] = torch.tensor(x), torch.tensor(y), 1
    return {"input_ids": ids, "labels": labels, "attention_mask": mask}


def generate(model, tok, wl: Workload, items: list[dict], *, batch_size: int = 8) -> list[str]:
    """Greedy answers of ``model`` to ``items`` (left-padded batches, at most the workload's
    max_tokens new tokens), decoded without special tokens."""
    import torch

    outs = []
    was_training = model.training
    model.eval()
    tok.padding_side = "left"
    for k in range(0, len(items), batch_size):
        chunk = items[k: k + batch_size]
        texts = [tok.apply_chat_template(wl.messages(it), add_generation_prompt=True, tokenize=False) for it in chunk]
        enc = tok(texts, return_tensors="pt", padding=True, add_special_tokens=False)
        with torch.no_grad():
            gen = model.generate(**enc, max_new_tokens=wl.max_tokens, do_sample=False,
                                 pad_token_id=tok.pad_token_id, eos_token_id=tok.eos_token_id)
        outs += tok.batch_decode(gen[:, enc["input_ids"].shape[1]:], skip_special_tokens=True)
    model.train(was_training)
    return outs


def score(wl: Workload, items: list[dict], outputs: list[str]):
    """(scored items, metric name -> MetricData) of ``outputs`` with the workload's scorer."""
    scorer = SCORERS[wl.spec["scorer"]]
    scored = [scorer(it, out, wl.spec) for it, out in zip(items, outputs)]
    return scored, metrics(wl.spec, items, scored)


def load_model(cfg: FinetuneConfig, adapter: str | Path | None = None):
    """(model, tokenizer): the base in float32 on the CPU (bfloat16 on a GPU), with a fresh
    LoRA adapter for method lora, or the adapter at ``adapter`` (frozen) when given."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    path = base_path(cfg.base)
    tok = AutoTokenizer.from_pretrained(path)
    if tok.pad_token_id is None:
        tok.pad_token = tok.eos_token
    dtype = torch.bfloat16 if torch.cuda.is_available() else torch.float32
    model = AutoModelForCausalLM.from_pretrained(path, dtype=dtype)
    if torch.cuda.is_available():
        model = model.to("cuda")
    if adapter is not None:
        from peft import PeftModel

        return PeftModel.from_pretrained(model, str(adapter)), tok
    if cfg.method == "lora":
        from peft import LoraConfig, get_peft_model

        lora = LoraConfig(r=cfg.lora_r, lora_alpha=cfg.lora_alpha, lora_dropout=cfg.lora_dropout,
                          target_modules=list(cfg.target_modules), task_type="CAUSAL_LM")
        model = get_peft_model(model, lora)
    return model, tok


@dataclass
class _State:
    """What the loop has done so far (the run's summary is built from it)."""

    step: int = 0
    tokens: int = 0
    loss: float = float("nan")
    best: float = float("-inf")
    best_key: tuple = ()
    best_step: int = 0
    since_best: int = 0
    dev: list = field(default_factory=list)  # (step, value)
    stopped: str = "max_steps"


def _batches(train_rows, batch_size: int, seed: int):
    """Endless seeded shuffled batches of the training rows (a new order every epoch)."""
    rng = random.Random(seed)
    size = min(batch_size, len(train_rows))
    while True:
        order = list(range(len(train_rows)))
        rng.shuffle(order)
        for k in range(0, len(order) - size + 1, size):  # a short last batch waits for the next epoch
            yield [train_rows[i] for i in order[k: k + size]]


def _dev_eval(model, tok, wl, dev_items, state: _State, run, out: Path, patience: int) -> bool:
    """Score the dev items, log the metric, keep the best adapter; True when patience ran out.

    "Best" is the primary metric, ties broken by the workload's other floor metrics in order:
    a structured workload's schema_valid reaches 1.0 on a few dev items early, and then only
    field_accuracy tells a better adapter from the first valid one."""
    ms = score(wl, dev_items, generate(model, tok, wl, dev_items))[1]
    names = [wl.primary_metric] + [m for m in wl.quality_floor if m != wl.primary_metric and m in ms]
    key = tuple(ms[m].value() for m in names)
    state.dev.append((state.step, key[0]))
    for m, v in zip(names, key):
        run.append("samples", {"t_s": run.now_s(), "source": "trainer", "device": "dev",
                               "metric": f"dev_{m}", "value": v})
    if not state.best_key or key > state.best_key:
        state.best, state.best_key, state.best_step, state.since_best = key[0], key, state.step, 0
        model.save_pretrained(out / "best")
    else:
        state.since_best += 1
    return state.since_best >= patience


def _train_loop(model, tok, wl, cfg: FinetuneConfig, run, out: Path, state: _State) -> None:
    import torch
    from tqdm.auto import tqdm
    from transformers import get_linear_schedule_with_warmup

    rows = [encode(tok, wl, it) for it in wl.split("train")]
    dev_items = wl.selected(cfg.dev_limit, cfg.seed, "dev")
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=cfg.lr)
    sched = get_linear_schedule_with_warmup(opt, min(cfg.warmup_steps, cfg.max_steps // 2), cfg.max_steps)
    device = next(model.parameters()).device
    t0 = time.perf_counter()
    model.train()
    bar = tqdm(total=cfg.max_steps, desc=f"finetune {wl.name}", unit="step")
    for batch_rows in _batches(rows, cfg.batch_size, cfg.seed):
        batch = {k: v.to(device) for k, v in _batch(batch_rows, tok.pad_token_id).items()}
        loss = model(**batch).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step(), sched.step(), opt.zero_grad()
        state.step += 1
        state.tokens += int(batch["attention_mask"].sum())
        state.loss = float(loss.detach())
        run.append("samples", {"t_s": run.now_s(), "source": "trainer", "device": str(device),
                               "metric": "train_loss", "value": state.loss})
        bar.update(1)
        bar.set_postfix(loss=f"{state.loss:.3f}", best_dev=f"{state.best:.3f}")
        last = state.step >= cfg.max_steps
        out_of_time = cfg.max_minutes is not None and time.perf_counter() - t0 > 60 * cfg.max_minutes
        if state.step % cfg.eval_every == 0 or last or out_of_time:
            if _dev_eval(model, tok, wl, dev_items, state, run, out, cfg.patience):
                state.stopped = f"early stop: no better dev {wl.primary_metric} in {cfg.patience} evaluations"
                break
        if last or out_of_time:
            state.stopped = "max_steps" if last else f"time budget ({cfg.max_minutes:g} min)"
            break
    bar.close()


def finetune(cfg: FinetuneConfig, *, results_root=None) -> dict:
    """Train as ``cfg`` says; return the run's summary (also in its run.json). The adapter with
    the best dev metric is in ``<out>/best``; Ctrl-C saves the weights so far in ``<out>/last``
    and marks the run interrupted."""
    import torch

    cfg.check()
    wl = load_workload(cfg.workload)
    if not wl.split("train") or not wl.split("dev"):
        raise FinetuneError(f"workload {wl.name!r}: needs items in the train and dev splits "
                            f"(has {len(wl.split('train'))} and {len(wl.split('dev'))})")
    torch.manual_seed(cfg.seed)
    random.seed(cfg.seed)
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    model, tok = load_model(cfg)
    n_train = sum(p.numel() for p in model.parameters() if p.requires_grad)
    params = {**asdict(cfg), "data_hash": data_hash(wl), "split_source": wl.split_source,
              "n_train_items": len(wl.split("train")), "n_dev_items": len(wl.split("dev")),
              "trainable_parameters": n_train, "base_path": str(base_path(cfg.base)),
              "torch": torch.__version__, "threads": torch.get_num_threads()}
    state, status = _State(), "completed"
    c0, w0 = time.process_time(), time.perf_counter()
    with RunWriter(kind="finetune", target=f"{cfg.base}+{wl.name}", engine="transformers", model=cfg.base,
                   params=params, root=results_root, workload=wl.name, weights="real",
                   deployment={**LOCAL_DEPLOYMENT, "accelerator": "GPU" if torch.cuda.is_available() else "CPU"},
                   dtype=str(next(model.parameters()).dtype).replace("torch.", "")) as run:
        out = Path(cfg.out_dir) if cfg.out_dir else run.dir / "adapter"
        try:
            _train_loop(model, tok, wl, cfg, run, out, state)
        except KeyboardInterrupt:
            status, state.stopped = "interrupted", "interrupted (Ctrl-C)"
            model.save_pretrained(out / "last")
        summary = FinetuneSummary(
            base=cfg.base, method=cfg.method, data_hash=params["data_hash"], steps=state.step,
            tokens_seen=state.tokens, wall_s=time.perf_counter() - w0, cpu_s=time.process_time() - c0,
            peak_mem_gib=_peak_mem_gib(), final_train_loss=state.loss, dev_metric=wl.primary_metric,
            best_dev_value=state.best if state.dev else float("nan"), best_step=state.best_step,
            dev_curve=state.dev, stopped=state.stopped, adapter=str(out / "best"),
            trainable_parameters=n_train)
        run.finish(status, summary=asdict(summary))
        if status == "interrupted":
            raise KeyboardInterrupt
    return {"run_id": run.run_id, "run_dir": str(run.dir), "status": status, **asdict(summary)}


def _peak_mem_gib() -> float:
    """Peak memory of this process: GPU memory allocated by torch on a GPU, else peak RSS."""
    import torch

    if torch.cuda.is_available():
        return torch.cuda.max_memory_allocated() / 2**30
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # KiB on Linux


# --------------------------------------------------------------------------- test-split quality
LOCAL_DEPLOYMENT = {"kind": "self-hosted", "instance": "local-cpu", "accelerator": "CPU", "count": 1,
                    "dtype": "float32", "quantization": "none (dequantized from Q4_1)",
                    "engine": "transformers", "provider": None, "price_entry": None}
"""Where in-process runs ran: this machine's CPU, the base in float32 as ``workbench model prepare`` derives it."""


def evaluate_local(workload: str, *, base: str = "smollm2", adapter: str | Path | None = None, split: str = "test",
                   name: str | None = None, results_root=None, batch_size: int = 8) -> str:
    """Score ``base`` (with the LoRA ``adapter`` when given) on the ``split`` items of
    ``workload`` in this process with transformers (greedy, the workload's max_tokens), as a
    quality run (target ``transformers:<base>[+<name>]``); its run id. Base and adapter scored
    this way are a like-for-like pair for :func:`workbench.measure.evaluate.compare`."""
    from .evaluate import metrics_table

    wl = load_workload(workload)
    items = wl.split(split)
    model, tok = load_model(FinetuneConfig(base=base), adapter=adapter)
    target = f"transformers:{base}" + (f"+{name or Path(adapter).name}" if adapter else "")
    params = {"split": split, "split_source": wl.split_source, "n_items": len(items), "max_tokens": wl.max_tokens,
              "temperature": 0, "scorer": wl.spec["scorer"], "batch_size": batch_size,
              "adapter": str(adapter) if adapter else None, "base_path": str(base_path(base))}
    # an adapter's run names its own model, so it never counts as the base model's quality
    model_name = target.split(":", 1)[1]
    with RunWriter(kind="quality", target=target, engine="transformers", model=model_name, params=params,
                   root=results_root, workload=wl.name, weights="real", dtype="float32",
                   deployment=LOCAL_DEPLOYMENT) as run:
        outputs, scored = [], []
        for k in range(0, len(items), batch_size):
            chunk = items[k: k + batch_size]
            outs = generate(model, tok, wl, chunk, batch_size=batch_size)
            sc, _ = score(wl, chunk, outs)
            for it, out, s in zip(chunk, outs, sc):
                run.append("items", {"workload": wl.name, "item_id": it["id"], "output": out, "parsed_ok": s.parsed_ok,
                                     "scores": s.scores, "prompt_tokens": None, "output_tokens": None,
                                     "latency_ms": None, "error": ""})  # batched: no per-request latency
            outputs += outs
            scored += sc
        table = metrics_table(wl, items, scored)
        run.finish("completed", summary={
            "metrics": {r["metric"]: {k: r[k] for k in ("value", "ci_low", "ci_high", "n", "n_errors")}
                        for r in table.to_dict("records")},
            "primary_metric": wl.primary_metric, "n_items": len(items), "n_answered": len(items), "n_errors": 0})
    return run.run_id


# --------------------------------------------------------------------------- command line
def add_cli_arguments(p) -> None:
    d = FinetuneConfig()
    p.add_argument("--base", default=d.base, help="HF model folder, or smollm2 (the embedded model; default)")
    p.add_argument("--workload", required=True, help="workload name or directory (trains on its train split)")
    p.add_argument("--method", default=d.method, choices=METHODS)
    p.add_argument("--max-steps", type=int, default=d.max_steps)
    p.add_argument("--batch-size", type=int, default=d.batch_size)
    p.add_argument("--lr", type=float, default=d.lr)
    p.add_argument("--warmup-steps", type=int, default=d.warmup_steps)
    p.add_argument("--lora-r", type=int, default=d.lora_r, help="LoRA rank (alpha = 2 x rank)")
    p.add_argument("--eval-every", type=int, default=d.eval_every, help="steps between dev evaluations")
    p.add_argument("--patience", type=int, default=d.patience, help="dev evaluations without gain before stopping")
    p.add_argument("--dev-limit", type=int, default=d.dev_limit, help="dev items per evaluation")
    p.add_argument("--max-minutes", type=float, default=None, help="stop after this much training time")
    p.add_argument("--seed", type=int, default=d.seed)
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    p.add_argument("--out", default=None, help="adapter folder (default: inside the run directory)")


def cli(args) -> int:
    cfg = FinetuneConfig(base=args.base, workload=args.workload, method=args.method, max_steps=args.max_steps,
                         batch_size=args.batch_size, lr=args.lr, warmup_steps=args.warmup_steps, lora_r=args.lora_r, lora_alpha=2 * args.lora_r,
                         eval_every=args.eval_every, patience=args.patience, dev_limit=args.dev_limit,
                         max_minutes=args.max_minutes, seed=args.seed, threads=args.threads, out_dir=args.out)
    s = finetune(cfg)
    print(f"{cfg.workload}: run {s['run_id']} ({s['status']}, {s['stopped']}) -> {s['run_dir']}")
    print(f"  {s['steps']} steps, {s['tokens_seen']} tokens, {s['wall_s']:.0f} s wall, {s['cpu_s']:.0f} s CPU, "
          f"peak {s['peak_mem_gib']:.2f} GiB; best dev {s['dev_metric']} {s['best_dev_value']:.3f} "
          f"at step {s['best_step']}; adapter {s['adapter']}")
    return EXIT_CODES.get(s["status"], 1)
