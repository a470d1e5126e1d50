"""The worked rebalancing numbers: 60/40 with a 3% band, core–satellite, 65/35 → 50/50 hedge."""

from __future__ import annotations

import pytest

from engine.core.clock import ReplayClock
from engine.model import PortfolioUpdate
from engine.portfolio.instruments import instrument_from_symbol as ins
from engine.portfolio.state import Portfolio
from engine.portfolio.stats import MarketStats
from engine.triggers.actor import TriggerActor
from engine.triggers.rules import DriftBand
from strategies.base import AssetLegs
from strategies.simple import CoreSatellite, FixedWeights

SPOT = {"BTC": AssetLegs(spot="BTC/USDT", perp="BTC/USDT:USDT"),
        "ETH": AssetLegs(spot="ETH/USDT", perp="ETH/USDT:USDT")}
INSTS = ["BTC/USDT", "ETH/USDT", "BTC/USDT:USDT", "ETH/USDT:USDT"]


def _book(cash: str, btc: str, eth: str, btc_px: float, eth_px: float) -> Portfolio:
    p = Portfolio([ins(s, leverage=5) for s in INSTS], cash={"USDT": cash},
                  holdings={"BTC": btc, "ETH": eth})
    p.on_price("BTC/USDT", btc_px)
    p.on_price("ETH/USDT", eth_px)
    return p


def _tick(actor: TriggerActor, clock: ReplayClock, p: Portfolio, ts: int):
    clock.advance_to(ts)
    return actor.on_update(PortfolioUpdate(ts_event=ts, ts_recv=ts, cause="price",
                                           assets=("BTC",), nav=p.nav))


@pytest.mark.parametrize("mode, btc_leg, eth_leg", [("target", 65400.0, 43600.0),
                                                    ("edge", 68670.0, 40330.0)])
def test_60_40_with_a_3_percent_band(mode, btc_leg, eth_leg):
    # $60,000 BTC (1 BTC) and $40,000 ETH (10 ETH): on target.
    p = _book("0", "1", "10", 60000.0, 4000.0)
    clock = ReplayClock()
    actor = TriggerActor(p, FixedWeights(SPOT, {"BTC": 0.6, "ETH": 0.4}), MarketStats(), clock,
                         drift=DriftBand(abs_band=0.03, mode=mode))
    assert _tick(actor, clock, p, 1) is None
    p.on_price("BTC/USDT", 66000.0)  # +10%: 66,000 / 106,000 = 62.26%, inside the band
    assert p.weight("BTC") == pytest.approx(0.622642, abs=1e-6)
    assert _tick(actor, clock, p, 2) is None
    p.on_price("BTC/USDT", 69000.0)  # +15%: 69,000 / 109,000 = 63.30% > 63%
    intent = _tick(actor, clock, p, 3)
    assert intent is not None and intent.rule == "drift" and intent.ts_recv == 3
    legs = {t.symbol: t.notional for t in intent.targets}
    # target: 60% of $109,000 = $65,400 (sell $3,600 BTC, buy $3,600 ETH);
    # edge: 63% = $68,670 (sell $330), ETH 37% = $40,330 (buy $330).
    assert legs["BTC/USDT"] == pytest.approx(btc_leg)
    assert legs["ETH/USDT"] == pytest.approx(eth_leg)
    assert legs["BTC/USDT:USDT"] == 0.0 and legs["ETH/USDT:USDT"] == 0.0


def test_core_satellite_hedges_the_excess_with_a_short_perp():
    # BTC spot $42,000 of a $103,000 NAV; target 35% = $36,050 -> $5,950 excess.
    p = _book("61000", "1", "0", 42000.0, 3000.0)
    assert p.nav == 103000.0
    s = CoreSatellite(SPOT, {"BTC": 0.35, "ETH": 0.0}, weights_sum=None)
    alloc = s.allocate(p.snapshot(), MarketStats())
    assert alloc.legs["BTC/USDT"] == 42000.0  # the core is not sold
    assert alloc.legs["BTC/USDT:USDT"] == pytest.approx(-5950.0)


def test_65_35_to_50_50_with_perps():
    # $65,000 BTC and $35,000 ETH spot; 50/50 reached with a $15,000 BTC short perp and a
    # $15,000 ETH long perp, no spot sold.
    p = _book("0", "1", "10", 65000.0, 3500.0)
    assert p.weights() == {"BTC": 0.65, "ETH": 0.35}
    s = FixedWeights(SPOT, {"BTC": 0.5, "ETH": 0.5}, leg="perp", max_gross_leverage=2.0)
    alloc = s.allocate(p.snapshot(), MarketStats())
    assert alloc.legs == {"BTC/USDT": 65000.0, "BTC/USDT:USDT": -15000.0,
                          "ETH/USDT": 35000.0, "ETH/USDT:USDT": 15000.0}
