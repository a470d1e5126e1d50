"""Risk guard rules and states, and the margin-cap property over random orders."""

from __future__ import annotations

import asyncio
import os
import signal
from decimal import Decimal as D

from hypothesis import given, settings
from hypothesis import strategies as st

from engine.model import Fill, OrderRequest
from engine.portfolio.instruments import instrument_from_symbol as ins
from engine.portfolio.state import Portfolio
from engine.risk.checks import RiskLimits, project
from engine.risk.guard import ACTIVE, HALTED, REDUCING, RiskGuard
from tests.helpers import wait_until

S = 1_000_000_000
SYMS = ["BTC/USDT:USDT", "ETH/USDT:USDT"]


def _setup(limits: RiskLimits | None = None, lev=(5, 5)):
    p = Portfolio([ins(s, leverage=l) for s, l in zip(SYMS, lev)], cash={"USDT": "100000"})
    prices = {"BTC/USDT:USDT": 60000.0, "ETH/USDT:USDT": 3000.0}
    for s, px in prices.items():
        p.on_price(s, px)
    ts = {s: 0 for s in SYMS}
    g = RiskGuard(p, limits or RiskLimits(), prices=prices, price_ts=ts)
    return p, g, prices, ts


def _order(sym, side, qty, price=None, n=[0]):
    n[0] += 1
    return OrderRequest(client_order_id=f"c{n[0]}", parent_id="p", symbol=sym, side=side,
                        qty=D(qty), price=D(str(price)) if price else None)


def _fill(p, o: OrderRequest, px):
    p.on_fill(Fill(exchange="x", symbol=o.symbol, ts_event=0, ts_recv=0, order_id=o.client_order_id,
                   trade_id=o.client_order_id, side=o.side, qty=o.qty, price=D(str(px))))


def test_margin_cap_refuses_only_orders_that_raise_utilisation():
    p, g, prices, _ = _setup(RiskLimits(max_margin_utilisation=0.2, max_gross_leverage=10))
    ok = _order("BTC/USDT:USDT", "buy", "1.5")  # 90k / 5 = 18k of 100k: 18%
    assert g.check(ok, {}, 0).ok
    _fill(p, ok, 60000)
    too_much = _order("ETH/USDT:USDT", "buy", "10")  # +6k IM -> 24%
    v = g.check(too_much, {}, 0)
    assert not v.ok and v.rule == "margin_utilisation" and "0.24" in v.reason
    # Pending orders count: a small buy is refused when open orders already use the room.
    small = _order("ETH/USDT:USDT", "buy", "1")
    assert g.check(small, {}, 0).ok
    assert not g.check(small, {"BTC/USDT:USDT": D("0.2")}, 0).ok
    assert g.check(_order("BTC/USDT:USDT", "sell", "1"), {}, 0).ok  # reducing always may


def test_gross_leverage_order_notional_position_and_price_band():
    _, g, _, _ = _setup(RiskLimits(max_gross_leverage=0.4, max_order_notional=20000,
                                   max_position_notional=25000, price_band_bps=50))
    assert g.check(_order("BTC/USDT:USDT", "buy", "0.5"), {}, 0).rule == "max_order_notional"
    assert g.check(_order("ETH/USDT:USDT", "buy", "5"), {"ETH/USDT:USDT": D("4")}, 0).rule == \
        "max_position"
    assert g.check(_order("BTC/USDT:USDT", "buy", "0.3"), {"ETH/USDT:USDT": D("8")},
                   0).rule == "gross_leverage"
    assert g.check(_order("BTC/USDT:USDT", "buy", "0.1", 60400), {}, 0).rule == "price_band"
    assert g.check(_order("BTC/USDT:USDT", "buy", "0.1", 60250), {}, 0).ok


def test_stale_price_refuses_new_risk_and_moves_to_reducing_until_fresh():
    p, g, prices, ts = _setup()
    _fill(p, _order("BTC/USDT:USDT", "buy", "0.5"), 60000)
    now = 6 * S
    v = g.check(_order("BTC/USDT:USDT", "buy", "0.1"), {}, now)
    assert not v.ok and v.rule == "stale_price" and g.state == REDUCING
    assert g.check(_order("BTC/USDT:USDT", "sell", "0.1"), {}, now).ok  # reducing is fine
    assert not g.check(_order("ETH/USDT:USDT", "buy", "1"), {}, now).ok
    ts["BTC/USDT:USDT"] = ts["ETH/USDT:USDT"] = now
    g.update(now)
    assert g.state == ACTIVE and g.check(_order("BTC/USDT:USDT", "buy", "0.1"), {}, now).ok
    assert [(c.old, c.new) for c in g.history] == [(ACTIVE, REDUCING), (REDUCING, ACTIVE)]


