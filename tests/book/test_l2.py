"""The L2 book's queries, on a real Binance snapshot, and its best price under random updates."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.book.l2 import L2Book
from engine.feeds.binance import BinanceDecoder
from engine.model import BookSnapshot


@pytest.fixture(scope="module")
def snapshot(usdm_btc_lines) -> BookSnapshot:
    line = next(x for x in usdm_btc_lines if b"lastUpdateId" in x)
    ts, _, payload = line.partition(b" ")
    return BinanceDecoder("usdm", "BTC/USDT:USDT").decode_frame(payload, int(ts))


@pytest.fixture()
def book(snapshot) -> L2Book:
    b = L2Book("BTC/USDT:USDT")
    b.load(snapshot.bids, snapshot.asks, snapshot.update_id)
    return b


def test_top_mid_spread_from_the_recorded_snapshot(book):
    assert book.best_bid() == (61800.2, 2.909)
    assert book.best_ask()[0] == 61800.3
    assert book.mid() == Decimal("61800.25")
    assert book.spread() == Decimal("0.1")
    assert len(book.bids) == len(book.asks) == 1000


def test_depth_returns_best_levels_in_order(book, snapshot):
    bids, asks = book.depth(5)
    assert bids == list(snapshot.bids[:5]) and asks == list(snapshot.asks[:5])


def test_cost_to_fill_walks_levels_in_exact_decimals(book, snapshot):
    want = sum(Decimal(repr(q)) for _, q in snapshot.asks[:3]) + Decimal("0.001")
    est = book.cost_to_fill("ask", want)
    expect = sum(Decimal(repr(p)) * Decimal(repr(q)) for p, q in snapshot.asks[:3])
    expect += Decimal(repr(snapshot.asks[3][0])) * Decimal("0.001")
    assert est.complete and est.levels == 4 and est.cost == expect
    assert est.worst_price == Decimal(repr(snapshot.asks[3][0]))
    assert est.average_price == expect / want


def test_cost_to_fill_more_than_the_side_holds_is_partial(book, snapshot):
    total = sum(Decimal(repr(q)) for _, q in snapshot.bids)
    est = book.cost_to_fill("bid", total + 1)
    assert not est.complete and est.filled == total and est.levels == 1000


def test_cost_to_fill_rejects_bad_arguments(book):
    with pytest.raises(ValueError):
        book.cost_to_fill("ask", 0)
    with pytest.raises(ValueError):
        book.cost_to_fill("buy", 1)


def test_removing_the_best_level_exposes_the_next(book, snapshot):
    p0, p1 = snapshot.bids[0][0], snapshot.bids[1][0]
    book.apply([(p0, 0.0)], [], snapshot.update_id + 1)
    assert book.best_bid() == (p1, snapshot.bids[1][1])
    book.apply([(p0, 1.5)], [], snapshot.update_id + 2)
    assert book.best_bid() == (p0, 1.5)


prices = st.integers(min_value=1, max_value=400).map(lambda i: i / 4)
sizes = st.sampled_from([0.0, 0.0, 0.001, 0.5, 3.0])
updates = st.lists(st.tuples(st.booleans(), prices, sizes), max_size=400)


@settings(max_examples=300, deadline=None)
@given(updates, st.sampled_from([1, 2, 4, 64]))
def test_best_prices_match_a_full_scan_after_any_update_sequence(ops, cache_size):
    book = L2Book("X", cache_size=cache_size)
    bids: dict[float, float] = {}
    asks: dict[float, float] = {}
    for i, (is_bid, p, q) in enumerate(ops):
        ref = bids if is_bid else asks
        if q == 0.0:
            ref.pop(p, None)
        else:
            ref[p] = q
        book.apply([(p, q)] if is_bid else [], [] if is_bid else [(p, q)], i)
        bb, ba = book.best_bid(), book.best_ask()
        assert bb == ((max(bids), bids[max(bids)]) if bids else None)
        assert ba == ((min(asks), asks[min(asks)]) if asks else None)
        assert len(book._bid_top) <= 2 * book.cache_size  # the cache stays bounded
    assert book.bids == bids and book.asks == asks
    assert book.levels("bid") == sorted(bids.items(), reverse=True)
    assert list(book.walk("bid")) == sorted(bids.items(), reverse=True)
    assert list(book.walk("ask")) == sorted(asks.items())


def test_cache_stays_bounded_under_level_churn():
    book = L2Book("X")
    for i in range(20_000):
        p = 100.0 + (i % 5000) / 100
        book.apply([(p, 1.0)], [], 2 * i)
        book.apply([(p, 0.0)], [], 2 * i + 1)
    assert book.best_bid() is None and not book._bid_top
