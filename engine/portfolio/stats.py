"""Rolling market statistics the strategies and triggers read: returns, volatility, covariance,
beta, correlation, funding history, basis, ATR and SMA over bars.

Prices are sampled on a fixed step of event time (`sample_ns`), so tick replays, live feeds and
bar backtests give returns on the same grid. Pure: the caller feeds prices with timestamps.
"""

from __future__ import annotations

import math
import operator
from collections import deque


class RollingSeries:
    """Last `n` values, with O(1) sum and sum of squares."""

    __slots__ = ("values", "n", "_sum", "_sq")

    def __init__(self, n: int) -> None:
        self.values: deque[float] = deque(maxlen=n)
        self.n = n
        self._sum = 0.0
        self._sq = 0.0

    def push(self, x: float) -> None:
        if len(self.values) == self.n:
            old = self.values[0]
            self._sum -= old
            self._sq -= old * old
        self.values.append(x)
        self._sum += x
        self._sq += x * x

    def __len__(self) -> int:
        return len(self.values)

    def mean(self) -> float:
        return self._sum / len(self.values) if self.values else 0.0

    def std(self) -> float:
        k = len(self.values)
        if k < 2:
            return 0.0
        m = self._sum / k
        var = (self._sq - k * m * m) / (k - 1)
        return math.sqrt(var) if var > 0 else 0.0


