"""The columns of every table the workbench writes, each with its unit and meaning.

Tables are tidy: one row per request (``requests``), per telemetry sample (``samples``),
per workload item scored (``items``), per run (``runs``). A run directory holds them as
JSON Lines (one object per row); :func:`workbench.results.store.load` reads any number of run
directories into pandas DataFrames with exactly these columns.

``check_frame`` validates a DataFrame against a table's schema; the tests use it on every
frame the store returns.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields

from ..errors import WorkbenchError

SCHEMA_VERSION = 2
"""Written into every run.json (``schema_version``). 2: runs record the ``deployment`` they were
measured on. Runs without the field were written under version 1."""

PROVENANCE = ("measured", "projected", "published", "assumed")
"""Every number the workbench shows carries one of these labels."""

RUN_STATUSES = ("running", "completed", "degraded", "interrupted", "failed")
"""How a run ended. ``running``: still writing, or its process died without a word.
``completed``: it ran to the end. ``degraded``: it ran to the end, but more than
``max_error_rate`` of its requests failed. ``interrupted``: stopped by Ctrl-C; what finished
is kept. ``failed``: an exception, or the engine it measured died (``summary.engine_exit``)."""

RUN_KINDS = ("load", "gpu-load", "gpu-offline", "quality", "benchmark", "finetune", "lm-eval")
"""What a run did. ``lm-eval``: an imported lm-eval results file (workbench.results.importers),
its summary the per-task evidence records. ``finetune``: a model trained on a workload's train split
(workbench.measure.finetune); its summary is a :class:`FinetuneSummary`, its ``samples`` rows
the training loss per step (source "trainer", metric "train_loss") and the dev metric at each
evaluation (device "dev", metric "dev_<primary metric>")."""

EXIT_CODES = {"completed": 0, "failed": 1, "degraded": 3, "interrupted": 130}
"""The exit code of a command that made one run, by the run's status: a run that is not clean
never exits 0."""

RANDOM_WEIGHTS = "random weights"
"""The ``weights`` of a run whose model was built with random weights (GPU benches): its speed,
memory and power are real, its outputs are not, so it is never quality evidence."""

EVIDENCE_STATUSES = ("completed", "interrupted")
"""The statuses of runs the decision may use as evidence: never a failed or degraded run."""

MAX_ERROR_RATE = 0.05
"""Default share of failed requests (or errored items) above which a run or a load point is
``degraded``: a failure is never a measurement, and many of them mean the rest measured a
broken endpoint."""


def run_status(n_ok: int, n_failed: int, *, max_error_rate: float = MAX_ERROR_RATE,
               ended: str = "completed") -> str:
    """The status of a run that ``ended`` ("completed" or "interrupted") with ``n_ok``
    successful and ``n_failed`` failed requests: "degraded" when
    n_failed / (n_ok + n_failed) > max_error_rate, else ``ended``."""
    total = n_ok + n_failed
    return "degraded" if total and n_failed / total > max_error_rate else ended


@dataclass(frozen=True)
class Column:
    name: str
    dtype: str  # "str", "int", "float", "bool", "list[float]", "dict", "datetime"
    unit: str  # "" when dimensionless
    description: str
    required: bool = True  # False: may be missing/None in a row


def _cols(*cols: Column) -> dict[str, Column]:
    return {c.name: c for c in cols}


RUNS = _cols(
    Column("run_id", "str", "", "Unique id of the run; also the run directory's name."),
    Column("schema_version", "int", "", "Version of this schema the run was written under (SCHEMA_VERSION).",
           required=False),
    Column("kind", "str", "", "What the run did: 'load', 'quality', 'gpu-load', 'finetune', ... (RUN_KINDS)."),
    Column("status", "str", "", "'running', 'completed', 'degraded', 'interrupted' or 'failed' "
           "(schema.RUN_STATUSES)."),
    Column("provenance", "str", "", "'measured' for runs of this workbench; 'measured (imported: <tool> "
           "<version>, <file>, sha256 <hash>…)' for runs read from another tool's file (results.importers)."),
    Column("target", "str", "", "Name of the target measured."),
    Column("engine", "str", "", "Engine kind: 'vllm', 'llamacpp', 'transformers', 'external'."),
    Column("engine_version", "str", "", "Engine package version, when known.", required=False),
    Column("model", "str", "", "Model name as served."),
    Column("weights", "str", "", "Where the weights came from ('real', 'random weights').", required=False),
    Column("dtype", "str", "", "Weight dtype / quantization as served (e.g. float32, Q4_1, bf16).", required=False),
    Column("hardware", "str", "", "Accelerator or CPU model the engine ran on."),
    Column("hardware_count", "int", "", "Number of accelerators (or CPU cores used by the engine).", required=False),
    Column("deployment", "dict", "", "What it ran on, as its target declared it: kind, instance, accelerator, "
           "count, dtype, quantization, engine, provider, price_entry (targets.Deployment). The decision "
           "prices a measured run from this and the catalog.", required=False),
    Column("workload", "str", "", "Workload name, when the run used one.", required=False),
    Column("started_at", "datetime", "UTC", "Wall-clock start of the run."),
    Column("ended_at", "datetime", "UTC", "Wall-clock end of the run.", required=False),
    Column("workbench_version", "str", "", "Version of this package."),
    Column("git_commit", "str", "", "Commit of the workbench checkout, when known.", required=False),
    Column("host", "dict", "", "Machine facts: cpu_model, cpu_count, mem_gib, gpus (name, mem_gib, driver)."),
    Column("params", "dict", "", "Parameters of the run (profile, limits, seed, ...). Never secrets."),
    Column("summary", "dict", "", "Headline figures written at the end of the run.", required=False),
    Column("run_dir", "str", "", "Directory the run was read from (added on load)."),
)

REQUESTS = _cols(
    Column("run_id", "str", "", "Run the request belongs to."),
    Column("request_id", "int", "", "Index of the request within the run."),
    Column("phase", "str", "", "'warmup' (excluded from statistics) or 'measure'."),
    Column("load_point", "str", "", "Label of the sweep step, e.g. 'concurrency=8' or 'rate=2.0'."),
    Column("concurrency", "int", "requests", "Concurrency cap in force (0 = none).", required=False),
    Column("request_rate", "float", "requests/s", "Target arrival rate (inf = closed loop).", required=False),
    Column("endpoint", "str", "", "'chat', 'completions' or 'embeddings'."),
    Column("item_id", "str", "", "Workload item the prompt came from, when any.", required=False),
    Column("scheduled_s", "float", "s", "When the request was due, from the run's clock origin."),
    Column("sent_s", "float", "s", "When the request was sent, from the run's clock origin."),
    Column("chunk_times_s", "list[float]", "s", "Arrival of every content chunk, from send (bytes in, before JSON parsing)."),
    Column("ttft_ms", "float", "ms", "Send to first content chunk.", required=False),
    Column("e2el_ms", "float", "ms", "Send to last content chunk.", required=False),
    Column("prompt_tokens", "int", "tokens", "Prompt tokens (server usage when present).", required=False),
    Column("output_tokens", "int", "tokens", "Output tokens (see token_source).", required=False),
    Column("token_source", "str", "", "'usage', 'timings', 'chunks' (fallback: one token per content chunk), 'imported' "
           "(counted by the tool whose result file was imported) or 'none'."),
    Column("max_tokens", "int", "tokens", "max_tokens asked for.", required=False),
    Column("forced_length", "bool", "", "True when the output length was forced (ignore_eos/min_tokens)."),
    Column("http_status", "int", "", "HTTP status (0 when no response arrived).", required=False),
    Column("error", "str", "", "Error text, empty when the request succeeded.", required=False),
    Column("ok", "bool", "", "True when the request completed without error."),
    Column("attempt", "int", "", "0 for the first send; 1, 2, ... for retries of the same request_id "
           "(targets with `retries`).", required=False),
)

SAMPLES = _cols(
    Column("run_id", "str", "", "Run the sample belongs to."),
    Column("t_s", "float", "s", "Sample time, on the run's clock."),
    Column("source", "str", "", "'nvml', 'process', 'prometheus' or 'trainer' (finetune runs)."),
    Column("device", "str", "", "GPU index/name, process name, or metrics endpoint."),
    Column("metric", "str", "", "e.g. mem_used_gib, util_pct, power_w, energy_j, cpu_pct, rss_gib, kv_cache_usage_pct."),
    Column("value", "float", "", "Value, in the unit named by the metric's suffix."),
)

ITEMS = _cols(
    Column("run_id", "str", "", "Run the item belongs to."),
    Column("workload", "str", "", "Workload name."),
    Column("item_id", "str", "", "Item id within the workload."),
    Column("output", "str", "", "Raw model output (text, or JSON of the embedding ranking).", required=False),
    Column("parsed_ok", "bool", "", "False when the output could not be parsed (a scored failure)."),
    Column("scores", "dict", "", "Per-item scores by metric name (e.g. {'correct': 1.0})."),
    Column("prompt_tokens", "int", "tokens", "Prompt tokens from the server's usage.", required=False),
    Column("output_tokens", "int", "tokens", "Output tokens from the server's usage.", required=False),
    Column("latency_ms", "float", "ms", "Request latency.", required=False),
    Column("error", "str", "", "Error text, empty when the request succeeded.", required=False),
)

@dataclass(frozen=True)
class RunParams:
    """The run parameters (``params`` in run.json) that later stages read, typed. A run's
    ``params`` holds more (for people); these are the contract between measure and the rest."""

    input_tokens: int | None = None
    """Synthetic prompt length asked for (load runs without a workload)."""
    seed: int | None = None
    content: str | None = None
    """What the prompts were: "synthetic" or "workload <name>"."""
    slo: dict | None = None
    max_error_rate: float | None = None
    layers: int | None = None
    """GPU runs: the layers built, when fewer than the architecture's (to fit the GPU)."""
    full_layers: int | None = None
    model_config: dict | None = None
    """GPU runs: the HF config of the random-weight model (the roofline bound is computed from it)."""
    offline_prompts: int | None = None
    """GPU offline-ceiling runs: prompts generated in one batch."""
    adapter: str | None = None
    """Runs measured against a fine-tuned adapter: its folder, ``data/results/<finetune-run>/adapter/best``."""

    @classmethod
    def of(cls, params) -> RunParams:
        """From a run's ``params`` dict (missing keys: None; other keys ignored)."""
        p = params if isinstance(params, dict) else {}
        return cls(**{f.name: p.get(f.name) for f in fields(cls)})

    @property
    def partial_model(self) -> bool:
        """True when the run measured fewer layers than the architecture has."""
        return bool(self.layers and self.full_layers and self.layers < self.full_layers)

    @property
    def prompts_key(self) -> str:
        """Names the prompts a load run sent (same key: same synthetic prompts)."""
        return "|".join(str(v) for v in (self.input_tokens, self.seed, self.content))


