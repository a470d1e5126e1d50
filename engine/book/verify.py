"""Check a local book against the venue's own top of book (`bookTicker`), by update id.

bookTicker and depth are separate streams, and bookTicker usually runs ahead, so messages are
matched by update id, not arrival order: the book's top after applying id X must equal the latest
bookTicker with `u <= X` (the venue publishes one on every top-of-book change). A book top is
compared once a bookTicker with `u > X` has arrived (then every ticker `<= X` is in) or at the
end of the stream. Tops with no ticker at or before them are counted as not comparable.
"""

from __future__ import annotations

from collections import deque

from engine.model.events import BestBidAsk

Top = tuple[float, float, float, float]


class BboVerifier:
    __slots__ = ("symbol", "tops", "tickers", "compared", "agreed", "no_ticker",
                 "out_of_order", "mismatches", "max_pending", "dropped", "_last_u")

    def __init__(self, symbol: str, max_pending: int = 200_000, keep_mismatches: int = 20) -> None:
        self.symbol = symbol
        self.tops: deque[tuple[int, Top | None]] = deque()
        self.tickers: deque[tuple[int, Top]] = deque()
        self.compared = 0
        self.agreed = 0
        self.no_ticker = 0
        self.out_of_order = 0
        self.dropped = 0
        self.mismatches: list[tuple[int, Top | None, int, Top]] = []
        self.max_pending = max_pending
        self._last_u = -1

    def on_ticker(self, t: BestBidAsk) -> None:
        u = t.update_id
        if u < self._last_u:
            self.out_of_order += 1
            return
        self._last_u = u
        tickers = self.tickers
        tickers.append((u, (t.bid_price, t.bid_size, t.ask_price, t.ask_size)))
        if self.tops:
            self._drain(False)
        elif len(tickers) > self.max_pending:
            tickers.popleft()
            self.dropped += 1

    def on_book(self, update_id: int, top: Top | None) -> None:
        """Record the book's top after it reached `update_id`."""
        self.tops.append((update_id, top))
        if self.tickers and self.tickers[-1][0] > update_id:
            self._drain(False)
        elif len(self.tops) > self.max_pending:
            self.tops.popleft()
            self.dropped += 1

    def finish(self) -> None:
        """End of stream: every ticker is in, compare what is left."""
        self._drain(True)

    def _drain(self, final: bool) -> None:
        tops, tickers = self.tops, self.tickers
        while tops:
            x, top = tops[0]
            if not final and (not tickers or tickers[-1][0] <= x):
                break
            while len(tickers) >= 2 and tickers[1][0] <= x:
                tickers.popleft()
            tops.popleft()
            if tickers and tickers[0][0] <= x:
                self.compared += 1
                u, ref = tickers[0]
                if top == ref:
                    self.agreed += 1
                elif len(self.mismatches) < 20:
                    self.mismatches.append((x, top, u, ref))
            else:
                self.no_ticker += 1
