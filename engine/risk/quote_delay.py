"""How late a quote is by its exchange timestamp, against what is normal for its feed (pure).

A quote's latency is receive time − exchange time. Its absolute value says little: the local
clock may be skewed (the bundled captures' clock runs ~1.2 s behind Binance's), so the normal
latency of each symbol's feed is estimated as a rolling median of its recent samples, and a
quote is *delayed* by how much its latency exceeds that median. A quote that left the exchange
a minute ago but arrived just now is stale even though it is fresh by receive time.

Late samples are kept out of the median, so a feed that stays behind stays late instead of
becoming the new normal within half a window. Only when a feed has been late without a break
for `readapt_ns` (10 minutes: far longer than any backlog worth trading through, the scale
of a local clock being stepped) is its latency taken as the new normal, with a warning.
"""

from __future__ import annotations

import logging
from collections import deque

log = logging.getLogger("engine.risk")

WINDOW = 255  # samples in the rolling median
REFRESH = 16  # recompute the median every this many samples (cheap on the hot path)
SAMPLE_EVERY = 4  # one quote in this many enters the window
WARM = 16  # no judgement before this many samples
READAPT_NS = 600 * 10**9


class _Feed:
    __slots__ = ("samples", "count", "median", "late_since")

    def __init__(self, window: int) -> None:
        self.samples: deque[int] = deque(maxlen=window)
        self.count = 0
        self.median: int | None = None
        self.late_since: int | None = None


class QuoteDelay:
    def __init__(self, late_ns: int = 2_000_000_000, window: int = WINDOW,
                 refresh: int = REFRESH, readapt_ns: int = READAPT_NS) -> None:
        self.late_ns, self.window, self.refresh = late_ns, window, refresh
        self.readapt_ns = readapt_ns
        self._feeds: dict[str, _Feed] = {}
        self.delay: dict[str, int] = {}  # symbol -> ns the latest quote exceeded the median

    def observe(self, symbol: str, ts_event: int, ts_recv: int) -> int:
        """Record one quote; returns (and keeps in `delay`) its excess latency in ns. Every
        quote is judged; one in `SAMPLE_EVERY` feeds the median (it moves slowly anyway)."""
        f = self._feeds.get(symbol)
        if f is None:
            f = self._feeds[symbol] = _Feed(self.window)
        lat = ts_recv - ts_event
        med = f.median
        if med is not None:
            excess = lat - med
            if excess > self.late_ns:  # late: judged, but not allowed to move the normal
                return self._late(f, symbol, excess, ts_recv)
            f.late_since = None
            if excess < 0:
                excess = 0
        else:
            excess = 0
        self.delay[symbol] = excess
        n = f.count = f.count + 1
        if n % SAMPLE_EVERY and med is not None:
            return excess
        f.samples.append(lat)
        if len(f.samples) >= WARM and (med is None or n % (self.refresh * SAMPLE_EVERY) == 0):
            s = sorted(f.samples)
            f.median = s[len(s) // 2]
        return excess

    def _late(self, f: _Feed, symbol: str, excess: int, ts_recv: int) -> int:
        if f.late_since is None:
            f.late_since = ts_recv
        elif ts_recv - f.late_since > self.readapt_ns:
            log.warning("%s: quotes %.0f ms late for %.0f s without a break: taking that "
                        "latency as the feed's new normal", symbol, excess / 1e6,
                        (ts_recv - f.late_since) / 1e9)
            f.samples.clear()
            f.count, f.median, f.late_since = 0, None, None
            excess = 0
        self.delay[symbol] = excess
        return excess
