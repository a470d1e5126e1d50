"""The real ccxt.pro `bybit` client against the local Bybit v5 exchange (scripts/local_bybit.py)
replaying Bybit's own recorded XRPUSDT book: the engine's live book, read through its Bybit
decoder with the venue's `u`/`seq` checks, equals the recorded book; a lost delta is caught
and healed by a fresh subscription (which ccxt.pro alone does not notice); best bid/ask from
`orderbook.1` stays apart from the 50-level book."""

from __future__ import annotations

import asyncio
import sys

import orjson
import pytest

from engine.book.manager import BookManager
from engine.book.sync import APPLIED, SYNCED
from engine.core.clock import LiveClock
from engine.feeds.capture import CaptureStats
from engine.feeds.live import LiveEndpoints, LiveFeed, make_exchange
from engine.model import BestBidAsk, BookDelta, BookSnapshot, BookStatus
from engine.venues.bybit.recording import read_bybit_recording
from tests.conftest import ROOT, shared
from tests.helpers import wait_until

sys.path.insert(0, str(ROOT / "scripts"))
from local_bybit import LocalBybit  # noqa: E402

SYM = "XRP/USDT:USDT"
DEPTH = 50
# the frame of the first subscription left out: a delta whose loss the later deltas do not
# hide (its levels pushed out are never deleted)
LOST = 8


@pytest.fixture(scope="module")
def recording():
    return shared("nautilus_trader", "tests", "test_data", "bybit", "xrpusdt-ob500.data.zip")


def _recorded_tops(path, depth: int) -> list[tuple]:
    """The recorded 500-level book, through the replay path, as its top `depth` levels after
    every recorded message (consecutive repeats folded: the venue sends no delta for them)."""
    stats = CaptureStats(path=str(path), market="", symbol=None)
    books = BookManager()
    out: list[tuple] = []
    for ev in read_bybit_recording(str(path), stats):
        if type(ev) is BookSnapshot:
            books.on_snapshot(ev)
        else:
            assert books.on_delta(ev)[0] == APPLIED
        top = _top(books, depth)
        if not out or out[-1] != top:
            out.append(top)
    return out


def _top(books: BookManager, depth: int) -> tuple:
    bids, asks = books.syncs[SYM].book.depth(depth)
    return tuple(bids), tuple(asks)


async def _run(ex: LocalBybit, done, tickers: bool = False, sink: list | None = None):
    """A LiveFeed on the real ccxt.pro bybit client pointed at `ex` until `done(feed)`; returns
    (feed, events, the engine book's top after every book event, book statuses)."""
    port = await ex.start()
    client = make_exchange(LiveEndpoints(ws_linear=f"ws://127.0.0.1:{port}/v5/public/linear",
                                         rest_base=f"http://127.0.0.1:{port}"), "bybit")
    books = BookManager()
    got, tops, statuses = (sink if sink is not None else []), [], []

    def emit(ev) -> None:
        got.append(ev)
        if type(ev) is BookSnapshot:
            out, st = books.on_snapshot(ev)
        elif type(ev) is BookDelta:
            out, st = books.on_delta(ev)
        else:
            return
        if st is not None:
            statuses.append(st)
        if out in (APPLIED, SYNCED):
            tops.append(_top(books, DEPTH))

    feed = LiveFeed(client, [SYM], emit, LiveClock(), depth=DEPTH, tickers=tickers,
                    trades=False, marks=False, venue="bybit")
    task = asyncio.create_task(feed.run())
    try:
        await wait_until(lambda: done(feed) or task.done(), "the feed to take the recording")
        if task.done():
            task.result()  # a failure of the feed's own, raised here
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await client.close()
        await ex.stop()
    return feed, got, tops, statuses


def _sync(feed):
    return feed.book_frames.syncs().get(SYM) if feed.book_frames is not None else None


def _last_u(ex: LocalBybit) -> int:
    return len(ex.stream(DEPTH, "XRPUSDT"))


async def test_the_live_book_equals_the_recorded_book_at_every_update(recording):
    ex = LocalBybit(recording)
    feed, got, tops, statuses = await _run(
        ex, lambda f: _sync(f) is not None and _sync(f).last_u == _last_u(ex))
    want = _recorded_tops(recording, DEPTH)
    sync = _sync(feed)
    print(f"\nbybit live: {len(tops)} book states, {sync.report()}")
    assert tops == want  # every state, in order: nothing lost, nothing extra
    assert sync.report() == {"sequence_checked": _last_u(ex) - 1, "sequence_breaks": 0,
                             "depth_checked": _last_u(ex), "depth_faults": 0}
    assert [s.valid for s in statuses] == [True]
    assert feed.taps["bybit"].invalid == 0 and ex.subscriptions == {"orderbook.50.XRPUSDT": 1}


