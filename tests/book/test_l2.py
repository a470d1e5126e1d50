"""The L2 book's queries, on a real Binance snapshot, and its best price under random updates."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.book._side import BookSide
from engine.book.l2 import L2Book
from engine.venues.binance.frames import BinanceDecoder
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
# one diff = several levels of both sides, so a best level deleted and re-added (or bettered)
# within the same diff is exercised as well as one level at a time
diffs = st.lists(st.lists(st.tuples(st.booleans(), prices, sizes), max_size=6), max_size=150)


@settings(max_examples=300, deadline=None)
@given(diffs)
def test_best_prices_match_a_full_scan_after_any_update_sequence(batches):
    book = L2Book("X")
    bids: dict[float, float] = {}
    asks: dict[float, float] = {}
    for i, ops in enumerate(batches):
        for is_bid, p, q in ops:
            ref = bids if is_bid else asks
            if q == 0.0:
                ref.pop(p, None)
            else:
                ref[p] = q
        book.apply([(p, q) for b, p, q in ops if b], [(p, q) for b, p, q in ops if not b], i)
        bb, ba = book.best_bid(), book.best_ask()
        assert bb == ((max(bids), bids[max(bids)]) if bids else None)
        assert ba == ((min(asks), asks[min(asks)]) if asks else None)
    assert book.bids == bids and book.asks == asks
    assert book.levels("bid") == sorted(bids.items(), reverse=True)
    assert list(book.walk("bid")) == sorted(bids.items(), reverse=True)
    assert list(book.walk("ask")) == sorted(asks.items())
    assert book.depth(3) == (sorted(bids.items(), reverse=True)[:3], sorted(asks.items())[:3])


def test_a_side_emptied_by_churn_has_no_best_and_rescans_only_when_the_best_goes():
    book = L2Book("X")
    for i in range(20_000):
        p = 100.0 + (i % 5000) / 100
        book.apply([(p, 1.0)], [], 2 * i)
        book.apply([(p, 0.0)], [], 2 * i + 1)
    assert book.best_bid() is None and book.bids == {}
    assert book.rescans == 20_000  # every delete took the only (best) level
    assert book.bids.capacity == 64  # deletions leave no tombstones: the table never grew
    book.load([(10.0, 1.0), (9.0, 1.0)], [(11.0, 1.0)], 1)
    book.apply([(9.0, 0.0), (8.0, 2.0)], [(12.0, 1.0)], 2)  # nothing at the top moved
    assert book.rescans == 20_000 and book.top() == (10.0, 1.0, 11.0, 1.0)


def test_every_diff_taking_the_best_away_keeps_the_best_exact():
    """Each diff deletes the best bid, adds one just below it and resizes the next three."""
    book = L2Book("X")
    book.load([(float(p), 1.0) for p in range(1, 101)], [(200.0, 1.0)], 0)
    for i in range(4000):
        best = book.best_bid()[0]
        resized = [(p, 1.0 + i % 2) for p, _ in book.depth(4)[0][1:4]]
        book.apply([(best, 0.0), (best - 0.001, 1.0), *resized], [], i + 1)
        assert book.best_bid()[0] == max(book.bids)
    assert book.rescans == 4000


def test_a_deleted_best_is_not_replaced_by_a_deletion_beyond_it():
    """The best goes, then a price beyond it is deleted (absent: venues send such zeros):
    the side must still look for the real next best."""
    book = L2Book("X")
    book.load([(10.0, 1.0), (9.0, 1.0)], [(11.0, 1.0), (12.0, 1.0)], 1)
    book.apply([(10.0, 0.0), (10.5, 0.0)], [(11.0, 0.0), (10.9, 0.0)], 2)
    assert book.top() == (9.0, 1.0, 12.0, 1.0)


side_ops = st.lists(st.tuples(st.integers(0, 2000), st.sampled_from([0.0, 0.0, 1.0, 2.5])),
                    max_size=400)


@settings(max_examples=200, deadline=None)
@given(st.booleans(), st.lists(side_ops, max_size=30), st.integers(1, 50))
def test_book_side_equals_a_dict_under_collisions_growth_and_deletes(is_bid, batches, k):
    """The C hash table against a dict: prices on a 0.01 grid collide and probe runs shift back
    on deletion; the best, the levels, membership and the best k stay equal after every diff."""
    side = BookSide(is_bid)
    ref: dict[float, float] = {}
    for ops in batches:
        levels = tuple((100.0 + i / 100, q) for i, q in ops)
        side.apply(levels if len(levels) % 2 else list(levels))  # the tuple path and the other
        for p, q in levels:
            if q:
                ref[p] = q
            else:
                ref.pop(p, None)
        assert side.best == ((max(ref) if is_bid else min(ref)) if ref
                             else (float("-inf") if is_bid else float("inf")))
        assert len(side) == len(ref) and side.to_dict() == ref
        assert side.top(k) == sorted(ref.items(), reverse=is_bid)[:k]
        assert all(p in side and side[p] == q for p, q in ref.items())
    assert 101.5 not in side or 101.5 in ref


@pytest.mark.parametrize("level", [(0.0, 1.0), (-1.0, 1.0), (float("nan"), 1.0),
                                   (float("inf"), 1.0), (1.0, -1.0), (1.0, float("nan"))])
def test_book_side_refuses_levels_no_venue_sends(level):
    side = BookSide(True)
    with pytest.raises(ValueError, match="book (price|size)"):
        side.apply((level,))
    assert len(side) == 0


def test_a_level_refused_midway_leaves_the_best_price_true_of_what_was_written():
    """The diff deletes the best, then a level is refused: the deletion stands and the best is
    the next live level, not the deleted one."""
    side = BookSide(True)
    side.load(((100.0, 1.0), (99.0, 1.0)))
    with pytest.raises(ValueError):
        side.apply(((100.0, 0.0), (-1.0, 1.0)))
    assert side.best == 99.0 and side.best_level() == (99.0, 1.0) and 100.0 not in side
    side.apply(((99.0, 0.0),))
    assert side.best_level() is None and side.best == float("-inf")
    assert side.get("not a price") is None and "x" not in side
