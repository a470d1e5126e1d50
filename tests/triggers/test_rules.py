"""Trigger rules: drift band state (hysteresis, cooldown, minimum trade), schedule, and the
signal rules on real bars and funding."""

from __future__ import annotations

import pytest

from engine.core.errors import ConfigError
from engine.feeds.bars import read_bars, read_funding
from engine.portfolio.stats import MarketStats
from engine.triggers.regime import Regime, RegimeMatrix
from engine.triggers.rules import (
    AtrExpansion,
    CorrelationAbove,
    DriftBand,
    FundingStreak,
    Schedule,
    SmaBreak,
)
from tests.conftest import shared

T = {"BTC": 0.6, "ETH": 0.4}
S = 1_000_000_000
ORACULO = ("oraculo-de-bitcoin", "user_data", "data", "binance")


def test_drift_fires_once_then_rearms_only_inside_the_hysteresis_band():
    d = DriftBand(abs_band=0.03, hysteresis=0.5)
    assert d.check({"BTC": 0.62, "ETH": 0.38}, T, 1e5, 0) is None
    b = d.check({"BTC": 0.64, "ETH": 0.36}, T, 1e5, 1)
    assert b is not None and b.weights == T and "BTC weight 0.6400" in b.reason
    assert d.check({"BTC": 0.645, "ETH": 0.355}, T, 1e5, 2) is None  # disarmed
    assert d.check({"BTC": 0.62, "ETH": 0.38}, T, 1e5, 3) is None    # 2% > 1.5%: still not
    assert not d.armed
    assert d.check({"BTC": 0.61, "ETH": 0.39}, T, 1e5, 4) is None    # inside 1.5%: re-armed
    assert d.armed
    assert d.check({"BTC": 0.64, "ETH": 0.36}, T, 1e5, 5) is not None
    assert d.check(T, T, 1e5, 6) is None and d.armed  # exactly on target re-arms too


def test_drift_cooldown_and_minimum_trade_notional():
    d = DriftBand(abs_band=0.03, cooldown_ns=60 * S)
    assert d.check({"BTC": 0.64, "ETH": 0.36}, T, 1e5, 0) is not None
    d.armed = True
    assert d.check({"BTC": 0.64, "ETH": 0.36}, T, 1e5, 30 * S) is None
    assert d.check({"BTC": 0.64, "ETH": 0.36}, T, 1e5, 61 * S) is not None
    small = DriftBand(abs_band=0.03, min_trade_notional=500.0)
    # A 4-point drift on a $5,000 book trades $400 in all: suppressed, still armed.
    assert small.check({"BTC": 0.64, "ETH": 0.36}, T, 5000.0, 0) is None and small.armed
    assert small.check({"BTC": 0.64, "ETH": 0.36}, T, 50000.0, 0) is not None


def test_relative_band_scales_with_the_target():
    d = DriftBand(abs_band=None, rel_band=0.1)
    assert d.check({"BTC": 0.63, "ETH": 0.37}, T, 1e5, 0) is None      # 3/60 = 5%, 3/40 = 7.5%
    b = d.check({"BTC": 0.645, "ETH": 0.355}, T, 1e5, 0)               # 7.5% and 11.25%
    assert b is not None and b.reason.startswith("ETH")  # the one outside its own band


def test_edge_mode_moves_only_to_the_nearest_band_edge():
    d = DriftBand(abs_band=0.03, mode="edge")
    b = d.check({"BTC": 0.70, "ETH": 0.30}, T, 1e5, 0)
    assert b.weights == pytest.approx({"BTC": 0.63, "ETH": 0.37})


def test_edge_mode_spreads_what_it_frees_over_the_assets_inside_their_bands():
    d = DriftBand(abs_band=0.05, mode="edge")
    targets = {"BTC": 0.4, "ETH": 0.3, "SOL": 0.3}
    b = d.check({"BTC": 0.50, "ETH": 0.25, "SOL": 0.25}, targets, 1e5, 0)
    # BTC to its edge (0.45); the 0.05 it frees goes to ETH and SOL by target (0.025 each)
    assert b.weights == pytest.approx({"BTC": 0.45, "ETH": 0.275, "SOL": 0.275})
    assert sum(b.weights.values()) == pytest.approx(1.0)
    # clamped to their own band: nothing is pushed past an edge
    b = DriftBand(abs_band=0.05, mode="edge").check({"BTC": 0.60, "ETH": 0.34, "SOL": 0.06},
                                                   targets, 1e5, 0)
    assert b.weights["SOL"] == pytest.approx(0.25) and b.weights["ETH"] <= 0.35 + 1e-12


