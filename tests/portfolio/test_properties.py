"""Identities that must hold after any sequence of fills and price moves (hypothesis)."""

from __future__ import annotations

from decimal import Decimal as D

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.model import Fill
from engine.portfolio.instruments import instrument_from_symbol as ins
from engine.portfolio.state import Portfolio
from engine.portfolio.stats import MarketStats
from strategies.base import AssetLegs
from strategies.risk import RiskParity
from strategies.simple import CoreSatellite, EqualNotional, FixedWeights

SYMBOLS = ["BTC/USDT", "ETH/USDT", "BTC/USDT:USDT", "ETH/USDT:USDT", "BTC/USD:BTC"]

prices = st.integers(min_value=1000, max_value=200000).map(lambda c: c / 10)
qtys = st.integers(min_value=1, max_value=5000).map(lambda c: D(c) / 1000)
fills = st.tuples(st.just("fill"), st.sampled_from(SYMBOLS), st.sampled_from(["buy", "sell"]),
                  qtys, prices, st.integers(0, 50))
moves = st.tuples(st.just("px"), st.sampled_from(SYMBOLS), prices)
ops = st.lists(st.one_of(fills, moves), min_size=1, max_size=60)


def _independent_nav(p: Portfolio) -> float:
    """NAV recomputed from the ledger and the marks alone, without the cached aggregates."""
    nav = float(sum(p.cash.values()))
    for coin, q in [*p.holdings.items(), *p.wallet("coinm").items()]:
        nav += float(q) * p.px.get(coin, 0.0)
    for perp in p.perps.values():
        if not perp.qty or not perp.mark:
            continue
        q = float(perp.qty)
        if perp.linear:
            nav += q * (perp.mark - float(perp.entry))
        else:
            cs = float(perp.inst.contract_size)
            nav += q * cs * (1 / float(perp.entry) - 1 / perp.mark) * p.px.get(perp.asset, perp.mark)
    return nav


@settings(max_examples=300, deadline=None)
@given(ops)
def test_nav_and_exposure_identities_hold_after_any_fills_and_moves(seq):
    p = Portfolio([ins(s, leverage=5) for s in SYMBOLS], cash={"USDT": "1000000"},
                  holdings={"BTC": "1"})
    for i, op in enumerate(seq):
        if op[0] == "fill":
            _, sym, side, qty, px, fee = op
            if sym == "BTC/USD:BTC":
                qty = D(int(qty * 10) or 1)
            p.on_fill(Fill(exchange="x", symbol=sym, ts_event=i, ts_recv=i, order_id="o",
                           trade_id=str(i), side=side, qty=qty, price=D(str(px)),
                           fee=D(fee) / 100, fee_currency="USDT"))
        else:
            p.on_price(op[1], op[2], i)
        snap = p.snapshot()
        scale = max(1.0, abs(snap.nav), sum(abs(v) for v in snap.exposure.values()))
        # NAV = cash + holdings × price + unrealized PnL, from the ledger alone.
        assert snap.nav == pytest.approx(_independent_nav(p), rel=1e-9, abs=1e-6 * scale)
        # Exposure of an underlying = its spot value + its COIN-M coins + its perps' notional
        # (an inverse perp's with its coin PnL: the coin it is owed moves with the price).
        for a in snap.exposure:
            perps = 0.0
            for s, v in snap.perp_notional.items():
                if not s.startswith(a + "/"):
                    continue
                perps += v
                d = p.perps[s]
                if not d.linear and d.qty and d.mark:
                    perps += float(d.qty) * float(d.inst.contract_size) * (
                        1 / float(d.entry) - 1 / d.mark) * p.px.get(a, d.mark)
            coinm = snap.coinm.get(a, 0.0) * snap.prices.get(a, 0.0)
            assert snap.exposure[a] == pytest.approx(snap.spot_value.get(a, 0.0) + coinm + perps,
                                                     abs=1e-6 * scale)
        # Weights are exposure over NAV.
        if snap.nav > 0:
            for a, w in snap.weights.items():
                assert w * snap.nav == pytest.approx(snap.exposure[a], abs=1e-6 * scale)
    # The incrementally maintained aggregates equal a rebuild from scratch.
    before = p.snapshot()
    p._rebuild()
    after = p.snapshot()
    assert before.nav == pytest.approx(after.nav, rel=1e-9, abs=1e-6)
    assert before.initial_margin == pytest.approx(after.initial_margin, rel=1e-9, abs=1e-6)


