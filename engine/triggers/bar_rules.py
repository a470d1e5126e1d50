"""The seeds' bar rules, each with its own entry and exit (seed 002's matrix of conditions).

Every rule reads only the closed bars in `MarketStats` (no state of its own but whether it is
active and, for a support breach, the level it broke), so a replay, a live run and a backtest
over the same bars enter and exit on the same bars. σ is the sample standard deviation of the
closes (n − 1, as pandas' `rolling().std()`).
"""

from __future__ import annotations

import math
import statistics

from engine.core.errors import ConfigError
from engine.portfolio.stats import MarketStats
from engine.triggers.rules import Signal, atr_ratio


class EntryExit(Signal):
    """Enters when `entry` holds; once active, stays so until `exit` holds."""

    def entry(self, stats: MarketStats) -> bool | None:  # pragma: no cover - interface
        raise NotImplementedError

    def exit(self, stats: MarketStats) -> bool | None:  # pragma: no cover - interface
        raise NotImplementedError

    def condition(self, stats: MarketStats) -> bool | None:
        return self.entry(stats)

    def update(self, stats: MarketStats) -> bool:
        self.exited = False
        if not self.active:
            if self.entry(stats):
                self.active = True
                return True
            return False
        if self.exit(stats):
            self.active = False
            self.exited = True
        return False


def _closes(stats: MarketStats, asset: str, n: int) -> list[float] | None:
    b = stats.bars.get(asset)
    if b is None or len(b) < n:
        return None
    return [x[3] for x in list(b)[-n:]]


def _sma_at(closes: list[float], period: int, end: int) -> float:
    """SMA of `period` closes ending at index `end` (inclusive)."""
    return sum(closes[end - period + 1:end + 1]) / period


def _positive(**kw: float) -> None:
    for k, v in kw.items():
        if not v > 0:
            raise ConfigError(f"{k} must be > 0, got {v}")


class AtrSpike(EntryExit):
    """Volatility spike: ATR(`period`) up ≥ `expansion` (0.5: 50%) over `lookback` bars;
    exits when ATR is back at (or below) its median over the last `median_bars` bars."""

    def __init__(self, asset: str, period: int = 14, lookback: int = 7, expansion: float = 0.5,
                 median_bars: int = 30, name: str = "atr_spike") -> None:
        _positive(period=period, lookback=lookback, expansion=expansion, median_bars=median_bars)
        self.asset, self.period, self.lookback, self.expansion = asset, period, lookback, expansion
        self.median_bars, self.name = median_bars, name

    def entry(self, stats: MarketStats) -> bool | None:
        self.value = atr_ratio(stats, self.asset, self.period, self.lookback)
        return None if self.value is None else self.value >= 1.0 + self.expansion

    def exit(self, stats: MarketStats) -> bool | None:
        atrs = [stats.atr(self.asset, self.period, k) for k in range(self.median_bars)]
        if any(a is None for a in atrs):
            return None
        med = statistics.median(atrs)
        self.value = atrs[0] / med if med > 0 else None  # flat bars: no range at all
        return atrs[0] <= med


class SmaTrend(EntryExit):
    """Close below (`below`) or above its SMA(`period`); exits after `exit_after` closes in a
    row on the other side of their SMA ("close below SMA(200), exit after 3 closes above")."""

    def __init__(self, asset: str, period: int = 200, below: bool = True, exit_after: int = 3,
                 name: str = "sma_trend") -> None:
        _positive(period=period, exit_after=exit_after)
        self.asset, self.period, self.below, self.exit_after = asset, period, below, exit_after
        self.name = name

    def _side(self, closes: list[float], end: int) -> bool:
        """Whether the close at `end` is on the entry side of its SMA."""
        sma = _sma_at(closes, self.period, end)
        return closes[end] < sma if self.below else closes[end] > sma

    def entry(self, stats: MarketStats) -> bool | None:
        c = _closes(stats, self.asset, self.period)
        if c is None:
            return None
        self.value = c[-1] / _sma_at(c, self.period, len(c) - 1)
        return self._side(c, len(c) - 1)

    def exit(self, stats: MarketStats) -> bool | None:
        n = self.period + self.exit_after - 1
        c = _closes(stats, self.asset, n)
        if c is None:
            return None
        self.value = c[-1] / _sma_at(c, self.period, n - 1)
        return not any(self._side(c, k) for k in range(n - self.exit_after, n))


