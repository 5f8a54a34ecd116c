"""The what-if dashboard: ipywidgets controls over the report's own pure functions.

The model — data loaded once, a :class:`~workbench.present.whatif.Scenario` of control values
applied to the priced options, :func:`workbench.decide.decision.decide` over the volume grid, volume
moves without deciding again — is :mod:`workbench.present.whatif` (its names are re-exported here).
This module renders it: the figure (a plotly ``FigureWidget``) is updated in place in one
``batch_update``, re-sending only the traces that changed; the placement table and the
provenance panel are re-rendered as HTML.

``workbench dashboard`` serves ``notebooks/dashboard.ipynb`` with Voila on 127.0.0.1
(:mod:`workbench.present.dashboard_serve`; its names are re-exported here too).
Heavy imports (ipywidgets, plotly) happen inside functions: importing this module is cheap.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import time

import numpy as np

from ..decide.parameters import validate
from ..decide.robustness import Ranges, robustness
from ..errors import DashboardError, WorkbenchError
from ..results.schema import METRICS
from .dashboard_render import curve_arrays, esc, placement_html, provenance_html, summary_html
from .figures import INFEASIBLE
from .whatif import (
    OVERRIDE,
    SLO_KEYS,
    VOLUME_MAX_REQUESTS_PER_MONTH,
    VOLUME_MIN_REQUESTS_PER_MONTH,
    DashboardData,
    Scenario,
    at_volume,
    default_scenario,
    evaluate,
    load_data,
    scenario_inputs,
    volume_grid,
)

PRICINGS = ("on-demand", "spot", "reserved")
DASHBOARD_RANGES = Ranges(draws=2_000)
"""Robustness on each update: fewer draws than the report (±1 percentage point at 2,000), to stay live."""


# ----------------------------------------------------------------------------- the widget tree
_CSS = """<style>
.wb-placement, .wb-provenance {border-collapse: collapse; font-size: 12px}
.wb-placement td, .wb-placement th, .wb-provenance td, .wb-provenance th
  {border-bottom: 1px solid #ddd; padding: 2px 8px; text-align: left}
.wb-chosen {background: #e6f4ea; font-weight: bold}
</style>"""


class Dashboard:
    """Controls, a cost-vs-volume FigureWidget, the placement table and the provenance panel.

    ``Dashboard(data)`` builds the widgets; ``.widget`` is the root (displaying the dashboard
    displays it); every control calls :meth:`update`, which calls :func:`evaluate` and redraws.
    ``.decision`` is the last decision, ``.last_update_ms`` the time the last update took.
    """

    def __init__(self, data: DashboardData, workload: str | None = None,
                 volume_requests_per_month: float | None = None):
        import ipywidgets as w

        self.data, self.volumes = data, volume_grid()
        self.decision, self.last_update_ms, self._quiet, self._full = None, None, False, None
        self.robustness = None  # of the verified choice, on each update (DASHBOARD_RANGES)
        self._drawn_curves, self._sent = None, []
        self._usd_per_hour: dict = {}
        self._api_usd_per_mtok: dict = {}
        self._build_controls(w)
        self._build_outputs(w)
        self._load_workload(workload or next(iter(data.workloads)), volume_requests_per_month)
        import plotly.graph_objects as go

        self.figure = go.FigureWidget(self.figure)
        self.widget = w.VBox([
            w.HTML(_CSS),
            w.HBox([self.controls, w.VBox([self.summary, self.figure],
                                          layout=w.Layout(flex="1 1 auto"))]),
            self.status, self.placement, self.provenance_box])

    def _repr_mimebundle_(self, **kw):
        return self.widget._repr_mimebundle_(**kw)

    # -- controls
    def _build_controls(self, w) -> None:
        style, wide = {"description_width": "150px"}, w.Layout(width="380px")

        def ctl(cls, description, **kw):
            c = cls(description=description, style=style, layout=wide, **kw)
            return c

        self.workload = ctl(w.Dropdown, "workload", options=list(self.data.workloads))
        lo, hi = math.log10(VOLUME_MIN_REQUESTS_PER_MONTH), math.log10(VOLUME_MAX_REQUESTS_PER_MONTH)
        self.volume = ctl(w.FloatLogSlider, "requests/month", base=10, min=lo, max=hi, step=0.02,
                          readout_format=".3s")
        self.peak_factor = ctl(w.FloatSlider, "peak factor", min=1.0, max=20.0, step=0.5,
                               continuous_update=False)
        self.instance = ctl(w.Dropdown, "instance", options=[])
        self.pricing = ctl(w.Dropdown, "pricing", options=PRICINGS)
        self.usd_per_hour = ctl(w.BoundedFloatText, "USD/hour", min=0.0, max=1e5, step=0.01)
        self.min_replicas = ctl(w.IntSlider, "min replicas", min=0, max=32, value=1,
                                continuous_update=False)
        self.api = ctl(w.Dropdown, "API", options=[])
        self.api_in = ctl(w.BoundedFloatText, "input USD/Mtok", min=0.0, max=1e4, step=0.01)
        self.api_out = ctl(w.BoundedFloatText, "output USD/Mtok", min=0.0, max=1e4, step=0.01)
        self.quality_floor = ctl(w.FloatSlider, "quality floor", min=0.0, max=1.0, step=0.01,
                                 continuous_update=False)
        self.latency_slo = ctl(w.BoundedFloatText, "latency SLO (ms)", min=1.0, max=1e6)
        self.route_fraction = ctl(w.FloatSlider, "routed to API", min=0.0, max=1.0, step=0.05,
                                  value=0.0, continuous_update=False)
        self.controls = w.VBox([
            self.workload, self.volume, self.peak_factor, w.HTML("<b>self-hosted</b>"),
            self.instance, self.pricing, self.usd_per_hour, self.min_replicas,
            w.HTML("<b>API price override</b>"), self.api, self.api_in, self.api_out,
            w.HTML("<b>requirements</b>"), self.quality_floor, self.latency_slo,
            self.route_fraction])
        self._listen(self.workload, lambda change: self._load_workload(change["new"]))
        for c in (self.volume, self.peak_factor, self.min_replicas, self.quality_floor,
                  self.latency_slo, self.route_fraction):
            self._listen(c, lambda _: self.update())
        self._listen(self.instance, lambda _: self._quietly_do(self._show_instance))
        self._listen(self.pricing, self._on_pricing)
        self._listen(self.usd_per_hour, self._on_usd_per_hour)
        self._listen(self.api, lambda _: self._quietly_do(self._show_api))
        for c in (self.api_in, self.api_out):
            self._listen(c, self._on_api_price)

    def _listen(self, widget, handler) -> None:
        """``handler(change)`` when ``widget``'s value changes, unless the dashboard is setting
        it itself (inside :meth:`_quietly`)."""
        widget.observe(lambda change: None if self._quiet else handler(change), names="value")

    def _build_outputs(self, w) -> None:
        import plotly.graph_objects as go


        # drawn as a plain Figure first, then wrapped: a FigureWidget sends later changes as
        # messages, which a front end that is not displaying it yet never receives
        self.figure = go.Figure(layout={
            "template": "plotly_white", "height": 460, "margin": {"l": 70, "r": 20, "t": 30, "b": 60},
            "uirevision": "dashboard", "legend": {"font": {"size": 10}},
            "xaxis": {"type": "log", "title": METRICS["requests_per_month"].title},
            "yaxis": {"type": "log", "title": METRICS["usd_per_month"].title},
            "shapes": [{"type": "line", "xref": "x", "yref": "paper", "x0": 1, "x1": 1, "y0": 0,
                        "y1": 1, "line": {"color": "#555", "dash": "dash", "width": 1}}]})
        self.summary, self.status = w.HTML(), w.HTML()
        self.placement, self.provenance = w.HTML(), w.HTML()
        self.provenance_box = w.Accordion(children=[self.provenance], titles=("provenance of every input",))

    # -- state <-> widgets
    def _load_workload(self, name: str, volume_requests_per_month: float | None = None) -> None:
        self.data.ensure(name)
        wl, opts = self.data.workloads[name], self.data.options[name]
        d = default_scenario(wl)
        self._usd_per_hour, self._api_usd_per_mtok = {}, {}
        with self._quietly():
            self.workload.value = name
            self.volume.value = volume_requests_per_month or d.volume_requests_per_month
            self.peak_factor.value, self.min_replicas.value = d.peak_factor, 1
            self.quality_floor.disabled = d.quality_floor is None
            self.quality_floor.value = d.quality_floor or 0.0
            self.quality_floor.description = f"floor: {wl.primary_metric}"
            self.latency_slo.disabled = d.latency_slo_ms is None
            self.latency_slo.value = d.latency_slo_ms or 1000.0
            slo_key = next((k for k in SLO_KEYS if k in (wl.slo or {})), "none")
            self.latency_slo.description = f"SLO {slo_key}"
            self.route_fraction.value = 0.0
            for dropdown, kind in ((self.instance, "self-hosted"), (self.api, "api")):
                names = [o.name for o in opts if o.kind == kind]
                dropdown.options = names
                dropdown.value = names[0] if names else None  # ipywidgets 8 selects nothing
            self._show_instance()
            self._show_api()
        self.update()

    def _self_hosted(self, name):
        return next((o for o in self.data.options[self.workload.value]
                     if o.kind == "self-hosted" and o.name == name), None)

    def _instance_of(self, option) -> str | None:
        """The catalog instance an option runs on: its ``instance`` field when it has one,
        else the longest catalog instance name contained in the option's name."""
        if getattr(option, "instance", None) or self.data.catalog is None:
            return getattr(option, "instance", None)
        names = [n for n in set(self.data.catalog.instances["instance"]) if n in option.name]
        return max(names, key=len) if names else None

    @staticmethod
    def _enable(widgets, option) -> bool:
        """The widgets that edit ``option`` are usable only when there is one; True when there is."""
        for c in widgets:
            c.disabled = option is None
        return option is not None

    def _show_instance(self) -> None:
        o = self._self_hosted(self.instance.value)
        if self._enable((self.pricing, self.usd_per_hour), o):
            pricing, usd, _ = self._usd_per_hour.get(
                self.instance.value, (getattr(o, "pricing", None) or "on-demand", o.usd_per_hour, ""))
            self.pricing.value, self.usd_per_hour.value = pricing, usd

    def _api_option(self, name):
        return next((o for o in self.data.options[self.workload.value]
                     if o.kind == "api" and o.name == name), None)

    def _show_api(self) -> None:
        o = self._api_option(self.api.value)
        if self._enable((self.api_in, self.api_out), o):
            prices = self._api_usd_per_mtok.get(o.name) or self._catalog_api_usd_per_mtok(o)
            self.api_in.value, self.api_out.value = prices or (0.0, 0.0)

    def _catalog_api_usd_per_mtok(self, option) -> tuple[float, float] | None:
        if self.data.catalog is None:
            return None
        try:
            row = self.data.catalog.api(getattr(option, "price_entry", None) or option.name)
        except WorkbenchError:
            return None
        return row["input_cost_per_token"] * 1e6, row["output_cost_per_token"] * 1e6

    def scenario(self) -> Scenario:
        """The scenario the controls show."""
        d = default_scenario(self.data.workloads[self.workload.value])
        return Scenario(
            workload=self.workload.value,
            volume_requests_per_month=float(self.volume.value),
            peak_factor=float(self.peak_factor.value),
            min_replicas=int(self.min_replicas.value),
            quality_floor=None if d.quality_floor is None else float(self.quality_floor.value),
            latency_slo_ms=None if d.latency_slo_ms is None else float(self.latency_slo.value),
            route_fraction=float(self.route_fraction.value) or None,
            usd_per_hour=dict(self._usd_per_hour),
            api_usd_per_mtok=dict(self._api_usd_per_mtok))

    @contextlib.contextmanager
    def _quietly(self):
        """Set widgets without their callbacks recomputing (one update follows, by the caller)."""
        self._quiet = True
        try:
            yield
        finally:
            self._quiet = False

    def _quietly_do(self, show) -> None:
        with self._quietly():
            show()

    # -- handlers (called only when the user changed a value: see _listen)
    def _on_pricing(self, change) -> None:
        """A pricing type picks the catalog's price for the instance (the user may edit it)."""
        if self.data.catalog is None:
            return
        name = self.instance.value
        inst = self._instance_of(self._self_hosted(name))
        try:
            if inst is None:
                raise DashboardError(f"option {name!r}: no catalog instance in its name")
            row = self.data.catalog.instance(inst, pricing=change["new"])
        except WorkbenchError as e:
            self.status.value = f"<p class='wb-error'>{esc(e)}; enter a price</p>"
            return
        label = (f"published ({row.get('source', '')}; as of {row.get('as_of', '')}"
                 f"{'' if row.get('verified') else ', unverified'})")
        self._usd_per_hour[name] = (change["new"], float(row["usd_per_hour"]), label)
        with self._quietly():
            self.usd_per_hour.value = float(row["usd_per_hour"])
        self.update()

    def _on_usd_per_hour(self, change) -> None:
        if self.instance.value is not None:
            self._usd_per_hour[self.instance.value] = (self.pricing.value, float(change["new"]), OVERRIDE)
            self.update()

    def _on_api_price(self, _change) -> None:
        if self.api.value is not None:
            self._api_usd_per_mtok[self.api.value] = (float(self.api_in.value), float(self.api_out.value))
            self.update()

    # -- recompute and redraw
    def update(self) -> None:
        """Recompute the decision for the controls' scenario and redraw everything.

        A change of the expected volume alone reuses the last full decision (see
        :func:`at_volume`); any other change calls ``decide.decide`` over the volume grid."""
        t0 = time.perf_counter()
        scenario = self.scenario()
        try:
            decision, workload, options = self._decide(scenario)
        except WorkbenchError as e:
            self.status.value = f"<p class='wb-error' style='color:#b00'>{esc(e)}</p>"
            return
        self.decision = decision
        self.status.value = ""
        self._redraw(decision, scenario)
        self.robustness = robustness(decision, options, DASHBOARD_RANGES)
        self.summary.value = summary_html(decision, scenario, self.robustness)
        self.placement.value = placement_html(decision)
        self.provenance.value = provenance_html(
            workload, scenario, options, self.data.token_profiles.get(scenario.workload),
            self.data.left_out.get(scenario.workload, ()))
        self.last_update_ms = (time.perf_counter() - t0) * 1e3

    def _decide(self, scenario: Scenario) -> tuple:
        key = dataclasses.replace(scenario, volume_requests_per_month=0.0)
        if self._full is not None and self._full[0] == key:
            _, workload, options, full = self._full
            moved = at_volume(full, options, scenario.volume_requests_per_month)
            if moved is not None:
                return moved, workload, options
        inputs = scenario_inputs(self.data, scenario)
        workload, options, _ = inputs
        decision = evaluate(self.data, scenario, self.volumes, inputs)
        self._full = (key, workload, options, decision)
        return decision, workload, options

    def _reset_traces(self, arrays: dict, kinds: dict) -> None:
        import plotly.graph_objects as go

        fw = self.figure
        fw.data = []
        shapes = {name: _line_shape(kinds.get(name)) for name in arrays}
        self._sent = [(name, name, True, shapes[name], x, y, None) for name, (x, y) in arrays.items()]
        fw.add_traces([go.Scatter(name=name, x=x, y=y, mode="lines", line={"shape": shapes[name]},
                                  legendgroup=name, meta={"option": name}, hovertemplate=_hover(name))
                       for name, (x, y) in arrays.items()] + [
            go.Scatter(name="flip", mode="markers+text", textposition="top center",
                       marker={"symbol": "x", "size": 10, "color": "black"}, x=[], y=[]),
            go.Scatter(name="choice", mode="markers", marker={"size": 12, "color": "green"},
                       x=[], y=[])])

    def _redraw(self, decision, scenario: Scenario) -> None:
        """Update the figure in place, in one message (``batch_update``). The curves and the
        flip markers are re-sent only when the decision's curves changed (not on a volume move)."""
        table = decision.table.set_index("option")
        fw = self.figure
        with fw.batch_update():
            if decision.curves is not self._drawn_curves:
                self._draw_curves(decision, table)
                self._drawn_curves = decision.curves
            chosen = decision.choice in table.index
            fw.data[-1].x = [scenario.volume_requests_per_month] if chosen else []
            fw.data[-1].y = [float(table.at[decision.choice, "usd_per_month"])] if chosen else []
            fw.layout.shapes[0].x0 = fw.layout.shapes[0].x1 = scenario.volume_requests_per_month

    def _draw_curves(self, decision, table) -> None:
        """Set each trace's name, line shape, data and style, sending only what changed since
        the last draw (``_sent``: per trace, what it shows); rebuild the traces only when their
        number changes (a routed mix at another fraction is a renamed trace). Infeasible
        options are grey and dotted under one legend entry (as in the report's figure); the
        hover names the option. ``meta["option"]`` always names it."""
        arrays = curve_arrays(decision.curves)
        kinds, feasible = table["kind"].to_dict(), table["feasible"].to_dict()
        fw = self.figure
        if len(self._sent) != len(arrays):
            self._reset_traces(arrays, kinds)
        first_grey = True
        for i, (trace, (name, (x, y))) in enumerate(zip(fw.data, arrays.items())):
            shape, ok = _line_shape(kinds.get(name)), bool(feasible.get(name, True))
            shown, legend = (name, True) if ok else (INFEASIBLE, first_grey)
            first_grey = first_grey and ok
            sent_option, sent_shown, sent_legend, sent_shape, sent_x, sent_y, sent_ok = self._sent[i]
            if sent_option != name:
                trace.meta, trace.hovertemplate = {"option": name}, _hover(name)
            if (sent_shown, sent_legend) != (shown, legend) or sent_option != name:
                trace.name, trace.showlegend, trace.legendgroup = shown, legend, name if ok else INFEASIBLE
            if sent_shape != shape:
                trace.line.shape = shape
            if sent_x is None or not np.array_equal(sent_x, x):
                trace.x = x
            if sent_y is None or not np.array_equal(sent_y, y):
                trace.y = y
            if sent_ok is not ok:
                trace.line.dash, trace.line.color = ("solid", None) if ok else ("dot", "lightgrey")
            self._sent[i] = (name, shown, legend, shape, x, y, ok)
        flips = [(v, b) for v, _, b in decision.flips if b in arrays]
        fw.data[-2].x = [v for v, _ in flips]
        fw.data[-2].y = [float(np.interp(v, *arrays[b])) for v, b in flips]
        fw.data[-2].text = [f"→ {b}" for _, b in flips]


def _hover(option: str) -> str:
    return f"{esc(option)}<br>%{{x:,.0f}} req/month<br>$%{{y:,.0f}}/month<extra></extra>"


def _line_shape(kind: str | None) -> str:
    """Self-hosted cost steps at each replica: drawn as steps; the rest as lines."""
    return "hv" if kind == "self-hosted" else "linear"


def build_dashboard(workload: str | None = None, *, volume_requests_per_month: float | None = None,
                    data: DashboardData | None = None, **load_kw) -> Dashboard:
    """Load the data once (unless given; ``load_kw`` go to :func:`load_data`) and return the
    dashboard; displaying it displays its widgets. The notebook's parameters are checked first
    (workbench.decide.parameters)."""

    validate("dashboard", {"workload": workload, "volume_requests_per_month": volume_requests_per_month})
    return Dashboard(data or load_data(**load_kw), workload, volume_requests_per_month)
