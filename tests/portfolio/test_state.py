"""Portfolio ledger and valuation: fills, marks, margin, PnL, with exact amounts."""

from __future__ import annotations

from decimal import Decimal as D

import pytest

from engine.core.errors import ConfigError
from engine.model import Fill
from engine.portfolio.instruments import LeverageTier, instrument_from_symbol as ins
from engine.portfolio.state import Portfolio


def mixed_book() -> Portfolio:
    """Spot, a linear perp, an inverse dated contract and COIN-M coins, priced, nothing traded
    (hand-made: no one recording holds all of these legs at once)."""
    p = Portfolio([ins("BTC/USDT"), ins("BTC/USDT:USDT", leverage=5),
                   ins("BTC/USD:BTC-250328", leverage=5), ins("ETH/USD:ETH", leverage=5)],
                  cash={}, spot_cash={"USDT": "20000"}, futures_cash={"USDT": "5000"},
                  holdings={"BTC": "0.5"}, coinm={"BTC": "0.1", "ETH": "2"})
    for sym, px in (("BTC/USDT", 60000.0), ("BTC/USDT:USDT", 60010.0),
                    ("BTC/USD:BTC-250328", 61000.0), ("ETH/USD:ETH", 3000.0)):
        p.on_price(sym, px)
    return p

_n = 0


def fill(sym: str, side: str, qty: str, price: str, fee: str = "0", fee_ccy: str = "",
         trade_id: str | None = None) -> Fill:
    global _n
    _n += 1
    return Fill(exchange="binanceusdm", symbol=sym, ts_event=_n, ts_recv=_n, order_id="o",
                trade_id=trade_id or f"t{_n}", side=side, qty=D(qty), price=D(price), fee=D(fee),
                fee_currency=fee_ccy)


def perp_book(**kw) -> Portfolio:
    return Portfolio([ins("BTC/USDT:USDT", leverage=5), ins("ETH/USDT:USDT", leverage=10)],
                     cash={"USDT": "100000"}, **kw)


def test_linear_perp_long_marks_unrealized_and_realizes_on_close():
    p = perp_book()
    p.on_fill(fill("BTC/USDT:USDT", "buy", "0.5", "60000", fee="12", fee_ccy="USDT"))
    assert p.nav == 100000 - 12
    p.on_price("BTC/USDT:USDT", 62000.0)
    assert p.snapshot().unrealized_pnl == pytest.approx(1000.0)
    assert p.exposure("BTC") == 31000.0
    p.on_fill(fill("BTC/USDT:USDT", "sell", "0.2", "63000", fee="5.04", fee_ccy="USDT"))
    btc = p.perps["BTC/USDT:USDT"]
    assert btc.realized == D("600.0") and btc.qty == D("0.3") and btc.entry == D("60000")
    assert p.cash["USDT"] == D("100000") - D("12") + D("600.0") - D("5.04")
    assert p.fees_paid == {"USDT": D("17.04")}


def test_position_flip_resets_entry_to_the_fill_price():
    p = perp_book()
    p.on_fill(fill("ETH/USDT:USDT", "buy", "2", "3000"))
    p.on_fill(fill("ETH/USDT:USDT", "sell", "5", "3100"))
    eth = p.perps["ETH/USDT:USDT"]
    assert eth.qty == D("-3") and eth.entry == D("3100") and eth.realized == D("200")


def test_adding_to_a_position_averages_the_entry():
    p = perp_book()
    p.on_fill(fill("BTC/USDT:USDT", "sell", "1", "60000"))
    p.on_fill(fill("BTC/USDT:USDT", "sell", "3", "64000"))
    assert p.perps["BTC/USDT:USDT"].entry == D("63000")


def test_duplicate_trade_id_is_applied_once():
    p = perp_book()
    f = fill("BTC/USDT:USDT", "buy", "1", "60000", fee="24", fee_ccy="USDT", trade_id="42")
    assert p.on_fill(f) == "BTC"
    assert p.on_fill(f) is None
    assert p.perps["BTC/USDT:USDT"].qty == D("1") and p.cash["USDT"] == D("99976")


