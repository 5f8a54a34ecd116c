"""Which options meet on the lower envelope of piecewise-linear monthly cost curves.

Pure numpy, no I/O. :func:`workbench.cost.breakeven.flip_volumes_exact` solves crossings exactly, pair
by pair (:func:`workbench.cost.breakeven.crossings_requests_per_month`); solving every pair is quadratic
in the options and slow for a dashboard, and only pairs that meet where the cheapest option
changes can give a flip. :func:`meeting_pairs` finds a superset of those pairs in one pass.

Input layout: intervals ``(lo[k], hi[k]]`` between consecutive replica steps of all options;
in each, option ``i`` costs ``at_lo[i, k] + slope[i] * (v - lo[k])`` USD/month (``at_lo``: just
after ``lo``, where a step may have happened; ``at_hi``: at ``hi`` itself).
"""

from __future__ import annotations

import numpy as np

NEAR = 1e-6  # relative: costs this close to the cheapest count as meeting it


def meeting_pairs(at_lo: np.ndarray, at_hi: np.ndarray, slope: np.ndarray, lo: np.ndarray,
                  hi: np.ndarray) -> list[tuple[int, int]]:
    """Index pairs (i < j) of options that meet on the lower envelope: options within
    ``NEAR`` of the cheapest on either side of a step volume (zero volume excepted: APIs tie
    there at $0); along each interval's envelope of lines (:func:`_walk_envelope`), the lines
    that meet where it turns; and where the cheapest changes at a step volume, the options
    that cross there (:func:`_pair_steps`)."""
    n = len(slope)
    near = np.zeros((n, len(lo) + 1), dtype=bool)
    near[:, :-1] |= _near_lowest(at_lo)
    near[:, 1:] |= _near_lowest(at_hi)
    if lo[0] == 0:
        near[:, 0] = False
    together = np.zeros((n, n), dtype=bool)
    _pair_groups(near, together)
    start, end = at_lo.argmin(axis=0), at_hi.argmin(axis=0)
    changed = np.flatnonzero(end[:-1] != start[1:])  # the cheapest changes at hi[changed]
    _pair_steps(at_hi[:, changed], at_lo[:, changed + 1], together)
    _walk_envelope(at_lo, slope, lo, hi, start, end, together)
    together |= together.T
    return [(int(i), int(j)) for i, j in zip(*np.nonzero(np.triu(together, 1)))]


def _near_lowest(values: np.ndarray) -> np.ndarray:
    """Per column, the rows within ``NEAR`` of the column's lowest value."""
    low = values.min(axis=0)
    return values <= low + NEAR * np.maximum(1.0, np.abs(low))


def _pair_groups(member: np.ndarray, together: np.ndarray) -> None:
    """Mark in ``together`` every pair of rows that are members of one column (no BLAS: its
    threads spin on a busy machine)."""
    member = member[:, member.sum(axis=0) > 1]
    if member.shape[1]:
        member = np.unique(member, axis=1)
        together |= (member[:, None, :] & member[None, :, :]).any(axis=2)


def _pair_steps(before, after, together) -> None:
    """At step volumes where the cheapest changes (columns: every option's cost at the volume
    and just after), pair each option that steps up there with every option its cost crosses
    there (within ``NEAR``): ties are broken by order, so any such pair can report it."""
    tol = NEAR * np.maximum(1.0, np.maximum(np.abs(before), np.abs(after)).max(axis=0))
    for col in range(before.shape[1]):
        b, a, t = before[:, col], after[:, col], tol[col]
        for c in np.flatnonzero(a > b):
            together[c, (b[c] - b <= t) & (a[c] - a >= -t)] = True


def _walk_envelope(at_lo, slope, lo, hi, start, end, together) -> None:
    """Mark in ``together`` each pair of lines that meet on the lower envelope inside an
    interval. Line ``i`` in interval ``k`` is ``at_lo[i, k] + slope[i] * t`` for t in
    [0, hi[k] - lo[k]]. From the cheapest at t = 0 the envelope moves to the line that undercuts it
    first; all lines within ``NEAR`` of the envelope there are paired (ties, lines
    crossing at one point). Slopes only fall along the envelope, so this takes
    at most one step per distinct slope. Intervals whose cheapest is the same at both ends
    have one line on the envelope and are skipped."""
    walk = np.flatnonzero(start != end)
    cur, t_cur = start[walk], np.zeros(len(walk))
    while len(walk):
        base = at_lo[:, walk]
        flatter = slope[cur][None, :] - slope[:, None]
        with np.errstate(divide="ignore", invalid="ignore"):
            t = np.where(flatter > 0, (base - base[cur, np.arange(len(walk))]) / flatter, np.inf)
        t = np.maximum(t, t_cur)
        t_min = t.min(axis=0)
        go = t_min < (hi - lo)[walk]
        turn = go & (lo[walk] + t_min > 0)  # ties at zero volume are no crossings
        _pair_groups(_near_lowest(base[:, turn] + slope[:, None] * t_min[turn]), together)
        nxt = np.where(t == t_min, slope[:, None], np.inf).argmin(axis=0)
        walk, cur, t_cur = walk[go], nxt[go], t_min[go]
