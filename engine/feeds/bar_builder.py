"""Time bars built from trades, as the venue builds its klines.

A bar covers `[ts_open, ts_open + interval)` of exchange (trade) time: open is its first
trade's price, close its last, volume the sum of sizes (exact: added as decimals). It closes
when a trade of a later interval arrives, or when `on_time` is told that exchange time has
passed its end (a quiet market). Intervals without a trade become flat bars at the previous
close with zero volume, as Binance's klines do.

A builder that starts in the middle of an interval has not seen its beginning: that first bar
is dropped (counted in `partial`) unless `seed` gave the part before the start (warm history
in replay, the venue's current kline in live).
"""

from __future__ import annotations

from decimal import Decimal

from engine.model.events import Bar

_ZERO = Decimal(0)


class BarBuilder:
    __slots__ = ("exchange", "symbol", "timeframe", "interval", "max_flat", "_open_ts",
                 "_o", "_h", "_l", "_c", "_v", "_whole", "_empty", "_last_close", "partial",
                 "flat", "built")

    def __init__(self, exchange: str, symbol: str, timeframe: str, interval_ns: int,
                 max_flat: int = 10_000) -> None:
        if interval_ns <= 0:
            raise ValueError(f"bar interval must be positive, got {interval_ns}")
        self.exchange, self.symbol, self.timeframe = exchange, symbol, timeframe
        self.interval = interval_ns
        self.max_flat = max_flat  # at most this many flat bars after a silence (then a gap)
        self._open_ts: int | None = None
        self._o = self._h = self._l = self._c = 0.0
        self._v = _ZERO
        self._whole = False  # the bar in progress was seen (or seeded) from its start
        self._empty = True  # ... and holds no trade yet
        self._last_close: float | None = None
        self.partial = 0  # bars dropped because their start was not seen
        self.flat = 0  # flat bars made for intervals without trades
        self.built = 0  # bars closed with trades in them

    def seed(self, ts_open: int, o: float, h: float, lo: float, c: float,
             volume: Decimal | str | float = 0, prev_close: float | None = None) -> None:
        """The bar in progress as known from elsewhere, from its start (`ts_open` on the grid);
        `prev_close`: the close of the bar before it."""
        if ts_open % self.interval:
            raise ValueError(f"{self.symbol}: seed opens at {ts_open}, not on the "
                             f"{self.timeframe} grid")
        self._open_ts, self._whole, self._empty = ts_open, True, False
        self._o, self._h, self._l, self._c = o, h, lo, c
        self._v = Decimal(str(volume))
        if prev_close is not None:
            self._last_close = prev_close

    def seed_close(self, ts_open: int, close: float) -> None:
        """The bar opening at `ts_open` closed at `close` (history): the next one starts empty
        from its beginning, and a silent interval is flat at that close."""
        self._last_close = close
        self._open_ts, self._whole, self._empty = ts_open + self.interval, True, True
        self._o = self._h = self._l = self._c = close
        self._v = _ZERO

    @property
    def current(self) -> tuple[int, float, float, float, float, Decimal] | None:
        """(ts_open, open, high, low, close, volume) of the bar in progress, once it traded."""
        if self._open_ts is None or self._empty:
            return None
        return self._open_ts, self._o, self._h, self._l, self._c, self._v

    def on_trade(self, ts_event: int, ts_recv: int, price: float, size: float) -> list[Bar]:
        """One trade (exchange time `ts_event`); returns the bars it closed, oldest first."""
        start = ts_event - ts_event % self.interval
        out: list[Bar] = []
        if self._open_ts is None:  # the first trade seen, in the middle of its interval
            self._open_ts, self._whole, self._empty = start, False, True
        elif start < self._open_ts:
            return out  # a late trade of a bar already closed
        elif start > self._open_ts:
            out = self._close_until(start, ts_recv)
            self._open_ts, self._whole, self._empty = start, True, True
        if self._empty:
            self._o = self._h = self._l = self._c = price
            self._v = Decimal(repr(size))
            self._empty = False
            return out
        self._c = price
        if price > self._h:
            self._h = price
        elif price < self._l:
            self._l = price
        self._v += Decimal(repr(size))
        return out

    def on_time(self, ts: int, ts_recv: int | None = None) -> list[Bar]:
        """Exchange time is now `ts`: close every bar that ended by then."""
        if self._open_ts is None or ts < self._open_ts + self.interval:
            return []
        start = ts - ts % self.interval
        out = self._close_until(start, ts if ts_recv is None else ts_recv)
        self._open_ts, self._whole, self._empty = start, True, True
        return out

    # -- internals ---------------------------------------------------------------------------
    def _close_until(self, start: int, ts_recv: int) -> list[Bar]:
        """Close the bar in progress, then a flat bar for each silent interval before
        `start`."""
        out: list[Bar] = []
        t = self._open_ts
        if not self._whole:
            self.partial += 1
            self._last_close = None if self._empty else self._c
        elif not self._empty:
            self._last_close = self._c
            self.built += 1
            out.append(Bar(exchange=self.exchange, symbol=self.symbol,
                           ts_event=t + self.interval, ts_recv=ts_recv,
                           timeframe=self.timeframe, ts_open=t, open=self._o, high=self._h,
                           low=self._l, close=self._c, volume=float(self._v)))
        else:  # seen whole and silent: flat at the last close, as the venue's kline is
            t -= self.interval  # so it is counted among the flat intervals below
        c = self._last_close
        nxt = t + self.interval
        flats = (start - nxt) // self.interval
        if c is not None and 0 < flats <= self.max_flat:
            for k in range(flats):
                f = nxt + k * self.interval
                out.append(Bar(exchange=self.exchange, symbol=self.symbol,
                               ts_event=f + self.interval, ts_recv=ts_recv,
                               timeframe=self.timeframe, ts_open=f, open=c, high=c, low=c,
                               close=c, volume=0.0))
            self.flat += flats
        return out
