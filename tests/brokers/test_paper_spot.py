"""The paper broker on a real spot book (the bundled Binance spot BTCUSDT capture): fills level
by level on the spot book with spot rules (lot 0.00001, minimum notional 10) and spot fees, and
a spot wallet that cannot sell what it does not hold or buy with money it does not have
(Binance's -2010)."""

from __future__ import annotations

from decimal import ROUND_HALF_UP
from decimal import Decimal as D

import pytest

from engine.book.manager import BookManager
from engine.brokers.paper import PaperBroker
from engine.core.numeric import to_decimal
from engine.execution.markets import load_markets_for
from engine.feeds.capture import read_capture
from engine.model import BookDelta, BookSnapshot, Fill, OrderRequest, OrderUpdate
from engine.portfolio.instruments import instrument_from_symbol as ins
from engine.portfolio.state import Portfolio
from tests.conftest import ROOT

SPOT_BTC = ROOT / "scripts" / "data" / "hftbacktest" / "spot" / "btcusdt_20240808.gz"
SYM = "BTC/USDT"


@pytest.fixture()
def spot():
    books = BookManager()
    for ev in read_capture(str(SPOT_BTC)):
        if type(ev) is BookDelta:
            books.on_delta(ev)
        elif type(ev) is BookSnapshot:
            books.on_snapshot(ev)
        if SYM in books.syncs and books.syncs[SYM].valid and books.syncs[SYM].applied > 200:
            break
    p = Portfolio([ins(SYM)], cash={"USDT": "5000"}, holdings={"BTC": "0.05"})
    b = PaperBroker(books, load_markets_for([SYM]), p, latency_ns=0)
    return books, b, p


def _run(b, p, cid, side, qty, price):
    b.submit(OrderRequest(client_order_id=cid, parent_id="p", symbol=SYM, side=side,
                          qty=D(qty), price=D(price), tif="IOC"), 0)
    out = b.on_time(0)
    for e in out:
        if isinstance(e, Fill):
            p.apply(e)
    return [e for e in out if isinstance(e, Fill)], [e for e in out if isinstance(e, OrderUpdate)]


def test_a_spot_sell_walks_the_bids_with_spot_fees(spot):
    books, b, p = spot
    bids = list(books.syncs[SYM].book.walk("bid"))
    qty = (to_decimal(bids[0][1]) + D("0.00001")).quantize(D("0.00001"))
    if qty > D("0.05"):
        qty = D("0.05")
    fills, _ = _run(b, p, "s1", "sell", str(qty), str(bids[5][0]))
    assert fills and sum(f.qty for f in fills) == qty
    assert fills[0].price == to_decimal(bids[0][0])
    for f in fills:  # 10 bps of the notional, in USDT
        assert f.fee == (f.qty * f.price * D("0.001")).quantize(D("1e-8"), ROUND_HALF_UP)
        assert f.fee_currency == "USDT"
    assert p.holdings["BTC"] == D("0.05") - qty


def test_selling_more_than_held_is_2010(spot):
    books, b, p = spot
    bid = books.syncs[SYM].book.top()[0]
    fills, ups = _run(b, p, "s2", "sell", "0.05001", repr(bid))
    assert not fills and ups[0].status == "rejected" and ups[0].code == -2010
    assert p.holdings["BTC"] == D("0.05")


def test_buying_beyond_the_usdt_held_is_2010(spot):
    books, b, p = spot
    ask = books.syncs[SYM].book.top()[2]
    too_much = (D(5000) / to_decimal(ask)).quantize(D("0.00001"))  # 5,000 USDT + fee > cash
    fills, ups = _run(b, p, "b1", "buy", str(too_much), repr(round(ask * 1.001, 2)))
    assert not fills and ups[0].code == -2010
    fills, ups = _run(b, p, "b2", "buy", "0.01", repr(round(ask * 1.001, 2)))
    assert fills and p.cash["USDT"] > 0