@dataclass(frozen=True)
class FinetuneSummary:
    """The summary of a ``finetune`` run (run.json ``summary``): what was trained, on what, and
    what it cost here. Times and memory are measured on the machine in the run's ``host``."""

    base: str
    method: str
    """'lora' (an adapter) or 'full' (every weight)."""
    data_hash: str
    """sha256 of the prompt spec and the train and dev items (same hash: same data)."""
    steps: int
    tokens_seen: int
    """Training tokens processed (prompt and answer, no padding), summed over steps."""
    wall_s: float
    cpu_s: float
    """Process CPU time (all threads) of loading and training."""
    peak_mem_gib: float
    """Peak resident memory of the process (CPU), or peak GPU memory allocated by torch."""
    final_train_loss: float
    dev_metric: str
    best_dev_value: float
    best_step: int
    dev_curve: list
    """[step, dev value] at each evaluation."""
    stopped: str
    """Why training ended: max_steps, early stop, time budget or interrupted."""
    adapter: str
    """Folder of the saved weights with the best dev value (an adapter for method lora)."""
    trainable_parameters: int
    notes: list = field(default_factory=list)
    """Provenance added later (the command that made the run, the machine's load)."""


TABLES: dict[str, dict[str, Column]] = {
    "runs": RUNS,
    "requests": REQUESTS,
    "samples": SAMPLES,
    "items": ITEMS,
}


