"""An L2 price-level book: a dict per side plus a small sorted cache of its best prices.

Each side is a dict (price -> size) holding every level, and a short sorted list holding the
best prices (`_bid_top` descending by way of negated prices, `_ask_top` ascending) with the
invariant that every live level better than or equal to the cache's worst price is in the
cache. A diff level far from the top is one dict write and one float comparison; a level near
the top is also a bisect into a list of ~64 floats. The best price is the cache's first entry,
so losing it costs nothing; only when the cache runs empty (a sweep through dozens of levels)
is it refilled from the dict. This keeps both the common case and the worst case small: a
binary heap with lazy deletion must pop every stale entry a sweep uncovers, and spikes.

Keys and sizes are floats that encode the exchange's decimals exactly (see `engine.core.numeric`);
queries that add money up (`cost_to_fill`) do it in `Decimal`.
"""

from __future__ import annotations

import heapq
from bisect import bisect_left
from decimal import Decimal
from typing import Iterable

import msgspec

from engine.core.numeric import to_decimal

_INF = float("inf")


class FillEstimate(msgspec.Struct, frozen=True, kw_only=True):
    """What taking `filled` of `requested` on one side would cost, walking the levels."""

    side: str
    requested: Decimal
    filled: Decimal
    cost: Decimal
    average_price: Decimal | None
    worst_price: Decimal | None
    levels: int

    @property
    def complete(self) -> bool:
        return self.filled == self.requested


