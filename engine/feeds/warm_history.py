"""Warm history: the bars an asset had before a run starts, so a 200-bar SMA is ready on the
first event.

From bar files (freqtrade feather, replay and paper) or from the venue's klines (ccxt
`fetch_ohlcv`, live), the same shape: the closed bars of the run's interval that ended by the
start, and, from files, the bar in progress at the start as far as they know it (`Seed`): the
closed bars of a finer file inside it (e.g. 23 hourly bars of today's daily bar). The venue's
current kline is not used: fetched after the first trade, it holds trades the builder sees
again; that first bar is dropped instead. What lies between a seed's end and the first trade
is unseen, and `Seed.known_until` says where that gap begins.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from engine.feeds.bars import parse_name, read_bars, timeframe_ns
from engine.model.events import Bar


@dataclass(frozen=True)
class Seed:
    ts_open: int
    open: float
    high: float
    low: float
    close: float
    volume: float
    known_until: int  # the seed holds the trades before this time


@dataclass
class History:
    closed: list[Bar] = field(default_factory=list)  # oldest first, each ended by the start
    seed: Seed | None = None
    source: str = ""


def from_bars(bars: list[Bar], interval_ns: int, start_ns: int, keep: int,
              finer: list[Bar] = (), source: str = "") -> History:
    """History at `start_ns` from bars of the run's interval (`bars`) and, for the bar in
    progress, closed bars of a finer interval (`finer`) that divides it."""
    cur = start_ns - start_ns % interval_ns
    closed = [b for b in bars if b.ts_open + interval_ns <= start_ns
              and b.ts_event - b.ts_open == interval_ns]
    closed.sort(key=lambda b: b.ts_open)
    h = History(closed=closed[-keep:] if keep else [], source=source)
    inside = sorted((b for b in finer if b.ts_open >= cur and b.ts_event <= start_ns),
                    key=lambda b: b.ts_open)
    if inside and inside[0].ts_open == cur and cur < start_ns:
        contiguous = [inside[0]]
        for b in inside[1:]:
            if b.ts_open != contiguous[-1].ts_event:
                break  # a hole in the finer bars: the seed ends before it
            contiguous.append(b)
        h.seed = Seed(ts_open=cur, open=contiguous[0].open,
                      high=max(b.high for b in contiguous), low=min(b.low for b in contiguous),
                      close=contiguous[-1].close, volume=sum(b.volume for b in contiguous),
                      known_until=contiguous[-1].ts_event)
    return h


def from_files(paths: list[str], symbol: str, interval_ns: int, start_ns: int,
               keep: int) -> History:
    """History of `symbol` from freqtrade files of that market (a spot file for a spot symbol,
    a futures file for a perp): the file of the run's interval for the closed bars, the one of
    a finer interval reaching furthest for the bar in progress."""
    same: list[Bar] = []
    finer: list[tuple[int, list[Bar]]] = []
    used = []
    for p in paths:
        name = parse_name(p)
        if name.symbol != symbol or name.kind in ("funding_rate", "mark"):
            continue  # another market's bars (a perp's for a spot symbol) are not this one's
        step = timeframe_ns(name.timeframe)
        if step == interval_ns:
            same += read_bars(p)
            used.append(p)
        elif step < interval_ns and interval_ns % step == 0:
            finer.append((step, read_bars(p)))
            used.append(p)
    best: list[Bar] = []
    best_end = -1
    for _, bars in sorted(finer, key=lambda x: -x[0]):  # coarsest first: it wins a tie
        seed = from_bars([], interval_ns, start_ns, 0, bars).seed
        if seed is not None and seed.known_until > best_end:
            best, best_end = bars, seed.known_until
    return from_bars(same, interval_ns, start_ns, keep, best, source=", ".join(used))


def from_ohlcv(rows: list[list], symbol: str, exchange: str, timeframe: str, interval_ns: int,
               start_ns: int, keep: int) -> History:
    """History from ccxt `fetch_ohlcv` rows `[ms, o, h, l, c, v]`: the closed ones."""
    ms = 1_000_000
    bars = [Bar(exchange=exchange, symbol=symbol, ts_event=r[0] * ms + interval_ns,
                ts_recv=start_ns, timeframe=timeframe, ts_open=r[0] * ms, open=float(r[1]),
                high=float(r[2]), low=float(r[3]), close=float(r[4]), volume=float(r[5]))
            for r in rows if None not in r[:6]]
    # closed klines only: the venue's current one, fetched after the first trade, holds
    # trades the builder is about to see again (the bar in progress is dropped instead)
    return from_bars(bars, interval_ns, start_ns, keep)
