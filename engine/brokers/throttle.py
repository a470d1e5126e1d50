"""The asyncio shell around `RateBudget`: a request waits here until the venue's budget has
room for it, orders before info requests.

ccxt's own limiter serialises every request in one queue, spaced by its cost (a funding
history lookup held the next child order back by 1.5 s). Here each lane is served in arrival
order, the order lane first, and a request waits only while its own cost does not fit the
budget; nothing sleeps on a guess, a timer fires when the oldest spend leaves its window.
"""

from __future__ import annotations

import asyncio
from collections import deque

from engine.core.clock import Clock
from engine.core.ratelimit import INFO_LANE, ORDER_LANE, RateBudget, RequestCost


class PriorityThrottle:
    def __init__(self, budget: RateBudget, clock: Clock) -> None:
        self.budget, self.clock = budget, clock
        self._lanes: dict[str, deque] = {ORDER_LANE: deque(), INFO_LANE: deque()}
        self._timer: asyncio.TimerHandle | None = None
        self.waited_ns: dict[str, int] = {ORDER_LANE: 0, INFO_LANE: 0}  # worst wait per lane
        self.granted = 0

    async def acquire(self, cost: RequestCost) -> int:
        """Wait until `cost` fits the budget, spend it; returns how long it waited (ns)."""
        now = self.clock.now_ns()
        wait = self.budget.wait_ns(cost, now)
        if wait < 0:
            raise ValueError(f"a request costing {cost} can never fit the budget "
                             f"{self.budget.windows}")
        lane = self._lanes[cost.lane]
        if not lane and wait == 0:
            self.budget.take(cost, now)
            self.granted += 1
            return 0
        fut = asyncio.get_running_loop().create_future()
        entry = (cost, fut, now)
        lane.append(entry)
        self._pump()
        try:
            return await fut
        except asyncio.CancelledError:
            if entry in lane:
                lane.remove(entry)
            raise

    def _pump(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        now = self.clock.now_ns()
        soonest = None
        for name in (ORDER_LANE, INFO_LANE):
            lane = self._lanes[name]
            while lane:
                cost, fut, since = lane[0]
                if fut.done():  # its waiter was cancelled
                    lane.popleft()
                    continue
                wait = self.budget.wait_ns(cost, now)
                if wait > 0:
                    soonest = wait if soonest is None else min(soonest, wait)
                    break  # first come, first served within a lane
                self.budget.take(cost, now)
                lane.popleft()
                self.granted += 1
                waited = now - since
                self.waited_ns[name] = max(self.waited_ns[name], waited)
                fut.set_result(waited)
        if soonest is not None:
            self._timer = asyncio.get_running_loop().call_later(soonest / 1e9, self._pump)

    @property
    def waiting(self) -> int:
        return sum(len(q) for q in self._lanes.values())
