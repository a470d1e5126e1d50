"""An L2 price-level book: a dict per side and its best price, kept as levels change.

Each side is a dict (price -> size) holding every level, plus the best price and an unsorted
list of candidates for the next best (every live level at or better than a floor, plus some dead
ones). A diff level is one dict write and a float comparison or two; a diff that removes the
best level picks the next one among the candidates, and only when none is left scans the whole
side (`max` over the dict, in C). Ordered views (`walk`, `depth`, `levels`, `cost_to_fill`)
sort on demand, a few levels at a time where they stop early. An earlier design kept the best
64 prices sorted and bisected every near-top level into them: dearer on every diff than the
candidates list (scripts/bench/replay.py, scripts/bench/trigger_latency.py).

Keys and sizes are floats that encode the exchange's decimals exactly (see `engine.core.numeric`);
queries that add money up (`cost_to_fill`) do it in `Decimal`.
"""

from __future__ import annotations

import heapq
from decimal import Decimal
from typing import Iterable

import msgspec

from engine.core.numeric import to_decimal

_INF = float("inf")


def _scan(side: dict[float, float], k: int, best_k, none: float
          ) -> tuple[list[float], float, float]:
    """The whole side scanned: (next-best candidates, their floor, best price). `best_k` is
    `heapq.nlargest` for bids, `nsmallest` for asks; `none` the empty side's best (and floor).
    A heap over the side costs about twice a plain `max`, for ~8x fewer scans on the captures."""
    if len(side) <= k:
        near = list(side)
        return near, none, (best_k(1, near)[0] if near else none)
    near = best_k(k, side)
    return near, near[-1], near[0]


def _compact(side: dict[float, float], near: list[float], floor: float, k: int, best_k
             ) -> tuple[list[float], float]:
    """Dead and repeated candidates dropped; when many live ones remain, the best `k` of them
    kept and the floor raised to the worst one kept (no live level above it is missed)."""
    live = [p for p in set(near) if p in side]
    if len(live) > 2 * k:
        live = best_k(k, live)
        floor = live[-1]
    return live, floor


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

    __slots__ = ("symbol", "bids", "asks", "_bb", "_ba", "_bid_near", "_ask_near", "_bid_floor",
                 "_ask_floor", "update_id", "ts_event", "ts_recv", "rescans", "full_rescans")

    NEAR = 32  # prices a full rescan keeps as the next best candidates

    def __init__(self, symbol: str) -> None:
        self.symbol = symbol
        self.bids: dict[float, float] = {}
        self.asks: dict[float, float] = {}
        self._bb = -_INF  # best bid; -inf when the side is empty
        self._ba = _INF  # best ask; +inf when the side is empty
        # Candidates for the next best price, so losing the best rarely scans the whole side.
        # Invariant: every live level at or better than the floor is in the list (which may
        # also hold dead prices and repeats); the floor is at or worse than the best price.
        self._bid_near: list[float] = []
        self._ask_near: list[float] = []
        self._bid_floor = -_INF
        self._ask_floor = _INF
        self.rescans = 0  # diffs that took the best level away (and looked for the next)
        self.full_rescans = 0  # ... of which no candidate was left: the whole side was scanned
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
        self._bb = self._rebuild_bids()
        self._ba = self._rebuild_asks()
        self.update_id = update_id

    def _rebuild_bids(self) -> float:
        self._bid_near, self._bid_floor, best = _scan(self.bids, self.NEAR, heapq.nlargest, -_INF)
        return best

    def _rebuild_asks(self) -> float:
        self._ask_near, self._ask_floor, best = _scan(self.asks, self.NEAR, heapq.nsmallest, _INF)
        return best

    def _compact_bids(self) -> None:
        self._bid_near, self._bid_floor = _compact(self.bids, self._bid_near, self._bid_floor,
                                                   self.NEAR, heapq.nlargest)

    def _compact_asks(self) -> None:
        self._ask_near, self._ask_floor = _compact(self.asks, self._ask_near, self._ask_floor,
                                                   self.NEAR, heapq.nsmallest)

    def apply(self, bids: Iterable[tuple[float, float]], asks: Iterable[tuple[float, float]],
              update_id: int) -> None:
        """Apply absolute level sizes (size 0 deletes the level)."""
        if bids:
            side = self.bids
            best = self._bb
            floor = self._bid_floor
            near = self._bid_near
            keep = near.append
            lost = False  # the best level was deleted and nothing at or above it came back
            # (the two sides' loops differ only in the comparisons' direction: a flag tested
            # per level would cost on the hottest path)
            for p, q in bids:
                if q:
                    side[p] = q
                    if p >= floor:
                        keep(p)
                        if p >= best:
                            best, lost = p, False
                elif side.pop(p, None) is not None and p == best:
                    lost = True
            if lost:
                best = self._next_best(True)
            elif len(near) > 8 * self.NEAR:
                self._compact_bids()
            self._bb = best
        if asks:
            side = self.asks
            best = self._ba
            floor = self._ask_floor
            near = self._ask_near
            keep = near.append
            lost = False
            for p, q in asks:
                if q:
                    side[p] = q
                    if p <= floor:
                        keep(p)
                        if p <= best:
                            best, lost = p, False
                elif side.pop(p, None) is not None and p == best:
                    lost = True
            if lost:
                best = self._next_best(False)
            elif len(near) > 8 * self.NEAR:
                self._compact_asks()
            self._ba = best
        self.update_id = update_id

    def _next_best(self, bids: bool) -> float:
        """The best level was deleted: the next one among the candidates, else a side scan."""
        self.rescans += 1
        if bids:
            if len(self._bid_near) > 8 * self.NEAR:  # dead and repeated ones out first
                self._compact_bids()
            side, near = self.bids, self._bid_near
        else:
            if len(self._ask_near) > 8 * self.NEAR:
                self._compact_asks()
            side, near = self.asks, self._ask_near
        live = [p for p in near if p in side]
        if live:
            if bids:
                self._bid_near = live
                return max(live)
            self._ask_near = live
            return min(live)
        self.full_rescans += bool(side)
        return self._rebuild_bids() if bids else self._rebuild_asks()

    # -- queries ----------------------------------------------------------------------------
    def best_bid(self) -> tuple[float, float] | None:
        p = self._bb
        if p == -_INF:
            return None
        return p, self.bids[p]

    def best_ask(self) -> tuple[float, float] | None:
        p = self._ba
        if p == _INF:
            return None
        return p, self.asks[p]

    def top(self) -> tuple[float, float, float, float] | None:
        """(bid price, bid size, ask price, ask size), or None when a side is empty."""
        b, a = self._bb, self._ba
        if b == -_INF or a == _INF:
            return None
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
        """Levels of `side` best first, lazily: the best 16, then 64, ... sorted as needed
        (a walk that stops within the top few levels never sorts the whole side)."""
        if side == "ask":
            levels, keys = self.asks, heapq.nsmallest
        elif side == "bid":
            levels, keys = self.bids, heapq.nlargest
        else:
            raise ValueError(f"side must be 'bid' or 'ask', not {side!r}")
        k, done = 16, 0
        while done < len(levels):
            prices = keys(k, levels)[done:]
            for p in prices:
                yield p, levels[p]
            done += len(prices)
            k *= 4

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