async def test_a_lost_delta_invalidates_the_book_and_a_new_subscription_heals_it(recording):
    ex = LocalBybit(recording)
    ex.drop_frame = (DEPTH, LOST)
    feed, got, tops, statuses = await _run(
        ex, lambda f: _sync(f) is not None and _sync(f).syncs == 2
        and _sync(f).last_u == _last_u(ex))
    sync = _sync(feed)
    print(f"\nbybit live, one delta lost: {sync.report()}, statuses "
          f"{[(s.valid, s.reason) for s in statuses]}")
    assert sync.gaps == 1
    assert [(s.valid, s.reason) for s in statuses] == [(True, "synced"), (False, "gap"),
                                                      (True, "synced")]
    assert ex.subscriptions["orderbook.50.XRPUSDT"] == 2
    want = _recorded_tops(recording, DEPTH)
    assert tops[:LOST] == want[:LOST]  # up to the loss, the recorded book
    assert tops[-len(want):] == want  # the second subscription: the recorded book throughout
    assert feed.reconnects == 1


async def test_ccxt_pro_alone_keeps_a_wrong_book_after_a_lost_delta(recording):
    """Why the engine reads Bybit's book frames itself: ccxt.pro applies the delta after a lost
    one without complaint, and its book ends unlike the venue's."""
    ex = LocalBybit(recording)
    ex.drop_frame = (DEPTH, LOST)
    port = await ex.start()
    client = make_exchange(LiveEndpoints(ws_linear=f"ws://127.0.0.1:{port}/v5/public/linear",
                                         rest_base=f"http://127.0.0.1:{port}"), "bybit")
    last_ts = orjson.loads(ex.stream(DEPTH, "XRPUSDT")[-1])["ts"]  # no other frame has it
    try:
        ob = await client.watch_order_book(SYM, DEPTH)  # subscribes; ccxt updates `ob` in place
        await wait_until(lambda: ob["timestamp"] == last_ts, "ccxt to take every frame")
    finally:
        await client.close()
        await ex.stop()
    want = _recorded_tops(recording, DEPTH)[-1]
    ccxt_top = (tuple((float(p), float(q)) for p, q in ob["bids"][:DEPTH]),
                tuple((float(p), float(q)) for p, q in ob["asks"][:DEPTH]))
    assert ccxt_top != want
    assert len(ob["bids"]) > DEPTH and len(ob["asks"]) > DEPTH  # levels the venue deleted


async def test_best_bid_ask_and_the_deep_book_stay_apart(recording):
    """ccxt.pro writes `orderbook.1` and `orderbook.50` into one cache; through the engine's
    decoder each best bid/ask is the recorded top of book and the 50-level book is untouched."""
    ex = LocalBybit(recording)
    n_top = len(ex.stream(1, "XRPUSDT"))

    def done(f):
        return (_sync(f) is not None and _sync(f).last_u == _last_u(ex)
                and f.taps["bybit"].frames >= _last_u(ex) + n_top)

    feed, got, tops, _ = await _run(ex, done, tickers=True)
    want = _recorded_tops(recording, DEPTH)
    assert tops == want
    bbos = [e for e in got if type(e) is BestBidAsk]
    recorded_tops = {(b[0], a[0]) for b, a in want}
    assert len(bbos) == n_top
    for e in bbos:
        assert ((e.bid_price, e.bid_size), (e.ask_price, e.ask_size)) in recorded_tops
    assert bbos[-1].update_id == n_top
    assert ((bbos[-1].bid_price, bbos[-1].bid_size), (bbos[-1].ask_price, bbos[-1].ask_size)) \
        == (want[-1][0][0], want[-1][1][0])
    assert ex.subscriptions == {"orderbook.50.XRPUSDT": 1, "orderbook.1.XRPUSDT": 1}


def test_bybit_feed_refuses_what_is_not_wired_in_one_line():
    with pytest.raises(ValueError, match="only linear perpetuals"):
        LiveFeed(None, ["XRP/USDT"], lambda e: None, LiveClock(), venue="bybit", trades=False,
                 marks=False)
    with pytest.raises(ValueError, match="turn trades"):
        LiveFeed(None, [SYM], lambda e: None, LiveClock(), venue="bybit")
    with pytest.raises(ValueError, match="expected binance, bybit or okx"):
        LiveFeed(None, [SYM], lambda e: None, LiveClock(), venue="kraken")


async def test_a_resubscription_keeps_the_other_streams_of_the_connection_going(recording):
    """The resubscription closes the connection the book shared with the best bid/ask stream:
    that stream's watch fails like any dropped connection and subscribes again, so both come
    back (the feed's task never ends) and the book heals."""
    ex = LocalBybit(recording)
    ex.drop_frame = (DEPTH, LOST)
    n_top = len(ex.stream(1, "XRPUSDT"))
    seen: list = []

    def done(f):
        s = _sync(f)
        return (s is not None and s.syncs == 2 and s.last_u == _last_u(ex)
                and ex.subscriptions.get("orderbook.1.XRPUSDT") == 2
                and sum(type(e) is BestBidAsk for e in seen) >= n_top + 1)

    feed, got, tops, statuses = await _run(ex, done, tickers=True, sink=seen)
    assert feed.book_frames.syncs()[SYM].gaps == 1
    assert [(s.valid, s.reason) for s in statuses] == [(True, "synced"), (False, "gap"),
                                                      (True, "synced")]
    want = _recorded_tops(recording, DEPTH)
    assert tops[-len(want):] == want
    assert ex.subscriptions == {"orderbook.50.XRPUSDT": 2, "orderbook.1.XRPUSDT": 2}
    assert feed.reconnects >= 2  # the book's watch and the best bid/ask's, each once