def test_inverse_perp_pnl_is_in_coin_and_exposure_in_contract_usd():
    p = Portfolio([ins("BTC/USD:BTC", leverage=10)], cash={}, coinm={"BTC": "1"})
    p.on_price("BTC/USD:BTC", 50000.0)
    assert p.nav == 50000.0
    p.on_fill(fill("BTC/USD:BTC", "buy", "100", "50000"))  # 100 contracts x $100
    p.on_price("BTC/USD:BTC", 55000.0)
    snap = p.snapshot()
    assert snap.perp_notional["BTC/USD:BTC"] == 10000.0
    # PnL in BTC = 100 * 100 * (1/50000 - 1/55000) = 0.0181818... BTC, valued at 55,000.
    assert snap.unrealized_pnl == pytest.approx(100 * 100 * (1 / 50000 - 1 / 55000) * 55000)
    p.on_fill(fill("BTC/USD:BTC", "sell", "100", "55000"))
    # the coin PnL settles in the COIN-M wallet, where the margin coin sits
    assert p.wallets["coinm"]["BTC"] == D(1) + D(100) * D(100) * (D(1) / D(50000) - D(1) / D(55000))
    assert p.holdings == {}


def test_coinm_wallet_short_its_own_value_is_flat_and_margins_only_itself():
    """The classic inverse hedge, by hand (no recorded BTCUSD_PERP book exists in our data):
    1 BTC in the COIN-M wallet, short 500 contracts x $100 at 50,000 = its value."""
    p = Portfolio([ins("BTC/USD:BTC", leverage=10), ins("BTC/USDT:USDT", leverage=10)],
                  cash={}, futures_cash={"USDT": "100"}, coinm={"BTC": "1"})
    p.on_price("BTC/USD:BTC", 50000.0)
    p.on_fill(fill("BTC/USD:BTC", "sell", "500", "50000", fee="0.0001", fee_ccy="BTC"))
    assert p.wallets["coinm"]["BTC"] == D("0.9999")  # the fee in coin, from the COIN-M wallet
    assert p.exposure("BTC") == pytest.approx(0.9999 * 50000 - 50000)
    # the coin account: $50,000 / 10 of initial margin on 0.9999 BTC; USD-M has none
    assert p.coinm_accounts()["BTC"] == pytest.approx((5000.0, 0.9999 * 50000))
    assert p.margin_utilisation == pytest.approx(5000 / (0.9999 * 50000))
    assert p.initial_margin == 0.0 and p.margin_balance == 100.0
    for px in (40000.0, 62500.0):  # the short's coin PnL offsets the coin: NAV stays put
        p.on_price("BTC/USD:BTC", px)
        assert p.nav == pytest.approx(100 + 50000 - 0.0001 * px, rel=1e-12)
        assert p.coinm_accounts()["BTC"][0] == pytest.approx(5000.0)
        # and so does the exposure: the coin the short is owed moves with the price
        assert p.exposure("BTC") == pytest.approx(-0.0001 * px, abs=1e-6)
    # a linear perp's margin is the USD-M wallet's: the higher utilisation is the portfolio's
    p.on_fill(fill("BTC/USDT:USDT", "buy", "0.01", "62500"))
    assert p.initial_margin == pytest.approx(62.5)
    assert p.margin_utilisation == pytest.approx(62.5 / 100)


def test_spot_buy_moves_cash_and_holding_exactly():
    p = Portfolio([ins("BTC/USDT")], cash={"USDT": "10000"})
    p.on_fill(fill("BTC/USDT", "buy", "0.1", "61800.2", fee="0.0001", fee_ccy="BTC"))
    assert p.cash["USDT"] == D("10000") - D("6180.02")
    assert p.holdings["BTC"] == D("0.0999")
    p.on_price("BTC/USDT", 62000.0)
    assert p.nav == pytest.approx(10000 - 6180.02 + 0.0999 * 62000)


