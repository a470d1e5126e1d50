"""The real ccxt.pro client against the local exchange replaying the recorded captures: the
books it keeps match our replay books, and bookTicker and trades arrive as the same events."""

from __future__ import annotations

import asyncio
import sys


from engine.book.sync import BookSync
from engine.core.clock import LiveClock
from engine.feeds.capture import read_capture
from engine.feeds.live import LiveEndpoints, LiveFeed, make_exchange
from engine.model import BestBidAsk, BookDelta, BookSnapshot, Trade
from tests.conftest import ROOT, USDM_BTC

sys.path.insert(0, str(ROOT / "scripts"))
from local_exchange import LocalExchange  # noqa: E402

SYM = "BTC/USDT:USDT"


def _replay_tops() -> tuple[dict[int, tuple], dict[int, tuple], dict[int, tuple]]:
    """Our own decoders and book over the same recording: top by update id, tickers, trades."""
    sync = BookSync(SYM, "futures")
    tops, tickers, trades = {}, {}, {}
    for ev in read_capture(str(USDM_BTC)):
        if type(ev) is BookDelta:
            if sync.on_delta(ev) == 0:
                tops[sync.book.update_id] = sync.book.top()
        elif type(ev) is BookSnapshot:
            sync.on_snapshot(ev)
            tops[sync.book.update_id] = sync.book.top()
        elif type(ev) is BestBidAsk:
            tickers[ev.update_id] = (ev.bid_price, ev.bid_size, ev.ask_price, ev.ask_size)
        elif type(ev) is Trade:
            trades[ev.trade_id] = (ev.price, ev.size, ev.taker_side)
    return tops, tickers, trades


async def test_ccxt_pro_books_via_the_local_exchange_match_our_replay_books():
    ex = LocalExchange([USDM_BTC], speed=30)
    port = await ex.start()
    client = make_exchange(LiveEndpoints(ws_linear=f"ws://127.0.0.1:{port}/ws",
                                         rest_base=f"http://127.0.0.1:{port}"))
    got: list = []
    feed = LiveFeed(client, [SYM], got.append, LiveClock(), depth=5)
    task = asyncio.create_task(feed.run())
    try:
        for _ in range(600):
            await asyncio.sleep(0.05)
            if ex.position > len(ex.frames) // 3:
                break
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await client.close()
        await ex.stop()
    tops, tickers, trades = _replay_tops()
    books = [e for e in got if type(e) is BookSnapshot]
    bbos = [e for e in got if type(e) is BestBidAsk]
    trs = [e for e in got if type(e) is Trade]
    print(f"\nlive vs replay: {len(books)} books, {len(bbos)} bookTickers, {len(trs)} trades")
    assert len(books) > 500 and len(bbos) > 1000 and len(trs) > 500
    # Every book state ccxt.pro reported equals ours at the same update id.
    compared = 0
    for b in books:
        ours = tops.get(b.update_id)
        assert ours is not None, b.update_id
        assert (b.bids[0][0], b.bids[0][1], b.asks[0][0], b.asks[0][1]) == ours
        compared += 1
    assert compared == len(books)
    for t in bbos:
        assert tickers[t.update_id] == (t.bid_price, t.bid_size, t.ask_price, t.ask_size)
    for t in trs:
        assert trades[t.trade_id] == (t.price, t.size, t.taker_side)
    assert feed.invalid == 0 and feed.reconnects == 0
    assert set(feed.age) == {(SYM, "book"), (SYM, "ticker"), (SYM, "trades")}
