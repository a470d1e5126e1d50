"""Trigger rules: pure objects that look at what changed and say whether to rebalance.

Weight rules (`DriftBand`, `Schedule`) run on every portfolio update; signal rules (ATR
expansion, funding streak, basis, SMA break, correlation) run when their input changes (a bar
close, a funding settlement, a price sample) and are edge-triggered: they fire when their
condition becomes true and re-arm when it turns false. All times are the injected clock's ns.
"""

from __future__ import annotations

import msgspec

from engine.core.errors import ConfigError
from engine.portfolio.stats import MarketStats


class Breach(msgspec.Struct, frozen=True, kw_only=True):
    rule: str
    reason: str
    weights: dict[str, float]  # target weights to trade to


class DriftBand:
    """Weight drift outside an absolute (|w − w*| > abs_band) or relative
    (|w − w*| > rel_band × w*) band.

    `mode="target"` trades back to the targets, `"edge"` only to the nearest band edge. After a
    fire the rule stays quiet until every drift is back inside `band × (1 − hysteresis)` and
    `cooldown_ns` has passed; a fire whose trades would total less than `min_trade_notional`
    is suppressed.
    """

    name = "drift"

    def __init__(self, abs_band: float | None = 0.03, rel_band: float | None = None,
                 mode: str = "target", hysteresis: float = 0.0, cooldown_ns: int = 0,
                 min_trade_notional: float = 0.0) -> None:
        if abs_band is None and rel_band is None:
            raise ConfigError("drift rule needs abs_band or rel_band")
        for name, v in (("abs_band", abs_band), ("rel_band", rel_band)):
            if v is not None and v <= 0:
                raise ConfigError(f"drift {name} must be positive, got {v}")
        if mode not in ("target", "edge"):
            raise ConfigError(f"drift mode must be 'target' or 'edge', got {mode!r}")
        if not 0.0 <= hysteresis < 1.0:
            raise ConfigError(f"hysteresis must be in [0, 1), got {hysteresis}")
        if cooldown_ns < 0 or min_trade_notional < 0:
            raise ConfigError("cooldown and min_trade_notional must not be negative")
        self.abs_band, self.rel_band, self.mode = abs_band, rel_band, mode
        self.hysteresis, self.cooldown_ns = hysteresis, cooldown_ns
        self.min_trade_notional = min_trade_notional
        self.armed = True
        self.last_fire: int | None = None

    def _edges(self, weights: dict[str, float], targets: dict[str, float]) -> dict[str, float]:
        """Assets outside their band go to the nearest edge; what that frees or needs is
        spread over the assets inside their bands in proportion to their targets (clamped to
        their own bands), so the book stays as invested as the targets say."""
        new, inside = {}, []
        for a, t in targets.items():
            w = weights.get(a, 0.0)
            b = self.band(t)
            if w > t + b:
                new[a] = t + b
            elif w < t - b:
                new[a] = t - b
            else:
                new[a] = w
                inside.append(a)
        rest = sum(targets.values()) - sum(new.values())
        share = sum(abs(targets[a]) for a in inside)
        if inside and share > 0 and abs(rest) > 1e-12:
            for a in inside:
                t, b = targets[a], self.band(targets[a])
                new[a] = min(t + b, max(t - b, new[a] + rest * abs(t) / share))
        return new

    def rearm(self) -> None:
        """The rebalance this rule asked for is done: watch for the next breach (a bar
        backtest fills at once and sees the next state only a bar later)."""
        self.armed = True

    def band(self, target: float) -> float:
        if self.abs_band is not None:
            return self.abs_band
        return self.rel_band * abs(target)

    def check(self, weights: dict[str, float], targets: dict[str, float], nav: float,
              now: int) -> Breach | None:
        worst = None
        worst_ratio = 0.0
        band_of = self.band
        for a, t in targets.items():
            d = weights.get(a, 0.0) - t
            b = band_of(t)
            if d == 0:
                ratio = 0.0  # on target (a zero target has a zero relative band)
            else:
                ratio = (d if d >= 0 else -d) / b if b > 0 else float("inf")
            if ratio > worst_ratio:
                worst_ratio, worst = ratio, a
        if not self.armed:
            if worst_ratio <= 1.0 - self.hysteresis:
                self.armed = True
            return None
        if worst is None or worst_ratio <= 1.0:
            return None
        band = band_of(targets[worst])
        if self.last_fire is not None and now - self.last_fire < self.cooldown_ns:
            return None
        if self.mode == "target":
            new = dict(targets)
        else:
            new = self._edges(weights, targets)
        traded = sum(abs(new[a] - weights.get(a, 0.0)) for a in new) * nav
        if traded < self.min_trade_notional:
            return None
        self.armed = False
        self.last_fire = now
        return Breach(rule=self.name,
                      reason=f"{worst} weight {weights.get(worst, 0.0):.4f} vs target "
                             f"{targets[worst]:.4f} (band {band:.4f})",
                      weights=new)


