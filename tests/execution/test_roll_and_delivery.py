"""Dated contracts: rolled into the perpetual before expiry (replay of the recorded COIN-M
minute, `configs/roll_link.toml`), the hedge moved between perpetual and quarterly by carry
(`configs/carry_link.toml`), their basis annualised, and delivered at expiry when held (no recording reaches a
quarterly's expiry, so delivery is checked on small hand-written cases)."""

from __future__ import annotations

import json
from datetime import datetime
import subprocess
import sys
from decimal import Decimal

import pytest

from engine.model import BestBidAsk, Fill, FundingRate
from engine.node.config import parse_config
from engine.node.session import PaperSession
from engine.portfolio.instruments import instrument_from_symbol as ins
from engine.portfolio.state import Portfolio
from tests.conftest import ROOT, shared


def test_a_quarterly_is_rolled_into_the_perp_with_both_legs_paced_together(tmp_path):
    shared("cryptofeed", "sample_data", "BINANCE_DELIVERY.ws.1.0")
    p = subprocess.run([sys.executable, "-m", "engine", "--log-level", "error", "run",
                        "--config", str(ROOT / "configs" / "roll_link.toml"), "--mode", "replay",
                        "--journal", str(tmp_path / "j.db"), "--json"],
                       capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert p.returncode == 0, p.stderr[-3000:]
    r = json.loads(p.stdout.strip().splitlines()[-1])
    assert r["positions"] == {"LINK/USD:LINK": "-500.0", "LINK/USD:LINK-211231": "0.0"}
    (roll,) = r["rolls"]
    assert "LINK/USD:LINK-211231 expires 2021-12-31 08:00:00 UTC" in roll["reason"]
    q, perp = roll["legs"]["LINK/USD:LINK-211231"], roll["legs"]["LINK/USD:LINK"]
    assert (q["side"], q["filled"], q["state"]) == ("buy", "500.0", "done")
    assert (perp["side"], perp["filled"], perp["state"]) == ("sell", "500.0", "done")
    # the spread it cost: each leg's shortfall on its 500 x 10 USD
    assert roll["spread_cost"] == pytest.approx(
        (q["shortfall_bps"] + perp["shortfall_bps"]) * 5000 / 1e4, abs=1e-6)
    # LINK's net exposure never left its start -> end path by more than one slice
    assert 0 < r["max_transient_deviation"] <= r["max_transient_limit"]
    assert r["deliveries"] == [] and r["unfinished_parents"] == []


def test_the_hedge_moves_into_the_quarterly_and_back_as_carry_turns(tmp_path):
    """configs/carry_link.toml: the recorded COIN-M minute with a hand-made funding path for
    LINKUSD_PERP (none was recorded): −0.01% per 8 h, then +0.03% from 01:13:42 UTC. The short
    hedge moves into LINKUSD_211231 (its recorded basis earns more), then back."""
    shared("cryptofeed", "sample_data", "BINANCE_DELIVERY.ws.1.0")
    p = subprocess.run([sys.executable, "-m", "engine", "--log-level", "error", "run",
                        "--config", str(ROOT / "configs" / "carry_link.toml"), "--mode",
                        "replay", "--journal", str(tmp_path / "j.db"), "--json"],
                       capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert p.returncode == 0, p.stderr[-3000:]
    r = json.loads(p.stdout.strip().splitlines()[-1])
    into, back = r["rolls"]
    assert (into["rule"], back["rule"]) == ("carry", "carry")
    assert "LINK/USD:LINK-211231 earns +3.94%/yr against LINK/USD:LINK's -10.95%/yr" \
        in into["reason"]
    assert "LINK/USD:LINK earns +32.85%/yr" in back["reason"]
    # decided on the rate that changed, not before
    assert int(back["intent"].split("-")[1]) >= 1626916422 * 10**9
    for move, (sold, bought) in ((into, ("LINK/USD:LINK-211231", "LINK/USD:LINK")),
                                 (back, ("LINK/USD:LINK", "LINK/USD:LINK-211231"))):
        assert {s: (leg["side"], leg["filled"], leg["state"]) for s, leg in move["legs"].items()
                } == {sold: ("sell", "500.0", "done"), bought: ("buy", "500.0", "done")}
        assert move["spread_cost"] > 0
    assert r["positions"] == {"LINK/USD:LINK": "-500.0", "LINK/USD:LINK-211231": "0.0"}
    # LINK's net exposure stayed within one slice of its path throughout both moves
    assert 0 < r["max_transient_deviation"] <= r["max_transient_limit"]
    assert r["unfinished_parents"] == []


def test_delivery_settles_inverse_and_linear_quarterlies_at_the_delivery_price():
    p = Portfolio([ins("BCH/USD:BCH-210924", leverage=5), ins("BTC/USDT:USDT-250627", leverage=5)],
                  cash={}, futures_cash={"USDT": "1000"}, coinm={"BCH": "2"})
    p.seed_position("BCH/USD:BCH-210924", Decimal(-100), Decimal(400))
    p.seed_position("BTC/USDT:USDT-250627", Decimal("0.5"), Decimal(60000))
    for sym, side, qty, px in (("BCH/USD:BCH-210924", "buy", "100", "420"),
                               ("BTC/USDT:USDT-250627", "sell", "0.5", "62000")):
        p.apply(Fill(exchange="paper", symbol=sym, ts_event=1, ts_recv=1,
                     order_id=f"delivery:{sym}", trade_id=f"delivery:{sym}", side=side,
                     qty=Decimal(qty), price=Decimal(px), fee=Decimal(0), fee_currency="",
                     liquidity="delivery"))
    # short 100 x 10 USD from 400 to 420: -1000 x (1/400 - 1/420) BCH, from the COIN-M wallet
    assert p.wallets["coinm"]["BCH"] == Decimal(2) - 1000 * (Decimal(1) / 400 - Decimal(1) / 420)
    assert p.wallets["futures"]["USDT"] == Decimal(1000) + Decimal("0.5") * 2000
    assert all(x.qty == 0 for x in p.perps.values())
    # and a dated contract pays no funding
    assert p.on_funding(FundingRate(exchange="x", symbol="BTC/USDT:USDT-250627", ts_event=2,
                                    ts_recv=2, rate=0.01, mark_price=62000.0)) is None


CFG = """
[account.futures]
USDT = "10000"
[account.positions."BTC/USDT:USDT-250627"]
qty = "0.2"
entry_price = "60000"
[[instruments]]
symbol = "BTC/USDT:USDT-250627"
leverage = 5
[universe.BTC]
perp = "BTC/USDT:USDT-250627"
[strategy]
kind = "fixed_weights"
weights = { BTC = 1.0 }
leg = "perp"
[triggers]
hold_to_delivery = true
"""


def test_a_quarterly_held_to_expiry_is_delivered_at_its_last_price():
    """Hand-written quotes around 2025-06-27 08:00 UTC (no recording reaches an expiry): the
    session closes the position at the last price before expiry, as a fill with no fee."""
    cfg = parse_config(CFG, "hand.toml")
    s = PaperSession(cfg, markets={"BTC/USDT:USDT-250627": _spec()})
    expiry = s.portfolio.instruments["BTC/USDT:USDT-250627"].expiry_ns

    def quote(ts, px):
        return BestBidAsk(exchange="binanceusdm", symbol="BTC/USDT:USDT-250627", ts_event=ts,
                          ts_recv=ts, update_id=ts, bid_price=px - 0.5, bid_size=1.0,
                          ask_price=px + 0.5, ask_size=1.0)

    s.process(quote(expiry - 60_000_000_000, 61000.0))
    assert s.deliveries == []
    s.process(quote(expiry + 1, 70000.0))  # after expiry: not the delivery price
    (d,) = s.deliveries
    assert (d["qty"], d["price"]) == ("0.2", "61000.0")
    assert s.portfolio.perps["BTC/USDT:USDT-250627"].qty == 0
    assert s.portfolio.wallets["futures"]["USDT"] == Decimal(10000) + Decimal("0.2") * 1000
    fill, level = s.broker.fill_log[-1]
    assert fill.liquidity == "delivery" and fill.fee == 0 and level is None
    # the expired contract is no longer priced nor aged: the guard is not left stale on it
    s.process(quote(expiry + 10_000_000_000, 70000.0))
    assert "BTC/USDT:USDT-250627" not in s.pipeline.price_ts
    s.guard.update(expiry + 60_000_000_000, list(s.pipeline.price_ts))
    assert "stale_feed" not in s.guard.conditions


def _spec():
    from engine.execution.markets import MarketSpec

    return MarketSpec(symbol="BTC/USDT:USDT-250627", market_id="BTCUSDT_250627", kind="linear",
                      base="BTC", quote="USDT", settle="USDT", amount_step=Decimal("0.001"),
                      price_tick=Decimal("0.1"), min_amount=Decimal("0.001"),
                      min_notional=Decimal("5"))


def test_roll_into_the_next_quarterly_keeps_the_notional():
    from engine.core.clock import ReplayClock
    from engine.model import PortfolioUpdate
    from engine.node.build import build

    cfg = parse_config(CFG.replace("hold_to_delivery = true", 'roll_into = "next"').replace(
        '[universe.BTC]', '[[instruments]]\nsymbol = "BTC/USDT:USDT-250926"\nleverage = 5\n'
        '[universe.BTC]'), "next.toml")
    clock = ReplayClock()
    portfolio, _, _, trigger = build(cfg, clock)
    expiry = portfolio.instruments["BTC/USDT:USDT-250627"].expiry_ns
    for sym in ("BTC/USDT:USDT-250627", "BTC/USDT:USDT-250926"):
        portfolio.on_price(sym, 60000.0)
    def upd(ts):  # the venue's clock says how far the expiry is
        clock.advance_to(ts)
        return PortfolioUpdate(ts_event=ts, ts_recv=ts, cause="price", assets=("BTC",),
                               nav=1.0)

    assert trigger.on_update(upd(expiry - 4 * 86400 * 10**9)) is None  # 4 days out: not yet
    intent = trigger.on_update(upd(expiry - 2 * 86400 * 10**9))  # inside the default 3 days
    assert intent.rule == "roll" and "rolled into BTC/USDT:USDT-250926" in intent.reason
    assert {t.symbol: t.notional for t in intent.targets} == {
        "BTC/USDT:USDT-250627": 0.0, "BTC/USDT:USDT-250926": pytest.approx(0.2 * 60000)}
    t = expiry - 2 * 86400 * 10**9
    assert trigger.on_update(upd(t + 60 * 10**9)) is None  # once while it may be working
    again = trigger.on_update(upd(t + 360 * 10**9))  # still held 6 minutes on: decided again
    assert again is not None and again.rule == "roll"


BASIS_CFG = """
[account.coinm]
LINK = "1"
BCH = "1"
[universe.LINK]
perp = "LINK/USD:LINK"
[universe.BCH]
perp = "BCH/USD:BCH"
[strategy]
kind = "fixed_weights"
weights = { LINK = 0.5, BCH = 0.5 }
leg = "perp"
""" + "".join(f'[[instruments]]\nsymbol = "{s}"\nleverage = 5\n' for s in (
    "LINK/USD:LINK", "LINK/USD:LINK-211231", "BCH/USD:BCH", "BCH/USD:BCH-210924"))


def test_the_portfolio_reports_each_dated_contracts_annualised_basis():
    """BCH's and LINK's quarterly against their perpetual (no spot book in the recording:
    each perpetual prices its coin) at the end of the recorded minute."""
    from engine.feeds.capture import merge_captures

    path = shared("cryptofeed", "sample_data", "BINANCE_DELIVERY.ws.1.0")
    s = PaperSession(parse_config(BASIS_CFG, "basis.toml"))
    for ev in merge_captures([str(path)]):
        s.pipeline.on_event(ev)
    snap = s.portfolio.snapshot()
    # the venue's own last bookTicker of each contract, read straight from the recording
    mids = {}
    for line in path.read_text().splitlines()[1:]:
        frame = json.loads(line.partition(" ")[2])
        if frame["stream"].endswith("@bookTicker"):
            d = frame["data"]
            mids[d["s"]] = (float(d["b"]) + float(d["a"])) / 2
    expiry = {"LINK/USD:LINK-211231": "2021-12-31", "BCH/USD:BCH-210924": "2021-09-24"}
    for dated, f, spot in (("LINK/USD:LINK-211231", "LINKUSD_211231", "LINKUSD_PERP"),
                           ("BCH/USD:BCH-210924", "BCHUSD_210924", "BCHUSD_PERP")):
        days = (datetime.fromisoformat(expiry[dated] + "T08:00:00+00:00").timestamp() * 1e9
                - snap.ts) / 86400e9
        assert snap.basis[dated] == pytest.approx((mids[f] / mids[spot] - 1) * 365 / days,
                                                  rel=1e-9), dated
    assert set(snap.basis) == set(expiry)
