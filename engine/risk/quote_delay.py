"""How late a quote is by its exchange timestamp, against what is normal for its feed (pure).

A quote's latency is receive time − exchange time. Its absolute value says little: the local
clock may be skewed (the bundled captures' clock runs ~1.2 s behind Binance's), so the normal
latency of each symbol's feed is estimated as a rolling median of its recent samples, and a
quote is *delayed* by how much its latency exceeds that median. A quote that left the exchange
a minute ago but arrived just now is stale even though it is fresh by receive time.
"""

from __future__ import annotations

from collections import deque

WINDOW = 255  # samples in the rolling median
REFRESH = 32  # recompute the median every this many samples (cheap on the hot path)
WARM = 16  # no judgement before this many samples


class QuoteDelay:
    def __init__(self, window: int = WINDOW, refresh: int = REFRESH) -> None:
        self.window, self.refresh = window, refresh
        self._samples: dict[str, deque] = {}
        self._median: dict[str, int] = {}
        self._count: dict[str, int] = {}
        self.delay: dict[str, int] = {}  # symbol -> ns the latest quote exceeded the median

    def observe(self, symbol: str, ts_event: int, ts_recv: int) -> int:
        """Record one quote; returns (and keeps in `delay`) its excess latency in ns."""
        lat = ts_recv - ts_event
        q = self._samples.get(symbol)
        if q is None:
            q = self._samples[symbol] = deque(maxlen=self.window)
            self._count[symbol] = 0
        q.append(lat)
        n = self._count[symbol] = self._count[symbol] + 1
        if n < WARM:
            self.delay[symbol] = 0
            return 0
        if n % self.refresh == 0 or symbol not in self._median:
            s = sorted(q)
            self._median[symbol] = s[len(s) // 2]
        excess = lat - self._median[symbol]
        self.delay[symbol] = excess if excess > 0 else 0
        return self.delay[symbol]
