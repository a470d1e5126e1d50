"""A venue's request budget as sliding windows (pure: the caller passes the time).

Venues publish their limits as counters over windows: Binance USD-M allows 2400 request
weight a minute per IP and, per account, 1200 orders a minute and 300 every 10 seconds. Each
request costs some weight and, if it creates an order, one order. `RateBudget` remembers what
was spent in each window and says how long a request must wait to fit; the asyncio shell that
actually waits is `engine.brokers.throttle`.

Two lanes share a budget: orders (new orders and cancels) and info (lookups, reconciliation,
funding history). The info lane may use only `info_share` of each weight window, so what it
spends never leaves the order lane short: an order waits only on what other orders spent.
"""

from __future__ import annotations

from collections import deque

import msgspec

ORDER_LANE, INFO_LANE = "order", "info"


class RateWindow(msgspec.Struct, frozen=True, kw_only=True):
    counts: str  # "weight" (request weight) | "orders" (orders created)
    limit: int
    window_ns: int


class RequestCost(msgspec.Struct, frozen=True, kw_only=True):
    weight: int = 1
    orders: int = 0
    lane: str = INFO_LANE


class RateBudget:
    def __init__(self, windows: list[RateWindow], info_share: float = 0.8) -> None:
        if not 0 < info_share <= 1:
            raise ValueError(f"info_share must be in (0, 1], got {info_share}")
        self.windows = list(windows)
        self.info_share = info_share
        # per window: (time ns, amount) spent, oldest first, and their running sum
        self._spent: list[deque[tuple[int, int]]] = [deque() for _ in self.windows]
        self._sums = [0] * len(self.windows)

    def _amount(self, w: RateWindow, cost: RequestCost) -> int:
        return cost.weight if w.counts == "weight" else cost.orders

    def _expire(self, i: int, now: int) -> None:
        q, horizon = self._spent[i], now - self.windows[i].window_ns
        while q and q[0][0] <= horizon:
            self._sums[i] -= q.popleft()[1]

    def _cap(self, w: RateWindow, lane: str) -> float:
        if lane == INFO_LANE and w.counts == "weight":
            return w.limit * self.info_share
        return w.limit

    def wait_ns(self, cost: RequestCost, now: int) -> int:
        """0 when `cost` fits now, else how long until it does (never fits: -1)."""
        wait = 0
        for i, w in enumerate(self.windows):
            need = self._amount(w, cost)
            if need <= 0:
                continue
            cap = self._cap(w, cost.lane)
            if need > cap:
                return -1
            self._expire(i, now)
            over = self._sums[i] + need - cap
            if over <= 0:
                continue
            # the oldest entries leave the window first: wait until enough of them have
            freed = 0
            for ts, amount in self._spent[i]:
                freed += amount
                if freed >= over:
                    wait = max(wait, ts + w.window_ns - now + 1)
                    break
        return wait

    def take(self, cost: RequestCost, now: int) -> None:
        for i, w in enumerate(self.windows):
            need = self._amount(w, cost)
            if need > 0:
                self._expire(i, now)
                self._spent[i].append((now, need))
                self._sums[i] += need

    def used(self, counts: str, now: int) -> int:
        """Spent in the tightest window of that kind (for status and tests)."""
        out = 0
        for i, w in enumerate(self.windows):
            if w.counts == counts:
                self._expire(i, now)
                out = max(out, self._sums[i])
        return out

    def orders_per_s(self) -> float | None:
        """The sustained order rate the windows allow (the tightest), None without a limit."""
        rates = [w.limit / (w.window_ns / 1e9) for w in self.windows if w.counts == "orders"]
        return min(rates) if rates else None
