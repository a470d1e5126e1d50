"""A bar backtest catches the market statistics up over the bars it skipped in one call
(`MarketStats.on_bars`); the statistics must be exactly what a bar at a time leaves."""

from __future__ import annotations

import math

from hypothesis import given, settings
from hypothesis import strategies as st

from engine.portfolio.stats import MarketStats

H = 3_600_000_000_000

# a price (some not positive: ignored) and the gap to the bar before, in quarter hours, so
# several bars can share one sampling step
bar = st.tuples(st.one_of(st.floats(0.01, 1e5), st.sampled_from([0.0, -1.0])),
                st.integers(0, 9))


def _series(bars, start=0):
    ts, t = [], start
    for _, gap in bars:
        t += gap * H // 4
        ts.append(t)
    closes = [p for p, _ in bars]
    ohlc = [(c * 1.01, c * 1.02, c * 0.98, c) for c in closes]
    return ohlc, closes, ts


def _state(s: MarketStats):
    return (dict(s.returns), dict(s._last_px), dict(s._last_slot), dict(s._pending),
            {a: list(b) for a, b in s.bars.items()})


@settings(max_examples=300, deadline=None)
@given(before=st.lists(bar, max_size=30), gap=st.lists(bar, max_size=120),
       lookback=st.integers(1, 50), keep=st.integers(1, 50), with_bars=st.booleans())
def test_catching_up_in_one_call_equals_a_bar_at_a_time(before, gap, lookback, keep,
                                                        with_bars):
    one, bulk = (MarketStats(lookback=lookback, sample_ns=H, bar_keep=keep) for _ in range(2))
    ohlc0, closes0, ts0 = _series(before)
    for s in (one, bulk):  # the same history before the skipped bars
        for (o, h, lo, c), t in zip(ohlc0, ts0):
            s.on_bar("BTC", o, h, lo, c)
            s.on_price("BTC", c, t)
    ohlc, closes, ts = _series(gap, start=ts0[-1] if ts0 else 0)
    for (o, h, lo, c), t in zip(ohlc, ts):
        if with_bars:
            one.on_bar("BTC", o, h, lo, c)
        one.on_price("BTC", c, t)
    bulk.on_bars("BTC", ohlc if with_bars else None, closes, ts)
    assert _state(bulk) == _state(one)
    assert bulk.vol("BTC") == one.vol("BTC")


def test_covariance_on_a_small_hand_case():
    """Two assets, returns (ln 1.1, ln 0.9) and (ln 1.2, ln 0.8): the sample covariance,
    annualised by the periods per year."""
    s = MarketStats(lookback=10, sample_ns=H, periods_per_year=1.0)
    for i, (a, b) in enumerate([(100.0, 50.0), (110.0, 60.0), (99.0, 48.0)]):
        s.on_price("A", a, i * H)
        s.on_price("B", b, i * H)
    ra, rb = [math.log(1.1), math.log(0.9)], [math.log(1.2), math.log(0.8)]
    ma, mb = sum(ra) / 2, sum(rb) / 2
    want = sum((x - ma) * (y - mb) for x, y in zip(ra, rb)) / 1
    cov = s.covariance(["A", "B"])
    assert cov[0][1] == cov[1][0] == want
    assert cov[0][0] == sum((x - ma) * (x - ma) for x in ra)