@pytest.mark.parametrize("kw", [dict(abs_band=-0.01), dict(abs_band=None, rel_band=None),
                                dict(mode="middle"), dict(hysteresis=1.5)])
def test_bad_drift_settings_are_rejected(kw):
    with pytest.raises(ConfigError):
        DriftBand(**kw)


def test_schedule_fires_on_each_new_interval():
    s = Schedule(every_ns=60 * S)
    assert [s.check(t * S) for t in (0, 30, 59, 60, 61, 119, 125, 300)] == [
        False, False, False, True, False, False, True, True]


def _feed_bars(asset: str, signal, n: int | None = None):
    bars = read_bars(str(shared(*ORACULO, f"{asset}_USDT-1d.feather")))[:n]
    stats = MarketStats(sample_ns=86_400 * S)
    fired = []
    for i, b in enumerate(bars):
        stats.on_bar(asset, b.open, b.high, b.low, b.close)
        if signal.update(stats):
            fired.append(i)
    return bars, fired


def test_atr_expansion_fires_where_the_true_range_average_jumps():
    sig = AtrExpansion("BTC", period=14, lookback=7, expansion=0.5)
    bars, fired = _feed_bars("BTC", sig)
    tr = [None] + [max(b.high - b.low, abs(b.high - a.close), abs(b.low - a.close))
                   for a, b in zip(bars, bars[1:])]

    def atr(end):  # mean of the 14 true ranges ending at bar `end` (inclusive)
        return sum(tr[end - 13: end + 1]) / 14

    cond = [i >= 21 and atr(i) >= 1.5 * atr(i - 7) for i in range(len(bars))]
    expect = [i for i in range(len(bars)) if cond[i] and not (i > 21 and cond[i - 1])]
    assert fired == expect and len(fired) > 5


def test_sma_break_fires_on_each_close_below_the_average_after_being_above():
    sig = SmaBreak("ETH", period=50)
    bars, fired = _feed_bars("ETH", sig)
    closes = [b.close for b in bars]
    below = [i >= 49 and closes[i] < sum(closes[i - 49: i + 1]) / 50 for i in range(len(bars))]
    expect = [i for i in range(49, len(bars)) if below[i] and not (i > 49 and below[i - 1])]
    assert fired == expect and len(fired) > 10


def test_funding_streak_on_recorded_rates():
    folder = ("shin-ltp-freqtrade", "user_data", "data", "binance", "futures")
    events = read_funding(str(shared(*folder, "SOL_USDT_USDT-8h-funding_rate.feather")))
    sig = FundingStreak("SOL/USDT:USDT", threshold=0.0003, k=3)
    stats = MarketStats()
    fired = []
    for i, ev in enumerate(events):
        stats.on_funding(ev.symbol, ev.rate)
        if sig.update(stats):
            fired.append(i)
    r = [e.rate for e in events]
    streak = [i >= 2 and all(x > 0.0003 for x in r[i - 2: i + 1]) for i in range(len(r))]
    expect = [i for i in range(len(r)) if streak[i] and not (i > 0 and streak[i - 1])]
    assert fired == expect and fired


def test_correlation_signal_on_hourly_returns():
    stats = MarketStats(lookback=24 * 30, sample_ns=3600 * S, periods_per_year=24 * 365)
    for a in ("BTC", "ETH"):
        for b in read_bars(str(shared(*ORACULO, f"{a}_USDT-1h.feather")))[:24 * 60]:
            stats.on_price(a, b.close, b.ts_event)
    c = stats.correlation("BTC", "ETH")
    assert 0.5 < c < 1.0
    assert CorrelationAbove("BTC", "ETH", threshold=c - 0.01).update(stats)
    assert not CorrelationAbove("BTC", "ETH", threshold=c + 0.01).update(stats)


def test_regime_matrix_picks_the_first_match_and_falls_back_to_baseline():
    calm = Regime(name="calm", perp_share=0.0)
    m = RegimeMatrix([Regime(name="vol_spike", when=("atr",), perp_share=0.5, hedge_ratio=0.5),
                      Regime(name="overheated", when=("funding",), perp_share=0.0),
                      Regime(name="breakdown", when=("sma",), perp_share=1.0, hedge_ratio=0.3)],
                     calm, {"atr", "funding", "sma"})
    assert m.update(set()) is None
    assert m.update({"funding", "sma"}).name == "overheated"
    assert m.update({"funding", "sma", "atr"}).name == "vol_spike"
    assert m.update({"sma"}).name == "breakdown"
    assert m.update(set()).name == "calm"
    assert m.legs(m.regimes[0], 10000.0) == (5000.0, 0.0)
    with pytest.raises(ConfigError):
        RegimeMatrix([Regime(name="x", when=("nope",))], calm, {"atr"})
