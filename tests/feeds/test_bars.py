"""freqtrade bars and funding files as events, checked against the recorded values."""

from __future__ import annotations

import pytest

from engine.core.errors import DecodeError
from engine.feeds.bars import BarStats, parse_name, read_bars, read_funding, timeframe_ns
from tests.conftest import shared

ORACULO = ("oraculo-de-bitcoin", "user_data", "data", "binance")
DCA = ("DcaTpStrategy", "user_data", "data", "binance", "futures")


def test_spot_hourly_bars_close_at_the_end_of_the_hour():
    bars = read_bars(str(shared(*ORACULO, "BTC_USDT-1h.feather")))
    assert len(bars) == 43803
    b = bars[0]
    assert (b.symbol, b.exchange, b.timeframe) == ("BTC/USDT", "binance", "1h")
    assert b.ts_open == 1600560000_000_000_000  # 2020-09-20 00:00 UTC
    assert b.ts_event == b.ts_open + 3600 * 10**9
    assert (b.open, b.high, b.low, b.close) == (11080.64, 11080.64, 11042.7, 11056.0)
    assert all(x.ts_open < y.ts_open for x, y in zip(bars, bars[1:]))


def test_daily_close_matches_the_known_value():
    bars = read_bars(str(shared(*ORACULO, "BTC_USDT-1d.feather")))
    day = next(b for b in bars if b.ts_open == 1636502400_000_000_000)  # 2021-11-10
    assert day.close == 64882.43


def test_perp_bars_are_usdm_symbols():
    bars = read_bars(str(shared(*DCA, "ETH_USDT_USDT-1h-futures.feather")))
    assert bars[0].symbol == "ETH/USDT:USDT" and bars[0].exchange == "binanceusdm"
    assert len(bars) == 719


def test_funding_settlements_carry_rate_and_mark_at_settlement():
    f = read_funding(str(shared(*DCA, "BTC_USDT_USDT-8h-funding_rate.feather")),
                     str(shared(*DCA, "BTC_USDT_USDT-8h-mark.feather")))
    assert len(f) == 266
    assert (f[0].rate, f[0].mark_price) == (6.818e-05, 90776.94748889)
    # Binance stamped this settlement 1 ms after 08:00; it still finds the 08:00 mark.
    assert f[2].ts_event == 1741334400_001_000_000 and f[2].mark_price == 88311.88999259
    assert all(x.mark_price is not None for x in f)


def test_funding_without_mark_file_has_no_mark():
    f = read_funding(str(shared(*DCA, "SOL_USDT_USDT-8h-funding_rate.feather")))
    assert f and all(x.mark_price is None for x in f)


def test_wrong_file_kind_and_names_are_rejected():
    with pytest.raises(DecodeError, match="funding"):
        read_bars(str(shared(*DCA, "BTC_USDT_USDT-8h-funding_rate.feather")))
    with pytest.raises(DecodeError, match="not a funding_rate"):
        read_funding(str(shared(*DCA, "BTC_USDT_USDT-8h-mark.feather")))
    with pytest.raises(DecodeError, match="freqtrade feather name"):
        parse_name("prices.csv")
    with pytest.raises(DecodeError):
        timeframe_ns("1x")


def test_rows_with_missing_values_are_reported_not_filled(tmp_path):
    import pyarrow as pa
    import pyarrow.feather as feather

    t = pa.table({
        "date": pa.array([0, 3_600_000_000_000, 7_200_000_000_000], pa.timestamp("ns", tz="UTC")),
        "open": [1.0, None, 3.0], "high": [1.0, 2.0, float("nan")], "low": [1.0, 2.0, 3.0],
        "close": [1.0, 2.0, 3.0], "volume": [0.0, 0.0, 0.0],
    })
    p = tmp_path / "BTC_USDT-1h.feather"
    feather.write_feather(t, str(p))
    stats = BarStats(str(p))
    bars = read_bars(str(p), stats=stats)
    assert len(bars) == 1 and stats.bad_rows == [1, 2] and stats.rows == 3
