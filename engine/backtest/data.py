"""Bars and funding for a backtest, grouped by time, with what is missing reported.

Every instrument's bars come from one freqtrade feather file; perps may add their 8-hourly
funding settlements (with the mark at settlement). Bars are held as columns (`BarColumns`: one
row per timestamp, one column per instrument, NaN where an instrument has no bar), read once
from the files and shareable between worker processes as memory-mapped files (`share`). The
event view, `groups`, is built from them on first use: events grouped by `ts_event` (the bar's
close), so the portfolio sees all prices of one moment before any rule looks at them. Nothing is
filled in: a missing bar leaves that instrument's last price standing and is counted in the
coverage report, a funding gap is listed with its length, and time outside a file's span is
reported as uncovered.
"""

from __future__ import annotations

import bisect
import dataclasses
import functools
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import msgspec

from engine.core.errors import ConfigError, DecodeError
from engine.feeds.bars import BarStats, parse_name, read_bar_arrays, read_funding, timeframe_ns
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


class BarColumns(msgspec.Struct, frozen=True, kw_only=True):
    """The window's bars as arrays: `ts` [T] (int64 closes), `ohlcv` [5, T, N] (float64, NaN
    where instrument `symbols[i]` has no bar at `ts[t]`)."""

    symbols: tuple[str, ...]
    exchanges: tuple[str, ...]
    ts: Any
    ohlcv: Any

    @property
    def close(self):
        return self.ohlcv[3]

    @property
    def has(self):
        import numpy as np

        return ~np.isnan(self.ohlcv[3])


