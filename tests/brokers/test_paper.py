"""The paper broker on a real synced book: walking levels, consumed liquidity, queue position,
latency, and the venue's rejections."""

from __future__ import annotations

from decimal import Decimal as D

import pytest

from engine.book.manager import BookManager
from engine.brokers.paper import FeeSchedule, PaperBroker
from engine.core.numeric import to_decimal
from engine.execution.markets import load_markets_offline
from engine.feeds.capture import read_capture
from engine.model import BookDelta, BookSnapshot, Fill, OrderRequest, OrderUpdate, Trade
from engine.portfolio.instruments import instrument_from_symbol as ins
from engine.portfolio.state import Portfolio
from tests.conftest import USDM_BTC

SYM = "BTC/USDT:USDT"
MS = 1_000_000


@pytest.fixture()
def synced():
    """A BTC book synced on the recording, stopped right after its snapshot, plus the rest."""
    books = BookManager()
    rest = []
    for ev in read_capture(str(USDM_BTC)):
        if rest or (SYM in books.syncs and books.syncs[SYM].valid and type(ev) is BookDelta):
            rest.append(ev)
            continue
        if type(ev) is BookDelta:
            books.on_delta(ev)
        elif type(ev) is BookSnapshot:
            books.on_snapshot(ev)
    p = Portfolio([ins(SYM, leverage=5)], cash={"USDT": "100000"})
    b = PaperBroker(books, load_markets_offline(), p, FeeSchedule(), latency_ns=0)
    return books, b, p, rest


def _o(cid, side, qty, price, tif="IOC", reduce_only=False):
    return OrderRequest(client_order_id=cid, parent_id="p", symbol=SYM, side=side, qty=D(qty),
                        price=D(price) if price is not None else None, tif=tif,
                        reduce_only=reduce_only)


def _submit(b, o, now=0):
    b.submit(o, now)
    return b.on_time(now)


def test_marketable_buy_walks_the_asks_and_takes_each_level_once(synced):
    books, b, p, _ = synced
    asks = list(books.syncs[SYM].book.walk("ask"))[:3]
    want = to_decimal(asks[0][1]) + to_decimal(asks[1][1]) / 2
    out = _submit(b, _o("a1", "buy", str(want), str(asks[2][0])))
    fills = [e for e in out if isinstance(e, Fill)]
    assert [(f.price, f.qty) for f in fills] == [
        (to_decimal(asks[0][0]), to_decimal(asks[0][1])),
        (to_decimal(asks[1][0]), to_decimal(asks[1][1]) / 2)]
    assert out[-1].status == "filled"
    # the same book state again: the first level is gone for us, half the second is left
    out2 = _submit(b, _o("a2", "buy", str(to_decimal(asks[1][1])), str(asks[2][0])))
    f2 = [e for e in out2 if isinstance(e, Fill)]
    assert f2[0].price == to_decimal(asks[1][0]) and f2[0].qty == to_decimal(asks[1][1]) / 2
    assert all(f.price != to_decimal(asks[0][0]) for f in f2)


def test_limit_caps_the_walk_and_ioc_remainder_expires(synced):
    books, b, p, _ = synced
    best = books.syncs[SYM].book.best_ask()
    out = _submit(b, _o("c1", "buy", str(to_decimal(best[1]) + 5), str(best[0])))
    assert sum(f.qty for f in out if isinstance(f, Fill)) == to_decimal(best[1])
    assert out[-1].status == "expired" and out[-1].filled_qty == to_decimal(best[1])


def test_fee_is_taker_bps_of_notional_in_settle_currency(synced):
    books, b, p, _ = synced
    best = books.syncs[SYM].book.best_ask()
    (f, *_) = _submit(b, _o("f1", "buy", "0.002", str(best[0])))
    assert f.fee == (D("0.002") * to_decimal(best[0]) * D("5") / D(10000)).quantize(D("1e-8"))
    assert f.fee_currency == "USDT" and f.liquidity == "taker"


