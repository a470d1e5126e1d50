"""Performance figures of an equity curve (pure functions; floats, these are statistics).

Returns are simple per-bar returns; annualised with the bar's periods per year (365-day years,
crypto trades every day). Sharpe and Sortino use a zero risk-free rate. The drawdown duration is
the longest time from a peak to the first recovery of that peak (or to the end, if none).
"""

from __future__ import annotations

import math

import numpy as np

YEAR_NS = 365 * 86400 * 1_000_000_000


def returns(nav) -> "np.ndarray":
    v = np.asarray(nav, dtype=float)
    if len(v) < 2:
        return np.empty(0)
    a, b = v[:-1], v[1:]
    keep = a > 0
    return b[keep] / a[keep] - 1.0


def cagr(nav, ts) -> float:
    if len(nav) < 2 or nav[0] <= 0 or ts[-1] <= ts[0]:
        return 0.0
    years = (ts[-1] - ts[0]) / YEAR_NS
    return (nav[-1] / nav[0]) ** (1.0 / years) - 1.0 if nav[-1] > 0 else -1.0


def _mean_std(xs) -> tuple[float, float]:
    x = np.asarray(xs, dtype=float)
    if len(x) < 2:
        return 0.0, 0.0
    return float(x.mean()), float(x.std(ddof=1))


def volatility(rets, periods_per_year: float) -> float:
    return _mean_std(rets)[1] * math.sqrt(periods_per_year)


def sharpe(rets, periods_per_year: float) -> float:
    m, s = _mean_std(rets)
    return m / s * math.sqrt(periods_per_year) if s > 0 else 0.0


def sortino(rets, periods_per_year: float) -> float:
    r = np.asarray(rets, dtype=float)
    if len(r) < 2:
        return 0.0
    m = float(r.mean())
    down = math.sqrt(float((np.minimum(r, 0.0) ** 2).mean()))
    return m / down * math.sqrt(periods_per_year) if down > 0 else 0.0


def drawdowns(nav) -> list[float]:
    v = np.asarray(nav, dtype=float)
    if not len(v):
        return []
    peak = np.maximum.accumulate(v)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(peak > 0, v / peak - 1.0, 0.0).tolist()


def max_drawdown(nav, ts) -> tuple[float, int]:
    """(deepest drawdown as a negative fraction, longest peak-to-recovery duration in ns)."""
    v = np.asarray(nav, dtype=float)
    t = np.asarray(ts, dtype=np.int64)
    if not len(v):
        return 0.0, 0
    peak = np.maximum.accumulate(v)
    # a bar at or above every earlier one is a peak (a recovery of the last one)
    is_peak = np.r_[True, v[1:] >= peak[:-1]]
    peak_ts = t[is_peak]
    longest = int(np.diff(peak_ts).max()) if len(peak_ts) > 1 else 0
    if v[-1] < peak[-1]:
        longest = max(longest, int(t[-1] - peak_ts[-1]))
    with np.errstate(divide="ignore", invalid="ignore"):
        worst = float(np.min(np.where(is_peak, 0.0, v / peak - 1.0)))
    return min(worst, 0.0), longest
