"""The seeds' funding, basis and open-interest rules, each with its own entry and exit.

Funding rules read settled rates (one per funding interval) from `MarketStats.funding`; the
basis rule annualises a perp's premium by what it earns: its funding rate per interval times
the intervals in a year (the premium itself is a price gap, not a yield), and a dated
contract's basis by its days to expiry; the open-interest rule reads the samples polled from
the venue (`MarketStats.on_open_interest`).
"""

from __future__ import annotations

import math

from engine.core.errors import ConfigError
from engine.portfolio.stats import MarketStats
from engine.triggers.bar_rules import EntryExit

YEAR_HOURS = 365 * 24


class FundingRich(EntryExit):
    """Funding above `threshold` for `k` settlements in a row, or (with `high`) above `high`
    for every settlement of the last `high_hours`; exits after `exit_after` settlements in a
    row at or below `threshold` ("funding above +0.05% for 3 settlements")."""

    def __init__(self, symbol: str, threshold: float = 0.0005, k: int = 3,
                 high: float | None = 0.001, high_hours: float = 48, interval_hours: float = 8,
                 exit_after: int = 3, name: str = "funding_rich") -> None:
        if k < 1 or exit_after < 1 or interval_hours <= 0 or high_hours <= 0:
            raise ConfigError("funding_rich needs k >= 1, exit_after >= 1 and positive hours")
        self.symbol, self.threshold, self.k, self.high = symbol, threshold, k, high
        self.high_n = max(1, math.ceil(high_hours / interval_hours))
        self.exit_after, self.name = exit_after, name

    def entry(self, stats: MarketStats) -> bool | None:
        h = stats.funding.get(self.symbol)
        if not h:
            return None
        self.value = h[-1]
        if stats.funding_streak(self.symbol, self.threshold) >= self.k:
            return True
        last = list(h)[-self.high_n:]
        return self.high is not None and len(last) == self.high_n and \
            all(r > self.high for r in last)

    def exit(self, stats: MarketStats) -> bool | None:
        h = stats.funding.get(self.symbol)
        if not h or len(h) < self.exit_after:
            return None
        self.value = h[-1]
        return all(r <= self.threshold for r in list(h)[-self.exit_after:])


def annualised_perp_basis(funding_rate: float, interval_hours: float = 8) -> float:
    """What a perp's premium earns in a year: its funding per interval × intervals a year."""
    return funding_rate * YEAR_HOURS / interval_hours


def annualised_dated_basis(future: float, spot: float, days_to_expiry: float) -> float:
    """A dated contract's basis, F / S − 1, annualised by its days to expiry."""
    if not (spot > 0 and future > 0 and days_to_expiry > 0):
        raise ValueError("future, spot and days to expiry must be positive")
    return (future / spot - 1.0) * 365.0 / days_to_expiry


class BasisRich(EntryExit):
    """A perp's premium, annualised by its funding (`annualised_perp_basis`), above
    `threshold`; exits below `exit_below` (default: half the threshold)."""

    def __init__(self, symbol: str, threshold: float = 0.15, exit_below: float | None = None,
                 interval_hours: float = 8, name: str = "basis") -> None:
        if interval_hours <= 0:
            raise ConfigError(f"interval_hours must be > 0, got {interval_hours}")
        self.symbol, self.threshold = symbol, threshold
        self.exit_below = threshold / 2 if exit_below is None else exit_below
        if self.exit_below > threshold:
            raise ConfigError("basis exit_below must not exceed its threshold")
        self.interval_hours, self.name = interval_hours, name

    def _annual(self, stats: MarketStats) -> float | None:
        rate = stats.predicted_funding.get(self.symbol)
        if rate is None:
            h = stats.funding.get(self.symbol)
            rate = h[-1] if h else None
        if rate is None:
            return None
        self.value = annualised_perp_basis(rate, self.interval_hours)
        return self.value

    def entry(self, stats: MarketStats) -> bool | None:
        a = self._annual(stats)
        return None if a is None else a > self.threshold

    def exit(self, stats: MarketStats) -> bool | None:
        a = self._annual(stats)
        return None if a is None else a < self.exit_below


class DatedBasisRich(EntryExit):
    """A dated contract's basis over its coin, annualised by its days to expiry
    (`MarketStats.dated_basis`), above `threshold` (the seeds' 15%): long spot + short dated
    pays that basis at expiry (a cash-and-carry). Exits below `exit_below` (default: half the
    threshold), or when the contract is no longer quoted (expired, unpriced)."""

    def __init__(self, symbol: str, threshold: float = 0.15, exit_below: float | None = None,
                 name: str = "dated_basis") -> None:
        self.symbol, self.threshold = symbol, threshold
        self.exit_below = threshold / 2 if exit_below is None else exit_below
        if self.exit_below > threshold:
            raise ConfigError("dated_basis exit_below must not exceed its threshold")
        self.name = name

    def entry(self, stats: MarketStats) -> bool | None:
        self.value = stats.dated_basis.get(self.symbol)
        return None if self.value is None else self.value > self.threshold

    def exit(self, stats: MarketStats) -> bool | None:
        self.value = stats.dated_basis.get(self.symbol)
        return True if self.value is None else self.value < self.exit_below


class OpenInterestSurge(EntryExit):
    """Open interest up ≥ `rise` (0.15: 15%) over the last `window` samples while the price
    stayed flat (within ±`flat`): leverage building up. Exits once the rise over the window
    is below half of `rise`, or the price has moved by more than `flat` (the move came)."""

    def __init__(self, symbol: str, rise: float = 0.15, flat: float = 0.01, window: int = 24,
                 name: str = "open_interest") -> None:
        if not (rise > 0 and flat > 0 and window >= 1):
            raise ConfigError("open_interest needs rise > 0, flat > 0 and window >= 1")
        self.symbol, self.rise, self.flat, self.window, self.name = symbol, rise, flat, window, name

    def _changes(self, stats: MarketStats) -> tuple[float, float] | None:
        h = stats.open_interest.get(self.symbol)
        if h is None or len(h) < self.window + 1:
            return None
        (_, oi0, px0), (_, oi1, px1) = h[-self.window - 1], h[-1]
        if oi0 <= 0 or px0 <= 0:
            return None
        self.value = oi1 / oi0 - 1.0
        return self.value, px1 / px0 - 1.0

    def entry(self, stats: MarketStats) -> bool | None:
        ch = self._changes(stats)
        return None if ch is None else ch[0] >= self.rise and abs(ch[1]) <= self.flat

    def exit(self, stats: MarketStats) -> bool | None:
        ch = self._changes(stats)
        return None if ch is None else ch[0] < self.rise / 2 or abs(ch[1]) > self.flat