def test_invalid_book_refuses_every_order_on_that_symbol():
    p, g, _, _ = _setup()
    g.book_valid = lambda s: s != "ETH/USDT:USDT"
    assert g.check(_order("ETH/USDT:USDT", "sell", "1"), {}, 0).rule == "book_invalid"
    assert g.check(_order("BTC/USDT:USDT", "buy", "0.1"), {}, 0).ok


def test_margin_above_the_reduce_threshold_goes_reducing():
    p, g, prices, _ = _setup(RiskLimits(reduce_above_utilisation=0.3, max_gross_leverage=10,
                                        max_margin_utilisation=1.0))
    _fill(p, _order("BTC/USDT:USDT", "buy", "3"), 60000)  # 180k / 5 = 36k: 36%
    g.update(0)
    assert g.state == REDUCING and "utilisation" in g.history[-1].reason
    assert g.check(_order("ETH/USDT:USDT", "buy", "1"), {}, 0).rule == "reducing_only"
    assert g.check(_order("BTC/USDT:USDT", "sell", "1"), {}, 0).ok


def test_kill_switch_by_command_halts_everything_until_reset():
    _, g, _, _ = _setup()
    g.kill("operator", 5)
    assert g.state == HALTED and g.history[-1].reason == "kill: operator"
    v = g.check(_order("BTC/USDT:USDT", "sell", "0.1"), {}, 5)
    assert not v.ok and v.rule == "halted"
    g.reset_kill("operator resumed", 6)
    assert g.state == ACTIVE


async def test_kill_switch_by_signal():
    _, g, _, _ = _setup()
    loop = asyncio.get_running_loop()
    g.install_kill_signal(loop, lambda: 7, signal.SIGUSR2)
    try:
        os.kill(os.getpid(), signal.SIGUSR2)
        await wait_until(lambda: g.state == HALTED, "the signal handled", timeout_s=30)
        assert g.state == HALTED and "SIGUSR2" in g.history[-1].reason
    finally:
        loop.remove_signal_handler(signal.SIGUSR2)


orders = st.lists(st.tuples(st.sampled_from(SYMS), st.sampled_from(["buy", "sell"]),
                            st.integers(1, 4000).map(lambda i: D(i) / 1000)), max_size=40)


@settings(max_examples=300, deadline=None)
@given(orders=orders, btc=st.floats(20000, 120000), eth=st.floats(1000, 6000),
       lev=st.tuples(st.integers(1, 50), st.integers(1, 50)), cap=st.floats(0.05, 0.95),
       pend=st.integers(0, 3))
def test_no_accepted_order_takes_projected_utilisation_above_the_cap(orders, btc, eth, lev,
                                                                   cap, pend):
    p, g, prices, _ = _setup(RiskLimits(max_margin_utilisation=cap, max_gross_leverage=100,
                                        price_band_bps=1e9), lev)
    prices.update({"BTC/USDT:USDT": btc, "ETH/USDT:USDT": eth})
    p.on_price("BTC/USDT:USDT", btc)
    p.on_price("ETH/USDT:USDT", eth)
    pending: dict[str, D] = {}
    for i, (sym, side, qty) in enumerate(orders):
        o = _order(sym, side, str(qty))
        before = project(p, pending, prices).utilisation
        if not g.check(o, pending, 0).ok:
            continue
        signed = qty if side == "buy" else -qty
        if i % (pend + 1):  # some stay open (pending), the rest fill at the mark
            pending[sym] = pending.get(sym, D(0)) + signed
        else:
            _fill(p, o, prices[sym])
        after = project(p, pending, prices).utilisation
        assert after <= cap + 1e-9 or after <= before + 1e-9


MIXED = ["BTC/USDT", "ETH/USDT", "BTC/USDT:USDT", "ETH/USDT:USDT", "BTC/USD:BTC"]


