"""The seeds' rules, each with its entry and its exit, on real bars and funding: every entry
and exit time checked against the indicators computed here with numpy (the oracle), then
run through the same state machine (enter when the entry holds, leave when the exit does)."""

from __future__ import annotations

import numpy as np
import pytest

from engine.feeds.bars import read_bars, read_funding
from engine.portfolio.stats import MarketStats
from engine.triggers.bar_rules import AtrSpike, SigmaBand, SmaCross, SmaTrend, SupportBreach
from engine.triggers.market_rules import (
    BasisRich,
    FundingRich,
    OpenInterestSurge,
    annualised_dated_basis,
    annualised_perp_basis,
)
from tests.conftest import ROOT, shared

DAILY = ROOT / "scripts" / "data" / "oraculo-de-bitcoin" / "BTC_USDT-1d.feather"


def _bars():
    bars = read_bars(str(DAILY))
    return bars, {k: np.array([getattr(b, k) for b in bars])
                  for k in ("open", "high", "low", "close")}


def _edges_of(rule, bars):
    """The rule's edges fed bar by bar, as a run feeds it: [(bar index, edge)]."""
    stats = MarketStats(bar_keep=400)
    out = []
    for i, b in enumerate(bars):
        stats.on_bar("BTC", b.open, b.high, b.low, b.close)
        if rule.update(stats):
            out.append((i, "entry"))
        elif rule.exited:
            out.append((i, "exit"))
    return out


def _machine(entry, exit_):
    """Edges of the state machine over boolean arrays (NaN-free where defined, None where an
    indicator is not ready yet)."""
    out, active = [], False
    for i, (e, x) in enumerate(zip(entry, exit_)):
        if not active and e is True:
            active = True
            out.append((i, "entry"))
        elif active and x is True:
            active = False
            out.append((i, "exit"))
    return out


def _rolling_mean(x, n):
    out = np.full(len(x), np.nan)
    c = np.convolve(x, np.ones(n) / n, mode="valid")
    out[n - 1:] = c
    return out


def _opt(mask, ready):
    return [bool(m) if r else None for m, r in zip(mask, ready)]


def test_atr_spike_enters_on_a_50pct_rise_over_7_days_and_exits_at_its_30_day_median():
    bars, a = _bars()
    c, h, lo = a["close"], a["high"], a["low"]
    tr = np.r_[np.nan, np.maximum(h[1:] - lo[1:], np.maximum(abs(h[1:] - c[:-1]),
                                                               abs(lo[1:] - c[:-1])))]
    atr = np.full(len(c), np.nan)
    for i in range(14, len(c)):
        atr[i] = tr[i - 13:i + 1].mean()
    ratio = np.full(len(c), np.nan)
    ratio[21:] = atr[21:] / atr[14:-7]
    med = np.full(len(c), np.nan)
    for i in range(14 + 29, len(c)):
        med[i] = np.median(atr[i - 29:i + 1])
    expect = _machine(_opt(ratio >= 1.5, ~np.isnan(ratio)), _opt(atr <= med, ~np.isnan(med)))
    got = _edges_of(AtrSpike("BTC"), bars)
    assert got == expect and len(got) >= 10
    # the 2024-08-05 crash: in on the 8th's close (ATR 1.50x its value a week before)
    i = next(k for k, b in enumerate(bars) if b.ts_open == 1723075200_000_000_000)
    assert (i, "entry") in got


def test_close_below_sma200_exits_after_three_closes_above():
    bars, a = _bars()
    c = a["close"]
    sma = _rolling_mean(c, 200)
    below = c < sma
    ready = ~np.isnan(sma)
    three_above = np.array([i >= 201 and ready[i - 2] and not below[i - 2:i + 1].any()
                            for i in range(len(c))])
    expect = _machine(_opt(below, ready), _opt(three_above, ready))
    got = _edges_of(SmaTrend("BTC", 200, below=True, exit_after=3), bars)
    assert got == expect and len(got) >= 6


@pytest.mark.parametrize("golden", [True, False])
def test_sma_50_200_crosses(golden):
    bars, a = _bars()
    f, s = _rolling_mean(a["close"], 50), _rolling_mean(a["close"], 200)
    ready = ~np.isnan(s)
    up = f > s
    expect = _machine(_opt(up == golden, ready), _opt(up != golden, ready))
    got = _edges_of(SmaCross("BTC", 50, 200, golden=golden), bars)
    assert got == expect and len(got) >= 4


@pytest.mark.parametrize("above", [True, False])
def test_close_two_sigma_from_sma20_exits_back_across_it(above):
    bars, a = _bars()
    c = a["close"]
    mean = _rolling_mean(c, 20)
    sd = np.full(len(c), np.nan)
    for i in range(19, len(c)):
        sd[i] = c[i - 19:i + 1].std(ddof=1)  # pandas' rolling std
    z = (c - mean) / sd * (1 if above else -1)
    ready = ~np.isnan(z)
    expect = _machine(_opt(z > 2.0, ready), _opt(z <= 0.0, ready))
    got = _edges_of(SigmaBand("BTC", 20, 2.0, above=above), bars)
    assert got == expect and len(got) >= 10