@pytest.mark.parametrize("order, code", [
    (_o("r1", "buy", "0.0001", "60000"), -4003),
    (_o("r2", "buy", "0.0015", "61000"), -1111),
    (_o("r3", "buy", "0.001", "1000"), -4164),
    (_o("r4", "sell", "0.01", "61000", reduce_only=True), -2022),
    (_o("r5", "buy", "9", "61900"), -2019),
])
def test_venue_rejections_carry_binance_codes(synced, order, code):
    _, b, _, _ = synced
    (upd,) = _submit(b, order)
    assert isinstance(upd, OrderUpdate) and upd.status == "rejected" and upd.code == code


def test_duplicate_client_id_is_rejected(synced):
    books, b, _, _ = synced
    best = books.syncs[SYM].book.best_ask()
    _submit(b, _o("dup", "buy", "0.001", str(best[0])))
    (upd,) = _submit(b, _o("dup", "buy", "0.001", str(best[0])))
    assert upd.code == -4116


def test_post_only_that_would_take_is_rejected(synced):
    books, b, _, _ = synced
    best = books.syncs[SYM].book.best_ask()
    (upd,) = _submit(b, _o("g1", "buy", "0.001", str(best[0]), tif="GTX"))
    assert upd.code == -5022


def test_resting_bid_fills_only_after_the_queue_ahead_trades(synced):
    books, b, p, rest = synced
    bid_px, bid_qty = books.syncs[SYM].book.best_bid()
    (acc,) = _submit(b, _o("q1", "buy", "0.01", str(bid_px), tif="GTX"))
    assert acc.status == "accepted" and b.resting["q1"].queue_ahead == to_decimal(bid_qty)
    ahead = to_decimal(bid_qty)
    t1 = Trade(exchange="binanceusdm", symbol=SYM, ts_event=1, ts_recv=1, trade_id=1,
               price=bid_px, size=float(ahead - D("0.001")), taker_side="sell")
    assert b.on_trade(t1) == []
    t2 = Trade(exchange="binanceusdm", symbol=SYM, ts_event=2, ts_recv=2, trade_id=2,
               price=bid_px, size=0.005, taker_side="sell")
    f, upd = b.on_trade(t2)
    assert f.qty == D("0.004") and f.liquidity == "maker" and upd.status == "partially_filled"
    t3 = Trade(exchange="binanceusdm", symbol=SYM, ts_event=3, ts_recv=3, trade_id=3,
               price=bid_px - 1.0, size=0.001, taker_side="sell")
    f, upd = b.on_trade(t3)  # traded through: the rest of our order is gone
    assert f.qty == D("0.006") and upd.status == "filled" and "q1" not in b.resting


def test_latency_delays_arrival_and_cancel(synced):
    books, _, p, rest = synced
    b = PaperBroker(books, load_markets_offline(), p, latency_ns=5 * MS)
    bid_px, _ = books.syncs[SYM].book.best_bid()
    b.submit(_o("l1", "buy", "0.001", str(bid_px), tif="GTX"), 0)
    assert b.on_time(4 * MS) == [] and b.in_flight == 1
    (acc,) = b.on_time(5 * MS)
    assert acc.status == "accepted"
    b.cancel("l1", 6 * MS)
    assert b.on_time(10 * MS) == []
    (c,) = b.on_time(11 * MS)
    assert c.status == "canceled" and not b.resting
    (late,) = (b.cancel("l1", 12 * MS), b.on_time(20 * MS))[1]
    assert late.status == "cancel_rejected" and late.code == -2011


def test_a_feed_update_of_a_level_gives_back_its_liquidity(synced):
    books, b, _, rest = synced
    best = books.syncs[SYM].book.best_ask()
    _submit(b, _o("x1", "buy", str(to_decimal(best[1])), str(best[0])))
    assert b.consumed[SYM][best[0]] == to_decimal(best[1])
    d = next(e for e in rest if type(e) is BookDelta and any(p == best[0] for p, _ in e.asks))
    b.on_delta(d)
    assert best[0] not in b.consumed[SYM]
