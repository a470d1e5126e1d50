"""Planning in market units from the real exchangeInfo, and slice schedules."""

from __future__ import annotations

from decimal import Decimal as D

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.execution.markets import load_markets_offline
from engine.execution.planner import Planner
from engine.execution.schedules import (
    profile_from_bars,
    profile_from_trades,
    twap_schedule,
    vwap_schedule,
)
from engine.model import LegTarget, RebalanceIntent
from engine.portfolio.instruments import instrument_from_symbol as ins
from engine.portfolio.state import Portfolio
from tests.conftest import shared

S = 1_000_000_000


@pytest.fixture(scope="module")
def markets():
    return load_markets_offline()


def _intent(**legs) -> RebalanceIntent:
    return RebalanceIntent(intent_id="i1", rule="test", reason="", ts_recv=1, ts_decided=1,
                           targets=tuple(LegTarget(symbol=s.replace("_", "/", 1).replace("__", ":"),
                                                   notional=v) for s, v in legs.items()))


def test_recorded_exchange_info_gives_binance_lot_tick_and_minimums(markets):
    btc = markets["BTC/USDT:USDT"]
    assert (btc.amount_step, btc.price_tick, btc.min_amount, btc.min_notional) == (
        D("0.001"), D("0.01"), D("0.001"), D("5.0"))
    assert btc.kind == "linear" and btc.market_id == "BTCUSDT"
    # the same exchangeInfo, read from the cryptofeed recording with its URL prefix
    again = load_markets_offline(shared("cryptofeed", "sample_data", "BINANCE_FUTURES.0"))
    assert again["BTC/USDT:USDT"] == btc and len(again) == len(markets) == 122


def test_planner_rounds_down_to_the_lot_and_reduces_first(markets):
    p = Portfolio([ins("BTC/USDT:USDT", leverage=5), ins("ETH/USDT:USDT", leverage=5)],
                  cash={"USDT": "100000"})
    p.seed_position("BTC/USDT:USDT", D("1.214"), D("61800"))
    p.seed_position("ETH/USDT:USDT", D("9.33"), D("2680"))
    intent = RebalanceIntent(intent_id="i", rule="drift", reason="", ts_recv=0, ts_decided=0,
                             targets=(LegTarget(symbol="ETH/USDT:USDT", notional=40000.0),
                                      LegTarget(symbol="BTC/USDT:USDT", notional=60000.0)))
    plan = Planner(markets).plan(intent, p, {"BTC/USDT:USDT": 61800.25,
                                              "ETH/USDT:USDT": 2681.625})
    btc, eth = plan.orders
    assert (btc.symbol, btc.side, btc.reduces) == ("BTC/USDT:USDT", "sell", True)
    assert (eth.symbol, eth.side, eth.reduces) == ("ETH/USDT:USDT", "buy", False)
    # 60000 / 61800.25 = 0.97087... -> sell 1.214 - 0.97087 = 0.24312.. -> 0.243
    assert btc.qty == D("0.243") and eth.qty == D("5.586")
    exact_btc = D("60000") / D("61800.25") - D("1.214")
    assert plan.carry["BTC/USDT:USDT"] == exact_btc + D("0.243")
    assert abs(plan.carry["BTC/USDT:USDT"]) < D("0.001")


def test_deltas_below_the_minimum_are_carried_not_lost(markets):
    p = Portfolio([ins("BTC/USDT:USDT", leverage=5)], cash={"USDT": "100000"})
    p.seed_position("BTC/USDT:USDT", D("1"), D("60000"))
    planner = Planner(markets)
    intent = RebalanceIntent(intent_id="i", rule="t", reason="", ts_recv=0, ts_decided=0,
                             targets=(LegTarget(symbol="BTC/USDT:USDT", notional=60003.0),))
    plan = planner.plan(intent, p, {"BTC/USDT:USDT": 60000.0})
    assert plan.orders == () and "below minimum" in plan.skipped["BTC/USDT:USDT"]
    assert plan.carry["BTC/USDT:USDT"] == D("0.00005")
    intent2 = RebalanceIntent(intent_id="j", rule="t", reason="", ts_recv=0, ts_decided=0,
                              targets=(LegTarget(symbol="BTC/USDT:USDT", notional=60063.0),))
    (order,) = planner.plan(intent2, p, {"BTC/USDT:USDT": 60000.0}).orders
    assert order.qty == D("0.001") and order.side == "buy"
    unknown = RebalanceIntent(intent_id="k", rule="t", reason="", ts_recv=0, ts_decided=0,
                              targets=(LegTarget(symbol="XYZ/USDT:USDT", notional=1.0),))
    assert "no market rules" in planner.plan(unknown, p, {}).skipped["XYZ/USDT:USDT"]


@settings(max_examples=200, deadline=None)
@given(total=st.integers(1, 100000).map(lambda i: D(i) / 1000), slices=st.integers(1, 40),
       jitter=st.floats(0, 0.49), min_amt=st.sampled_from([D("0.001"), D("0.01"), D("0.1")]))
def test_twap_slices_add_up_exactly_and_respect_lot_and_minimum(total, slices, jitter, min_amt):
    sched = twap_schedule(total, 0, 60 * S, slices, D("0.001"), min_amt, jitter, seed=3)
    assert sum(q for _, q in sched) == total
    assert all(q == q.quantize(D("0.001")) for _, q in sched)
    assert all(q >= min_amt for _, q in sched) or len(sched) == 1
    times = [t for t, _ in sched]
    assert times == sorted(times) and times[0] == 0 and times[-1] < 60 * S


def test_vwap_slices_follow_the_volume_profile_of_recorded_trades(usdm_btc_lines):
    from engine.venues.binance.frames import BinanceDecoder

    dec = BinanceDecoder("usdm", "BTC/USDT:USDT")
    trades = []
    for line in usdm_btc_lines:
        if b"@trade" in line[:60]:
            ts, _, payload = line.partition(b" ")
            t = dec.decode_frame(payload, int(ts))
            trades.append((t.ts_recv, t.size))
    end = trades[-1][0]
    prof = profile_from_trades(trades, end, 120 * S, 4)
    assert sum(prof) == pytest.approx(sum(s for ts, s in trades if end - 120 * S <= ts < end))
    sched = vwap_schedule(D("2"), 0, 120 * S, prof, D("0.001"), D("0.001"))
    qty = [q for _, q in sched]
    assert sum(qty) == D("2")
    for q, v in zip(qty, prof):
        assert float(q) == pytest.approx(2 * v / sum(prof), abs=0.002)


def test_bar_profile_averages_volume_by_time_of_day():
    h = 3600 * S
    bars = [(d * 24 * h + k * h, float(k + 1)) for d in range(3) for k in range(24)]
    assert profile_from_bars(bars, h, 3, 22 * h) == [23.0, 24.0, 1.0]


def test_twap_children_that_cannot_fit_the_venue_order_rate_are_stretched():
    from engine.execution.engine import fit_duration_ns

    s = 1_000_000_000
    assert fit_duration_ns(12, 3 * s, 20.0) == 3 * s  # Binance's 20/s: plenty
    assert fit_duration_ns(12, 3 * s, 2.0) == 12 * s  # half of 2/s for 12 children
    assert fit_duration_ns(12, 3 * s, None) == 3 * s  # paper: no venue budget
