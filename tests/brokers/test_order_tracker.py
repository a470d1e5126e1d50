"""The live order state machine, without sockets: fills once by trade id from any source, the
final state only after its fills, nothing after the end, and cancels of orders whose answer
was lost."""

from __future__ import annotations

from decimal import Decimal as D

from engine.brokers.order_tracker import OrderTracker
from engine.model.events import Fill
from engine.model.orders import OrderRequest, OrderUpdate

SYM = "BTC/USDT:USDT"


def _order(cid="p-1", qty="0.010"):
    return OrderRequest(client_order_id=cid, parent_id="p", symbol=SYM, side="sell",
                        qty=D(qty), price=D("61800"), tif="GTX")


def _fill(tid, qty, cid="p-1"):
    return Fill(exchange="binanceusdm", symbol=SYM, ts_event=1, ts_recv=1, order_id=cid,
                trade_id=tid, side="sell", qty=D(qty), price=D("61800"), fee=D("0.1"),
                fee_currency="USDT", liquidity="maker")


def test_a_fill_reported_by_stream_and_rest_is_taken_once():
    t = OrderTracker()
    t.submit(_order())
    assert t.fill(_fill("7", "0.004")) == [_fill("7", "0.004")]
    assert t.fill(_fill("7", "0.004")) == []  # the same trade again, from REST
    assert t.filled("p-1") == D("0.004")


def test_the_end_waits_for_its_fills_and_comes_once():
    t = OrderTracker()
    o = _order()
    t.submit(o)
    assert [u.status for u in t.accepted(o, D(0), 1)] == ["accepted"]
    assert t.end("p-1", SYM, "filled", D("0.010"), 2) == []  # the stream's end came first
    assert not t.is_final("p-1")
    assert t.fill(_fill("1", "0.006")) == [_fill("1", "0.006")]  # still short
    out = t.fill(_fill("2", "0.004"))
    assert out[0] == _fill("2", "0.004") and isinstance(out[1], OrderUpdate)
    assert (out[1].status, out[1].filled_qty) == ("filled", D("0.010"))
    assert t.end("p-1", SYM, "filled", D("0.010"), 3) == []  # REST says it again: nothing
    assert t.accepted(o, D("0.010"), 4) == []  # a late "open" answer changes nothing
    assert t.to_cancel("p-1") is None and "p-1" not in t.resting


def test_an_order_whose_answer_was_lost_can_still_be_cancelled():
    t = OrderTracker()
    o = _order("p-2")
    t.submit(o)  # sent; no answer ever reached us
    assert t.to_cancel("p-2") is o
    assert [u.status for u in t.refused("p-3", SYM, "unsent", 0, "never arrived", 1)] == \
        ["unsent"]
    assert t.refused("p-3", SYM, "rejected", -2019, "late", 2) == []  # final stays final
