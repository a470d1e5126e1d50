"""The real ccxt.pro client against the local exchange replaying the recorded captures: the
books it keeps match our replay books, and bookTicker and trades arrive as the same events."""

from __future__ import annotations

import asyncio
import sys
from decimal import Decimal


from engine.book.sync import BookSync
from engine.core.clock import LiveClock
from engine.feeds.capture import read_capture
from engine.feeds.live import LiveEndpoints, LiveFeed, make_exchange
from engine.model import BestBidAsk, BookDelta, BookSnapshot, MarkPrice, Trade
from tests.conftest import ROOT, USDM_BTC
from tests.helpers import wait_until

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


def _client_key(ev) -> tuple[str, int] | None:
    """The local exchange's `_client_id` of the frame an event came from."""
    t = type(ev)
    if t is BookSnapshot:
        return "depth", ev.update_id
    if t is BestBidAsk:
        return "bookTicker", ev.update_id
    if t is Trade:
        return "trade", ev.trade_id
    if t is MarkPrice:
        return "markPrice", ev.ts_event // 1_000_000
    return None


async def run_feed(ex: LocalExchange, until: float, fault=None, symbol: str = SYM, **feed_kw):
    """The real ccxt.pro client on `ex` (its spot client for a spot `symbol`) through a
    LiveFeed until the exchange has played `until` of its frames (calling `fault(ex)` once at
    an eighth) and the feed has received the last frame of every stream; both are closed
    after. Returns (feed, events)."""
    if until < 1:
        ex.hold_at = int(len(ex.frames) * until)
    port = await ex.start()
    spot = ":" not in symbol
    client = make_exchange(LiveEndpoints(ws_linear=f"ws://127.0.0.1:{port}/ws",
                                         ws_spot=f"ws://127.0.0.1:{port}/spot/ws",
                                         rest_base=f"http://127.0.0.1:{port}",
                                         account_base=f"http://127.0.0.1:{port}"), spot=spot)
    got: list = []
    seen: set = set()

    def emit(ev) -> None:
        got.append(ev)
        key = _client_key(ev)
        if key is not None:
            seen.add(key)

    feed = LiveFeed(None if spot else client, [symbol], emit, LiveClock(),
                    spot_exchange=client if spot else None, **feed_kw)
    task = asyncio.create_task(feed.run())
    try:
        if fault is not None:
            await wait_until(lambda: ex.position > len(ex.frames) // 8, "an eighth played")
            await fault(ex)
        await wait_until(lambda: ex.holding or ex.position >= len(ex.frames) - 1,
                         "the exchange to play its part")
        await wait_until(lambda: all((kind, uid) in seen
                                     for (_, kind), uid in ex.last_sent.items()),
                         "the last frame of every stream to reach the feed")
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await client.close()
        await ex.stop()
    return feed, got


async def test_ccxt_pro_books_via_the_local_exchange_match_our_replay_books():
    feed, got = await run_feed(LocalExchange([USDM_BTC], speed=10), 1 / 6, depth=5)
    tops, tickers, trades = _replay_tops()
    books = [e for e in got if type(e) is BookSnapshot]
    bbos = [e for e in got if type(e) is BestBidAsk]
    trs = [e for e in got if type(e) is Trade]
    print(f"\nlive vs replay: {len(books)} books, {len(bbos)} bookTickers, {len(trs)} trades")
    # ccxt.pro hands over the latest state when it is awaited: a busy machine sees fewer
    assert len(books) > 10 and len(bbos) > 10 and len(trs) > 10
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
    assert set(feed.age) == {(SYM, "book"), (SYM, "ticker"), (SYM, "trades"), (SYM, "mark")}


async def test_mark_prices_and_funding_settlements_arrive_as_replay_decodes_them():
    """The mark price stream through ccxt.pro gives the events our own decoder gives for the
    same frames, and a funding time passing becomes one settlement at that time, the one the
    exchange booked. (Funding every minute here, so settlements fall inside the recording.)"""
    from engine.venues.binance.frames import BinanceDecoder
    from engine.feeds.funding import FundingSettler
    from engine.model import FundingRate, MarkPrice

    ex = LocalExchange([USDM_BTC], speed=60, funding_interval_ms=60_000,
                       funding_rates={"btcusdt": "0.00012500"},
                       account={"cash": {"USDT": "100000"},
                                "positions": {SYM: ("0.5", "61000")}})
    feed, got = await run_feed(ex, 1.0, books=False, tickers=False, trades=False)
    dec = BinanceDecoder("usdm", SYM)
    settler = FundingSettler()
    ours, our_settled = {}, []
    for raw in ex.mark_frames:
        ev = dec.decode_frame(b'{"stream":"btcusdt@markPrice@1s","data":' + raw + b"}", 0)
        ours[ev.ts_event] = (ev.mark_price, ev.index_price, ev.funding_rate, ev.next_funding_ts)
        s = settler.on_mark(ev)
        if s is not None:
            our_settled.append((s.ts_event, s.rate, s.mark_price))
    marks = [e for e in got if type(e) is MarkPrice]
    settled = [(e.ts_event, e.rate, e.mark_price) for e in got if type(e) is FundingRate]
    print(f"\n{len(marks)} marks, {len(settled)} settlements")
    # all but those before the subscription (or coalesced by ccxt on a busy machine)
    assert len(marks) > len(ex.mark_frames) // 2
    for m in marks:
        assert ours[m.ts_event] == (m.mark_price, m.index_price, m.funding_rate,
                                    m.next_funding_ts)
    # a settlement is the funding time and rate the exchange announced, marked by the first
    # mark the feed saw at or after that time: every frame's, unless ccxt coalesced the frame
    # at the funding time on a busy machine (then the next one it handed over)
    assert len(settled) >= 4
    assert [(ts, r) for ts, r, _ in settled] == \
        [(ts, r) for ts, r, _ in our_settled[-len(settled):]]
    for ts, _, mark in settled:
        first_seen = min((m for m in marks if m.ts_event >= ts), key=lambda m: m.ts_event)
        assert mark == first_seen.mark_price == ours[first_seen.ts_event][0]
    if {m.ts_event for m in marks} >= {ts for ts in ours if ts >= settled[0][0]}:
        assert settled == our_settled[-len(settled):]  # nothing coalesced: every mark equal
    assert all(ts % 60_000_000_000 == 0 and rate == 0.000125 for ts, rate, _ in settled)
    # the exchange charged the long 0.5 BTC position at the same times
    assert [t * 1_000_000 for _, t, _ in ex.funding_paid][-len(settled):] == \
        [ts for ts, _, _ in settled]
    assert all(Decimal(a) < 0 for _, _, a in ex.funding_paid)  # a long pays a positive rate


async def test_ccxt_pro_spot_books_via_the_local_exchange_match_our_spot_replay_books():
    """The spot capture through ccxt.pro's binance (spot) client: spot diffs (`U == prev u +
    1`, no `pu`) synced by ccxt against the local exchange's /api/v3/depth; every book state
    it reported equals our own spot book at the same update id."""
    spot_btc = ROOT / "scripts/data/hftbacktest/spot/btcusdt_20240808.gz"
    feed, got = await run_feed(LocalExchange([spot_btc], speed=10), 1 / 6, symbol="BTC/USDT",
                               depth=5, marks=False)
    sync = BookSync("BTC/USDT", "spot")
    tops = {}
    for ev in read_capture(str(spot_btc)):
        if type(ev) is BookDelta and sync.on_delta(ev) == 0:
            tops[sync.book.update_id] = sync.book.top()
        elif type(ev) is BookSnapshot:
            sync.on_snapshot(ev)
            tops[sync.book.update_id] = sync.book.top()
    books = [e for e in got if type(e) is BookSnapshot]
    assert len(books) > 10 and all(e.exchange == "binance" for e in got)
    for b in books:
        assert (b.bids[0][0], b.bids[0][1], b.asks[0][0], b.asks[0][1]) == tops[b.update_id]
    assert any(type(e) is BestBidAsk for e in got) and any(type(e) is Trade for e in got)
    assert feed.invalid == 0 and feed.reconnects == 0


async def test_frames_read_by_our_decoders_arrive_every_one_in_order():
    """`decode_frames`: bookTicker and trade frames are taken from ccxt.pro's client before it
    parses them and decoded by our own decoders. Every bookTicker frame the exchange sent
    arrives, in the order sent (ccxt.pro's `watch_bids_asks` hands over only the latest when
    several came in between), equal to what replay decodes; books still come through ccxt."""
    ex = LocalExchange([USDM_BTC], speed=10)
    ex.record_sends = True  # (market id, kind, update id) of every bookTicker frame sent
    feed, got = await run_feed(ex, 1 / 6, depth=5, decode_frames=True)
    _, tickers, trades = _replay_tops()
    bbos = [e for e in got if type(e) is BestBidAsk]
    trs = [e for e in got if type(e) is Trade]
    sent = [u for (_, kind, u) in ex.sent_at if kind == "bookTicker"]
    print(f"\n{len(bbos)} bookTickers (of {len(sent)} sent), {len(trs)} trades")
    assert len(sent) > 100 and [e.update_id for e in bbos] == sent
    for t in bbos:
        assert tickers[t.update_id] == (t.bid_price, t.bid_size, t.ask_price, t.ask_size)
        assert t.exchange == "binanceusdm" and t.symbol == SYM
    assert trs and all(trades[t.trade_id] == (t.price, t.size, t.taker_side) for t in trs)
    assert [t.trade_id for t in trs] == sorted({t.trade_id for t in trs})  # none twice
    tap = feed.taps["usdm"]
    assert tap.frames == len(bbos) + len(trs) and tap.invalid == tap.foreign == 0
    assert any(type(e) is BookSnapshot for e in got) and feed.invalid == 0
    assert {(SYM, "ticker"), (SYM, "trades")} <= set(feed.age)
