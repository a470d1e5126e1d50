"""Funding settlements out of a mark price stream.

Binance's mark price stream carries the funding rate that will apply at the next funding time
(`r` and `T`), but no event when the settlement happens. The settler remembers the latest
(rate, time) per symbol and, on the first mark at or after that time, emits the settlement:
`FundingRate(ts_event=T, rate=r, mark_price=that mark)`, which the portfolio books as funding.
Each funding time settles once, whatever the order of later marks. Pure and synchronous: the
live feed and a capture replay use the same one.
"""

from __future__ import annotations

from engine.model.events import FundingRate, MarkPrice


class FundingSettler:
    def __init__(self) -> None:
        self._due: dict[str, tuple[int, float]] = {}  # symbol -> (next funding ns, rate)
        self._settled: dict[str, int] = {}  # symbol -> last funding time settled (ns)

    def on_mark(self, ev: MarkPrice) -> FundingRate | None:
        out = None
        due = self._due.get(ev.symbol)
        if (due is not None and ev.ts_event >= due[0]
                and self._settled.get(ev.symbol, -1) < due[0]):
            self._settled[ev.symbol] = due[0]
            out = FundingRate(exchange=ev.exchange, symbol=ev.symbol, ts_event=due[0],
                              ts_recv=ev.ts_recv, rate=due[1], mark_price=ev.mark_price)
        if ev.funding_rate is not None and ev.next_funding_ts is not None:
            if ev.next_funding_ts > self._settled.get(ev.symbol, -1):
                self._due[ev.symbol] = (ev.next_funding_ts, ev.funding_rate)
        return out