def test_margin_utilisation_uses_initial_margin_over_cash_plus_unrealized():
    p = perp_book()
    p.on_fill(fill("BTC/USDT:USDT", "buy", "1", "60000"))
    p.on_fill(fill("ETH/USDT:USDT", "sell", "10", "3000"))
    p.on_price("BTC/USDT:USDT", 60000.0)
    p.on_price("ETH/USDT:USDT", 3000.0)
    snap = p.snapshot()
    assert snap.initial_margin == pytest.approx(60000 / 5 + 30000 / 10)
    assert snap.margin_utilisation == pytest.approx(15000 / 100000)
    assert snap.gross_leverage == pytest.approx(0.9) and snap.net_leverage == pytest.approx(0.3)
    assert snap.maintenance_margin == pytest.approx(60000 * 0.004 + 30000 * 0.004)
    assert snap.distance_to_liquidation == pytest.approx((100000 - 360) / 90000)


def test_leverage_tiers_give_maintenance_by_bracket():
    tiers = (LeverageTier(notional_floor=0, notional_cap=50000, max_leverage=125, mmr=0.004),
             LeverageTier(notional_floor=50000, notional_cap=250000, max_leverage=100,
                          mmr=0.005, cum=50.0))
    inst = ins("BTC/USDT:USDT", leverage=20, tiers=tiers)
    assert inst.maintenance_margin(40000) == pytest.approx(160.0)
    assert inst.maintenance_margin(-100000) == pytest.approx(450.0)
    assert inst.max_leverage_for(100000) == 100


def test_mid_marks_a_perp_until_a_mark_price_arrives():
    p = perp_book()
    p.on_fill(fill("BTC/USDT:USDT", "buy", "1", "60000"))
    assert p.on_price("BTC/USDT:USDT", 60100.0) == "BTC"
    assert p.on_price("BTC/USDT:USDT", 60050.0, is_mark=True) == "BTC"
    assert p.on_price("BTC/USDT:USDT", 61000.0) is None  # mids ignored once marks flow
    assert p.exposure("BTC") == 60050.0


def test_bad_input_is_refused():
    p = perp_book()
    with pytest.raises(ConfigError):
        p.on_fill(fill("SOL/USDT:USDT", "buy", "1", "100"))
    with pytest.raises(ValueError):
        p.on_fill(fill("BTC/USDT:USDT", "hold", "1", "100"))
    with pytest.raises(ValueError):
        p.on_fill(fill("BTC/USDT:USDT", "buy", "-1", "100"))
    assert p.on_price("BTC/USDT:USDT", float("nan")) is None
    with pytest.raises(ConfigError):
        ins("BTCUSDT")


def test_legs_add_up_to_each_coins_net_exposure():
    """What the status page lists per underlying: spot, perp, dated and the COIN-M margin
    coin, each on its wallet, summing to the coin's net exposure (a hand-made book: no one
    recording holds all of these legs at once)."""
    p = mixed_book()
    p.on_fill(fill("BTC/USDT:USDT", "sell", "0.2", "60010"))
    p.on_fill(fill("BTC/USD:BTC-250328", "sell", "30", "61000"))  # 30 x $100, inverse
    p.on_fill(fill("ETH/USD:ETH", "sell", "40", "3000"))  # 40 x $10
    legs = {(sym, leg, wallet): (amount, exp) for _, sym, leg, wallet, amount, exp in p.legs()}
    assert set(legs) == {("BTC/USDT", "spot", "spot"), ("BTC/USDT:USDT", "perp", "futures"),
                         ("BTC/USD:BTC-250328", "dated", "coinm"),
                         ("ETH/USD:ETH", "perp", "coinm"),
                         ("BTC", "margin coin", "coinm"), ("ETH", "margin coin", "coinm")}
    assert legs[("BTC/USDT", "spot", "spot")] == (0.5, 30000.0)
    assert legs[("BTC/USDT:USDT", "perp", "futures")][0] == -0.2
    assert legs[("BTC/USD:BTC-250328", "dated", "coinm")][0] == -30.0
    for coin in ("BTC", "ETH"):
        total = sum(exp for c, *_, exp in p.legs() if c == coin)
        assert total == pytest.approx(p.exposure(coin), rel=1e-12), coin
