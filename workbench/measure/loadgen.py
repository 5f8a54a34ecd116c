"""Load generation: what a load run sends and when: load profiles, arrival schedules, synthetic
request content, and the one-request probe of what a server accepts.

Pure apart from :func:`probe_capabilities` (one request through a :class:`Client`). The requests
of a workload's items are :func:`workload_requests` (and :func:`corpus_requests` for retrieval). The
measuring loop and the run it writes are in :mod:`workbench.measure.harness`, which re-exports these
names.

Profiles (``profile=``), options after ``;``:

* ``concurrency=1,2,4,8`` — closed loop: N workers, each sends its next request when the
  previous one finished.
* ``rate=2,4;arrival=poisson|constant|gamma;burstiness=1.0;cap=16`` — open loop: arrivals at
  the given requests/s, precomputed from the seed (gamma gaps with shape = burstiness, scale =
  1/(rate·burstiness); burstiness 1 = Poisson); ``cap`` limits requests in flight.

Same seed → same schedule and same prompts.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

import numpy as np

from ..errors import WorkbenchError
from ..serving.client import Client, Request

ARRIVALS = ("constant", "poisson", "gamma")
DEFAULT_INPUT_TOKENS = 128


class HarnessError(WorkbenchError, ValueError):
    """A load run that cannot be made: a bad profile, parameter or endpoint (named in the message)."""


@dataclass(frozen=True)
class LoadPoint:
    label: str  # "concurrency=4" / "rate=2"
    concurrency: int  # cap on requests in flight; 0 = none
    request_rate: float  # requests/s; inf = closed loop
    arrival: str = "poisson"
    burstiness: float = 1.0


# ------------------------------------------------------------------ profile and schedule (pure)
def parse_profile(profile: str) -> list[LoadPoint]:
    """``"concurrency=1,2,4"`` or ``"rate=2,4;arrival=gamma;burstiness=0.5;cap=8"`` → load points."""
    head, *opts = [p.strip() for p in str(profile).split(";") if p.strip()]
    kind, _, values = head.partition("=")
    options: dict[str, str] = {}
    for o in opts:
        k, _, v = o.partition("=")
        if k not in ("arrival", "burstiness", "cap"):
            raise HarnessError(f"profile {profile!r}: unknown option {k!r} (arrival, burstiness, cap)")
        options[k] = v
    try:
        nums = [float(v) for v in values.split(",") if v.strip()]
        cap = int(options.get("cap", 0))
        burstiness = float(options.get("burstiness", 1.0))
    except ValueError:
        raise HarnessError(f"profile {profile!r}: values must be numbers") from None
    arrival = options.get("arrival", "poisson")
    if kind not in ("concurrency", "rate") or not nums or any(n <= 0 for n in nums):
        raise HarnessError(f"profile {profile!r}: expected 'concurrency=1,2,4' or 'rate=2,4[;arrival=...]' "
                           "with positive numbers")
    if arrival not in ARRIVALS or burstiness <= 0:
        raise HarnessError(f"profile {profile!r}: arrival must be one of {ARRIVALS} and burstiness > 0")
    if kind == "concurrency":
        return [LoadPoint(f"concurrency={int(n)}", int(n), math.inf) for n in nums]
    return [LoadPoint(f"rate={n:g}", cap, n, arrival, burstiness) for n in nums]


def arrival_times_s(n: int, rate: float, arrival: str = "poisson", burstiness: float = 1.0,
                    seed: int = 0) -> np.ndarray:
    """Offsets (s) of ``n`` arrivals at ``rate`` requests/s, first at 0. constant: i/rate;
    poisson: exponential gaps of mean 1/rate; gamma: gaps ~ Gamma(shape=burstiness,
    scale=1/(rate·burstiness)) (mean 1/rate; burstiness < 1 is burstier). inf rate: all 0."""
    if n <= 0:
        return np.zeros(0)
    if math.isinf(rate):
        return np.zeros(n)
    if arrival == "constant":
        return np.arange(n) / rate
    shape = 1.0 if arrival == "poisson" else burstiness
    gaps = np.random.default_rng(seed).gamma(shape, 1.0 / (rate * shape), size=n - 1)
    return np.concatenate([[0.0], np.cumsum(gaps)])


_WORDS = ["time", "year", "people", "way", "day", "man", "thing", "woman", "life", "child", "world", "school", "state", "family", "student", "group", "country", "problem", "hand", "part", "place", "case", "week", "company", "system", "program", "question", "work", "government", "number", "night", "point", "home", "water", "room", "mother", "area", "money", "story", "fact", "month", "lot", "right", "study", "book", "eye", "job", "word", "business", "issue", "side", "kind", "head", "house", "service", "friend", "father", "power", "hour", "game", "line", "end", "member", "law", "car", "city", "community", "name", "president", "team", "minute", "idea"]


def synthetic_requests(n: int, input_tokens: int, seed: int = 0) -> list[Request]:
    """``n`` distinct chat requests of about ``input_tokens`` prompt tokens (common English words,
    about one token each; the server's usage records the true count)."""
    rng = random.Random(seed)
    out = []
    for i in range(n):
        words = " ".join(rng.choice(_WORDS) for _ in range(max(1, input_tokens - 12)))
        text = f"Request {i}. Continue this list of words: {words}"
        out.append(Request("chat", {"messages": [{"role": "user", "content": text}]}, item_id=f"synthetic-{i}"))
    return out


def workload_requests(wl, limit: int | None = None, seed: int = 0, split: str | None = None) -> list[Request]:
    """One request per selected item of workload ``wl`` (``Workload.selected``: of ``split``,
    all items for None), temperature 0:
    a chat completion, or for a retrieval workload one embeddings request per query (the
    corpus is :func:`corpus_requests`)."""
    out = []
    for it in wl.selected(limit, seed, split):
        if wl.task == "retrieval":
            text = wl.spec["prompt"]["query"].format(**it)
            out.append(Request("embeddings", {"input": [text]}, item_id=it["id"]))
        else:
            body = {"messages": wl.messages(it), "max_tokens": wl.max_tokens, "temperature": 0}
            out.append(Request("chat", body, item_id=it["id"]))
    return out


def corpus_requests(wl, batch: int = 1) -> list[Request]:
    """Embeddings requests for a retrieval workload's corpus, ``batch`` passages each (item_id =
    first id). One per request by default: llama-cpp-python mixed up per-token vectors of
    batched inputs."""
    tpl = wl.spec["prompt"].get("passage", "{text}")
    texts = [tpl.format(**p) for p in wl.corpus]
    return [Request("embeddings", {"input": texts[i:i + batch]}, item_id=wl.corpus[i]["id"])
            for i in range(0, len(texts), batch)]


async def probe_capabilities(client: Client) -> dict[str, bool]:
    """Ask the server once whether it accepts ``ignore_eos``/``min_tokens`` and streams usage:
    a 4-token request with both fields; accepted and 4 tokens counted → both taken as working."""
    probe = Request("chat", {"messages": [{"role": "user", "content": "Say hello."}]})
    saved = client.capabilities
    client.capabilities = {"ignore_eos": True, "min_tokens": True}
    try:
        r = await client.send(probe, force_output_tokens=4)
    finally:
        client.capabilities = saved
    forcing = r.ok and r.token_source == "usage" and r.output_tokens == 4
    return {"ignore_eos": forcing, "min_tokens": forcing, "stream_usage": r.ok and r.token_source == "usage"}
