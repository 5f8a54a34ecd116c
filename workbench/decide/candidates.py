"""What to measure next: the options that would be cheaper if they met a workload's floors, the
saving at stake for each, and the exact command that measures it.

- :func:`candidates` (called by :func:`workbench.decide.decision.decide`): every option that passes
  the privacy and latency gates but has no measurement on this workload (an API known only by its
  published scores, a projected open model, an option whose quality is only assumed). The
  reference is the verified choice; with none yet, the *strongest candidate* (best indicative
  evidence, the dearer on a tie), whose measurement would verify a choice. Each candidate cheaper
  than the reference carries its saving at stake (reference − its cost, USD/month at the expected
  volume) and the quality it must reach (the workload's floors). Frontier APIs with no
  measurement here are candidates: never silently feasible, never silently dropped.
- :func:`indicative_rank`: what the indicative evidence says of an option's chances — where its
  best published or related-task score ranks among the options scored on the same benchmark
  (0 lowest … 1 highest; 0.5 when alone on its benchmark; none without indicative evidence).
  A rank, not a probability.
- :func:`measure_next`: the candidates ranked — the strongest candidate first, then by saving at
  stake × rank, then those with no indicative evidence by saving — each with the command ``workbench evaluate --target … --workload …``, what it
  needs first (an API key's environment variable, a target entry, a served model) and, where
  no target exists yet, the targets.yaml entry to add. With no candidate at all (privacy and
  latency exclude every option), one row says to serve a model that can pass them.

Provider endpoints in :data:`PROVIDER_ACCESS` are each vendor's OpenAI-compatible base URL and
the key variable LiteLLM and the vendors' SDKs read. Read on 2026-11-30 in the vendors' own
OpenAI-compatibility pages (Anthropic ``docs.anthropic.com/…/api/openai-sdk``, Google
``ai.google.dev/gemini-api/docs/openai``, Groq ``console.groq.com/docs/openai``, DeepInfra
``deepinfra.com/docs/advanced/openai_api``, Together ``docs.together.ai/docs/inference/openai-compatibility``,
which now names ``api.together.ai``); Mistral's and OpenAI's from their API references. Not
reachable from here, so not checked by a request.
"""

from __future__ import annotations

import re

ALONE_RANK = 0.5
STRONGEST = "strongest candidate: measuring it can verify a choice"
CHEAPER = "cheaper if it meets the floors"
MEASURE_NEXT_LIMIT = 3

PROVIDER_ACCESS = {
    "openai": ("OPENAI_API_KEY", "https://api.openai.com/v1"),
    "anthropic": ("ANTHROPIC_API_KEY", "https://api.anthropic.com/v1/"),
    "gemini": ("GEMINI_API_KEY", "https://generativelanguage.googleapis.com/v1beta/openai/"),
    "groq": ("GROQ_API_KEY", "https://api.groq.com/openai/v1"),
    "mistral": ("MISTRAL_API_KEY", "https://api.mistral.ai/v1"),
    "deepinfra": ("DEEPINFRA_API_KEY", "https://api.deepinfra.com/v1/openai"),
    "together_ai": ("TOGETHER_API_KEY", "https://api.together.ai/v1"),
}
"""provider (LiteLLM's name, the catalog's ``litellm_provider``) → (key variable, base URL)."""

NO_CANDIDATE = "no option in the catalog passes privacy and latency: serve one that can"
NO_CANDIDATE_NEEDS = "serve a model on your own hardware; add it to ./targets.yaml as YOUR-TARGET"
NO_CANDIDATE_YAML = ("{name: YOUR-TARGET, engine: external, base_url: http://HOST:8000/v1, model: MODEL, "
                     "deployment: {kind: self-hosted, instance: INSTANCE}}")

COLUMNS = ["option", "kind", "role", "usd_per_month", "saving_usd_per_month", "must_reach", "evidence",
           "indicative", "indicative_rank", "expected_saving_usd_per_month"]


def must_reach(floors: dict) -> str:
    """The floors in words: "field_f1 ≥ 0.9, json_valid ≥ 0.98"."""
    return ", ".join(f"{m} ≥ {v:g}" for m, v in floors.items())


def indicative_rank(table):
    """Per row of a decision table, the rank of its best indicative score among the rows with a
    score on the same benchmark (0 … 1; :data:`ALONE_RANK` when alone or all equal; NaN without one)."""
    import pandas as pd

    score = pd.to_numeric(table["indicative_score"], errors="coerce")
    rank = pd.Series(float("nan"), index=table.index, dtype=float)
    scored = score.notna()
    for _, idx in table[scored].groupby("indicative_benchmark").groups.items():
        s = score.loc[idx]
        rank.loc[idx] = ALONE_RANK
        if s.nunique() > 1:
            rank.loc[idx] = (s.rank(method="average") - 1) / (len(s) - 1)
    return rank


