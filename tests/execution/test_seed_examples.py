"""The seeds' worked sizing examples through the real strategy, trigger and planner, with the
market rules parsed from the recorded USD-M exchangeInfo (lot 0.001 BTC and ETH).

No recording holds these exact portfolios: they are small hand-written cases whose answers are
the seeds' own numbers (whole lots), which a float target a hair under a lot must not miss."""

from __future__ import annotations

from decimal import Decimal

import pytest

from engine.core.clock import ReplayClock
from engine.execution.markets import load_markets_offline
from engine.execution.planner import Planner
from engine.node.build import build
from engine.node.config import load_config

BTC, ETH = "BTC/USDT:USDT", "ETH/USDT:USDT"


@pytest.fixture(scope="module")
def usdm():
    return load_markets_offline()


def _engine(tmp_path, text: str, prices: dict[str, float]):
    path = tmp_path / "seed.toml"
    path.write_text(text)
    clock = ReplayClock()
    portfolio, _, _, trigger = build(load_config(str(path)), clock)
    for sym, px in prices.items():
        portfolio.on_price(sym, px, 1)
    return portfolio, trigger


def _orders(plan) -> dict[str, tuple[str, Decimal]]:
    return {o.symbol: (o.side, o.qty) for o in plan.orders}


def _core_satellite(holdings: str, cash: str, weights: str, weights_sum: float) -> str:
    return f"""
[account]
cash = {{ USDT = "{cash}" }}
holdings = {holdings}
[[instruments]]
symbol = "BTC/USDT"
[[instruments]]
symbol = "ETH/USDT"
[[instruments]]
symbol = "BTC/USDT:USDT"
leverage = 5
[[instruments]]
symbol = "ETH/USDT:USDT"
leverage = 5
[universe.BTC]
spot = "BTC/USDT"
perp = "BTC/USDT:USDT"
[universe.ETH]
spot = "ETH/USDT"
perp = "ETH/USDT:USDT"
[strategy]
kind = "core_satellite"
weights = {weights}
weights_sum = {weights_sum}
max_gross_leverage = 2.0
"""


def test_seed_003_65_35_to_50_50_net_is_exactly_a_quarter_btc_short_and_5_eth_long(tmp_path,
                                                                                    usdm):
    # $100k held as 65/35 BTC/ETH spot at $60k and $3k; the spot stays, perps bring it to
    # 50/50 net. The holdings are 65000/60000 and 35000/3000 to 16 places, so the float
    # target comes out as -14,999.99999999999 (not -15,000): floored, that was 0.249 BTC.
    text = _core_satellite('{ BTC = "1.0833333333333333", ETH = "11.666666666666667" }', "0",
                           "{ BTC = 0.5, ETH = 0.5 }", 1.0)
    prices = {"BTC/USDT": 60000.0, "ETH/USDT": 3000.0, BTC: 60000.0, ETH: 3000.0}
    portfolio, trigger = _engine(tmp_path, text, prices)
    assert portfolio.weights() == pytest.approx({"BTC": 0.65, "ETH": 0.35})
    intent = trigger.force("seed-003", "50/50 net", 1)
    legs = {t.symbol: t.notional for t in intent.targets}
    assert legs[BTC] == pytest.approx(-15000) and legs[BTC] != -15000  # the float hair
    plan = Planner(usdm).plan(intent, portfolio, prices)
    assert _orders(plan) == {BTC: ("sell", Decimal("0.25")), ETH: ("buy", Decimal("5"))}
    assert not any(plan.skipped.get(s) for s in (BTC, ETH))
    assert abs(plan.carry[BTC]) < Decimal("1e-12") and abs(plan.carry[ETH]) < Decimal("1e-12")


def test_seed_004_10k_at_75_pct_btc_shorts_1500_of_btc_perp(tmp_path, usdm):
    # $10,000 with 75% in BTC spot ($7,500 = 0.125 BTC at $60k), target 60%: the excess
    # $1,500 is hedged with a short BTC perp, the spot untouched.
    text = _core_satellite('{ BTC = "0.125", ETH = "0" }', "2500", "{ BTC = 0.6, ETH = 0.0 }",
                           0.6)
    prices = {"BTC/USDT": 60000.0, "ETH/USDT": 3000.0, BTC: 60000.0, ETH: 3000.0}
    portfolio, trigger = _engine(tmp_path, text, prices)
    assert portfolio.weight("BTC") == pytest.approx(0.75)
    intent = trigger.force("seed-004", "hedge to 60%", 1)
    plan = Planner(usdm).plan(intent, portfolio, prices)
    assert _orders(plan) == {BTC: ("sell", Decimal("0.025"))}
    (o,) = plan.orders
    assert o.notional == Decimal("1500")


