"""The throttle shell: orders go before info requests, each lane in arrival order, and a
waiter is woken when its cost fits (an injected clock decides what fits)."""

from __future__ import annotations

import asyncio

from engine.brokers.throttle import PriorityThrottle
from engine.core.clock import ReplayClock
from engine.core.ratelimit import INFO_LANE, ORDER_LANE, RateBudget, RateWindow, RequestCost
from tests.helpers import wait_until

S = 1_000_000_000


async def test_waiting_orders_are_served_before_waiting_lookups():
    clock = ReplayClock(0)
    budget = RateBudget([RateWindow(counts="weight", limit=2, window_ns=S)], info_share=1.0)
    th = PriorityThrottle(budget, clock)
    order = RequestCost(weight=1, lane=ORDER_LANE)
    info = RequestCost(weight=1, lane=INFO_LANE)
    await th.acquire(info)
    await th.acquire(info)  # the window is full
    served: list[str] = []

    async def ask(name, cost):
        await th.acquire(cost)
        served.append(name)

    tasks = [asyncio.create_task(ask("info-1", info)), asyncio.create_task(ask("order-1", order)),
             asyncio.create_task(ask("order-2", order))]
    await wait_until(lambda: th.waiting == 3, "three waiters queued")
    assert not served
    clock.advance_to(S + 1)  # both spends leave the window: two places
    th._pump()
    await wait_until(lambda: len(served) == 2, "two places served")
    assert served == ["order-1", "order-2"]
    clock.advance_to(2 * S + 2)
    th._pump()
    await asyncio.wait_for(asyncio.gather(*tasks), 5)
    assert served == ["order-1", "order-2", "info-1"]
    assert th.waited_ns[ORDER_LANE] == S + 1


async def test_a_cancelled_waiter_leaves_the_queue():
    clock = ReplayClock(0)
    th = PriorityThrottle(RateBudget([RateWindow(counts="orders", limit=1, window_ns=S)]), clock)
    cost = RequestCost(weight=0, orders=1, lane=ORDER_LANE)
    await th.acquire(cost)
    t = asyncio.create_task(th.acquire(cost))
    await wait_until(lambda: th.waiting == 1, "the waiter queued")
    t.cancel()
    await asyncio.gather(t, return_exceptions=True)
    assert th.waiting == 0