UNIVERSE = {"BTC": AssetLegs(spot="BTC/USDT", perp="BTC/USDT:USDT"),
            "ETH": AssetLegs(spot="ETH/USDT", perp="ETH/USDT:USDT")}


@settings(max_examples=300, deadline=None)
@given(w_btc=st.floats(-3, 3), w_eth=st.floats(-3, 3), cap=st.floats(0.1, 5),
       btc=prices, eth=prices, hold_btc=st.floats(0, 5), hold_eth=st.floats(0, 50),
       leg=st.sampled_from(["spot", "perp"]), kind=st.sampled_from(["fixed", "core", "equal",
                                                                      "parity"]))
def test_a_strategy_never_targets_more_than_its_gross_leverage(w_btc, w_eth, cap, btc, eth,
                                                               hold_btc, hold_eth, leg, kind):
    p = Portfolio([ins(s, leverage=5) for s in SYMBOLS[:4]], cash={"USDT": "10000"},
                  holdings={"BTC": str(round(hold_btc, 6)), "ETH": str(round(hold_eth, 6))})
    p.on_price("BTC/USDT", btc)
    p.on_price("ETH/USDT", eth)
    if kind == "fixed":
        s = FixedWeights(UNIVERSE, {"BTC": w_btc, "ETH": w_eth}, leg, cap)
    elif kind == "core":
        s = CoreSatellite(UNIVERSE, {"BTC": w_btc, "ETH": w_eth}, cap)
    elif kind == "equal":
        s = EqualNotional(UNIVERSE, gross=abs(w_btc) + 0.1, leg=leg, max_gross_leverage=cap)
    else:
        s = RiskParity(UNIVERSE, gross=abs(w_btc) + 0.1, leg=leg, max_gross_leverage=cap)
    snap = p.snapshot()
    alloc = s.allocate(snap, MarketStats())
    gross = sum(abs(v) for v in alloc.legs.values())
    assert gross <= cap * snap.nav * (1 + 1e-12) + 1e-9


@settings(max_examples=200, deadline=None)
@given(ops=st.lists(st.one_of(
    st.tuples(st.just("fill"), st.sampled_from(SYMBOLS[:2]), st.sampled_from(["buy", "sell"]),
              qtys, prices, st.sampled_from(["USDT", "BNB", "BTC", None])),
    st.tuples(st.just("px"), st.sampled_from(SYMBOLS[:2]), prices)), min_size=1, max_size=40),
    pooled=st.booleans())
def test_a_spot_fill_leaves_the_aggregates_a_rebuild_would_give(ops, pooled):
    """A spot fill re-reads only the entries it moved (`_refresh_spot`), yet every aggregate is
    bit for bit what a rebuild from the ledger gives, fee coins included: a price move in
    between re-marks incrementally, and the next fill's fresh sums clear its drift."""
    p = Portfolio([ins(s) for s in SYMBOLS[:2]], cash={"USDT": "50000"},
                  holdings={"ETH": "3"}, pooled=pooled)
    for i, op in enumerate(ops):
        if op[0] == "px":
            p.on_price(op[1], op[2], i)
            continue
        _, sym, side, qty, price, fee_ccy = op
        p.on_price(sym, price, i)
        p.on_fill(Fill(exchange="x", symbol=sym, ts_event=i, ts_recv=i, order_id=f"o{i}",
                       trade_id=f"t{i}", side=side, qty=qty, price=D(str(price)),
                       fee=D("0.01") if fee_ccy else D(0), fee_currency=fee_ccy))
        cached = (p.nav, p.cash_value, p.futures_cash_value, p.coin_amounts(),
                  dict(p._spot_val))
        p._rebuild()
        assert (p.nav, p.cash_value, p.futures_cash_value, p.coin_amounts(),
                dict(p._spot_val)) == cached