class L2Book:
    """Price levels of one instrument. Pure state: the sync rules live in `BookSync`."""

    __slots__ = ("symbol", "bids", "asks", "_bid_top", "_ask_top", "_bid_edge", "_ask_edge",
                 "update_id", "ts_event", "ts_recv", "cache_size", "refills")

    def __init__(self, symbol: str, cache_size: int = 64) -> None:
        self.symbol = symbol
        self.bids: dict[float, float] = {}
        self.asks: dict[float, float] = {}
        self._bid_top: list[float] = []  # negated best bid prices, ascending (best first)
        self._ask_top: list[float] = []  # best ask prices, ascending (best first)
        self._bid_edge = _INF  # -(worst cached bid); +inf when the cache holds the whole side
        self._ask_edge = _INF  # worst cached ask; +inf when the cache holds the whole side
        self.cache_size = cache_size
        self.refills = 0
        self.update_id = 0
        self.ts_event = 0
        self.ts_recv = 0

    # -- mutation ---------------------------------------------------------------------------
    def clear(self) -> None:
        self.load((), (), 0)

    def load(self, bids: Iterable[tuple[float, float]], asks: Iterable[tuple[float, float]],
             update_id: int) -> None:
        """Replace the whole book (a snapshot); zero-size levels are ignored."""
        self.bids = {p: q for p, q in bids if q > 0.0}
        self.asks = {p: q for p, q in asks if q > 0.0}
        self._refill_bids()
        self._refill_asks()
        self.update_id = update_id

    def _refill_bids(self) -> None:
        k = self.cache_size
        top = heapq.nlargest(k, self.bids)
        self._bid_top = [-p for p in top]
        self._bid_edge = -top[-1] if len(self.bids) > k else _INF

    def _refill_asks(self) -> None:
        k = self.cache_size
        top = heapq.nsmallest(k, self.asks)
        self._ask_top = top
        self._ask_edge = top[-1] if len(self.asks) > k else _INF

    def apply(self, bids: Iterable[tuple[float, float]], asks: Iterable[tuple[float, float]],
              update_id: int) -> None:
        """Apply absolute level sizes (size 0 deletes the level)."""
        if bids:
            side = self.bids
            top = self._bid_top
            edge = self._bid_edge
            for p, q in bids:
                n = -p
                if q:
                    side[p] = q
                    if n <= edge:
                        i = bisect_left(top, n)
                        if i == len(top) or top[i] != n:
                            top.insert(i, n)
                else:
                    side.pop(p, None)
                    if n <= edge:
                        i = bisect_left(top, n)
                        if i < len(top) and top[i] == n:
                            del top[i]
            k = self.cache_size
            if not top:
                if side:
                    self.refills += 1
                    self._refill_bids()
                else:
                    self._bid_edge = _INF
            elif len(top) > 2 * k:
                del top[k:]
                self._bid_edge = top[-1]
        if asks:
            side = self.asks
            top = self._ask_top
            edge = self._ask_edge
            for p, q in asks:
                if q:
                    side[p] = q
                    if p <= edge:
                        i = bisect_left(top, p)
                        if i == len(top) or top[i] != p:
                            top.insert(i, p)
                else:
                    side.pop(p, None)
                    if p <= edge:
                        i = bisect_left(top, p)
                        if i < len(top) and top[i] == p:
                            del top[i]
            k = self.cache_size
            if not top:
                if side:
                    self.refills += 1
                    self._refill_asks()
                else:
                    self._ask_edge = _INF
            elif len(top) > 2 * k:
                del top[k:]
                self._ask_edge = top[-1]
        self.update_id = update_id

    # -- queries ----------------------------------------------------------------------------
    def best_bid(self) -> tuple[float, float] | None:
        top = self._bid_top
        if not top:
            return None
        p = -top[0]
        return p, self.bids[p]

    def best_ask(self) -> tuple[float, float] | None:
        top = self._ask_top
        if not top:
            return None
        p = top[0]
        return p, self.asks[p]

    def top(self) -> tuple[float, float, float, float] | None:
        """(bid price, bid size, ask price, ask size), or None when a side is empty."""
        bt, at = self._bid_top, self._ask_top
        if not bt or not at:
            return None
        b = -bt[0]
        a = at[0]
        return b, self.bids[b], a, self.asks[a]

    def mid(self) -> Decimal | None:
        t = self.top()
        if t is None:
            return None
        return (to_decimal(t[0]) + to_decimal(t[2])) / 2

    def spread(self) -> Decimal | None:
        t = self.top()
        if t is None:
            return None
        return to_decimal(t[2]) - to_decimal(t[0])

    def walk(self, side: str):
        """Levels of `side` best first, lazily: the cached top, then the rest sorted on demand
        (a walk that stops within the top few levels never sorts the side)."""
        if side == "ask":
            levels, top, edge = self.asks, list(self._ask_top), self._ask_edge
            for p in top:
                yield p, levels[p]
            if edge != _INF:
                for p in sorted(p for p, q in levels.items() if p > edge and q):
                    yield p, levels[p]
        elif side == "bid":
            levels, top, edge = self.bids, list(self._bid_top), self._bid_edge
            for n in top:
                yield -n, levels[-n]
            if edge != _INF:
                for p in sorted((p for p, q in levels.items() if -p > edge and q),
                                reverse=True):
                    yield p, levels[p]
        else:
            raise ValueError(f"side must be 'bid' or 'ask', not {side!r}")

    def depth(self, n: int) -> tuple[list[tuple[float, float]], list[tuple[float, float]]]:
        """The best `n` levels of each side, best first."""
        bids = heapq.nlargest(n, self.bids)
        asks = heapq.nsmallest(n, self.asks)
        return [(p, self.bids[p]) for p in bids], [(p, self.asks[p]) for p in asks]

    def levels(self, side: str) -> list[tuple[float, float]]:
        """All levels of `side` ("bid" or "ask"), best first."""
        if side == "bid":
            return [(p, self.bids[p]) for p in sorted(self.bids, reverse=True)]
        if side == "ask":
            return [(p, self.asks[p]) for p in sorted(self.asks)]
        raise ValueError(f"side must be 'bid' or 'ask', not {side!r}")

    def cost_to_fill(self, side: str, size: Decimal | float | str) -> FillEstimate:
        """Walk `side` ("ask" to buy, "bid" to sell) until `size` is filled or the side ends."""
        want = Decimal(str(size)) if not isinstance(size, Decimal) else size
        if want <= 0:
            raise ValueError(f"size to fill must be positive, got {size}")
        if side == "ask":
            book, keys = self.asks, heapq.nsmallest
        elif side == "bid":
            book, keys = self.bids, heapq.nlargest
        else:
            raise ValueError(f"side must be 'bid' or 'ask', not {side!r}")
        filled = Decimal(0)
        cost = Decimal(0)
        worst = None
        used = 0
        k = 16
        done = 0
        while filled < want and done < len(book):
            prices = keys(k, book)[done:]
            for p in prices:
                q = to_decimal(book[p])
                px = to_decimal(p)
                take = min(q, want - filled)
                filled += take
                cost += take * px
                worst = px
                used += 1
                if filled >= want:
                    break
            done += len(prices)
            k *= 4
        avg = cost / filled if filled else None
        return FillEstimate(side=side, requested=want, filled=filled, cost=cost,
                            average_price=avg, worst_price=worst, levels=used)

    def __len__(self) -> int:
        return len(self.bids) + len(self.asks)
