"""Faults on the live path, with the real ccxt.pro client: the server cuts the WebSocket, a
depth diff goes missing (sequence gap), a stream stalls. The feed recovers and its books still
equal the replay books at the same update ids."""

from __future__ import annotations

import asyncio
import sys

from engine.core.clock import LiveClock
from engine.feeds.live import LiveEndpoints, LiveFeed, make_exchange
from engine.model import BestBidAsk, BookSnapshot
from tests.conftest import ROOT, USDM_BTC
from tests.helpers import wait_until
from tests.live.test_live_feed import SYM, _replay_tops, run_feed

sys.path.insert(0, str(ROOT / "scripts"))
from local_exchange import LocalExchange  # noqa: E402


async def _session(fault, speed=10, until=0.25):
    ex = LocalExchange([USDM_BTC], speed=speed)
    feed, got = await run_feed(ex, until, fault, depth=5, trades=False)
    return ex, feed, got


def _check_books(got, after_ts=None):
    tops, _, _ = _replay_tops()
    books = [e for e in got if type(e) is BookSnapshot]
    for b in books:
        assert tops[b.update_id] == (b.bids[0][0], b.bids[0][1], b.asks[0][0], b.asks[0][1])
    return books


async def test_server_drops_the_websocket_and_the_feed_reconnects():
    cut_at = {}

    async def cut(ex):
        cut_at["u"] = ex.books["btcusdt"].book.update_id
        assert await ex.drop_connections() >= 1

    ex, feed, got = await _session(cut)
    books = _check_books(got)
    late = [b for b in books if b.update_id > cut_at["u"]]
    assert feed.reconnects >= 1
    # ccxt.pro hands over the latest book when awaited: a loaded machine sees fewer of them
    assert len(books) > 20 and len(late) > 10, "books kept coming, true, after the cut"


async def test_tickers_read_by_our_decoders_come_back_after_the_server_drops_the_websocket():
    """`decode_frames`: the tapped ticker stream's watch never returns; a cut fails it, the
    feed resubscribes through ccxt, and every ticker sent after the cut arrives, true."""
    cut_at = {}

    async def cut(ex):
        cut_at["n"] = len([1 for (_, kind, _) in ex.sent_at if kind == "bookTicker"])
        assert await ex.drop_connections() >= 1

    ex = LocalExchange([USDM_BTC], speed=10)
    ex.record_sends = True
    feed, got = await run_feed(ex, 0.25, cut, depth=5, trades=False, decode_frames=True)
    _, tickers, _ = _replay_tops()
    bbos = [e for e in got if type(e) is BestBidAsk]
    sent = [u for (_, kind, u) in ex.sent_at if kind == "bookTicker"]
    after = sent[cut_at["n"]:]
    assert feed.reconnects >= 1 and len(after) > 20
    got_ids = [e.update_id for e in bbos]
    assert got_ids[-len(after):] == after  # every one sent after the cut, in order
    assert all(tickers[e.update_id] == (e.bid_price, e.bid_size, e.ask_price, e.ask_size)
               for e in bbos)
    assert feed.taps["usdm"].invalid == 0


async def test_sequence_gap_makes_ccxt_resnapshot_and_books_stay_true():
    async def gap(ex):
        ex.skip_depth["btcusdt"] = 1

    ex, feed, got = await _session(gap)
    assert ex.skipped == 1
    books = _check_books(got)
    assert len(books) > 20
    # ccxt raised on the broken chain; the feed backed off, resubscribed and re-snapshotted
    assert feed.reconnects >= 1


async def test_stalled_stream_shows_in_the_feed_age():
    # Only the stalled stream ages: while 30 more books arrive, no bookTicker does; once the
    # stall ends the ticker is fresh again. Counted in events, not in seconds.
    ex = LocalExchange([USDM_BTC], speed=10)
    port = await ex.start()
    client = make_exchange(LiveEndpoints(ws_linear=f"ws://127.0.0.1:{port}/ws",
                                         rest_base=f"http://127.0.0.1:{port}"))
    books = []
    feed = LiveFeed(client, [SYM], lambda e: books.append(e) if type(e) is BookSnapshot
                    else None, LiveClock(), depth=5, trades=False)
    task = asyncio.create_task(feed.run())
    try:
        await wait_until(lambda: (SYM, "ticker") in feed.age and len(books) > 10,
                         "books and tickers flowing")
        ex.stalled.add(("btcusdt", "bookTicker"))
        n = len(books)
        await wait_until(lambda: len(books) > n + 30, "30 books after the stall began")
        ticker_at = feed.age[(SYM, "ticker")]  # frames in flight at the stall have arrived
        n = len(books)
        await wait_until(lambda: len(books) > n + 30, "30 more books")
        assert feed.age[(SYM, "ticker")] == ticker_at  # the stalled stream aged
        assert feed.age[(SYM, "book")] > ticker_at  # the others did not
        ex.stalled.clear()
        await wait_until(lambda: feed.age[(SYM, "ticker")] > ticker_at,
                         "the ticker fresh again once the stream resumes")
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await client.close()
        await ex.stop()
