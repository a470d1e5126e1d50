"""Bars built from trades equal the venue's own klines (the exchange is the oracle).

The cryptofeed recordings carry `kline_1m` beside `aggTrade`. Each kline message is the
minute so far, with the id of the last trade in it (`L`); an aggTrade names the last trade it
groups (`l`). So from one kline message, the aggTrades after it up to the next message's `L`
must take the builder to exactly the next message's open, high, low, close and volume, and a
closed kline (`x`) must be the bar the builder emits when the next minute's first trade
arrives. The recordings hold 30 seconds each: one closed kline per USD-M symbol, none in the
COIN-M one (its minute never ends inside it), and every in-progress message is checked."""

from __future__ import annotations

from collections import defaultdict
from decimal import Decimal

import orjson
import pytest

from engine.feeds.bar_builder import BarBuilder
from engine.venues.binance.symbols import unified_symbol
from engine.feeds.capture import merge_captures
from engine.feeds.cryptofeed_capture import connection
from engine.model import Trade
from tests.conftest import shared

MINUTE = 60_000_000_000
# kline messages checked against the aggTrades before them (OHLC and volume), and those the
# venue sent halfway through one aggTrade's trades (OHLC only: an aggTrade cannot be split)
STEPS_USDM, STRADDLED_USDM = 33, 23
STEPS_COINM, STRADDLED_COINM = 5, 21
MS = 1_000_000


def _recording(name):
    path = shared("cryptofeed", "sample_data", name)
    market, _ = connection(str(path))
    klines, last_id = defaultdict(list), {}
    for line in path.read_bytes().splitlines()[1:]:
        ts, sep, payload = line.partition(b": ")
        if not sep or line.startswith(b"wss://"):
            continue
        d = orjson.loads(payload)
        data = d["data"]
        if "@kline" in d["stream"]:
            klines[unified_symbol(data["s"], market)].append(data["k"])
        elif "@aggTrade" in d["stream"]:
            last_id[(unified_symbol(data["s"], market), data["a"])] = (data["f"], data["l"])
    trades = defaultdict(list)
    for ev in merge_captures([str(path)]):
        if type(ev) is Trade:  # our decoder's events, joined to the raw `l` by agg id
            trades[ev.symbol].append((last_id[(ev.symbol, ev.trade_id)], ev))
    return klines, trades


def _ohlcv(k):
    return (float(k["o"]), float(k["h"]), float(k["l"]), float(k["c"]), Decimal(k["v"]))


def _check(name):
    klines, trades = _recording(name)
    steps = closed = 0
    straddled = 0
    for sym, ks in klines.items():
        ts_ = trades[sym]

        def whole(k, ts_=ts_):  # the kline message fell between two aggTrades
            return not any(f <= k["L"] < last for (f, last), _ in ts_)

        for a, b in zip(ks, ks[1:]):
            if b["L"] == a["L"] or b["t"] != a["t"]:
                continue  # nothing traded in between, or another minute (checked below)
            b_ = BarBuilder("binance", sym, "1m", MINUTE)
            b_.seed(a["t"] * MS, *_ohlcv(a))
            for (first, last), tr in ts_:
                if first <= b["L"] and last > a["L"]:
                    assert not b_.on_trade(tr.ts_event, tr.ts_recv, tr.price, tr.size)
            _, o, h, lo, c, v = b_.current
            assert (o, h, lo, c) == _ohlcv(b)[:4], (sym, a["L"], b["L"])
            if whole(a) and whole(b):
                assert v == _ohlcv(b)[4], (sym, a["L"], b["L"])
                steps += 1
            else:  # the venue sent a kline halfway through one aggTrade's trades (one price):
                straddled += 1  # the prices hold, the volume cannot be split
        for k in (k for k in ks if k["x"]):
            last_open = [x for x in ks if x["t"] == k["t"] and not x["x"] and whole(x)][-1]
            b_ = BarBuilder("binance", sym, "1m", MINUTE)
            b_.seed(k["t"] * MS, *_ohlcv(last_open))
            bars = []
            for (_, last), tr in ts_:
                if last > last_open["L"]:
                    bars += b_.on_trade(tr.ts_event, tr.ts_recv, tr.price, tr.size)
            assert len(bars) == 1, sym  # the next minute's first trade closed it
            bar = bars[0]
            assert (bar.ts_open, bar.ts_event) == (k["t"] * MS, (k["T"] + 1) * MS)
            assert (bar.open, bar.high, bar.low, bar.close) == _ohlcv(k)[:4]
            assert Decimal(repr(bar.volume)) == Decimal(k["v"])
            closed += 1
    return steps, closed, straddled


def test_usdm_bars_from_agg_trades_equal_the_venues_klines():
    assert _check("BINANCE_FUTURES.ws.1.0") == (STEPS_USDM, 4, STRADDLED_USDM)


def test_coinm_bars_from_agg_trades_equal_the_venues_klines():
    # contracts as volume; no minute closes inside the 30 s recording
    assert _check("BINANCE_DELIVERY.ws.1.0") == (STEPS_COINM, 0, STRADDLED_COINM)


def test_silent_minutes_are_flat_at_the_last_close_and_a_partial_first_bar_is_dropped():
    b = BarBuilder("binance", "X/USDT", "1m", MINUTE)
    assert b.on_trade(30 * 1_000_000_000, 1, 10.0, 1.0) == []  # mid-minute: start unseen
    out = b.on_trade(MINUTE + 5, 2, 11.0, 2.0)
    assert out == [] and b.partial == 1
    b.on_trade(MINUTE + 6, 3, 9.5, 0.1)
    out = b.on_trade(4 * MINUTE, 4, 12.0, 1.0)  # minutes 2 and 3 had no trade
    assert [(x.ts_open // MINUTE, x.open, x.high, x.low, x.close, x.volume) for x in out] == [
        (1, 11.0, 11.0, 9.5, 9.5, 2.1), (2, 9.5, 9.5, 9.5, 9.5, 0.0), (3, 9.5, 9.5, 9.5, 9.5, 0.0)]
    assert b.on_trade(2 * MINUTE, 5, 50.0, 1.0) == []  # late: its bar is closed
    out = b.on_time(5 * MINUTE + 1)
    assert [(x.ts_open // MINUTE, x.close) for x in out] == [(4, 12.0)]
    with pytest.raises(ValueError, match="grid"):
        b.seed(7, 1, 1, 1, 1)
