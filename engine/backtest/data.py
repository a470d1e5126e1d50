"""Bars and funding for a backtest, grouped by time, with what is missing reported.

Every instrument's bars come from one freqtrade feather file; perps may add their 8-hourly
funding settlements (with the mark at settlement). Events are grouped by `ts_event` (the bar's
close), so the portfolio sees all prices of one moment before any rule looks at them. Nothing is
filled in: a missing bar leaves that instrument's last price standing and is counted in the
coverage report, a funding gap is listed with its length, and time outside a file's span is
reported as uncovered.
"""

from __future__ import annotations

import bisect
import os
from dataclasses import dataclass, field
from pathlib import Path

from engine.core.errors import ConfigError, DecodeError
from engine.feeds.bars import BarStats, parse_name, read_bars, read_funding, timeframe_ns
from engine.model.events import Bar, FundingRate
from engine.node.config import BacktestCfg, parse_utc

_FUNDING_STEP_NS = 8 * 3600 * 1_000_000_000


@dataclass
class Coverage:
    symbol: str
    path: str
    rows: int
    first_ns: int | None
    last_ns: int | None
    missing_bars: int = 0  # inside the window, timestamps other instruments have and this lacks
    missing_sample: list[int] = field(default_factory=list)
    bad_rows: int = 0


@dataclass
class FundingCoverage:
    symbol: str
    settlements: int
    first_ns: int | None
    last_ns: int | None
    gaps: list[tuple[int, int]] = field(default_factory=list)  # (from, to) longer than 8 h
    without_mark: int = 0
    covered_fraction: float = 0.0  # of the backtest window


@dataclass
class BarData:
    groups: list[tuple[int, list]]  # (ts, events at ts: bars, then funding)
    step_ns: int
    timeframe: str
    start_ns: int
    end_ns: int
    coverage: list[Coverage]
    funding: list[FundingCoverage]
    # symbol -> its bars before the window (the latest `warm_bars`), for the statistics only:
    # a 200-bar SMA is ready on the window's first bar, as a streaming run's warm history
    warm: dict[str, list[Bar]] = field(default_factory=dict)

    @property
    def bars(self) -> int:
        return sum(1 for _, evs in self.groups for e in evs if type(e) is Bar)

    def report(self) -> dict:
        return {
            "timeframe": self.timeframe, "start_ns": self.start_ns, "end_ns": self.end_ns,
            "timestamps": len(self.groups), "bars": self.bars,
            "instruments": {c.symbol: {"rows": c.rows, "first_ns": c.first_ns,
                                       "last_ns": c.last_ns, "missing_bars": c.missing_bars,
                                       "missing_sample_ns": c.missing_sample,
                                       "bad_rows": c.bad_rows} for c in self.coverage},
            "funding": {f.symbol: {"settlements": f.settlements, "first_ns": f.first_ns,
                                   "last_ns": f.last_ns, "gaps": f.gaps,
                                   "without_mark": f.without_mark,
                                   "covered_fraction": round(f.covered_fraction, 4)}
                        for f in self.funding},
        }


def _resolve(base: Path, p: str) -> str:
    path = (base / p).resolve() if not os.path.isabs(p) else Path(p)
    if not path.is_file():
        raise ConfigError(f"backtest data file not found: {path}")
    return str(path)


def load_bar_data(bt: BacktestCfg, cfg_path: str, warm_bars: int = 400) -> BarData:
    base = Path(cfg_path).resolve().parent
    start = parse_utc(bt.start) if bt.start else None
    end = parse_utc(bt.end) if bt.end else None
    per_symbol: dict[str, list[Bar]] = {}
    warm: dict[str, list[Bar]] = {}
    coverage: list[Coverage] = []
    tfs = set()
    for sym, rel in bt.bars.items():
        path = _resolve(base, rel)
        stats = BarStats(path)
        try:
            tfs.add(parse_name(path).timeframe)
            every = read_bars(path, symbol=sym, stats=stats)
            bars = [b for b in every
                    if (start is None or b.ts_open >= start) and (end is None or b.ts_open < end)]
            if start is not None and warm_bars:
                warm[sym] = [b for b in every if b.ts_event <= start][-warm_bars:]
        except DecodeError as exc:
            raise ConfigError(f"{cfg_path}: at `$.backtest.bars.{sym}`: "
                              f"{exc.detail or exc}") from None
        per_symbol[sym] = bars
        coverage.append(Coverage(sym, path, len(bars), bars[0].ts_event if bars else None,
                                 bars[-1].ts_event if bars else None,
                                 bad_rows=len(stats.bad_rows)))
    if len(tfs) != 1:
        raise ConfigError(f"backtest bars must share one timeframe, got {sorted(tfs)}")
    tf = tfs.pop()
    empty = [c.symbol for c in coverage if not c.rows]
    if empty:
        raise ConfigError(f"no bars inside the backtest window for {empty}")
    # the window is where every instrument has data; outside it nothing is traded
    lo = max(c.first_ns for c in coverage)
    hi = min(c.last_ns for c in coverage)
    if lo > hi:
        raise ConfigError("the instruments' bar files do not overlap in time")
    stamps: set[int] = set()
    for bars in per_symbol.values():
        stamps.update(b.ts_event for b in bars if lo <= b.ts_event <= hi)
    for c in coverage:
        have = {b.ts_event for b in per_symbol[c.symbol]}
        missing = sorted(t for t in stamps if t not in have)
        c.missing_bars = len(missing)
        c.missing_sample = missing[:5]
    groups: dict[int, list] = {t: [] for t in stamps}
    for bars in per_symbol.values():
        for b in bars:
            if lo <= b.ts_event <= hi:
                groups[b.ts_event].append(b)
    funding_cov: list[FundingCoverage] = []
    arr = sorted(stamps)
    for sym, fcfg in bt.funding.items():
        rates = _resolve(base, fcfg.rates)
        mark = _resolve(base, fcfg.mark) if fcfg.mark else None
        try:
            evs = [f for f in read_funding(rates, mark, symbol=sym) if lo <= f.ts_event <= hi]
        except DecodeError as exc:
            raise ConfigError(f"{cfg_path}: at `$.backtest.funding.{sym}`: "
                              f"{exc.detail or exc}") from None
        funding_cov.append(_funding_coverage(sym, evs, lo, hi))
        for f in evs:
            # a settlement between bar closes is applied at the next close (when it is known)
            i = bisect.bisect_left(arr, f.ts_event)
            if i < len(arr):
                groups[arr[i]].append(f)
    ordered = sorted(groups.items())
    for _, evs in ordered:
        evs.sort(key=lambda e: (type(e) is FundingRate, e.symbol))
    return BarData(ordered, timeframe_ns(tf), tf, lo, hi, coverage, funding_cov, warm)


def _funding_coverage(sym: str, evs: list[FundingRate], lo: int, hi: int) -> FundingCoverage:
    fc = FundingCoverage(sym, len(evs), evs[0].ts_event if evs else None,
                         evs[-1].ts_event if evs else None)
    fc.without_mark = sum(1 for f in evs if f.mark_price is None)
    for a, b in zip(evs, evs[1:]):
        if b.ts_event - a.ts_event > _FUNDING_STEP_NS + 60_000_000_000:
            fc.gaps.append((a.ts_event, b.ts_event))
    if evs and hi > lo:
        covered = evs[-1].ts_event - evs[0].ts_event + _FUNDING_STEP_NS
        covered -= sum(b - a - _FUNDING_STEP_NS for a, b in fc.gaps)
        fc.covered_fraction = min(1.0, covered / (hi - lo))
    return fc