class Schedule:
    """Rebalance on the first update of each new period: a calendar day, week or month
    (`every`, see `engine.triggers.calendar`) or a fixed `every_ns` interval since the epoch."""

    name = "schedule"

    def __init__(self, every_ns: int | None = None, every: str | None = None) -> None:
        from engine.triggers.calendar import period_of

        if (every_ns is None) == (every is None):
            raise ConfigError("schedule needs one of every_ns or every")
        if every_ns is not None and every_ns <= 0:
            raise ConfigError(f"schedule interval must be positive, got {every_ns}")
        from engine.triggers.calendar import Period

        try:
            self.period = period_of(every) if every is not None else Period("fixed", every_ns)
        except ValueError as exc:
            raise ConfigError(f"schedule every: {exc}") from None
        self.slot_of = self.period.slot
        self.every = every
        self.slot: int | None = None
        self._next = 0  # no period boundary before this time: nothing to look at

    def check(self, now: int) -> bool:
        if now < self._next:  # the hot path: one comparison per update
            return False
        slot = self.slot_of(now)
        self._next = self.period.next_start(now)
        if self.slot is None:
            self.slot = slot
            return False
        if slot > self.slot:
            self.slot = slot
            return True
        return False


class Signal:
    """An edge-triggered condition over market statistics: it enters when its condition
    becomes true and exits when it turns false (`exited` says so after an `update`).
    `value` is what the condition last compared (for the signal log)."""

    name = "signal"
    active = False
    exited = False
    value: float | None = None

    def condition(self, stats: MarketStats) -> bool | None:  # pragma: no cover - interface
        raise NotImplementedError

    def update(self, stats: MarketStats) -> bool:
        """Re-evaluate; True when the condition has just become true."""
        c = self.condition(stats)
        self.exited = False
        if c is None:
            return False
        fired = c and not self.active
        self.exited = self.active and not c
        self.active = c
        return fired


class AtrExpansion(Signal):
    """ATR(period) now ≥ (1 + expansion) × ATR(period) `lookback` bars ago."""

    def __init__(self, asset: str, period: int = 14, lookback: int = 7, expansion: float = 0.5,
                 name: str = "atr_expansion") -> None:
        if period < 1 or lookback < 1 or expansion <= 0:
            raise ConfigError("atr_expansion needs period >= 1, lookback >= 1, expansion > 0")
        self.asset, self.period, self.lookback, self.expansion = asset, period, lookback, expansion
        self.name = name

    def condition(self, stats: MarketStats) -> bool | None:
        self.value = atr_ratio(stats, self.asset, self.period, self.lookback)
        return None if self.value is None else self.value >= 1.0 + self.expansion


def atr_ratio(stats: MarketStats, asset: str, period: int, lookback: int) -> float | None:
    """ATR(period) now over ATR(period) `lookback` bars ago (None until both exist)."""
    now = stats.atr(asset, period)
    then = stats.atr(asset, period, lookback)
    if now is None or then is None or then <= 0:
        return None
    return now / then


class FundingStreak(Signal):
    """Funding above `threshold` for the last `k` settlements of `symbol`."""

    def __init__(self, symbol: str, threshold: float, k: int, name: str = "funding_streak") -> None:
        if k < 1:
            raise ConfigError(f"funding streak k must be >= 1, got {k}")
        self.symbol, self.threshold, self.k, self.name = symbol, threshold, k, name

    def condition(self, stats: MarketStats) -> bool | None:
        if not stats.funding.get(self.symbol):
            return None
        return stats.funding_streak(self.symbol, self.threshold) >= self.k


class SmaBreak(Signal):
    """Last close below (or, with `above=True`, above) its `period`-bar simple moving average,
    by more than `margin` (a fraction of the average) to keep it from flapping."""

    def __init__(self, asset: str, period: int, above: bool = False, margin: float = 0.0,
                 name: str = "sma_break") -> None:
        if period < 1:
            raise ConfigError(f"sma period must be >= 1, got {period}")
        if not 0.0 <= margin < 1.0:
            raise ConfigError(f"sma margin must be in [0, 1), got {margin}")
        self.asset, self.period, self.above, self.name = asset, period, above, name
        self.margin = margin

    def condition(self, stats: MarketStats) -> bool | None:
        sma, close = stats.sma(self.asset, self.period), stats.last_close(self.asset)
        if sma is None or close is None:
            return None
        self.value = close / sma
        if self.above:
            return close > sma * (1.0 + self.margin)
        return close < sma * (1.0 - self.margin)


class CorrelationAbove(Signal):
    """Rolling correlation of two assets' sampled returns above `threshold`."""

    def __init__(self, a: str, b: str, threshold: float, window: int | None = None,
                 min_returns: int = 20, name: str = "correlation") -> None:
        if not -1.0 <= threshold <= 1.0:
            raise ConfigError(f"correlation threshold must be in [-1, 1], got {threshold}")
        self.a, self.b, self.threshold, self.window = a, b, threshold, window
        self.min_returns, self.name = min_returns, name

    def condition(self, stats: MarketStats) -> bool | None:
        rows = stats.aligned([self.a, self.b], self.window)
        if rows is None or len(rows[0]) < self.min_returns:
            return None
        c = stats.correlation(self.a, self.b, len(rows[0]))
        return None if c is None else c > self.threshold
