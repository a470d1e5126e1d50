"""freqtrade feather files (OHLCV bars, 8-hourly funding rates, mark prices) as model events.

freqtrade layout: columns `date` (bar open, UTC), `open`, `high`, `low`, `close`, `volume`.
File names say what a file holds: `BTC_USDT-1h.feather` (spot bars), `BTC_USDT_USDT-1h-futures`
(USD-M perp bars), `BTC_USDT_USDT-8h-mark` (mark price bars) and
`BTC_USDT_USDT-8h-funding_rate` (the settled rate of each 8 h interval in `open`, other
columns 0). Rows with a missing or non-finite value are reported, never filled in.
"""

from __future__ import annotations

import logging
import math
import os
import re
from dataclasses import dataclass, field

from engine.core.errors import DecodeError
from engine.model.events import Bar, FundingRate

log = logging.getLogger("engine.feeds.bars")

_NAME = re.compile(
    r"^(?P<base>[A-Z0-9]+)_(?P<quote>[A-Z0-9]+)(?:_(?P<settle>[A-Z0-9]+))?-(?P<tf>\d+[smhdwM])"
    r"(?:-(?P<kind>futures|mark|funding_rate|index|premiumIndex))?\.feather$"
)
_TF_NS = {"s": 1_000_000_000, "m": 60_000_000_000, "h": 3_600_000_000_000,
          "d": 86_400_000_000_000, "w": 7 * 86_400_000_000_000}


@dataclass(frozen=True)
class FeatherName:
    symbol: str
    timeframe: str
    kind: str  # spot | futures | mark | funding_rate | index | premiumIndex
    exchange: str


@dataclass
class BarStats:
    path: str
    rows: int = 0
    bad_rows: list[int] = field(default_factory=list)


def parse_name(path: str) -> FeatherName:
    """What a freqtrade feather file holds, from its name."""
    m = _NAME.match(os.path.basename(path))
    if not m:
        raise DecodeError("unknown_file", f"{path}: not a freqtrade feather name "
                          "like BTC_USDT-1h.feather or BTC_USDT_USDT-8h-funding_rate.feather")
    base, quote, settle = m["base"], m["quote"], m["settle"]
    kind = m["kind"] or ("futures" if settle else "spot")
    if settle:
        symbol = f"{base}/{quote}:{settle}"
        exchange = "binanceusdm" if settle == quote else "binancecoinm"
    else:
        symbol = f"{base}/{quote}"
        exchange = "binance"
    return FeatherName(symbol=symbol, timeframe=m["tf"], kind=kind, exchange=exchange)


def timeframe_ns(tf: str) -> int:
    m = re.fullmatch(r"(\d+)([smhdw])", tf)
    if not m:
        raise DecodeError("unknown_timeframe", f"{tf!r} (expected e.g. 1m, 4h, 1d)")
    return int(m[1]) * _TF_NS[m[2]]


def _columns(path: str, as_numpy: bool = False) -> dict:
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.feather as feather

    try:
        table = feather.read_table(path)
    except (pa.ArrowException, OSError) as exc:  # empty, truncated or not feather at all
        raise DecodeError("unreadable", f"{path}: not a readable feather file ({exc})") from None
    missing = {"date", "open", "high", "low", "close", "volume"} - set(table.column_names)
    if missing:
        raise DecodeError("missing_columns", f"{path}: no column(s) {sorted(missing)}")
    try:
        date = table.column("date").cast(pa.timestamp("ns", tz="UTC")).cast(pa.int64())
        if as_numpy:
            # a missing value reads as NaN (floats) or is flagged (dates): the caller drops it
            cols = {c: table.column(c).cast(pa.float64()).to_numpy(zero_copy_only=False)
                    for c in ("open", "high", "low", "close", "volume")}
            cols["date_ok"] = pc.is_valid(date).to_numpy(zero_copy_only=False)
            cols["date"] = date.fill_null(0).to_numpy(zero_copy_only=False)
            return cols
        cols = {c: table.column(c).cast(pa.float64()).to_pylist()
                for c in ("open", "high", "low", "close", "volume")}
    except (pa.ArrowException, TypeError, ValueError) as exc:  # a column of the wrong type
        raise DecodeError("bad_column", f"{path}: {exc}") from None
    cols["date"] = date.to_pylist()
    return cols


