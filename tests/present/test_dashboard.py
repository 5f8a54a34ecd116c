"""The dashboard's callbacks, driven by setting widget values and checked through the figure's
data, the placement table and the provenance panel. No browser and no kernel: ipywidgets calls
observers synchronously.

Toy data, worked by hand:
- "api-a": $0.001/request  -> usd/month = 0.001 * V
- "box (on-demand)": 1 replica of 1 request/s at $1/hour -> $730/month while the peak fits in
  one replica (V * peak_factor <= 2,628,000 requests/month), then $730 per extra replica.
- They cross at V = 730 / 0.001 = 730,000 requests/month.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from workbench import errors
from workbench.cost import cost
from workbench.decide.quality import QualityEstimate
from workbench.inputs.workloads import Workload
from workbench.present import dashboard, dashboard_render, dashboard_serve, whatif

API, BOX = "api-a", "box (on-demand)"
FLIP = 730_000.0


def _workload(name="toy", privacy="any", floor=0.8):
    return Workload(
        name=name, task="classification", spec={}, items=[], max_tokens=8,
        daily_volume=1e5 / cost.DAYS_PER_MONTH, peak_factor=1.0,
        slo={"e2el_ms": 2000.0}, quality_floor={"accuracy": floor}, primary_metric="accuracy",
        privacy=privacy)


class _Catalog:
    """The three things the dashboard asks of a catalog."""

    instances = pd.DataFrame({"instance": ["box", "other"]})

    def instance(self, instance, pricing="on-demand"):
        prices = {"on-demand": 1.0, "spot": 0.25}
        if instance != "box" or pricing not in prices:
            raise cost.CostError(f"instance {instance!r}: no {pricing} price")
        return {"usd_per_hour": prices[pricing], "source": "toy price list", "as_of": "2026-01-01",
                "verified": True}

    def api(self, model):
        return {"input_cost_per_token": 2e-6, "output_cost_per_token": 8e-6}


def _data(workloads=None):
    options = [
        cost.Option(name=API, kind="api", usd_per_request=0.001,
                    provenance={"usd_per_token": "published (toy)"}),
        cost.Option(name=BOX, kind="self-hosted", capacity_rps=1.0, usd_per_hour=1.0,
                    provenance={"capacity_rps": "measured (run r1)", "usd_per_hour": "published (toy)"}),
    ]
    quality = {API: QualityEstimate(0.95, 0.9, 0.99, "measured", "run q1", "accuracy"),
               BOX: QualityEstimate(0.85, 0.8, 0.9, "measured", "run q2", "accuracy")}
    workloads = workloads or [_workload()]
    return whatif.DashboardData(
        workloads={w.name: w for w in workloads},
        options={w.name: options for w in workloads},
        token_profiles={w.name: {"prompt_tokens_mean": 100.0, "output_tokens_mean": 10.0,
                                 "provenance": "measured"} for w in workloads},
        catalog=_Catalog(), quality={w.name: quality for w in workloads})


def _trace(d, name):
    return next(t for t in d.figure.data if (t.meta or {}).get("option", t.name) == name)


def _y_at(d, name, volume):
    t = _trace(d, name)
    x, y = np.asarray(t.x), np.asarray(t.y)
    return float(y[np.argmin(np.abs(np.log(x) - np.log(volume)))]), float(x[np.argmin(np.abs(np.log(x) - np.log(volume)))])


@pytest.fixture
def dash():
    return dashboard.Dashboard(_data())


def test_initial_state_is_the_workload_spec(dash):
    assert dash.volume.value == pytest.approx(1e5)
    assert dash.decision.choice == API
    assert dash.figure.layout.shapes[0].x0 == pytest.approx(1e5)
    api = _trace(dash, API)
    np.testing.assert_allclose(np.asarray(api.y), np.asarray(api.x) * 0.001)
    assert len(api.x) >= whatif.VOLUME_POINTS
    y, _ = _y_at(dash, BOX, 1e5)
    assert y == pytest.approx(730.0)
    assert "wb-chosen'><td>api-a" in dash.placement.value


def test_volume_slider_flips_the_placement_and_moves_the_markers(dash):
    dash.volume.value = 1e6
    assert dash.decision.choice == BOX
    assert list(dash.figure.data[-1].x) == [pytest.approx(1e6)]  # the choice marker
    assert list(dash.figure.data[-1].y) == [pytest.approx(730.0)]
    assert dash.figure.layout.shapes[0].x0 == pytest.approx(1e6)
    assert "wb-chosen'><td>box (on-demand)" in dash.placement.value
    # the break-even marker sits at 730,000 requests/month (within a grid step)
    flips = list(dash.figure.data[-2].x)
    assert len(flips) == 1 and flips[0] == pytest.approx(FLIP, rel=0.05)
    assert "saves <b>$270</b>" in dash.summary.value  # 1000 - 730


def test_price_edit_reprices_self_hosted_and_is_labelled(dash):
    dash.instance.value = BOX
    dash.usd_per_hour.value = 2.0
    y, _ = _y_at(dash, BOX, 1e5)
    assert y == pytest.approx(1460.0)
    assert whatif.OVERRIDE in dash.provenance.value


def test_pricing_type_takes_the_catalog_price(dash):
    dash.instance.value = BOX
    dash.pricing.value = "spot"
    assert dash.usd_per_hour.value == pytest.approx(0.25)
    y, _ = _y_at(dash, BOX, 1e5)
    assert y == pytest.approx(0.25 * 730)
    assert "spot: published (toy price list; as of 2026-01-01)" in dash.provenance.value
    dash.pricing.value = "reserved"  # not in the toy catalog: message, price unchanged
    assert "no reserved price" in dash.status.value
    assert dash.usd_per_hour.value == pytest.approx(0.25)


def test_min_replicas_and_peak_factor(dash):
    dash.min_replicas.value = 2
    assert _y_at(dash, BOX, 1e5)[0] == pytest.approx(1460.0)
    dash.min_replicas.value = 1
    dash.peak_factor.value = 4.0
    # peak at V: V / 2,628,000 * 4 requests/s; one replica (1 req/s) holds V <= 657,000
    y, x = _y_at(dash, BOX, 2e6)
    assert y == pytest.approx(730.0 * np.ceil(x * 4 / 2_628_000 - 1e-9))
    assert _y_at(dash, BOX, 1e5)[0] == pytest.approx(730.0)


def test_api_price_override_uses_the_token_profile(dash):
    dash.api.value = API
    assert (dash.api_in.value, dash.api_out.value) == (pytest.approx(2.0), pytest.approx(8.0))
    dash.api_in.value = 1.0
    dash.api_out.value = 10.0
    # 100 prompt tokens at $1/Mtok + 10 output tokens at $10/Mtok = $0.0002 per request
    api = _trace(dash, API)
    np.testing.assert_allclose(np.asarray(api.y), np.asarray(api.x) * 2e-4)


def test_quality_floor_makes_an_option_infeasible(dash):
    dash.volume.value = 1e6
    assert dash.decision.choice == BOX
    dash.quality_floor.value = 0.9  # box measured 0.85
    assert dash.decision.choice == API
    box = _trace(dash, BOX)
    assert box.line.dash == "dot" and box.name == "infeasible options" and box.showlegend
    assert BOX in box.hovertemplate and _trace(dash, API).name == API  # the feasible one keeps its entry
    assert "quality: accuracy 0.85 &lt; floor 0.9" in dash.placement.value
    dash.quality_floor.value = 0.8
    assert _trace(dash, BOX).name == BOX and _trace(dash, BOX).line.dash == "solid"


def test_route_fraction_adds_the_routed_mix(dash):
    dash.route_fraction.value = 0.5
    routed = [t.name for t in dash.figure.data if t.name.startswith("routed")]
    assert routed == [f"routed 50% {API} / 50% {BOX}"]
    # half to the API, half self-hosted: 0.001 * V/2 + 730 at V = 1e5
    assert _y_at(dash, routed[0], 1e5)[0] == pytest.approx(0.001 * 5e4 + 730, rel=1e-3)
    dash.route_fraction.value = 0.0
    assert not [t for t in dash.figure.data if t.name.startswith("routed")]


def test_privacy_bound_workload_and_workload_switch():
    d = dashboard.Dashboard(_data([_workload(), _workload("secret", privacy="internal-only")]))
    d.workload.value = "secret"
    assert d.decision.workload == "secret"
    assert d.decision.choice == BOX  # the API is excluded
    assert "privacy" in d.placement.value


def test_every_input_shows_its_provenance(dash):
    p = dash.provenance.value
    for text in ("expected volume", "assumed (workload spec: toy)", "measured (run r1)",
                 "published (toy)", "prompt tokens/request", "quality floor (accuracy)"):
        assert text in p
    dash.volume.value = 3e5
    assert "100k requests/month" not in dash.provenance.value
    assert whatif.OVERRIDE in dash.provenance.value


def test_latency_slo_changes_the_workload_given_to_decide():
    w = _workload()
    s = whatif.Scenario("toy", 5e5, 2.0, latency_slo_ms=500.0, quality_floor=0.7)
    out = whatif.scenario_workload(w, s)
    assert out.slo == {"e2el_ms": 500.0} and w.slo == {"e2el_ms": 2000.0}
    assert out.quality_floor == {"accuracy": 0.7}
    assert out.daily_volume * cost.DAYS_PER_MONTH == pytest.approx(5e5)
    assert out.peak_factor == 2.0


def test_formatting():
    assert dashboard_render.fmt_volume(1_234_567) == "1.23M"
    assert dashboard_render.fmt_volume(730_000) == "730k"
    assert dashboard_render.fmt_usd(1460.0) == "$1,460"
    assert dashboard_render.fmt_usd(0.0002) == "$2.00e-04"


def test_serve_refuses_a_missing_notebook(tmp_path):
    with pytest.raises(errors.DashboardError, match="not found"):
        dashboard_serve.serve(tmp_path / "nope.ipynb")


def test_cli_arguments():
    import argparse

    p = argparse.ArgumentParser()
    dashboard_serve.add_cli_arguments(p)
    args = p.parse_args(["--port", "9999", "--no-browser"])
    assert (args.port, args.no_browser) == (9999, True)


@pytest.mark.parametrize("route_fraction", [None, 0.3])
def test_volume_only_update_matches_a_full_decide(route_fraction):
    """The volume fast path gives what decide.decide gives at that volume; with a routed mix
    too, unless the mix would now combine other options (then it declines: None)."""
    from workbench.decide import decision

    data = _data()
    rng = np.random.default_rng(1)
    opts = list(data.options["toy"]) + [
        cost.Option(name=f"gpu-{i}", kind="self-hosted", capacity_rps=float(rng.uniform(0.5, 20)),
                    usd_per_hour=float(rng.uniform(0.5, 10))) for i in range(4)] + [
        cost.Option(name=f"api-{i}", kind="api", usd_per_request=float(rng.uniform(1e-5, 1e-3)))
        for i in range(3)]
    quality = {o.name: QualityEstimate(float(rng.uniform(0.7, 0.95)), provenance="measured",
                                       metric="accuracy") for o in opts}
    w = _workload()
    grid = whatif.volume_grid()
    full = decision.decide(w, opts, volume=1e5, volumes=grid, quality=quality,
                         route_fraction=route_fraction)
    assert (full.route is None) == (route_fraction is None)
    moved = 0
    for v in (2e3, 3.3e5, 7.3e5, 4e6, 2.5e7, 6e8):
        fast = whatif.at_volume(full, opts, v)
        ref = decision.decide(w, opts, volume=v, volumes=grid, quality=quality,
                            route_fraction=route_fraction)
        if fast is None:
            assert route_fraction and ref.route[:2] != full.route[:2]
            continue
        moved += 1
        assert (fast.choice, fast.runner_up) == (ref.choice, ref.runner_up)
        assert fast.savings_usd_per_month == pytest.approx(ref.savings_usd_per_month)
        pd.testing.assert_frame_equal(fast.table, ref.table, check_dtype=False)
        if route_fraction is None:
            assert fast.flips == ref.flips
        else:  # interpolated on the grid: the expected volume is one of its points
            assert [f[1:] for f in fast.flips] == [f[1:] for f in ref.flips]
            assert [f[0] for f in fast.flips] == pytest.approx([f[0] for f in ref.flips], rel=0.08)
    assert moved >= 3


def test_dropdowns_start_on_their_first_option_and_the_figure_is_born_with_its_data(dash):
    assert dash.instance.value == BOX and dash.usd_per_hour.value == pytest.approx(1.0)
    assert not dash.usd_per_hour.disabled
    assert dash.api.value == API and dash.api_in.value == pytest.approx(2.0)
    # a front end that opens the figure later gets its construction state: it must hold the data
    names = [t["name"] for t in dash.figure._widget_data]
    assert names[:2] == [API, BOX] or set(names[:2]) == {API, BOX}
    assert len(dash.figure._widget_data[0]["x"]) >= whatif.VOLUME_POINTS


@pytest.mark.slow
def test_cli_serves_on_loopback_prints_the_url_and_stops_voila_on_sigterm():
    import re
    import signal
    import subprocess
    import sys
    import urllib.request

    import psutil

    p = subprocess.Popen([sys.executable, "-m", "workbench.cli", "dashboard", "--no-browser"],
                         stdout=subprocess.PIPE, text=True)
    try:
        line = p.stdout.readline()
        url = re.search(r"http://127\.0\.0\.1:\d+/", line).group(0)
        with urllib.request.urlopen(url + "voila/static/voila.js", timeout=30) as r:
            assert r.status == 200
        voila = [c for c in psutil.Process(p.pid).children(recursive=True) if "voila" in " ".join(c.cmdline())]
        assert voila
        p.send_signal(signal.SIGTERM)
        assert p.wait(30) == 128 + signal.SIGTERM
        _, alive = psutil.wait_procs(voila, timeout=15)
        assert not alive
    finally:
        if p.poll() is None:
            p.kill()


def test_the_summary_says_how_likely_the_choice_stays_cheapest_live(dash):
    """At 1e5 requests/month the API ($100) is far below the box ($730) whatever the volume
    (×/÷ 2) and prices (±20%) do; at the flip volume (730,000) it is close to a coin toss."""
    r = dash.robustness
    assert r.choice == API and r.probability > 0.95
    assert "stays the cheapest verified option in <b>" in dash.summary.value and "(verified)" in dash.summary.value
    dash.volume.value = FLIP
    assert dash.robustness.choice in (API, BOX) and 0.2 < dash.robustness.probability < 0.8
    assert f"<b>{dash.robustness.probability:.0%}</b> of 2,000 draws" in dash.summary.value