@dataclass(frozen=True)
class Metric:
    """How a metric is shown: one table feeds axis titles, widget labels and table headers."""

    name: str
    label: str
    unit: str
    lower_is_better: bool

    @property
    def title(self) -> str:
        return f"{self.label} ({self.unit})" if self.unit else self.label


METRICS: dict[str, Metric] = {
    m.name: m
    for m in (
        Metric("ttft_ms", "Time to first token", "ms", True),
        Metric("tpot_ms", "Time per output token", "ms", True),
        Metric("itl_ms", "Inter-chunk latency", "ms", True),
        Metric("e2el_ms", "End-to-end latency", "ms", True),
        Metric("request_throughput", "Request throughput", "requests/s", False),
        Metric("output_tokens_per_s", "Output token throughput", "tokens/s", False),
        Metric("total_tokens_per_s", "Total token throughput", "tokens/s", False),
        Metric("goodput", "Goodput", "requests/s", False),
        Metric("mem_used_gib", "Accelerator memory used", "GiB", True),
        Metric("power_w", "Power", "W", True),
        Metric("energy_j_per_token", "Energy per output token", "J/token", True),
        Metric("usd_per_month", "Monthly cost", "USD/month", True),
        Metric("usd_per_request", "Cost per request", "USD", True),
        Metric("usd_per_mtok", "Cost per million output tokens", "USD/Mtok", True),
        Metric("requests_per_month", "Volume", "requests/month", False),
    )
}


class SchemaError(WorkbenchError, ValueError):
    pass


def check_frame(df, table: str) -> None:
    """Raise SchemaError if ``df`` lacks a column of ``table`` or has one the schema does not name."""
    cols = TABLES[table]
    missing = [c for c in cols if c not in df.columns]
    extra = [c for c in df.columns if c not in cols]
    if missing or extra:
        raise SchemaError(f"{table}: missing columns {missing}, unexpected columns {extra}")
    for name, col in cols.items():
        if col.required and len(df) and df[name].isna().any():
            raise SchemaError(f"{table}.{name} is required but has missing values")


def describe(table: str) -> str:
    """A Markdown table of a table's columns: name, unit, meaning."""
    lines = ["| column | unit | meaning |", "|---|---|---|"]
    for c in TABLES[table].values():
        lines.append(f"| `{c.name}` | {c.unit} | {c.description} |")
    return "\n".join(lines)
