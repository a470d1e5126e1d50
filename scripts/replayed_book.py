"""A local exchange's own books (every recorded level, what its orders fill against), moved on
as its replay sends frames, with its account marked at each book's mid."""

from __future__ import annotations

from engine.book.manager import BookManager
from engine.model.events import BookSnapshot


class ReplayedBooks:
    def __init__(self) -> None:
        self.manager = BookManager()
        self._events: dict[str, list] = {}  # market -> the book event of each recorded frame
        self._applied: dict[str, int] = {}
        self.account = None  # set by the exchange once its account exists

    def add(self, market: str, events: list) -> None:
        """`events[k]`: the engine's book event of recorded frame `k` (None: nothing to
        apply), as the venue's own checks gave it."""
        self._events[market] = events
        self._applied[market] = -1

    def advance(self, market: str, k: int) -> None:
        """The book of `market` moved on to recorded frame `k`: the furthest any subscriber
        has been sent (a second subscription replaying from the start moves nothing back)."""
        events = self._events.get(market)
        if events is None:
            return
        while self._applied[market] < k:
            self._applied[market] += 1
            ev = events[self._applied[market]]
            if ev is None:
                continue
            if type(ev) is BookSnapshot:
                self.manager.on_snapshot(ev)
            else:
                self.manager.on_delta(ev)
            top = self.manager.syncs[ev.symbol].book.top()
            if top is not None and self.account is not None and \
                    ev.symbol in self.account.instruments:  # the account's mark: the mid
                self.account.on_price(ev.symbol, (top[0] + top[2]) * 0.5)