class MarketStats:
    """Per-asset sampled log returns, per-perp funding history and bar indicators."""

    def __init__(self, lookback: int = 720, sample_ns: int = 3_600_000_000_000,
                 periods_per_year: float = 24 * 365, funding_keep: int = 64,
                 bar_keep: int = 400) -> None:
        self.lookback = lookback
        self.sample_ns = sample_ns
        self.periods_per_year = periods_per_year
        self.returns: dict[str, deque[float]] = {}
        self._last_px: dict[str, float] = {}
        self._last_slot: dict[str, int] = {}
        self._pending: dict[str, float] = {}
        self.funding: dict[str, deque[float]] = {}
        self.funding_keep = funding_keep
        self.spot_px: dict[str, float] = {}
        self.perp_px: dict[str, float] = {}
        self.bars: dict[str, deque[tuple[float, float, float, float]]] = {}
        self.bar_keep = bar_keep
        # symbol -> the funding rate the venue predicts for the current interval (mark price
        # stream), and -> (ts, open interest, price) samples polled from the venue
        self.predicted_funding: dict[str, float] = {}
        # dated contract -> its basis annualised by days to expiry, refreshed before the rules
        # are evaluated (Portfolio.dated_basis, by exchange time)
        self.dated_basis: dict[str, float] = {}
        self.open_interest: dict[str, deque[tuple[int, float, float]]] = {}

    # -- inputs ---------------------------------------------------------------------------
    def on_price(self, asset: str, price: float, ts: int) -> bool:
        """Record a price; returns True when it closed a sampling step (a new return)."""
        if not price > 0:
            return False
        slot = ts // self.sample_ns
        last_slot = self._last_slot.get(asset)
        self._pending[asset] = price
        if last_slot is None:
            self._last_slot[asset] = slot
            self._last_px[asset] = price
            return False
        if slot <= last_slot:
            return False
        prev = self._last_px[asset]
        r = math.log(price / prev)
        rets = self.returns.get(asset)
        if rets is None:
            rets = self.returns[asset] = deque(maxlen=self.lookback)
        rets.append(r)
        self._last_slot[asset] = slot
        self._last_px[asset] = price
        return True

    def on_bars(self, asset: str, bars: list[tuple[float, float, float, float]] | None,
                closes: list[float], ts: list[int]) -> None:
        """Many bars of one asset at once: the statistics `on_bar` (for each of `bars`, when
        given) and `on_price` (for each close at its time) would leave, in one loop without a
        call per bar (a bar backtest catching up over the bars it skipped)."""
        if bars:
            b = self.bars.get(asset)
            if b is None:
                b = self.bars[asset] = deque(maxlen=self.bar_keep)
            b.extend(bars[-self.bar_keep:])
        sample = self.sample_ns
        last_slot = self._last_slot.get(asset)
        prev = self._last_px.get(asset)
        ratios: list[float] = []
        latest = None
        for price, t in zip(closes, ts):
            if not price > 0:
                continue
            latest = price
            slot = t // sample
            if last_slot is None:
                last_slot, prev = slot, price
                continue
            if slot <= last_slot:
                continue
            ratios.append(price / prev)
            last_slot, prev = slot, price
        if latest is None:
            return
        self._pending[asset] = latest
        self._last_slot[asset] = last_slot
        self._last_px[asset] = prev
        if ratios:
            rets = self.returns.get(asset)
            if rets is None:
                rets = self.returns[asset] = deque(maxlen=self.lookback)
            rets.extend(map(math.log, ratios[-self.lookback:]))

    def on_funding(self, symbol: str, rate: float) -> None:
        h = self.funding.get(symbol)
        if h is None:
            h = self.funding[symbol] = deque(maxlen=self.funding_keep)
        h.append(rate)

    def on_open_interest(self, symbol: str, ts: int, value: float, price: float) -> None:
        h = self.open_interest.get(symbol)
        if h is None:
            h = self.open_interest[symbol] = deque(maxlen=self.bar_keep)
        h.append((ts, value, price))

    def on_bar(self, asset: str, o: float, h: float, lo: float, c: float) -> None:
        b = self.bars.get(asset)
        if b is None:
            b = self.bars[asset] = deque(maxlen=self.bar_keep)
        b.append((o, h, lo, c))

    # -- reads ----------------------------------------------------------------------------
    def vol(self, asset: str, window: int | None = None) -> float | None:
        """Annualised volatility of sampled log returns (None with fewer than 2 returns)."""
        r = self._window(asset, window)
        if len(r) < 2:
            return None
        m = sum(r) / len(r)
        var = sum((x - m) ** 2 for x in r) / (len(r) - 1)
        return math.sqrt(var * self.periods_per_year)

    def _window(self, asset: str, window: int | None) -> list[float]:
        r = self.returns.get(asset)
        if not r:
            return []
        vals = list(r)
        return vals[-window:] if window else vals

    def aligned(self, assets: list[str], window: int | None = None) -> list[list[float]] | None:
        """Returns of `assets` over their common most recent span (None if too short)."""
        series = [self._window(a, window) for a in assets]
        k = min((len(s) for s in series), default=0)
        if k < 2:
            return None
        return [s[-k:] for s in series]

    def covariance(self, assets: list[str], window: int | None = None) -> list[list[float]] | None:
        """Annualised covariance matrix of the assets' returns."""
        rows = self.aligned(assets, window)
        if rows is None:
            return None
        k = len(rows[0])
        means = [sum(r) / k for r in rows]
        n = len(assets)
        # each series' deviations once; the products summed in time order, as one sum per
        # pair over a generator would (the same floats, without n² passes of index lookups)
        dev = [[x - m for x in r] for r, m in zip(rows, means)]
        cov = [[0.0] * n for _ in range(n)]
        for i in range(n):
            for j in range(i, n):
                c = sum(map(operator.mul, dev[i], dev[j]))
                c = c / (k - 1) * self.periods_per_year
                cov[i][j] = cov[j][i] = c
        return cov

    def correlation(self, a: str, b: str, window: int | None = None) -> float | None:
        cov = self.covariance([a, b], window)
        if cov is None or cov[0][0] <= 0 or cov[1][1] <= 0:
            return None
        return cov[0][1] / math.sqrt(cov[0][0] * cov[1][1])

    def beta(self, asset: str, anchor: str, window: int | None = None) -> float | None:
        cov = self.covariance([asset, anchor], window)
        if cov is None or cov[1][1] <= 0:
            return None
        return cov[0][1] / cov[1][1]

    def funding_streak(self, symbol: str, threshold: float) -> int:
        """How many of the latest settlements in a row had a rate above `threshold`."""
        n = 0
        for r in reversed(self.funding.get(symbol, ())):
            if r > threshold:
                n += 1
            else:
                break
        return n

    def basis(self, asset: str) -> float | None:
        """Perp premium over spot, (perp − spot) / spot, from the latest prices."""
        s, p = self.spot_px.get(asset), self.perp_px.get(asset)
        if not s or not p:
            return None
        return (p - s) / s

    def atr(self, asset: str, period: int, offset: int = 0) -> float | None:
        """Average true range over `period` bars ending `offset` bars ago (simple mean)."""
        b = list(self.bars.get(asset, ()))
        end = len(b) - offset
        if end - period < 1:
            return None
        trs = []
        for i in range(end - period, end):
            _, h, lo, _c = b[i]
            prev_close = b[i - 1][3]
            trs.append(max(h - lo, abs(h - prev_close), abs(lo - prev_close)))
        return sum(trs) / period

    def sma(self, asset: str, period: int) -> float | None:
        b = self.bars.get(asset)
        if not b or len(b) < period:
            return None
        closes = [x[3] for x in list(b)[-period:]]
        return sum(closes) / period

    def last_close(self, asset: str) -> float | None:
        b = self.bars.get(asset)
        return b[-1][3] if b else None
