"""An L2 price-level book: one compiled `BookSide` per side (price -> size and its best price).

A side is a flat C hash table of doubles (`engine/book/_side.pyx`): a diff level is a probe and a
store, and losing the best level scans one contiguous array for the next (~10 us for 5,000
levels). Earlier designs kept Python dicts with a sorted top-64 cache, then with an unsorted list
of next-best candidates: ~0.2 us per level and 150-300 us for a full scan, bound by float objects
and scattered memory, not by the interpreter (a Cython loop over the dict gained 22%).
Ordered views (`walk`, `depth`, `levels`, `cost_to_fill`) take the best k levels from the side,
a few at a time where they stop early.

Keys and sizes are floats that encode the exchange's decimals exactly (see `engine.core.numeric`);
queries that add money up (`cost_to_fill`) do it in `Decimal`.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Iterable

import msgspec

from engine.core.numeric import to_decimal

try:
    from engine.book._side import BookSide
except ImportError as exc:  # pragma: no cover - only without a build
    raise ImportError("engine.book._side is not built: install the project (`make install` or "
                      "`pip install -e .`), which compiles it") from exc

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

    __slots__ = ("symbol", "bids", "asks", "update_id", "ts_event", "ts_recv")

    def __init__(self, symbol: str) -> None:
        self.symbol = symbol
        self.bids = BookSide(True)
        self.asks = BookSide(False)
        self.update_id = 0
        self.ts_event = 0
        self.ts_recv = 0

    @property
    def rescans(self) -> int:
        """Diffs that took a side's best level away, so the side was scanned for the next."""
        return self.bids.scans + self.asks.scans

    # -- mutation ---------------------------------------------------------------------------
    def clear(self) -> None:
        self.load((), (), 0)

    def load(self, bids: Iterable[tuple[float, float]], asks: Iterable[tuple[float, float]],
             update_id: int) -> None:
        """Replace the whole book (a snapshot); zero-size levels are ignored."""
        self.bids.load(bids)
        self.asks.load(asks)
        self.update_id = update_id

    def apply(self, bids: Iterable[tuple[float, float]], asks: Iterable[tuple[float, float]],
              update_id: int) -> None:
        """Apply absolute level sizes (size 0 deletes the level)."""
        if bids:
            self.bids.apply(bids)
        if asks:
            self.asks.apply(asks)
        self.update_id = update_id

    # -- queries ----------------------------------------------------------------------------
    def best_bid(self) -> tuple[float, float] | None:
        return self.bids.best_level()

    def best_ask(self) -> tuple[float, float] | None:
        return self.asks.best_level()

    def top(self) -> tuple[float, float, float, float] | None:
        """(bid price, bid size, ask price, ask size), or None when a side is empty."""
        b = self.bids.best_level()
        a = self.asks.best_level()
        if b is None or a is None:
            return None
        return b[0], b[1], a[0], a[1]

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

    def _side(self, side: str) -> BookSide:
        if side == "ask":
            return self.asks
        if side == "bid":
            return self.bids
        raise ValueError(f"side must be 'bid' or 'ask', not {side!r}")

    def walk(self, side: str):
        """Levels of `side` best first, lazily: the best 16, then 64, ... taken as needed
        (a walk that stops within the top few levels never orders the whole side)."""
        levels = self._side(side)
        k, done = 16, 0
        while done < len(levels):
            batch = levels.top(k)[done:]
            yield from batch
            done += len(batch)
            k *= 4

    def depth(self, n: int) -> tuple[list[tuple[float, float]], list[tuple[float, float]]]:
        """The best `n` levels of each side, best first."""
        return self.bids.top(n), self.asks.top(n)

    def levels(self, side: str) -> list[tuple[float, float]]:
        """All levels of `side` ("bid" or "ask"), best first."""
        levels = self._side(side)
        return levels.top(len(levels))

    def cost_to_fill(self, side: str, size: Decimal | float | str) -> FillEstimate:
        """Walk `side` ("ask" to buy, "bid" to sell) until `size` is filled or the side ends."""
        want = Decimal(str(size)) if not isinstance(size, Decimal) else size
        if want <= 0:
            raise ValueError(f"size to fill must be positive, got {size}")
        levels = self.walk(side)
        filled = Decimal(0)
        cost = Decimal(0)
        worst = None
        used = 0
        for p, q in levels:
            px = to_decimal(p)
            take = min(to_decimal(q), want - filled)
            filled += take
            cost += take * px
            worst = px
            used += 1
            if filled >= want:
                break
        avg = cost / filled if filled else None
        return FillEstimate(side=side, requested=want, filled=filled, cost=cost,
                            average_price=avg, worst_price=worst, levels=used)

    def __len__(self) -> int:
        return len(self.bids) + len(self.asks)
