"""Cost model: hand-worked figures, properties over random inputs, and clear errors."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from workbench.cost import breakeven, cost
from workbench.cost.cost import CostError, Option
from workbench.errors import WorkbenchError
from workbench.inputs.catalog import load_catalog

MONTH_S = 730 * 3600  # 2,628,000 s


@pytest.fixture(scope="module")
def cat():
    return load_catalog(overrides_dir=None)


# --- hand-worked checks -------------------------------------------------------------------

def test_one_g5_xlarge_all_month(cat):
    usd_per_hour = cat.instance("g5.xlarge")["usd_per_hour"]
    assert usd_per_hour == 1.006
    # 730 h x $1.006 = $734.38, whatever the (small) volume
    assert cost.self_hosted_usd_per_month(0, capacity_rps=1.0, usd_per_hour=usd_per_hour) == pytest.approx(734.38)
    assert cost.self_hosted_usd_per_month(1e6, capacity_rps=1.0, usd_per_hour=1.006) == pytest.approx(734.38)


def test_gpt_4o_mini_per_request(cat):
    p = cat.api("gpt-4o-mini")
    usd = cost.api_usd_per_request(1000, 200, input_usd_per_token=p["input_cost_per_token"],
                                   output_usd_per_token=p["output_cost_per_token"])
    # 1000 x $0.15/M + 200 x $0.60/M = $0.00015 + $0.00012
    assert usd == pytest.approx(0.00027)
    assert cost.api_option(p, input_tokens=1000, output_tokens=200).usd_per_request == pytest.approx(0.00027)


def test_break_even_g5_vs_gpt_4o_mini(cat):
    api = cost.api_option(cat.api("gpt-4o-mini"), input_tokens=1000, output_tokens=200)
    # capacity 1.2 req/s: one replica serves up to 1.2 x 2,628,000 = 3.15 M requests/month
    g5 = cost.self_hosted_option(cat.instance("g5.xlarge"), capacity_rps=1.2, capacity_provenance="assumed")
    be = breakeven.break_even_requests_per_month(api, g5)
    assert be == pytest.approx(734.38 / 0.00027)  # 2,719,926
    assert round(be / 1e6, 2) == 2.72
    assert be / MONTH_S == pytest.approx(1.035, abs=1e-3)  # requests/s on average


def test_step_where_peak_load_needs_a_second_replica():
    g5 = Option("g5", "self-hosted", capacity_rps=1.0, usd_per_hour=1.006)
    step = 1.0 * MONTH_S  # 2,628,000 requests/month fill one replica
    v = np.array([step * 0.5, step, step * 1.0001, step * 2, step * 2.0001])
    assert list(g5.replicas(v)) == [1, 1, 2, 2, 3]
    assert list(g5.usd_per_month(v)) == pytest.approx([734.38, 734.38, 1468.76, 1468.76, 2203.14])
    # a peak factor of 2 halves the volume one replica covers
    assert cost.replicas_needed(step, capacity_rps=1.0, peak_factor=2.0) == 2
    # against GPT-4o-mini at $0.00027 with 1.2 req/s per replica (3,153,600 requests/month):
    # self-hosted wins from 2.72 M, loses again just past the step (2 replicas = $1468.76 >
    # 3.15 M x $0.00027 = $851.47), and wins again from 1468.76 / 0.00027 = 5.44 M
    api = Option("mini", "api", usd_per_request=0.00027)
    g5 = Option("g5", "self-hosted", capacity_rps=1.2, usd_per_hour=1.006)
    found = breakeven.crossings_requests_per_month(api, g5, max_requests_per_month=6e6)
    assert found == pytest.approx([734.38 / 0.00027, 1.2 * MONTH_S, 1468.76 / 0.00027])
    flips = breakeven.flip_volumes_exact([api, g5], max_requests_per_month=6e6)
    assert [(f, t) for _, f, t in flips] == [("mini", "g5"), ("g5", "mini"), ("mini", "g5")]


def test_api_cached_and_batch():
    kw = {"input_usd_per_token": 2.5e-6, "output_usd_per_token": 1e-5}
    # 400 of 1000 input tokens cached at $1.25/M: 600 x 2.5e-6 + 400 x 1.25e-6 + 200 x 1e-5
    assert cost.api_usd_per_request(1000, 200, cached_input_tokens=400, cached_input_usd_per_token=1.25e-6,
                                    **kw) == pytest.approx(0.0015 + 0.0005 + 0.002)
    assert cost.api_usd_per_request(1000, 200, batch=True, **kw) == pytest.approx(0.0045 / 2)
    # vectorized over token counts
    assert list(cost.api_usd_per_request(np.array([0, 1000]), 0, **kw)) == pytest.approx([0, 0.0025])


def test_api_option_uses_catalog_batch_and_cache_prices(cat):
    p = cat.api("gpt-4o")
    batch = cost.api_option(p, input_tokens=1000, output_tokens=200, batch=True)
    assert batch.usd_per_request == pytest.approx(1000 * 1.25e-6 + 200 * 5e-6)
    cached = cost.api_option(p, input_tokens=1000, output_tokens=0, cached_input_tokens=1000)
    assert cached.usd_per_request == pytest.approx(1000 * 1.25e-6)
    assert "published" in batch.provenance["usd_per_token"]


def test_effective_per_request_and_per_mtok_include_idle_capacity():
    g5 = Option("g5", "self-hosted", capacity_rps=2.0, usd_per_hour=1.006, tokens_per_request=1200)
    curves = cost.monthly_cost_curves([g5], [1e5, 1e6])
    # $734.38 / 100,000 requests = $0.0073438 per request = $6.12 per Mtok at 1,200 tokens
    assert list(curves.usd_per_request) == pytest.approx([0.0073438, 0.00073438])
    assert list(curves.usd_per_mtok) == pytest.approx([0.0073438 / 1200 * 1e6, 0.00073438 / 1200 * 1e6])
    assert cost.usd_per_mtok_at_full_load(1.006, 336) == pytest.approx(1.006 / (3600 * 336) * 1e6)  # ~$0.83
    assert cost.usd_per_request_at_volume(734.38, 0) == math.inf


def test_monthly_curves_are_tidy_with_provenance(cat):
    api = cost.api_option(cat.api("gpt-4o-mini"), input_tokens=1000, output_tokens=200)
    cpu = cost.self_hosted_option(cat.instance("local-cpu"), capacity_rps=0.5,
                                  capacity_provenance="measured (run r1)", min_replicas=2,
                                  fixed_usd_per_month=100.0)
    df = cost.monthly_cost_curves([api, cpu], [0, 1e6, 3e6])
    assert list(df.columns) == ["option", "kind", "requests_per_month", "usd_per_month", "replicas",
                                "usd_per_request", "usd_per_mtok", "provenance"]
    assert len(df) == 6
    c = df[df.option == cpu.name]
    # 3e6 requests/month = 1.14 req/s: ceil(1.14 / 0.5) = 3 replicas of $0.08925/h, + $100
    assert list(c.replicas) == [2, 2, 3]
    assert c.usd_per_month.iloc[2] == pytest.approx(3 * 0.08925 * 730 + 100)
    assert df[df.option == api.name].replicas.isna().all()
    assert "measured (run r1)" in c.provenance.iloc[0]
    assert "assumed" in c.provenance.iloc[0]  # local-cpu price is an assumption


def test_energy_and_blended():
    # 0.5 J/token at $0.15/kWh: 0.5 / 3.6e6 x 0.15
    assert cost.energy_usd_per_token(0.5, 0.15) == pytest.approx(2.0833e-8, rel=1e-4)
    assert cost.blended_usd_per_mtok(0.15, 0.60) == pytest.approx(0.2625)
    assert cost.blended_usd_per_mtok(5.0, 15.0) == pytest.approx(7.5)
    sh = Option("s", "self-hosted", capacity_rps=1.0, usd_per_hour=1.0, variable_usd_per_request=1e-4)
    assert sh.usd_per_month(1e6) == pytest.approx(730 + 100)


def test_flip_volumes_on_a_grid_interpolates_linear_crossings():
    v = np.linspace(0, 4e6, 41)
    costs = {"api": v * 0.00027, "flat": np.full_like(v, 734.38)}
    [(vol, a, b)] = breakeven.flip_volumes(v, costs)
    assert (a, b) == ("api", "flat") and vol == pytest.approx(734.38 / 0.00027)
    assert breakeven.flip_volumes(v, {"api": v * 0.00027}) == []
    with pytest.raises(CostError, match="strictly increasing"):
        breakeven.flip_volumes(v[::-1], costs)


# --- capacity from a measured sweep --------------------------------------------------------

SWEEP = pd.DataFrame({
    "concurrency": [1, 2, 4, 8],
    "request_throughput": [0.5, 0.9, 1.6, 2.0],
    "p90_ttft_ms": [100.0, 150.0, 300.0, 900.0],
    "p99_ttft_ms": [150.0, 250.0, 700.0, 1500.0],
    "p90_tpot_ms": [20.0, 25.0, 35.0, 60.0],
    "error_rate": [0.0, 0.0, 0.0, 0.0],
})


def _sweep(p90_ttfts, errors=None):
    return pd.DataFrame([
        {"concurrency": c, "request_rate": math.inf, "completed": 10, "error_rate": (errors or {}).get(c, 0.0),
         "p90_ttft_ms": t, "p90_tpot_ms": 10.0, "request_throughput": c * 1.5}
        for c, t in zip([1, 2, 4, 8], p90_ttfts)
    ])


def test_capacity_stops_at_the_first_point_that_misses():
    """p90 TTFT 100, 150, 300, 120 ms at concurrency 1, 2, 4, 8 (1.5 req/s per unit): with a
    200 ms SLO the capacity is that of concurrency 2 (3.0 req/s). Concurrency 8 met the SLO
    again (12.0 req/s), but 4 did not: a noisy sweep does not buy 4x the capacity."""
    s = _sweep([100, 150, 300, 120])
    assert cost.capacity_from_sweep(s, {"ttft_ms": 200}) == pytest.approx(3.0)
    assert cost.capacity_from_sweep(s, {"ttft_ms": 1000}) == pytest.approx(12.0)
    assert cost.capacity_from_sweep(s, {"ttft_ms": 50}) == 0.0
    assert cost.capacity_from_sweep(s, {"tpot_ms": 5}) == 0.0
    # the rows' order does not matter: the walk is by offered load
    assert cost.capacity_from_sweep(s.iloc[::-1], {"ttft_ms": 200}) == pytest.approx(3.0)
    # a point with more than 1 % failed requests misses; 1 % exactly meets
    assert cost.capacity_from_sweep(_sweep([1, 1, 1, 1], errors={4: 0.1}), {"ttft_ms": 200}) == pytest.approx(3.0)
    assert cost.capacity_from_sweep(_sweep([1, 1, 1, 1], errors={4: 0.01}), {"ttft_ms": 200}) == pytest.approx(12.0)
    assert cost.capacity_from_sweep(_sweep([1, 1, 1, 1], errors={4: 0.0101}), {"ttft_ms": 200}) == pytest.approx(3.0)
    # a point where nothing completed is no evidence of capacity
    assert cost.capacity_from_sweep(_sweep([1, 1, 1, 1]).assign(completed=[10, 0, 10, 10]), {}) == pytest.approx(1.5)


def test_capacity_on_a_rate_sweep_walks_by_rate():
    s = pd.DataFrame([{"concurrency": 0, "request_rate": r, "completed": 5, "error_rate": 0.0,
                       "p90_e2el_ms": e, "request_throughput": r * 0.9} for r, e in [(4.0, 900), (1.0, 100), (2.0, 200)]])
    assert cost.capacity_from_sweep(s, {"e2el_ms": 250}) == pytest.approx(1.8)


def test_capacity_from_sweep():
    assert cost.capacity_from_sweep(SWEEP, {"ttft_ms": 500, "tpot_ms": 50}) == 1.6
    assert cost.capacity_from_sweep(SWEEP, {"p99_ttft_ms": 500}) == 0.9
    assert cost.capacity_from_sweep(SWEEP, {"ttft_ms": 50}) == 0.0
    assert cost.capacity_from_sweep(SWEEP, {}) == 2.0
    errs = SWEEP.assign(error_rate=[0.0, 0.0, 0.2, 0.0])
    assert cost.capacity_from_sweep(errs, {"ttft_ms": 500}) == 0.9
    assert cost.capacity_from_sweep(SWEEP.iloc[:0], {"ttft_ms": 500}) == 0.0
    with pytest.raises(CostError, match="'e2el_ms' needs column 'p90_e2el_ms'"):
        cost.capacity_from_sweep(SWEEP, {"e2el_ms": 1000})


# --- errors --------------------------------------------------------------------------------

@pytest.mark.parametrize("call, match", [
    (lambda: cost.api_usd_per_request(1000, 200, input_usd_per_token=-1e-6, output_usd_per_token=1e-6),
     r"input_usd_per_token: must be >= 0, got -1e-06"),
    (lambda: cost.api_usd_per_request(1000, 200, input_usd_per_token=None, output_usd_per_token=1e-6),
     r"input_usd_per_token: missing"),
    (lambda: cost.api_usd_per_request(100, 0, cached_input_tokens=200, input_usd_per_token=1, output_usd_per_token=1),
     r"cached_input_tokens: 200 exceeds input_tokens 100"),
    (lambda: cost.replicas_needed(1e6, capacity_rps=0), r"capacity_rps .*: must be > 0, got 0"),
    (lambda: cost.self_hosted_usd_per_month(-5, capacity_rps=1, usd_per_hour=1), r"requests_per_month: must be >= 0"),
    (lambda: cost.self_hosted_usd_per_month(5, capacity_rps=1, usd_per_hour=float("nan")), r"usd_per_hour: must be finite"),
    (lambda: Option("g5", "self-hosted", capacity_rps=0.0, usd_per_hour=1.0),
     r"option 'g5': capacity_rps .*: must be > 0, got 0.0"),
    (lambda: Option("x", "cloud"), r"option 'x': field 'kind'"),
    (lambda: Option("m", "api"), r"option 'm': usd_per_request: missing"),
    (lambda: Option("g5", "self-hosted", capacity_rps=1, usd_per_hour=1, min_replicas=-1), r"min_replicas"),
])
def test_bad_input_raises_cost_error(call, match):
    with pytest.raises(CostError, match=match):
        call()
    assert issubclass(CostError, WorkbenchError)


def test_missing_price_in_a_catalog_row_names_file_and_field(cat):
    row = dict(cat.instance("g5.xlarge"), usd_per_hour=None)
    with pytest.raises(CostError, match=r"instances.csv: instance 'g5.xlarge' \(on-demand\): field 'usd_per_hour': missing"):
        cost.self_hosted_option(row, capacity_rps=1.0, capacity_provenance="assumed")
    row = dict(cat.api("gpt-4o-mini"), output_cost_per_token=-1.0)
    with pytest.raises(CostError, match=r"apis.csv: API model 'gpt-4o-mini': field 'output_cost_per_token': must be >= 0"):
        cost.api_option(row, input_tokens=1, output_tokens=1)


# --- properties ----------------------------------------------------------------------------

volumes = st.lists(st.floats(0, 5e8, allow_nan=False), min_size=1, max_size=40)
self_hosted = st.builds(
    lambda cap, usd, pf, m, fixed, var: Option("s", "self-hosted", capacity_rps=cap, usd_per_hour=usd,
                                               peak_factor=pf, min_replicas=m, fixed_usd_per_month=fixed,
                                               variable_usd_per_request=var),
    st.floats(0.01, 500), st.floats(0, 100), st.floats(1, 10), st.integers(0, 4),
    st.floats(0, 5000), st.floats(0, 1e-3))
api = st.builds(lambda usd: Option("a", "api", usd_per_request=usd), st.floats(0, 0.05))


@settings(max_examples=200, deadline=None)
@given(self_hosted, volumes)
def test_monthly_cost_never_decreases_with_volume(opt, vols):
    v = np.sort(np.asarray(vols))
    usd = np.atleast_1d(opt.usd_per_month(v))
    assert np.all(np.diff(usd) >= -1e-9 * max(1.0, usd.max()))


@settings(max_examples=200, deadline=None)
@given(self_hosted, volumes)
def test_replicas_at_least_min_and_enough_for_the_peak(opt, vols):
    v = np.asarray(vols)
    reps = np.atleast_1d(opt.replicas(v))
    assert np.all(reps >= opt.min_replicas)
    peak = v / MONTH_S * opt.peak_factor
    assert np.all(reps * opt.capacity_rps >= peak * (1 - 1e-9))
    # and not one more than needed
    assert np.all((reps <= opt.min_replicas) | ((reps - 1) * opt.capacity_rps < peak))


def _cheaper(a: Option, b: Option, v: float) -> int:
    d = float(a.usd_per_month(v)) - float(b.usd_per_month(v))
    return 0 if abs(d) <= 1e-9 * max(1.0, abs(float(a.usd_per_month(v)))) else (1 if d > 0 else -1)


@settings(max_examples=150, deadline=None)
@given(api, self_hosted)
def test_break_even_volumes_are_where_the_curves_cross(a, b):
    vmax = 50 * b.step_requests_per_month
    found = breakeven.crossings_requests_per_month(a, b, max_requests_per_month=vmax)
    assert found == sorted(found)
    for v in found:  # the cheaper option differs just below and just above each crossing
        eps = max(v * 1e-7, 1e-6)
        assert _cheaper(a, b, max(v - eps, 0)) * _cheaper(a, b, v + eps) <= 0
    # between consecutive crossings the order does not change (checked on a grid)
    edges = [0.0, *found, vmax]
    for lo, hi in itertools.pairwise(edges):
        inner = np.linspace(lo, hi, 23)[1:-1]
        signs = {s for s in (_cheaper(a, b, float(x)) for x in inner) if s}
        assert len(signs) <= 1, (lo, hi, signs)
    be = breakeven.break_even_requests_per_month(a, b, max_requests_per_month=vmax)
    assert be == (found[0] if found else None)


# --- the fast paths equal the plain definitions --------------------------------------------

def test_envelope_pairs_skip_lines_that_never_lead():
    # a = $1e-3 v, b = $100 + $5e-4 v, s = $730 (one replica that never fills below 1e7):
    # a -> b at 200,000; b -> s at 1,260,000; a and s cross at 730,000 under b (not a flip)
    a = Option("a", "api", usd_per_request=1e-3)
    b = Option("b", "api", usd_per_request=5e-4, fixed_usd_per_month=100.0)
    s = Option("s", "self-hosted", capacity_rps=1e6, usd_per_hour=1.0)
    assert breakeven._envelope_pairs([a, b, s], 1e7) == [(0, 1), (1, 2)]
    assert breakeven.crossings_requests_per_month(a, s, max_requests_per_month=1e7) == [730_000.0]
    flips = breakeven.flip_volumes_exact([a, b, s], max_requests_per_month=1e7)
    assert [(round(v), f, t) for v, f, t in flips] == [(200_000, "a", "b"), (1_260_000, "b", "s")]


def _random_options(rng: np.random.Generator) -> list[Option]:
    """APIs and self-hosted options with random prices, some sharing capacity and peak factor
    (replica steps at the same volumes), some exact duplicates (ties everywhere)."""
    caps, pfs, out = 10 ** rng.uniform(-1, 2, 3), rng.uniform(1, 4, 2), []
    for i in range(int(rng.integers(2, 14))):
        if rng.random() < 0.45:
            kw = {"name": f"a{i}", "kind": "api", "usd_per_request": float(10 ** rng.uniform(-6, -2)),
                  "fixed_usd_per_month": float(rng.choice([0, 0, rng.uniform(0, 1000)]))}
        else:
            kw = {"name": f"s{i}", "kind": "self-hosted",
                  "capacity_rps": float(rng.choice([rng.choice(caps), 10 ** rng.uniform(-1, 2)])),
                  "usd_per_hour": float(10 ** rng.uniform(-1, 1.5)),
                  "peak_factor": float(rng.choice(pfs)), "min_replicas": int(rng.integers(0, 3)),
                  "fixed_usd_per_month": float(rng.choice([0, 0, rng.uniform(0, 1000)])),
                  "variable_usd_per_request": float(rng.choice([0, 0, 10 ** rng.uniform(-7, -4)]))}
        out.append(Option(**kw))
        if rng.random() < 0.15:
            out.append(Option(**{**kw, "name": kw["name"] + "-copy"}))
    return out


@pytest.mark.parametrize("seed", range(4))
def test_flip_volumes_exact_equals_solving_every_pair(seed):
    """flip_volumes_exact solves only the pairs meeting on the lower envelope; the plain
    definition solves every pair. Same flips, to the last bit, on 100 random option sets."""
    rng = np.random.default_rng(seed)
    flips = 0
    for _ in range(100):
        opts, vmax = _random_options(rng), float(10 ** rng.uniform(5, 9.5))
        every_pair = list(itertools.combinations(range(len(opts)), 2))
        expected = breakeven._flips_among(opts, every_pair, vmax)
        assert breakeven.flip_volumes_exact(opts, max_requests_per_month=vmax) == expected
        flips += len(expected)
    assert flips > 30  # the sets do flip


def test_monthly_cost_arrays_and_curves_equal_each_option_priced_alone():
    rng = np.random.default_rng(7)
    for _ in range(20):
        opts = _random_options(rng)
        vols = np.concatenate([[0.0], np.sort(rng.uniform(0, 1e9, 60))])
        usd, reps = cost.monthly_cost_arrays(opts, vols)
        curves = cost.monthly_cost_curves(opts, vols)
        for i, o in enumerate(opts):
            assert np.array_equal(usd[i], o.usd_per_month(vols))  # bit for bit
            assert np.array_equal(reps[i], o.replicas(vols))
            rows = curves.iloc[i * len(vols):(i + 1) * len(vols)]
            assert (rows.option == o.name).all() and np.array_equal(rows.usd_per_month, usd[i])
            assert rows.replicas.isna().all() if o.kind == "api" else np.array_equal(rows.replicas, reps[i])
            per_req = cost.usd_per_request_at_volume(usd[i], vols)
            assert np.array_equal(rows.usd_per_request, per_req)


def test_a_volume_that_is_a_whole_number_of_replicas_does_not_round_up():
    """3 × 0.1 req/s × 2,628,000 s = 788,400 requests/month is exactly 3 replicas of 0.1 req/s,
    but 788400 / 2628000 / 0.1 = 3.0000000000000004 in floating point: without the tolerance
    it would buy a fourth replica. 7 × 1.2 req/s likewise."""
    assert cost.replicas_needed(3 * 0.1 * cost.SECONDS_PER_MONTH, capacity_rps=0.1) == 3
    assert cost.replicas_needed(7 * 1.2 * cost.SECONDS_PER_MONTH, capacity_rps=1.2) == 7
    assert cost.replicas_needed(7 * 1.2 * cost.SECONDS_PER_MONTH * 1.0001, capacity_rps=1.2) == 8


def test_cost_per_request_at_zero_volume():
    """Nothing served: infinite per request when something is paid, 0 when nothing is (0/0)."""
    assert cost.usd_per_request_at_volume(734.38, 0) == math.inf
    assert cost.usd_per_request_at_volume(0.0, 0) == 0.0
    assert list(cost.usd_per_request_at_volume([0.0, 10.0, 10.0], [0, 0, 5])) == [0.0, math.inf, 2.0]


def _api(**kw):
    return cost.api_usd_per_request(**{"input_tokens": 100, "output_tokens": 10, "input_usd_per_token": 1e-6,
                                       "output_usd_per_token": 2e-6, **kw})


def _self(**kw):
    return cost.self_hosted_usd_per_month(**{"requests_per_month": 1e5, "capacity_rps": 1.0, "usd_per_hour": 1.0,
                                             **kw})


def _opt(**kw):
    return Option(**{"name": "o", "kind": "self-hosted", "capacity_rps": 1.0, "usd_per_hour": 1.0, **kw})


# (a call with one bad input, the start of the one line that must name it)
BAD_INPUTS = [
    (lambda: _api(input_tokens=-1), "input_tokens: must be >= 0, got -1"),
    (lambda: _api(output_tokens=-1), "output_tokens: must be >= 0"),
    (lambda: _api(cached_input_tokens=-1), "cached_input_tokens: must be >= 0"),
    (lambda: _api(input_usd_per_token=None), "input_usd_per_token: missing"),
    (lambda: _api(output_usd_per_token="x"), "output_usd_per_token: must be a number, got 'x'"),
    (lambda: _api(cached_input_tokens=10, cached_input_usd_per_token=-1), "cached_input_usd_per_token: must be >= 0"),
    (lambda: _api(batch=True, batch_discount=-0.5), "batch_discount: must be >= 0"),
    (lambda: cost.requests_per_month(-1), "daily_requests: must be >= 0"),
    (lambda: cost.api_usd_per_month(-1, 0.1), "requests_per_month: must be >= 0"),
    (lambda: cost.api_usd_per_month(1, -0.1), "usd_per_request: must be >= 0"),
    (lambda: cost.blended_usd_per_mtok(-1, 1), "input_usd_per_mtok: must be >= 0"),
    (lambda: cost.blended_usd_per_mtok(1, -1), "output_usd_per_mtok: must be >= 0"),
    (lambda: cost.blended_usd_per_mtok(1, 1, input_weight=-3), "input_weight: must be >= 0"),
    (lambda: cost.blended_usd_per_mtok(1, 1, output_weight=-1), "output_weight: must be >= 0"),
    (lambda: cost.peak_requests_per_s(1e5, peak_factor=0), "peak_factor: must be > 0"),
    (lambda: cost.peak_requests_per_s(-1), "requests_per_month: must be >= 0"),
    (lambda: cost.replicas_needed(-1, capacity_rps=1.0), "requests_per_month: must be >= 0"),
    (lambda: cost.replicas_needed(1, capacity_rps=0), "capacity_rps (requests/s one replica sustains at the SLO): must be > 0"),
    (lambda: cost.replicas_needed(1, capacity_rps=1, peak_factor=-2), "peak_factor: must be > 0"),
    (lambda: _self(usd_per_hour=-1), "usd_per_hour: must be >= 0"),
    (lambda: _self(fixed_usd_per_month=-1), "fixed_usd_per_month: must be >= 0"),
    (lambda: _self(variable_usd_per_request=-1), "variable_usd_per_request: must be >= 0"),
    (lambda: cost.usd_per_request_at_volume(-1, 1), "usd_per_month: must be >= 0"),
    (lambda: cost.usd_per_request_at_volume(1, -1), "requests_per_month: must be >= 0"),
    (lambda: cost.usd_per_mtok(-1, 100), "usd_per_request: must be >= 0"),
    (lambda: cost.usd_per_mtok(1, 0), "tokens_per_request: must be > 0"),
    (lambda: cost.usd_per_mtok_at_full_load(-1, 100), "usd_per_hour: must be >= 0"),
    (lambda: cost.usd_per_mtok_at_full_load(1, 0), "tokens_per_s: must be > 0"),
    (lambda: cost.energy_usd_per_token(-1, 0.1), "joules_per_token: must be >= 0"),
    (lambda: cost.energy_usd_per_token(1, -0.1), "usd_per_kwh: must be >= 0"),
    (lambda: _opt(usd_per_hour=-1), "option 'o': usd_per_hour: must be >= 0"),
    (lambda: _opt(peak_factor=0), "option 'o': peak_factor: must be > 0"),
    (lambda: _opt(fixed_usd_per_month=-1), "option 'o': fixed_usd_per_month: must be >= 0"),
    (lambda: _opt(variable_usd_per_request=-1), "option 'o': variable_usd_per_request: must be >= 0"),
    (lambda: _opt(tokens_per_request=0), "option 'o': tokens_per_request: must be > 0"),
    (lambda: Option(name="a", kind="api", usd_per_request=-1), "option 'a': usd_per_request: must be >= 0"),
    (lambda: _opt().usd_per_month(-5), "requests_per_month: must be >= 0"),
    (lambda: _opt().replicas(-5), "requests_per_month: must be >= 0"),
    (lambda: cost.monthly_cost_curves([_opt()], [-1]), "volumes: must be >= 0"),
    (lambda: cost.capacity_from_sweep(pd.DataFrame({"request_throughput": [1.0], "p90_ttft_ms": [1.0]}),
                                      {"ttft_ms": -5}), "slo['ttft_ms']: must be >= 0"),
]


@pytest.mark.parametrize("call, message", BAD_INPUTS, ids=[m.split(":")[0] + f"-{i}" for i, (_, m) in enumerate(BAD_INPUTS)])
def test_every_cost_input_names_itself_when_it_is_bad(call, message):
    with pytest.raises(CostError) as info:
        call()
    assert str(info.value).startswith(message), (str(info.value), message)


def test_flip_volumes_on_a_grid_by_hand():
    """Grid 0, 10, 20, 30. A costs 10, 10, 10, 10; B 12, 8, 8, 20; C 20, 20, 4, 4.
    At 10 B is cheapest: A and B cross at 0 + (12-10)/((12-10)-(8-10)) · 10 = 5.
    At 20 C is cheapest: B and C cross at 10 + (8-20)... the interval where C takes over is
    10..20, B − C goes 8−20 = −12 → 8−4 = 4: at 10 + 12/16 · 10 = 17.5.
    Ties keep the previous cheapest: a grid where B equals A at 10 gives no flip there."""
    v = [0.0, 10.0, 20.0, 30.0]
    flips = breakeven.flip_volumes(v, {"A": [10, 10, 10, 10], "B": [12, 8, 8, 20], "C": [20, 20, 4, 4]})
    assert flips == [(pytest.approx(5.0), "A", "B"), (pytest.approx(17.5), "B", "C")]
    assert breakeven.flip_volumes(v, {"A": [10, 10, 10, 10], "B": [12, 10, 10, 10]}) == []
    # a flip already under way at the first grid point is placed there (no extrapolation)
    assert breakeven.flip_volumes(v, {"A": [10, 10, 10, 10], "B": [9, 5, 5, 5]}) == []
    assert breakeven.flip_volumes([1.0], {"A": [1.0]}) == []
    assert breakeven.flip_volumes(v, {}) == []


@pytest.mark.parametrize("call, message", [
    (lambda o: breakeven.crossings_requests_per_month(*o, max_requests_per_month=0), "max_requests_per_month: must be > 0"),
    (lambda o: breakeven.flip_volumes_exact(o, max_requests_per_month=-1), "max_requests_per_month: must be > 0"),
    (lambda o: breakeven.flip_volumes([-1.0, 1.0], {"a": [1, 2]}), "volumes: must be >= 0"),
])
def test_break_even_inputs_name_themselves(call, message):
    opts = [Option("api", "api", usd_per_request=0.001), Option("box", "self-hosted", capacity_rps=1.0, usd_per_hour=1.0)]
    with pytest.raises(CostError) as info:
        call(opts)
    assert str(info.value).startswith(message)


def test_a_flip_at_a_replica_step_and_a_touch_that_is_no_flip():
    """0.1 req/s per replica at $1/h: a second replica beyond 262,800 requests/month, where the
    self-hosted cost jumps from $730 to $1,460. An API at 1,000 / 262,800 $/request costs $730
    at 0.73 of that volume (the API stops being cheaper) and $1,000 at the step, where the
    second replica makes it cheaper again: flips at 191,844 and at the step. An API costing
    exactly $730 at the step only touches the self-hosted curve there: the cheaper one never
    changes, so there is no crossing."""
    step = 0.1 * cost.SECONDS_PER_MONTH
    box = Option("box", "self-hosted", capacity_rps=0.1, usd_per_hour=1.0)
    api = Option("api", "api", usd_per_request=1000.0 / step)
    found = breakeven.crossings_requests_per_month(api, box, max_requests_per_month=1.2 * step)
    assert found == [pytest.approx(0.73 * step, rel=1e-9), pytest.approx(step, rel=1e-9)]
    touch = Option("touch", "api", usd_per_request=730.0 / step)
    assert breakeven.crossings_requests_per_month(touch, box, max_requests_per_month=1.2 * step) == []