def test_seed_000_60_40_with_a_3pct_band_fires_only_outside_the_band(tmp_path, usdm):
    # 60/40 BTC/ETH perps on $100k of USDT, a 3% absolute band: 1 BTC at $60k, 10 ETH at
    # $4k. BTC rising to $68,000 is 62.96% (inside), $68,200 is 63.03% (outside): the drift
    # rule fires there and the planner sells back to 60% of the NAV then.
    text = """
[account]
cash = { USDT = "100000" }
positions = { "BTC/USDT:USDT" = { qty = "1", entry_price = "60000" }, "ETH/USDT:USDT" = { qty = "10", entry_price = "4000" } }
[[instruments]]
symbol = "BTC/USDT:USDT"
leverage = 5
[[instruments]]
symbol = "ETH/USDT:USDT"
leverage = 5
[universe.BTC]
perp = "BTC/USDT:USDT"
[universe.ETH]
perp = "ETH/USDT:USDT"
[strategy]
kind = "fixed_weights"
weights = { BTC = 0.6, ETH = 0.4 }
leg = "perp"
max_gross_leverage = 2.0
[triggers.drift]
abs_band = 0.03
"""
    from engine.model.events import PortfolioUpdate

    portfolio, trigger = _engine(tmp_path, text, {BTC: 60000.0, ETH: 4000.0})
    assert portfolio.weights() == pytest.approx({"BTC": 0.6, "ETH": 0.4})

    def move(btc: float):
        portfolio.on_price(BTC, btc, 2)
        return trigger.on_update(PortfolioUpdate(ts_event=2, ts_recv=2, cause="price",
                                                 assets=("BTC",), nav=portfolio.nav))

    assert move(68000.0) is None
    intent = move(68200.0)
    assert intent is not None and intent.rule.startswith("drift")
    plan = Planner(usdm).plan(intent, portfolio, {BTC: 68200.0, ETH: 4000.0})
    nav = Decimal("108200")  # 100,000 cash + 8,200 BTC gain
    assert Decimal(repr(portfolio.nav)) == nav
    sell_btc = (1 - Decimal("0.6") * nav / Decimal("68200"))  # 0.048093... BTC
    buy_eth = Decimal("0.4") * nav / Decimal("4000") - 10  # 0.82 ETH
    assert _orders(plan) == {BTC: ("sell", sell_btc.quantize(Decimal("0.001"), "ROUND_DOWN")),
                             ETH: ("buy", buy_eth.quantize(Decimal("0.001"), "ROUND_DOWN"))}
    assert _orders(plan)[ETH][1] == Decimal("0.82")


def test_seed_004_a_20pct_cash_hedge_is_a_btc_perp_short_of_20pct_of_nav(tmp_path, usdm):
    # the same $10,000 at 75% BTC: a hedge of 20% of NAV is a net target of 55%
    text = _core_satellite('{ BTC = "0.125", ETH = "0" }', "2500", "{ BTC = 0.55, ETH = 0.0 }",
                           0.55)
    prices = {"BTC/USDT": 60000.0, "ETH/USDT": 3000.0, BTC: 60000.0, ETH: 3000.0}
    portfolio, trigger = _engine(tmp_path, text, prices)
    plan = Planner(usdm).plan(trigger.force("seed-004-hedge", "20% hedge", 1), portfolio,
                              prices)
    (o,) = plan.orders
    # $2,000 / $60,000 = 0.0333… BTC: 0.033 on the 0.001 lot, the rest carried
    assert (o.symbol, o.side, o.qty) == (BTC, "sell", Decimal("0.033"))
    assert plan.carry[BTC] == pytest.approx(Decimal("-0.000333333"), abs=Decimal("1e-9"))


def test_seed_001_core_satellite_5pct_band_hedges_only_outside_the_band(tmp_path, usdm):
    # $100k: 1 BTC spot at $35k (35%), 10 ETH spot at $2.5k (25%), $40k USDT; targets 35/25,
    # a ±5% band, trading to the band's edge. BTC at $43k is 39.8% (inside): nothing; at $44k
    # 40.4%: the BTC perp shorts the excess over the edge, the spot stays.
    text = _core_satellite('{ BTC = "1", ETH = "10" }', "40000", "{ BTC = 0.35, ETH = 0.25 }",
                           0.6) + '[triggers.drift]\nabs_band = 0.05\nmode = "edge"\n'
    from engine.model.events import PortfolioUpdate

    prices = {"BTC/USDT": 35000.0, "ETH/USDT": 2500.0, BTC: 35000.0, ETH: 2500.0}
    portfolio, trigger = _engine(tmp_path, text, prices)
    assert portfolio.weights() == pytest.approx({"BTC": 0.35, "ETH": 0.25})

    def move(px: float):
        for sym in ("BTC/USDT", BTC):
            portfolio.on_price(sym, px, 2)
        return trigger.on_update(PortfolioUpdate(ts_event=2, ts_recv=2, cause="price",
                                                 assets=("BTC",), nav=portfolio.nav))

    assert move(43000.0) is None
    intent = move(44000.0)
    assert intent is not None
    plan = Planner(usdm).plan(intent, portfolio, {**prices, "BTC/USDT": 44000.0, BTC: 44000.0})
    orders = _orders(plan)
    excess = Decimal("44000") - Decimal("0.40") * Decimal("109000")  # $400 over the 40% edge
    assert orders[BTC] == ("sell", (excess / Decimal("44000")).quantize(Decimal("0.001"),
                                                                        "ROUND_DOWN"))
    assert "BTC/USDT" not in orders and "ETH/USDT" not in orders  # the spot core stays