@settings(max_examples=200, deadline=None)
@given(fills=st.lists(st.tuples(st.sampled_from(MIXED), st.sampled_from(["buy", "sell"]),
                                st.integers(1, 3000).map(lambda i: D(i) / 1000)), max_size=12),
       pending=st.dictionaries(st.sampled_from(MIXED),
                               st.integers(-3000, 3000).map(lambda i: D(i) / 1000), max_size=4),
       order=st.tuples(st.sampled_from(MIXED), st.integers(-3000, 3000).map(lambda i: D(i) / 100)),
       btc=st.floats(20000, 120000), eth=st.floats(1000, 6000), pooled=st.booleans())
def test_both_projections_of_one_pass_equal_two_separate_projections(fills, pending, order, btc,
                                                                      eth, pooled):
    """The guard's one-pass projection (without and with the order) is bit for bit what two
    `project` calls give, on spot, USD-M and COIN-M instruments with pending amounts."""
    from engine.risk.checks import project_order

    p = Portfolio([ins(s, leverage=3, contract_size=D(100) if s.endswith(":BTC") else None)
                   for s in MIXED], cash={"USDT": "200000"}, pooled=pooled)
    px = {"BTC/USDT": btc, "ETH/USDT": eth, "BTC/USDT:USDT": btc * 1.001,
          "ETH/USDT:USDT": eth * 0.999, "BTC/USD:BTC": btc * 1.002}
    for s, v in px.items():
        p.on_price(s, v)
    for i, (sym, side, qty) in enumerate(fills):
        try:
            p.on_fill(Fill(exchange="x", symbol=sym, ts_event=0, ts_recv=0, order_id=f"o{i}",
                           trade_id=f"t{i}", side=side, qty=qty, price=D(str(px[sym]))))
        except ValueError:
            continue  # a fill the wallet refuses is not the point here
    sym, signed = order
    with_order = dict(pending)
    with_order[sym] = with_order.get(sym, D(0)) + signed
    before, after = project_order(p, pending, px, sym, signed)
    assert before == project(p, pending, px)
    assert after == project(p, with_order, px)


SPOT = ["BTC/USDT", "ETH/USDT", "SOL/USDT"]


@settings(max_examples=300, deadline=None)
@given(fills=st.lists(st.tuples(st.sampled_from(SPOT), st.sampled_from(["buy", "sell"]),
                                st.integers(1, 3000).map(lambda i: D(i) / 1000)), max_size=12),
       order=st.tuples(st.sampled_from(SPOT), st.integers(-3000, 3000).map(lambda i: D(i) / 100)),
       btc=st.floats(20000, 120000), eth=st.floats(1000, 6000), sol=st.floats(5, 500),
       pooled=st.booleans(), bnb_fee=st.booleans(), unpriced_sol=st.booleans())
def test_the_guard_reads_a_spot_order_as_the_general_projection_would(
        fills, order, btc, eth, sol, pooled, bnb_fee, unpriced_sol):
    """With nothing pending, a spot-only portfolio's order is read by a short path
    (`_spot_order_sides`): its position, utilisation, gross leverage and exposure, without and
    with the order, are bit for bit the general projection's, for a coin held, one never held
    (the order brings it in), a coin not priced yet, and a fee coin no instrument trades."""
    from engine.risk.checks import _spot_order_sides, project_order, sides_of

    p = Portfolio([ins(s) for s in SPOT], cash={"USDT": "200000"}, pooled=pooled)
    px = {"BTC/USDT": btc, "ETH/USDT": eth, "SOL/USDT": sol}
    for s, v in px.items():
        if not (unpriced_sol and s == "SOL/USDT"):
            p.on_price(s, v)
    for i, (sym, side, qty) in enumerate(fills):
        p.on_fill(Fill(exchange="x", symbol=sym, ts_event=0, ts_recv=0, order_id=f"o{i}",
                       trade_id=f"t{i}", side=side, qty=qty, price=D(str(px[sym])),
                       fee=D("0.001"), fee_currency="BNB" if bnb_fee else "USDT"))
    sym, signed = order
    asset = sym.partition("/")[0]
    general = sides_of(*project_order(p, {}, px, sym, signed), sym, asset)
    assert _spot_order_sides(p, px, sym, asset, signed) == general