def candidates(table, verified_choice: str | None, floors: dict):
    """The candidates of one decision ``table`` (see the module doc), cheapest first."""
    import pandas as pd

    rank = indicative_rank(table)
    viable = table[table.latency_ok.astype(bool) & table.privacy_ok.astype(bool)
                   & (table.evidence != "measured") & (table.kind != "routed")]
    viable = viable.assign(indicative_rank=rank.loc[viable.index])
    if not len(viable):
        return pd.DataFrame(columns=COLUMNS)
    if verified_choice is not None:
        ref = float(table.set_index("option").loc[verified_choice, "usd_per_month"])
        out = viable[viable.usd_per_month < ref].assign(role=CHEAPER)
    else:
        strongest = viable.sort_values(["indicative_rank", "usd_per_month"], ascending=False,
                                       na_position="last").iloc[0]
        ref = float(strongest.usd_per_month)
        out = viable[(viable.usd_per_month < ref) | (viable.option == strongest.option)]
        out = out.assign(role=[STRONGEST if o == strongest.option else CHEAPER for o in out.option])
    out = out.assign(saving_usd_per_month=ref - out.usd_per_month, must_reach=must_reach(floors))
    out = out.assign(expected_saving_usd_per_month=out.saving_usd_per_month * out.indicative_rank)
    return out.sort_values("usd_per_month")[COLUMNS].reset_index(drop=True)


# ----------------------------------------------------------------------------- measure next
def _slug(name: str) -> str:
    return re.sub(r"[^a-z0-9.]+", "-", str(name).lower().split("/")[-1]).strip("-")


def command_for(option: str, kind: str, source: dict, workload: str, *, targets: dict, catalog) -> dict:
    """``{"target", "command", "needs", "target_yaml"}`` that measure ``option`` on ``workload``.
    ``source``: what the option stands for (``options.Options.sources``: targets, models);
    ``targets``: the known targets by name (``inputs.targets.load_targets``)."""
    if source.get("targets") and source["targets"][0] in targets:
        name = source["targets"][0]
        return _command(name, workload, _key_needs(targets.get(name)), "")
    model = (source.get("models") or [option])[0]
    if kind == "api":
        known = [t for t in targets.values() if model in (t.model, t.deployment.price_entry)]
        if known:
            return _command(known[0].name, workload, _key_needs(known[0]), "")
        provider = str(catalog.api(model).get("litellm_provider") or "")
        env, url = PROVIDER_ACCESS.get(provider, (f"{provider.upper() or 'PROVIDER'}_API_KEY", "https://HOST/v1"))
        name = _slug(model)
        yaml = (f"{{name: {name}, engine: external, base_url: {url}, model: {model.split('/', 1)[-1]}, "
                f"api_key_env: {env}, strict: true, deployment: {{kind: api, provider: {provider}, price_entry: {model}}}}}")
        return _command(name, workload, f"set ${env}; add its targets.yaml entry (in the measure-next table)", yaml)
    proxy = (source.get("models") or [model, model])[-1]
    instance = option.split(" · ")[-1].split(" [")[0]
    name = _slug(f"{model}-vllm")
    yaml = (f"{{name: {name}, engine: external, base_url: http://HOST:8000/v1, model: {proxy}, "
            f"deployment: {{kind: self-hosted, instance: {instance}, engine: vllm}}}}")
    return _command(name, workload, f"serve {proxy} (vLLM) on {instance}; add its targets.yaml entry (in the measure-next table)", yaml)


def _key_needs(target) -> str:
    return f"set ${target.api_key_env}" if target is not None and target.api_key_env else ""


def _command(target: str, workload: str, needs: str, yaml: str) -> dict:
    return {"target": target, "command": f"workbench evaluate --target {target} --workload {workload}",
            "needs": needs, "target_yaml": yaml}


def measure_next(cands, sources: dict, workload: str, *, targets: dict, catalog, limit: int = MEASURE_NEXT_LIMIT):
    """The first ``limit`` candidates ranked (strongest candidate first, then by expected saving
    = saving at stake × indicative rank, then saving), each with its command (:func:`command_for`)."""
    import pandas as pd

    if cands is None or not len(cands):
        return pd.DataFrame([{**dict.fromkeys(COLUMNS), "option": NO_CANDIDATE, "role": NO_CANDIDATE,
                              **_command("YOUR-TARGET", workload, NO_CANDIDATE_NEEDS, NO_CANDIDATE_YAML)}])
    ranked = cands.assign(_first=cands.role == STRONGEST).sort_values(
        ["_first", "expected_saving_usd_per_month", "saving_usd_per_month"], ascending=False,
        na_position="last").head(limit)
    rows = [{**r._asdict(), **command_for(r.option, r.kind, sources.get(r.option, {}), workload,
                                          targets=targets, catalog=catalog)}
            for r in ranked[COLUMNS].itertuples(index=False)]
    return pd.DataFrame(rows)
