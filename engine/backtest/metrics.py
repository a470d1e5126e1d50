"""Performance figures of an equity curve (pure functions; floats, these are statistics).

Returns are simple per-bar returns; annualised with the bar's periods per year (365-day years,
crypto trades every day). Sharpe and Sortino use a zero risk-free rate. The drawdown duration is
the longest time from a peak to the first recovery of that peak (or to the end, if none).
"""

from __future__ import annotations

import math

YEAR_NS = 365 * 86400 * 1_000_000_000


def returns(nav: list[float]) -> list[float]:
    return [b / a - 1.0 for a, b in zip(nav, nav[1:]) if a > 0]


def cagr(nav: list[float], ts: list[int]) -> float:
    if len(nav) < 2 or nav[0] <= 0 or ts[-1] <= ts[0]:
        return 0.0
    years = (ts[-1] - ts[0]) / YEAR_NS
    return (nav[-1] / nav[0]) ** (1.0 / years) - 1.0 if nav[-1] > 0 else -1.0


def _mean_std(xs: list[float]) -> tuple[float, float]:
    n = len(xs)
    if n < 2:
        return 0.0, 0.0
    m = sum(xs) / n
    var = sum((x - m) ** 2 for x in xs) / (n - 1)
    return m, math.sqrt(var)


def volatility(rets: list[float], periods_per_year: float) -> float:
    return _mean_std(rets)[1] * math.sqrt(periods_per_year)


def sharpe(rets: list[float], periods_per_year: float) -> float:
    m, s = _mean_std(rets)
    return m / s * math.sqrt(periods_per_year) if s > 0 else 0.0


def sortino(rets: list[float], periods_per_year: float) -> float:
    if len(rets) < 2:
        return 0.0
    m = sum(rets) / len(rets)
    down = math.sqrt(sum(min(0.0, r) ** 2 for r in rets) / len(rets))
    return m / down * math.sqrt(periods_per_year) if down > 0 else 0.0


def drawdowns(nav: list[float]) -> list[float]:
    out, peak = [], -math.inf
    for v in nav:
        peak = max(peak, v)
        out.append(v / peak - 1.0 if peak > 0 else 0.0)
    return out


def max_drawdown(nav: list[float], ts: list[int]) -> tuple[float, int]:
    """(deepest drawdown as a negative fraction, longest peak-to-recovery duration in ns)."""
    peak, peak_ts, worst, longest = -math.inf, ts[0] if ts else 0, 0.0, 0
    for v, t in zip(nav, ts):
        if v >= peak:
            longest = max(longest, t - peak_ts)
            peak, peak_ts = v, t
        else:
            worst = min(worst, v / peak - 1.0)
    if ts:
        longest = max(longest, ts[-1] - peak_ts) if nav[-1] < peak else longest
    return worst, longest
