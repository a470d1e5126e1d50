"""Risk-based strategies on five years of real daily closes (Binance spot, oraculo-de-bitcoin)."""

from __future__ import annotations

import math

import pytest

from engine.feeds.bars import read_bars, read_funding
from engine.portfolio.instruments import instrument_from_symbol as ins
from engine.portfolio.state import Portfolio
from engine.portfolio.stats import MarketStats
from strategies.base import AssetLegs
from strategies.carry import CarrySwitch
from strategies.risk import BtcAnchor, RiskParity, VolTarget, erc_weights, risk_contributions
from strategies.simple import FixedWeights
from tests.conftest import shared

ORACULO = ("oraculo-de-bitcoin", "user_data", "data", "binance")
ASSETS = ["BTC", "ETH", "SOL"]
UNI = {a: AssetLegs(spot=f"{a}/USDT", perp=f"{a}/USDT:USDT") for a in ASSETS}
DAY = 86_400_000_000_000


@pytest.fixture(scope="module")
def daily() -> dict[str, list]:
    return {a: read_bars(str(shared(*ORACULO, f"{a}_USDT-1d.feather"))) for a in ASSETS}


@pytest.fixture(scope="module")
def stats(daily) -> MarketStats:
    s = MarketStats(lookback=365, sample_ns=DAY, periods_per_year=365)
    for a, bars in daily.items():
        for b in bars:
            s.on_price(a, b.close, b.ts_event)
    return s


def _log_returns(bars, n):
    closes = [b.close for b in bars]
    r = [math.log(b / a) for a, b in zip(closes, closes[1:])]
    return r[-n:]


def _snapshot():
    p = Portfolio([ins(f"{a}/USDT") for a in ASSETS] + [ins(f"{a}/USDT:USDT") for a in ASSETS],
                  cash={"USDT": "100000"})
    return p.snapshot()


def test_sampled_returns_equal_the_daily_close_to_close_log_returns(stats, daily):
    for a in ASSETS:
        assert list(stats.returns[a]) == pytest.approx(_log_returns(daily[a], 365), rel=1e-12)


def test_inverse_vol_weights_are_proportional_to_one_over_vol(stats, daily):
    w = RiskParity(UNI, "inverse_vol").target_weights(_snapshot(), stats)
    vols = {}
    for a in ASSETS:
        r = _log_returns(daily[a], 365)
        m = sum(r) / len(r)
        vols[a] = math.sqrt(sum((x - m) ** 2 for x in r) / (len(r) - 1) * 365)
    inv = {a: 1 / v for a, v in vols.items()}
    assert w == pytest.approx({a: inv[a] / sum(inv.values()) for a in ASSETS}, rel=1e-9)
    assert w["BTC"] > w["ETH"] > w["SOL"]  # BTC was the least volatile of the three


def test_erc_weights_equalise_risk_contributions_on_the_real_covariance(stats):
    cov = stats.covariance(ASSETS)
    w = erc_weights(cov)
    rc = risk_contributions(w, cov)
    assert sum(w) == pytest.approx(1.0)
    assert max(rc) / min(rc) == pytest.approx(1.0, abs=1e-6)
    strat = RiskParity(UNI, "erc").target_weights(_snapshot(), stats)
    assert list(strat.values()) == pytest.approx(w)


def test_btc_anchor_hedges_alts_with_btc_perp_by_rolling_beta(stats):
    beta_eth = stats.beta("ETH", "BTC")
    beta_sol = stats.beta("SOL", "BTC")
    assert 0.5 < beta_eth < 2.0 and 0.5 < beta_sol < 3.0
    s = BtcAnchor(UNI, {"BTC": 0.0, "ETH": 0.3, "SOL": 0.2})
    alloc = s.allocate(_snapshot(), stats)
    assert alloc.legs["ETH/USDT"] == pytest.approx(30000.0)
    assert alloc.legs["SOL/USDT"] == pytest.approx(20000.0)
    assert alloc.legs["BTC/USDT:USDT"] == pytest.approx(-(beta_eth * 30000 + beta_sol * 20000))


def test_vol_target_scales_down_only_when_realised_vol_is_above_target(stats):
    base = FixedWeights(UNI, {"BTC": 0.5, "ETH": 0.3, "SOL": 0.2})
    vt = VolTarget(base, target_vol=0.20)
    realised = vt.realised_vol(base.weights, stats)
    assert realised > 0.20  # a crypto basket is far above 20% a year
    w = vt.target_weights(_snapshot(), stats)
    assert sum(w.values()) == pytest.approx(0.20 / realised)
    assert VolTarget(base, target_vol=5.0).target_weights(_snapshot(), stats) == base.weights


def test_carry_switch_follows_a_recorded_funding_streak_and_back():
    folder = ("DcaTpStrategy", "user_data", "data", "binance", "futures")
    events = read_funding(str(shared(*folder, "BTC_USDT_USDT-8h-funding_rate.feather")))
    uni = {"BTC": AssetLegs(spot="BTC/USDT", perp="BTC/USDT:USDT")}
    s = CarrySwitch(FixedWeights(uni, {"BTC": 1.0}), funding_threshold=0.00005, streak=3)
    stats = MarketStats()
    states = []
    for ev in events:
        stats.on_funding(ev.symbol, ev.rate)
        states.append(s.update_regime(stats)["BTC"])
    rates = [e.rate for e in events]
    # Independently: rich from the 3rd rate in a row above the threshold, back to normal after
    # 3 in a row at or below it.
    expect, rich = [], False
    for i in range(len(rates)):
        last = rates[max(0, i - 2): i + 1]
        if not rich and len(last) == 3 and all(r > 0.00005 for r in last):
            rich = True
        elif rich and len(last) == 3 and all(r <= 0.00005 for r in last):
            rich = False
        expect.append(rich)
    assert states == expect and any(states) and not all(states)
    snap = _snapshot()
    s.rich["BTC"] = True
    alloc = s.allocate(snap, stats)
    assert alloc.legs == {"BTC/USDT": 100000.0, "BTC/USDT:USDT": 0.0}
    assert alloc.sleeves == {"BTC/USDT:USDT": "carry:BTC"}
    s.rich["BTC"] = False
    alloc = s.allocate(snap, stats)
    assert alloc.legs == {"BTC/USDT": 0.0, "BTC/USDT:USDT": 100000.0}
