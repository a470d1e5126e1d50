"""Faults on the live path, with the real ccxt.pro client: the server cuts the WebSocket, a
depth diff goes missing (sequence gap), a stream stalls. The feed recovers and its books still
equal the replay books at the same update ids."""

from __future__ import annotations

import asyncio
import sys

from engine.core.clock import LiveClock
from engine.feeds.live import LiveEndpoints, LiveFeed, make_exchange
from engine.model import BookSnapshot
from tests.conftest import ROOT, USDM_BTC
from tests.live.test_live_feed import SYM, _replay_tops, run_feed

sys.path.insert(0, str(ROOT / "scripts"))
from local_exchange import LocalExchange  # noqa: E402


async def _session(fault, speed=30, until=0.45):
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
    assert len(books) > 300 and len(late) > 100, "books kept coming, true, after the cut"


async def test_sequence_gap_makes_ccxt_resnapshot_and_books_stay_true():
    async def gap(ex):
        ex.skip_depth["btcusdt"] = 1

    ex, feed, got = await _session(gap)
    assert ex.skipped == 1
    books = _check_books(got)
    assert len(books) > 300
    # ccxt raised on the broken chain; the feed backed off, resubscribed and re-snapshotted
    assert feed.reconnects >= 1


async def test_stalled_stream_shows_in_the_feed_age():
    clock = LiveClock()
    ages = {}

    async def stall(ex):
        ex.stalled.add(("btcusdt", "bookTicker"))
        await asyncio.sleep(1.0)
        ages["ticker"] = (clock.now_ns() - feed_ref[0].age[(SYM, "ticker")]) / 1e9
        ages["book"] = (clock.now_ns() - feed_ref[0].age[(SYM, "book")]) / 1e9
        ex.stalled.clear()

    feed_ref = []
    ex = LocalExchange([USDM_BTC], speed=30)
    port = await ex.start()
    client = make_exchange(LiveEndpoints(ws_linear=f"ws://127.0.0.1:{port}/ws",
                                         rest_base=f"http://127.0.0.1:{port}"))
    feed = LiveFeed(client, [SYM], lambda e: None, clock, depth=5, trades=False)
    feed_ref.append(feed)
    task = asyncio.create_task(feed.run())
    try:
        while ex.position < len(ex.frames) // 10:
            await asyncio.sleep(0.05)
        await stall(ex)
        await asyncio.sleep(0.5)
        fresh = (clock.now_ns() - feed.age[(SYM, "ticker")]) / 1e9
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await client.close()
        await ex.stop()
    assert ages["ticker"] >= 0.9 and ages["book"] < 0.5  # only the stalled stream aged
    assert fresh < 0.5  # and it is fresh again once the stream resumes
