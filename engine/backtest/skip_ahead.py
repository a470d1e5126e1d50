"""Skipping the bars on which no rule can fire: a bar backtest at array speed, same decisions.

Between two trades a spot portfolio's holdings are fixed, so over the bars until the next
decision its NAV and weights are plain array arithmetic on the close columns:
`nav[t] = K + Σ qᵢ·closeᵢ[t]`, `wᵢ[t] = qᵢ·closeᵢ[t] / nav[t]`. Only the bars where a rule's
state can change go through the full pipeline (portfolio, strategy, trigger actor, risk guard,
bar fills), exactly as every bar does without this path:

- a calendar rule: the first bar at or after its next period start (`Schedule._next`);
- a drift band: an armed band's first bar whose worst drift ratio reaches the band (found on
  the arrays, with a small margin so float rounding can only add a bar to look at, never drop
  one), a disarmed band's first bar back inside `band × (1 − hysteresis)`;
- none (buy and hold): no bar at all after the initial allocation.

At such a bar the portfolio is re-marked at every instrument's latest close (and the market
statistics caught up bar by bar, when the strategy reads them), then the bar's own events run
through the pipeline, and its rule decides. The metrics of the skipped bars (NAV, tracking error,
time in band, sampled weights) come from the same arrays.

Which runs qualify (`refusal` says why not): spot instruments only (no funding, margin or
liquidation path), one instrument per underlying in one quote currency, no signal rules,
regimes, rolls or carry moves (they look at every bar's statistics), and a drift band only with
targets that do not move between decisions (`Strategy.reads_stats` false). Everything else runs
every bar through the pipeline; `tests/backtest/test_skip_ahead.py` holds the two paths equal.
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from engine.backtest.data import BarData
from engine.node.pipeline import Pipeline
from engine.portfolio.state import Portfolio
from engine.triggers.actor import TriggerActor

# a drift ratio this close to its limit is looked at through the pipeline (whose own float
# sums decide); the arrays sum in another order and may differ in the last bits
_MARGIN = 1e-9
_FIRST_WINDOW = 256  # bars searched for a drift breach at once, doubled until one is found
_SCALAR_BARS = 4  # bars looked at one by one before that (tight bands are crossed again soon)
_INF = float("inf")


def refusal(portfolio: Portfolio, trigger: TriggerActor, data: BarData,
            detail: bool) -> str | None:
    """Why this run must take every bar through the pipeline, or None when it may skip."""
    if detail:
        return "an export records every bar"
    if data.funding_at:
        return "funding settlements"
    if trigger.signals or trigger.regimes is not None or trigger.roll is not None \
            or trigger.carry is not None:
        return "signal rules, regimes, rolls or carry moves look at every bar"
    insts = portfolio.instruments
    if any(i.kind != "spot" for i in insts.values()):
        return "futures (margin and funding move with every bar)"
    cols = set(data.columns.symbols)
    if not set(insts) <= cols:
        return "an instrument without bars"
    bases = [i.base for i in insts.values()]
    if len(set(bases)) != len(bases) or set(bases) != set(portfolio.assets):
        return "an underlying with more or fewer than one spot instrument"
    if len({i.quote for i in insts.values()}) != 1:
        return "more than one quote currency"
    if trigger.drift is not None and trigger.strategy.reads_stats:
        return "a drift band around targets that move with every bar"
    return None


class SkipAhead:
    """Runs the bars after the start: `step(k)` is the full pipeline for bar group `k` (the
    caller's, metrics included); `tally` takes the skipped bars' metrics."""

    def __init__(self, data: BarData, portfolio: Portfolio, pipe: Pipeline,
                 trigger: TriggerActor, feed_stats: bool) -> None:
        self.data, self.portfolio, self.pipe, self.trigger = data, portfolio, pipe, trigger
        c = data.columns
        self.ts = np.asarray(c.ts)
        insts = portfolio.instruments
        # the traded instruments' columns, in the portfolio's asset order
        by_base = {insts[s].base: i for i, s in enumerate(c.symbols) if s in insts}
        self.assets = list(portfolio.assets)
        self.cols = [by_base[a] for a in self.assets]
        self.symbols = [c.symbols[i] for i in self.cols]
        close = np.asarray(c.ohlcv[3])[:, self.cols]
        has = ~np.isnan(close)
        # each bar's latest close per instrument (a missing bar leaves the last one standing)
        # and the close time it came with (the risk guard's price age)
        t = len(self.ts)
        last = np.where(has, np.arange(t)[:, None], -1)
        np.maximum.accumulate(last, axis=0, out=last)
        self.close = np.where(last >= 0, close[np.maximum(last, 0), np.arange(len(self.cols))],
                              np.nan)
        self.close_ts = np.where(last >= 0, self.ts[np.maximum(last, 0)], 0)
        self.feed_stats = feed_stats
        self._fed = 0  # bars whose statistics are in (every bar before the start is)
        self._stepped = -1  # the last bar group taken through the pipeline
        self._band_key: tuple | None = None
        self._band_of: tuple[list[int], list[float], list[float]] = ([], [], [])

    # -- the loop -----------------------------------------------------------------------
    def run(self, k: int, step: Callable[[int], None], tally) -> None:
        n = len(self.ts)
        self._fed = k
        self._stepped = k - 1  # the caller's start went bar by bar
        sched, drift = self.trigger.schedule, self.trigger.drift
        while k < n:
            q = np.array([float(self.portfolio.holdings.get(a, 0)) for a in self.assets])
            px = np.array([self.portfolio.px.get(a, 0.0) for a in self.assets])
            base_nav = self.portfolio.nav - float(q @ px)
            stop = n if sched is None else min(n, int(np.searchsorted(self.ts, sched._next)))
            stop = max(stop, k)
            hit = stop
            tgt = self.trigger.targets or {}
            if drift is not None and stop > k:
                hit = self._drift_hit(k, stop, q, base_nav, drift,
                                      self.trigger.current_targets())
                tgt = self.trigger.targets or {}
            if hit > k:
                tally(k, hit, self._weights(k, hit, q, base_nav), tgt)
            if hit >= n:
                return
            self._mark(hit)
            step(hit)
            k = hit + 1

    def _weights(self, a: int, b: int, q: np.ndarray, base_nav: float):
        value = self.close[a:b] * q
        nav = base_nav + value.sum(axis=1)
        return nav, value / nav[:, None]

    def _drift_hit(self, k: int, stop: int, q, base_nav: float, drift, targets) -> int:
        """The first bar in [k, stop) at which the band's state can change; `stop` if none."""
        key = tuple(targets.items())
        if key != self._band_key:  # the targets' columns and bands, kept while they hold
            self._band_key = key
            self._band_of = ([self.assets.index(a) if a in self.assets else -1
                              for a in targets], [t for _, t in key],
                             [drift.band(t) for _, t in key])
        idx, tv_l, bands_l = self._band_of
        armed = drift.armed
        limit = 1.0 - _MARGIN if armed else 1.0 - drift.hysteresis + _MARGIN
        a = self._drift_scan(k, min(stop, k + _SCALAR_BARS), q.tolist(), base_nav, idx, tv_l,
                             bands_l, armed, limit)
        if a < 0:
            return -a - 1
        tv = np.array(tv_l)
        bands = np.array(bands_l)
        w = _FIRST_WINDOW
        while a < stop:
            b = min(stop, a + w)
            nav, wts = self._weights(a, b, q, base_nav)
            cur = np.stack([wts[:, i] if i >= 0 else np.zeros(b - a) for i in idx], axis=1)
            d = np.abs(cur - tv)
            with np.errstate(divide="ignore", invalid="ignore"):
                ratio = np.where(d == 0, 0.0, np.where(bands > 0, d / bands, np.inf))
            worst = ratio.max(axis=1) if ratio.shape[1] else np.zeros(b - a)
            found = np.flatnonzero(worst > limit if armed else worst <= limit)
            if len(found):
                return a + int(found[0])
            a = b
            w *= 2
        return stop

    def _drift_scan(self, a: int, b: int, q: list[float], base_nav: float, idx: list[int],
                    tv: list[float], bands: list[float], armed: bool, limit: float) -> int:
        """Bars [a, b) one at a time, as floats: a tight band is usually crossed again within
        a bar or two, where numpy's per-call cost over a window would dominate. The sums may
        differ from numpy's in the last bit; both sit `_MARGIN` inside the rule's own edge,
        so either reports a bar early rather than miss one. Returns -(j+1)
        for a bar j where the band's state can change, else the bar to go on from (a bar with
        no price yet is left to the vectorised search, which treats NaN as numpy does)."""
        close = self.close
        for j in range(a, b):
            row = close[j].tolist()
            value = [c * x for c, x in zip(row, q)]
            nav = base_nav + sum(value)
            if not nav or nav != nav:  # no NAV, or a price missing: numpy's rules decide
                return j
            worst = 0.0
            for i, t, band in zip(idx, tv, bands):
                d = abs((value[i] / nav if i >= 0 else 0.0) - t)
                r = 0.0 if d == 0 else (d / band if band > 0 else _INF)
                if r != r:
                    return j
                if r > worst:
                    worst = r
            if (worst > limit) if armed else (worst <= limit):
                return -j - 1
        return b

    def _mark(self, j: int) -> None:
        """The state the full path would hold just before bar group `j`: every instrument at
        its latest close, the statistics fed every bar up to it."""
        if self.feed_stats:
            self._feed(self._fed, j)
        self._fed = j + 1
        last, self._stepped = self._stepped, j
        if j == 0 or last == j - 1:
            return  # the bar before went through the pipeline: its closes are the marks
        remark = self.pipe.remark  # the portfolio's one writer
        row, row_ts = self.close[j - 1].tolist(), self.close_ts[j - 1].tolist()
        for sym, px, ts in zip(self.symbols, row, row_ts):
            if px == px:
                remark(sym, px, ts)

    def _feed(self, a: int, b: int) -> None:
        """Bars [a, b) into the market statistics, as the pipeline feeds a bar: its bar
        statistics (from its asset's bar source) and its close as a price sample."""
        if b <= a:
            return
        c = self.data.columns
        stats, src = self.pipe.stats, self.pipe.bar_source
        insts = self.portfolio.instruments
        ts_l = self.ts[a:b].tolist()
        for i, sym in enumerate(c.symbols):
            if sym not in insts:
                continue
            asset = insts[sym].base
            cl = np.asarray(c.ohlcv[3][a:b, i])
            has = cl == cl  # NaN: no bar there
            closes = cl[has].tolist()
            if not closes:
                continue
            ts_has = ts_l if has.all() else np.asarray(self.ts[a:b])[has].tolist()
            bars = None
            if src.get(asset, sym) == sym:
                bars = list(zip(*(np.asarray(c.ohlcv[j][a:b, i])[has].tolist()
                                  for j in range(3)), closes))
            stats.on_bars(asset, bars, closes, ts_has)
            stats.spot_px[asset] = closes[-1]