def read_bar_arrays(path: str, stats: BarStats | None = None):
    """A bar file's rows as numpy columns `(ts_open, open, high, low, close, volume)` (int64
    nanoseconds, float64), rows with a missing or non-finite value left out and counted in
    `stats` (one validation for every reader)."""
    import numpy as np

    name = parse_name(path)
    if name.kind == "funding_rate":
        raise DecodeError("wrong_kind", f"{path} holds funding rates: use read_funding")
    cols = _columns(path, as_numpy=True)
    stats = stats if stats is not None else BarStats(path)
    date_ok = cols.pop("date_ok")
    ok = date_ok.copy()
    for k in ("open", "high", "low", "close", "volume"):
        ok &= np.isfinite(cols[k])
    bad = np.flatnonzero(~ok)
    for i in bad.tolist():
        stats.bad_rows.append(i)
        log.warning("%s: row %d has a missing or non-finite value; skipped", path, i)
    stats.rows = len(ok)
    if len(bad):
        return tuple(cols[k][ok] for k in ("date", "open", "high", "low", "close", "volume"))
    return tuple(cols[k] for k in ("date", "open", "high", "low", "close", "volume"))


def read_bars(path: str, symbol: str | None = None, stats: BarStats | None = None) -> list[Bar]:
    """OHLCV bars of a spot, futures or mark file; `ts_event` is each bar's close time."""
    name = parse_name(path)
    d, o, h, lo, c, v = read_bar_arrays(path, stats)
    step = timeframe_ns(name.timeframe)
    sym = symbol or name.symbol
    ex, tf = name.exchange, name.timeframe
    return [Bar(exchange=ex, symbol=sym, ts_event=t + step, ts_recv=t + step, timeframe=tf,
                ts_open=t, open=a, high=b, low=e, close=f, volume=g)
            for t, a, b, e, f, g in zip(d.tolist(), o.tolist(), h.tolist(), lo.tolist(),
                                        c.tolist(), v.tolist())]


def read_funding(path: str, mark_path: str | None = None, symbol: str | None = None,
                 tolerance_ns: int = 60_000_000_000, stats: BarStats | None = None
                 ) -> list[FundingRate]:
    """Funding settlements from a `*-funding_rate.feather` file.

    With `mark_path` (the matching `*-mark.feather`), each settlement carries the mark price at
    settlement: the open of the mark bar starting within `tolerance_ns` of it (Binance stamps
    some settlements a millisecond late).
    """
    name = parse_name(path)
    if name.kind != "funding_rate":
        raise DecodeError("wrong_kind", f"{path} is not a funding_rate file")
    cols = _columns(path)
    stats = stats if stats is not None else BarStats(path)
    marks: list[tuple[int, float]] = []
    if mark_path is not None:
        mc = _columns(mark_path)
        marks = sorted((t, p) for t, p in zip(mc["date"], mc["open"])
                       if t is not None and p is not None and math.isfinite(p))
    import bisect

    mark_ts = [t for t, _ in marks]
    out: list[FundingRate] = []
    sym = symbol or name.symbol
    for i, (ts, rate) in enumerate(zip(cols["date"], cols["open"])):
        if ts is None or rate is None or not math.isfinite(rate):
            stats.bad_rows.append(i)
            log.warning("%s: row %d has no funding rate; skipped", path, i)
            continue
        mark = None
        if marks:
            j = bisect.bisect_left(mark_ts, ts - tolerance_ns)
            if j < len(marks) and abs(marks[j][0] - ts) <= tolerance_ns:
                mark = marks[j][1]
        out.append(FundingRate(exchange=name.exchange, symbol=sym, ts_event=ts, ts_recv=ts,
                               rate=rate, mark_price=mark))
    stats.rows = len(cols["date"])
    return out
