"""Break-even and flip volumes: where the cheaper of two cost options, or the cheapest of many,
changes as the monthly volume grows.

Pure functions over :class:`workbench.cost.cost.Option` (numbers in, numbers out, no I/O);
:mod:`workbench.cost.cost` re-exports them. Between replica steps every monthly cost is linear in
the volume, so crossings are solved exactly per interval; flips among many options are found
among the pairs that meet on the lower envelope (:mod:`workbench.cost.envelope`).

For an API at $c/request against one always-on replica at $h/hour with enough capacity the
break-even volume is ``h * 730 / c`` requests/month.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from .cost import CostError, Option, checked, monthly_cost_arrays
from .envelope import meeting_pairs

MAX_INTERVALS = 2_000_000


def _breakpoints(opt: Option, max_volume: float) -> np.ndarray:
    """Volumes where ``opt`` adds a replica (its cost steps up just after each)."""
    step = opt.step_requests_per_month
    if step is None:
        return np.empty(0)
    k0 = max(int(opt.min_replicas), 1)
    n = int(max_volume // step) - k0 + 1
    if n > MAX_INTERVALS:
        raise CostError(f"option {opt.name!r}: {n} replica steps below {max_volume:g} requests/month; "
                        "pass a smaller max_requests_per_month")
    return np.arange(k0, k0 + max(n, 0)) * step


def crossings_requests_per_month(a: Option, b: Option, *, max_requests_per_month: float = 1e10) -> list[float]:
    """Every volume in (0, max] where the cheaper of ``a`` and ``b`` changes, ascending.

    Exact: between replica steps both costs are linear, so each interval is solved in closed
    form; a flip caused by a replica step is reported at the step's volume (the last volume
    the old replica count serves).
    """
    vmax = float(checked(max_requests_per_month, "max_requests_per_month", positive=True))
    edges = np.unique(np.concatenate([[0.0, vmax], _breakpoints(a, vmax), _breakpoints(b, vmax)]))
    edges = edges[edges <= vmax]
    lo, hi = edges[:-1], edges[1:]
    mid = (lo + hi) / 2
    slope = a.usd_per_request_variable - b.usd_per_request_variable
    d_mid = np.asarray(a.usd_per_month(mid) - b.usd_per_month(mid), dtype=float)
    d_lo, d_hi = d_mid + slope * (lo - mid), d_mid + slope * (hi - mid)
    scale = max(1.0, float(np.max(np.abs(d_mid))) if len(d_mid) else 1.0)
    tol = 1e-9 * scale
    s_lo = np.where(np.abs(d_lo) <= tol, 0, np.sign(d_lo)).astype(int)
    s_hi = np.where(np.abs(d_hi) <= tol, 0, np.sign(d_hi)).astype(int)
    # events in volume order, per interval: (lo, sign), (root, 0) when linear inside, (hi, sign)
    inside = s_lo * s_hi < 0
    with np.errstate(divide="ignore", invalid="ignore"):
        root = np.clip(lo + (hi - lo) * d_lo / np.where(inside, d_lo - d_hi, 1.0), lo, hi)
    n = len(lo)
    vol = np.column_stack([lo, np.where(inside, root, np.nan), hi]).ravel()
    sgn = np.column_stack([s_lo, np.zeros(n, dtype=int), s_hi]).ravel()
    keep = ~np.isnan(vol)
    vol, sgn = vol[keep], sgn[keep]
    nz = np.flatnonzero(sgn)
    change = sgn[nz[1:]] != sgn[nz[:-1]]
    prev, new = nz[:-1][change], nz[1:][change]
    # a crossing is at the first zero after the last point of the old sign, else at the new sign
    at = np.where(new - prev > 1, vol[np.minimum(prev + 1, len(vol) - 1)], vol[new])
    return [float(v) for v in at if v > 0]


def break_even_requests_per_month(a: Option, b: Option, *,
                                  max_requests_per_month: float = 1e10) -> float | None:
    """The first volume (requests/month) where the cheaper of two options changes, or None
    if it never does below ``max_requests_per_month``. For an API at $c/request against one
    always-on replica at $h/hour with enough capacity: ``h * 730 / c``."""
    found = crossings_requests_per_month(a, b, max_requests_per_month=max_requests_per_month)
    return found[0] if found else None


def flip_volumes(volumes, costs_by_option: Mapping[str, Any]) -> list[tuple[float, str, str]]:
    """Where the cheapest option changes along a volume grid: ``[(volume, from, to), ...]``.

    ``costs_by_option`` maps option name -> monthly cost at each of ``volumes`` (ascending).
    The volume is the crossing of the two curves interpolated linearly between the grid
    points around the change: exact for linear curves, within one grid step where a curve
    steps. Ties keep the previous cheapest. See :func:`flip_volumes_exact` for Options.
    """
    vol = np.atleast_1d(checked(volumes, "volumes")).astype(float)
    if np.any(np.diff(vol) <= 0):
        raise CostError("volumes: must be strictly increasing")
    names = list(costs_by_option)
    if not names:
        return []
    costs = np.vstack([np.broadcast_to(np.asarray(costs_by_option[n], dtype=float), vol.shape) for n in names])
    out: list[tuple[float, str, str]] = []
    cheapest, lowest = costs.argmin(axis=0).tolist(), costs.min(axis=0).tolist()
    c, v = costs.tolist(), vol.tolist()  # plain floats: the same arithmetic, faster per point
    cur = cheapest[0]
    for j in range(1, len(v)):
        if lowest[j] < c[cur][j]:
            best = cheapest[j]
            d0 = c[cur][j - 1] - c[best][j - 1]
            d1 = c[cur][j] - c[best][j]
            frac = 0.0 if d0 >= 0 else -d0 / (d1 - d0)
            out.append((v[j - 1] + frac * (v[j] - v[j - 1]), names[cur], names[best]))
            cur = best
    return out


def flip_volumes_exact(options: Sequence[Option], *, max_requests_per_month: float = 1e10
                       ) -> list[tuple[float, str, str]]:
    """Exact volumes where the cheapest of ``options`` changes: ``[(volume, from, to), ...]``.

    The cheapest can only change where two options cross (:func:`crossings_requests_per_month`),
    so pairwise crossings are the candidates; one is kept when the cheapest just below differs
    from the cheapest just above. Only pairs that meet on the lower envelope can give a flip
    (:func:`_envelope_pairs`, one numpy pass), so only their crossings are solved.
    """
    vmax = float(checked(max_requests_per_month, "max_requests_per_month", positive=True))
    pairs = _envelope_pairs(options, vmax) if len(options) > 1 else []
    return _flips_among(options, pairs, vmax)


def _flips_among(options: Sequence[Option], pairs, vmax: float) -> list[tuple[float, str, str]]:
    """The flips among the crossings of the index ``pairs`` of ``options`` (all pairs: the
    plain definition that :func:`flip_volumes_exact` narrows)."""
    cands = sorted({v for i, j in pairs for v in crossings_requests_per_month(
        options[i], options[j], max_requests_per_month=vmax)})
    if not cands:
        return []
    v = np.asarray(cands)
    eps = np.maximum(v * 1e-9, 1e-9)
    below = np.argmin(monthly_cost_arrays(options, np.maximum(v - eps, 0.0))[0], axis=0)
    above = np.argmin(monthly_cost_arrays(options, v + eps)[0], axis=0)
    return [(float(x), options[i].name, options[j].name)
            for x, i, j in zip(v, below, above) if i != j]


MAX_ENVELOPE_CELLS = 4_000_000


def _envelope_pairs(options: Sequence[Option], vmax: float) -> list[tuple[int, int]]:
    """Index pairs (i < j) whose crossings can be flips: a superset of the pairs that meet on
    the lower envelope of monthly cost over [0, vmax] (:func:`workbench.cost.envelope.meeting_pairs`
    over the linear pieces between all options' replica steps). All pairs when options x
    intervals exceeds ``MAX_ENVELOPE_CELLS``."""

    n = len(options)
    edges = np.unique(np.concatenate([[0.0, vmax], *(_breakpoints(o, vmax) for o in options)]))
    edges = edges[edges <= vmax]
    if n * len(edges) > MAX_ENVELOPE_CELLS:
        return [(i, j) for i in range(n) for j in range(i + 1, n)]
    lo, hi = edges[:-1], edges[1:]
    mid = (lo + hi) / 2
    slope = np.array([o.usd_per_request_variable for o in options])
    usd_mid = monthly_cost_arrays(options, mid)[0]
    # between steps each cost is linear; a step happens just after an edge
    return meeting_pairs(usd_mid + slope[:, None] * (lo - mid), usd_mid + slope[:, None] * (hi - mid),
                         slope, lo, hi)