class SmaCross(EntryExit):
    """SMA(`fast`) above SMA(`slow`) (`golden`) or below it (a death cross); exits on the
    opposite cross."""

    def __init__(self, asset: str, fast: int = 50, slow: int = 200, golden: bool = True,
                 name: str = "sma_cross") -> None:
        _positive(fast=fast, slow=slow)
        if fast >= slow:
            raise ConfigError(f"sma_cross needs fast < slow, got {fast} and {slow}")
        self.asset, self.fast, self.slow, self.golden, self.name = asset, fast, slow, golden, name

    def _above(self, stats: MarketStats) -> bool | None:
        c = _closes(stats, self.asset, self.slow)
        if c is None:
            return None
        f, s = _sma_at(c, self.fast, len(c) - 1), _sma_at(c, self.slow, len(c) - 1)
        self.value = f / s
        return f > s

    def entry(self, stats: MarketStats) -> bool | None:
        a = self._above(stats)
        return None if a is None else a == self.golden

    def exit(self, stats: MarketStats) -> bool | None:
        a = self._above(stats)
        return None if a is None else a != self.golden


class SigmaBand(EntryExit):
    """Close more than `k` σ above (`above`) or below its SMA(`period`); exits once the close
    is back within `exit_k` σ of it (0: back across the SMA)."""

    def __init__(self, asset: str, period: int = 20, k: float = 2.0, above: bool = True,
                 exit_k: float = 0.0, name: str = "sigma_band") -> None:
        _positive(period=period, k=k)
        if period < 2 or not 0 <= exit_k < k:
            raise ConfigError(f"sigma_band needs period >= 2 and 0 <= exit_k < k, got "
                              f"{period}, {exit_k}, {k}")
        self.asset, self.period, self.k, self.above = asset, period, k, above
        self.exit_k, self.name = exit_k, name

    def _z(self, stats: MarketStats) -> float | None:
        c = _closes(stats, self.asset, self.period)
        if c is None:
            return None
        sd = statistics.stdev(c)
        if sd == 0:
            return None
        z = (c[-1] - sum(c) / self.period) / sd
        self.value = z
        return z if self.above else -z

    def entry(self, stats: MarketStats) -> bool | None:
        z = self._z(stats)
        return None if z is None else z > self.k

    def exit(self, stats: MarketStats) -> bool | None:
        z = self._z(stats)
        return None if z is None else z <= self.exit_k


class SupportBreach(EntryExit):
    """Support breakdown: the last `closes` closes all below the support, the lowest low of the
    `lookback` bars before them (or a configured `level`); exits after `hold` closes in a row
    at or above the level it broke."""

    def __init__(self, asset: str, closes: int = 2, lookback: int = 30,
                 level: float | None = None, hold: int = 3,
                 name: str = "support_breach") -> None:
        _positive(closes=closes, lookback=lookback, hold=hold)
        if level is not None and not (math.isfinite(level) and level > 0):
            raise ConfigError(f"support level must be a positive price, got {level}")
        self.asset, self.closes, self.lookback, self.level = asset, closes, lookback, level
        self.hold, self.name = hold, name
        self.broken: float | None = None  # the level it broke, while active

    def support(self, stats: MarketStats) -> float | None:
        if self.level is not None:
            return self.level
        b = stats.bars.get(self.asset)
        if b is None or len(b) < self.lookback + self.closes:
            return None
        window = list(b)[-(self.lookback + self.closes):-self.closes]
        return min(x[2] for x in window)

    def entry(self, stats: MarketStats) -> bool | None:
        lvl = self.support(stats)
        c = _closes(stats, self.asset, self.closes)
        if lvl is None or c is None:
            return None
        self.value = c[-1] / lvl
        if all(x < lvl for x in c):
            self.broken = lvl
            return True
        return False

    def exit(self, stats: MarketStats) -> bool | None:
        c = _closes(stats, self.asset, self.hold)
        if c is None or self.broken is None:
            return None
        self.value = c[-1] / self.broken
        if all(x >= self.broken for x in c):
            self.broken = None
            return True
        return False