def test_support_breach_two_closes_below_the_30_day_low_until_it_holds_three_days():
    bars, a = _bars()
    c, lo = a["close"], a["low"]
    out, active, level = [], False, None
    for i in range(len(c)):
        if not active:
            if i < 31:
                continue
            support = lo[i - 31:i - 1].min()  # the 30 bars before the last 2 closes
            if c[i] < support and c[i - 1] < support:
                active, level = True, support
                out.append((i, "entry"))
        elif i >= 2 and (c[i - 2:i + 1] >= level).all():
            active = False
            out.append((i, "exit"))
    got = _edges_of(SupportBreach("BTC", closes=2, lookback=30, hold=3), bars)
    assert got == out and len(got) >= 6


def test_funding_rich_on_the_recorded_btc_perp_settlements():
    path = shared("shin-ltp-freqtrade", "user_data", "data", "binance", "futures",
                  "BTC_USDT_USDT-8h-funding_rate.feather")
    rates = [f.rate for f in read_funding(str(path))]
    rule = FundingRich("BTC/USDT:USDT", threshold=0.0003, k=3, high=0.0006, high_hours=48,
                       exit_after=2)
    stats = MarketStats(funding_keep=64)
    got = []
    for i, r in enumerate(rates):
        stats.on_funding("BTC/USDT:USDT", r)
        if rule.update(stats):
            got.append((i, "entry"))
        elif rule.exited:
            got.append((i, "exit"))
    x = np.array(rates)
    above = x > 0.0003
    streak3 = np.array([i >= 2 and above[i - 2:i + 1].all() for i in range(len(x))])
    high6 = np.array([i >= 5 and (x[i - 5:i + 1] > 0.0006).all() for i in range(len(x))])
    exit2 = np.array([i >= 1 and (x[i - 1:i + 1] <= 0.0003).all() for i in range(len(x))])
    assert got == _machine([bool(v) for v in streak3 | high6], [bool(v) for v in exit2])
    assert len(got) >= 4


def test_basis_is_the_funding_a_premium_earns_a_year_not_the_premium_times_1095():
    # a 0.01% funding per 8 h earns 10.95% a year; a 3.7% premium is not a yield
    assert annualised_perp_basis(0.0001) == pytest.approx(0.1095)
    assert annualised_perp_basis(0.0001, interval_hours=4) == pytest.approx(0.219)
    stats = MarketStats()
    rule = BasisRich("BTC/USDT:USDT", threshold=0.15)
    stats.predicted_funding["BTC/USDT:USDT"] = 0.0002  # 21.9% a year
    assert rule.update(stats) and rule.value == pytest.approx(0.219)
    stats.predicted_funding["BTC/USDT:USDT"] = 0.0001  # 10.95%: above half the threshold
    assert not rule.update(stats) and rule.active
    stats.predicted_funding["BTC/USDT:USDT"] = 0.00005  # 5.5%: out
    assert not rule.update(stats) and rule.exited


def test_dated_basis_annualised_by_days_to_expiry_on_recorded_link_prices():
    """LINKUSD_211231 against LINKUSD_PERP at the end of the recorded COIN-M minute
    (2021-07-22 01:13:54 UTC); the quarterly delivers 2021-12-31 08:00 UTC."""
    from engine.book.manager import BookManager
    from engine.feeds.capture import merge_captures
    from engine.model import BookDelta, BookSnapshot

    path = shared("cryptofeed", "sample_data", "BINANCE_DELIVERY.ws.1.0")
    books = BookManager()
    last = 0
    for ev in merge_captures([str(path)]):
        if isinstance(ev, BookSnapshot):
            books.on_snapshot(ev)
        elif isinstance(ev, BookDelta):
            books.on_delta(ev)
        last = ev.ts_recv
    f = float(books.syncs["LINK/USD:LINK-211231"].book.mid())
    s = float(books.syncs["LINK/USD:LINK"].book.mid())
    days = (1640937600_000_000_000 - last) / 86400e9
    assert 162 < days < 163
    by_hand = (f - s) / s * 365 / days
    assert annualised_dated_basis(f, s, days) == pytest.approx(by_hand, rel=1e-12)
    assert 0.0 < by_hand < 0.2  # a contango of a few percent a year, not thousands


def test_open_interest_rise_with_a_flat_price_on_a_hand_written_series():
    """No recorded open interest exists in our data: a hand-written hourly series. OI climbs
    20% over 24 samples while the price stays within ±1% → entry; the price then breaks 3%
    lower (the move came) → exit."""
    stats = MarketStats()
    rule = OpenInterestSurge("BTC/USDT:USDT", rise=0.15, flat=0.01, window=24)
    edges = []
    series = [(100_000 * (1 + 0.2 * min(i, 24) / 24), 60_000 * (1 + 0.004 * ((-1) ** i)))
              for i in range(30)] + [(120_000, 58_200)] * 3
    for i, (oi, px) in enumerate(series):
        stats.on_open_interest("BTC/USDT:USDT", i, oi, px)
        if rule.update(stats):
            edges.append((i, "entry"))
        elif rule.exited:
            edges.append((i, "exit"))
    assert edges == [(24, "entry"), (30, "exit")]
