"""The venue budget as sliding windows: what fits, how long the rest waits, and the info lane
never taking the order lane's share."""

from __future__ import annotations

from engine.core.ratelimit import INFO_LANE, ORDER_LANE, RateBudget, RateWindow, RequestCost
from engine.venues.binance.rate_limits import COSTS, load_windows
from engine.execution.markets import BUNDLED_USDM

S = 1_000_000_000
ORDER = RequestCost(weight=0, orders=1, lane=ORDER_LANE)


def test_binance_windows_come_from_the_recorded_exchange_info():
    ws = load_windows(BUNDLED_USDM)
    assert {(w.counts, w.limit, w.window_ns) for w in ws} == {
        ("weight", 2400, 60 * S), ("orders", 1200, 60 * S), ("orders", 300, 10 * S)}
    assert RateBudget(ws).orders_per_s() == 20.0  # 1200 a minute is the tighter of the two


def test_orders_beyond_the_window_wait_until_the_oldest_leaves_it():
    b = RateBudget([RateWindow(counts="orders", limit=3, window_ns=10 * S)])
    for t in (0, 1 * S, 2 * S):
        assert b.wait_ns(ORDER, t) == 0
        b.take(ORDER, t)
    assert b.wait_ns(ORDER, 3 * S) == 7 * S + 1  # the order at t=0 leaves at 10 s
    assert b.wait_ns(ORDER, 10 * S + 1) == 0
    assert b.used("orders", 10 * S + 1) == 2


def test_info_lane_uses_only_its_share_of_the_weight_so_orders_never_wait_on_it():
    b = RateBudget([RateWindow(counts="weight", limit=100, window_ns=60 * S)], info_share=0.8)
    lookup = RequestCost(weight=30, lane=INFO_LANE)
    cancel = RequestCost(weight=1, lane=ORDER_LANE)
    b.take(lookup, 0)
    b.take(lookup, 0)
    assert b.wait_ns(lookup, 1) == 60 * S  # a third would pass 80
    for _ in range(40):  # the reserved 20 (and what info left) is the order lane's
        assert b.wait_ns(cancel, 1) == 0
        b.take(cancel, 1)


def test_a_cost_larger_than_the_window_can_never_fit():
    b = RateBudget([RateWindow(counts="weight", limit=10, window_ns=S)])
    assert b.wait_ns(RequestCost(weight=11, lane=ORDER_LANE), 0) == -1


def test_new_orders_weigh_nothing_on_the_ip_budget_and_one_on_the_order_counters():
    b = RateBudget(load_windows(BUNDLED_USDM))
    for i in range(300):
        assert b.wait_ns(COSTS["create_order"], i) == 0
        b.take(COSTS["create_order"], i)
    assert b.used("weight", 300) == 0 and b.used("orders", 300) == 300
    assert b.wait_ns(COSTS["create_order"], 300) > 0  # 300 per 10 s reached
    assert b.wait_ns(COSTS["fetch_my_trades"], 300) == 0  # lookups are on the weight only