@dataclass
class BarData:
    columns: BarColumns
    # group index -> funding settlements applied at that bar close (sorted by symbol)
    funding_at: dict[int, list[FundingRate]]
    step_ns: int
    timeframe: str
    start_ns: int
    end_ns: int
    coverage: list[Coverage]
    funding: list[FundingCoverage]
    # symbol -> its bars before the window (the latest `warm_bars`), for the statistics only:
    # a 200-bar SMA is ready on the window's first bar, as a streaming run's warm history
    warm: dict[str, list[Bar]] = field(default_factory=dict)
    _groups: list | None = field(default=None, repr=False)

    @property
    def bars(self) -> int:
        return int(self.columns.has.sum())

    @property
    def timestamps(self) -> int:
        return len(self.columns.ts)

    def group(self, k: int) -> list:
        """The events at the `k`-th timestamp: its bars by symbol, then its funding."""
        c = self.columns
        ts = int(c.ts[k])
        o, h, lo, cl, v = c.ohlcv[:, k].tolist()  # one row as floats, not 25 array reads
        evs: list = []
        for i in self._by_symbol:
            px = cl[i]
            if px == px:  # not NaN: the instrument has a bar here
                evs.append(Bar(exchange=c.exchanges[i], symbol=c.symbols[i], ts_event=ts,
                               ts_recv=ts, timeframe=self.timeframe, ts_open=ts - self.step_ns,
                               open=o[i], high=h[i], low=lo[i], close=px, volume=v[i]))
        fund = self.funding_at.get(k)
        if fund:
            evs.extend(fund)
        return evs

    @functools.cached_property
    def _by_symbol(self) -> list[int]:
        syms = self.columns.symbols
        return sorted(range(len(syms)), key=lambda i: syms[i])

    @property
    def groups(self) -> list[tuple[int, list]]:
        """(ts, events at ts: bars, then funding), every timestamp (built once, on demand)."""
        if self._groups is None:
            c = self.columns
            rows = [c.ohlcv[j].tolist() for j in range(5)]
            step, tf = self.step_ns, self.timeframe
            order = [(i, c.symbols[i], c.exchanges[i]) for i in self._by_symbol]
            out = []
            for k, ts in enumerate(c.ts.tolist()):
                o, h, lo, cl, v = (r[k] for r in rows)
                evs = [Bar(exchange=ex, symbol=sym, ts_event=ts, ts_recv=ts, timeframe=tf,
                           ts_open=ts - step, open=o[i], high=h[i], low=lo[i], close=cl[i],
                           volume=v[i])
                       for i, sym, ex in order if cl[i] == cl[i]]  # NaN: no bar here
                fund = self.funding_at.get(k)
                if fund:
                    evs.extend(fund)
                out.append((ts, evs))
            self._groups = out
        return self._groups

    def share(self, directory: str) -> "BarData":
        """The same data with its columns written to `directory` and memory-mapped: pickled
        to a worker process it carries the file's path, and every worker maps the one copy."""
        import numpy as np

        c = self.columns
        os.makedirs(directory, exist_ok=True)
        paths = (os.path.join(directory, "ts.npy"), os.path.join(directory, "ohlcv.npy"))
        np.save(paths[0], c.ts)
        np.save(paths[1], c.ohlcv)
        cols = msgspec.structs.replace(c, ts=_Mapped(paths[0]), ohlcv=_Mapped(paths[1]))
        return dataclasses.replace(self, columns=cols, _groups=None).mapped()

    def mapped(self) -> "BarData":
        """Columns that are files (`share`) opened as read-only memory maps."""
        c = self.columns
        if isinstance(c.ts, _Mapped):
            c = msgspec.structs.replace(c, ts=c.ts.open(), ohlcv=c.ohlcv.open())
        return dataclasses.replace(self, columns=c, _groups=None)

    def __getstate__(self):
        # a memory-mapped column travels as its path, never as its contents
        state = dict(self.__dict__)
        state["_groups"] = None
        state.pop("_by_symbol", None)
        c = self.columns
        ts, ohlcv = getattr(c.ts, "filename", None), getattr(c.ohlcv, "filename", None)
        if ts and ohlcv:
            state["columns"] = msgspec.structs.replace(c, ts=_Mapped(ts), ohlcv=_Mapped(ohlcv))
        return state

    def __setstate__(self, state):
        self.__dict__.update(state)
        c = self.columns
        if isinstance(c.ts, _Mapped):
            self.columns = msgspec.structs.replace(c, ts=c.ts.open(), ohlcv=c.ohlcv.open())

    def report(self) -> dict:
        return {
            "timeframe": self.timeframe, "start_ns": self.start_ns, "end_ns": self.end_ns,
            "timestamps": self.timestamps, "bars": self.bars,
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


@dataclass(frozen=True)
class _Mapped:
    """A column kept in a `.npy` file, opened read-only and memory-mapped where used."""

    path: str

    def open(self):
        import numpy as np

        return np.load(self.path, mmap_mode="r")


def _resolve(base: Path, p: str) -> str:
    path = (base / p).resolve() if not os.path.isabs(p) else Path(p)
    if not path.is_file():
        raise ConfigError(f"backtest data file not found: {path}")
    return str(path)


def load_bar_data(bt: BacktestCfg, cfg_path: str, warm_bars: int = 400) -> BarData:
    import numpy as np

    base = Path(cfg_path).resolve().parent
    start = parse_utc(bt.start) if bt.start else None
    end = parse_utc(bt.end) if bt.end else None
    per_symbol: dict[str, tuple] = {}  # symbol -> (closes, ohlcv rows) inside the window
    warm: dict[str, list[Bar]] = {}
    coverage: list[Coverage] = []
    exchanges: list[str] = []
    tfs = set()
    for sym, rel in bt.bars.items():
        path = _resolve(base, rel)
        stats = BarStats(path)
        try:
            name = parse_name(path)
            tfs.add(name.timeframe)
            step = timeframe_ns(name.timeframe)
            d, o, h, lo, c, v = read_bar_arrays(path, stats)
        except DecodeError as exc:
            raise ConfigError(f"{cfg_path}: at `$.backtest.bars.{sym}`: "
                              f"{exc.detail or exc}") from None
        inside = np.ones(len(d), dtype=bool)
        if start is not None:
            inside &= d >= start
        if end is not None:
            inside &= d < end
        closes = d[inside] + step
        per_symbol[sym] = (closes, np.stack([o[inside], h[inside], lo[inside], c[inside],
                                             v[inside]]))
        exchanges.append(name.exchange)
        if start is not None and warm_bars:
            before = np.flatnonzero(d + step <= start)[-warm_bars:]
            warm[sym] = [Bar(exchange=name.exchange, symbol=sym, ts_event=int(d[i]) + step,
                             ts_recv=int(d[i]) + step, timeframe=name.timeframe,
                             ts_open=int(d[i]), open=float(o[i]), high=float(h[i]),
                             low=float(lo[i]), close=float(c[i]), volume=float(v[i]))
                         for i in before.tolist()]
        n = len(closes)
        coverage.append(Coverage(sym, path, n, int(closes[0]) if n else None,
                                 int(closes[-1]) if n else None, bad_rows=len(stats.bad_rows)))
    if len(tfs) != 1:
        raise ConfigError(f"backtest bars must share one timeframe, got {sorted(tfs)}")
    tf = tfs.pop()
    empty = [c.symbol for c in coverage if not c.rows]
    if empty:
        raise ConfigError(f"no bars inside the backtest window for {empty}")
    # the window is where every instrument has data; outside it nothing is traded
    lo_ns = max(c.first_ns for c in coverage)
    hi_ns = min(c.last_ns for c in coverage)
    if lo_ns > hi_ns:
        raise ConfigError("the instruments' bar files do not overlap in time")
    stamps = np.unique(np.concatenate([
        cl[(cl >= lo_ns) & (cl <= hi_ns)] for cl, _ in per_symbol.values()]))
    syms = list(per_symbol)
    ohlcv = np.full((5, len(stamps), len(syms)), np.nan)
    for i, sym in enumerate(syms):
        closes, rows = per_symbol[sym]
        at = np.searchsorted(stamps, closes)
        ok = (at < len(stamps)) & (closes >= lo_ns) & (closes <= hi_ns)
        at, rows = at[ok], rows[:, ok]
        ohlcv[:, at, i] = rows  # a timestamp twice in a file: its last row stands
        have = np.zeros(len(stamps), dtype=bool)
        have[at] = True
        missing = stamps[~have]
        coverage[i].missing_bars = len(missing)
        coverage[i].missing_sample = missing[:5].tolist()
    funding_cov: list[FundingCoverage] = []
    funding_at: dict[int, list[FundingRate]] = {}
    arr = stamps.tolist()
    for sym, fcfg in bt.funding.items():
        rates = _resolve(base, fcfg.rates)
        mark = _resolve(base, fcfg.mark) if fcfg.mark else None
        try:
            evs = [f for f in read_funding(rates, mark, symbol=sym)
                   if lo_ns <= f.ts_event <= hi_ns]
        except DecodeError as exc:
            raise ConfigError(f"{cfg_path}: at `$.backtest.funding.{sym}`: "
                              f"{exc.detail or exc}") from None
        funding_cov.append(_funding_coverage(sym, evs, lo_ns, hi_ns))
        for f in evs:
            # a settlement between bar closes is applied at the next close (when it is known)
            i = bisect.bisect_left(arr, f.ts_event)
            if i < len(arr):
                funding_at.setdefault(i, []).append(f)
    for evs in funding_at.values():
        evs.sort(key=lambda e: e.symbol)
    cols = BarColumns(symbols=tuple(syms), exchanges=tuple(exchanges), ts=stamps, ohlcv=ohlcv)
    return BarData(cols, funding_at, timeframe_ns(tf), tf, lo_ns, hi_ns, coverage,
                   funding_cov, warm)


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
