"""Funding accrual against Binance's recorded 8-hour funding series."""

from __future__ import annotations

from decimal import Decimal as D

import pyarrow.feather as feather
import pytest

from engine.core.numeric import to_decimal
from engine.feeds.bars import read_funding
from engine.model import Fill
from engine.portfolio.instruments import instrument_from_symbol as ins
from engine.portfolio.state import Portfolio
from tests.conftest import shared

CASES = [
    ("DcaTpStrategy", "user_data", "data", "binance", "futures", "BTC_USDT_USDT"),
    ("DcaTpStrategy", "user_data", "data", "binance", "futures", "ETH_USDT_USDT"),
    ("shin-ltp-freqtrade", "user_data", "data", "binance", "futures", "BTC_USDT_USDT"),
]


def _raw(path) -> list[tuple[int, float]]:
    t = feather.read_table(str(path))
    return list(zip(t.column("date").cast("int64").to_pylist(), t.column("open").to_pylist()))


@pytest.mark.parametrize("case", CASES, ids=lambda c: f"{c[0]}:{c[-1]}")
@pytest.mark.parametrize("side", ["long", "short"])
def test_held_perp_accrues_the_recorded_rates_times_notional(case, side):
    *folder, stem = case
    fpath = shared(*folder, f"{stem}-8h-funding_rate.feather")
    mpath = shared(*folder, f"{stem}-8h-mark.feather")
    symbol = stem.replace("_USDT_USDT", "/USDT:USDT")
    qty = D("0.5") if side == "long" else D("-0.5")
    p = Portfolio([ins(symbol, leverage=3)], cash={"USDT": "100000"})
    first_mark = _raw(mpath)[0][1]
    p.on_fill(Fill(exchange="binanceusdm", symbol=symbol, ts_event=0, ts_recv=0, order_id="o",
                   trade_id="1", side="buy" if side == "long" else "sell", qty=abs(qty),
                   price=to_decimal(first_mark)))
    events = read_funding(str(fpath), str(mpath))
    for ev in events:
        p.on_funding(ev)
    # Independent expectation from the raw columns: a long pays rate × qty × mark.
    marks = dict(_raw(mpath))
    expected = D(0)
    for ts, rate in _raw(fpath):
        mark = marks.get(ts) or marks.get(ts - ts % 1_000_000_000)
        expected += -qty * to_decimal(mark) * to_decimal(rate)
    perp = p.perps[symbol]
    assert len(events) == len(_raw(fpath))
    assert perp.funding == expected
    assert p.cash["USDT"] == D("100000") + expected
    assert p.snapshot().funding == pytest.approx(float(expected))
    positive = sum(r for _, r in _raw(fpath)) > 0
    # Sign convention: over these months the rates were mostly positive, so longs paid.
    assert positive and ((perp.funding < 0) == (side == "long"))


def test_funding_accrues_per_sleeve():
    folder = CASES[0][:-1]
    fpath = shared(*folder, "BTC_USDT_USDT-8h-funding_rate.feather")
    p = Portfolio([ins("BTC/USDT:USDT")], cash={"USDT": "100000"})
    p.seed_position("BTC/USDT:USDT", D("1"), D("90000"))
    events = read_funding(str(fpath))
    half = len(events) // 2
    p.set_sleeve("BTC/USDT:USDT", "core:BTC")
    for ev in events[:half]:
        p.on_funding(ev)
    p.set_sleeve("BTC/USDT:USDT", "carry:BTC")
    for ev in events[half:]:
        p.on_funding(ev)
    by = p.funding_by_sleeve
    assert set(by) == {"core:BTC", "carry:BTC"}
    assert by["core:BTC"] + by["carry:BTC"] == p.perps["BTC/USDT:USDT"].funding


def test_no_position_no_funding():
    folder = CASES[0][:-1]
    p = Portfolio([ins("BTC/USDT:USDT")], cash={"USDT": "1000"})
    ev = read_funding(str(shared(*folder, "BTC_USDT_USDT-8h-funding_rate.feather")))[0]
    assert p.on_funding(ev) is None and p.cash["USDT"] == D("1000")
