"""The real ccxt.pro `okx` client against the local OKX v5 exchange (scripts/local_okx.py)
replaying OKX's own recorded `books` frames (spot, inverse swap, dated future): the engine's live
books, read through its OKX decoder, agree with the venue's checksum on every message and equal
the replay path's books; a garbled or lost update is caught by the checksum and healed by a
fresh subscription, which ccxt.pro alone does not do."""

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
from engine.model import BookDelta, BookSnapshot, Trade
from engine.venues.okx.recording import read_okx_recording
from tests.conftest import ROOT, shared
from tests.helpers import wait_until

sys.path.insert(0, str(ROOT / "scripts"))
from local_okx import LocalOkx  # noqa: E402

SYMBOLS = {"BTC-USDT": "BTC/USDT", "UNI-USD-SWAP": "UNI/USD:UNI",
           "BTC-USD-220527": "BTC/USD:BTC-220527"}
LEVELS = 400  # the `books` channel's depth
# the BTC-USDT frame garbled or lost: it deletes a bid near the top that no later frame
# touches, so a book that took the fault keeps a level the venue no longer has
FAULT_AT = 24


@pytest.fixture(scope="module")
def recording():
    return shared("cryptofeed", "sample_data", "OKX.ws.1.0")


@pytest.fixture(scope="module")
def replay_states(recording):
    """symbol -> the replay path's book after every event (the venue's checks passed)."""
    stats = CaptureStats(path=str(recording), market="", symbol=None)
    books = BookManager()
    out: dict[str, list] = {}
    for ev in read_okx_recording(str(recording), stats):
        if type(ev) is BookSnapshot:
            assert books.on_snapshot(ev)[0] == SYNCED
        elif type(ev) is BookDelta:
            assert books.on_delta(ev)[0] == APPLIED
        else:
            continue
        out.setdefault(ev.symbol, []).append(_state(books, ev.symbol))
    return out


def _state(books: BookManager, symbol: str) -> tuple:
    bids, asks = books.syncs[symbol].book.depth(LEVELS)
    return tuple(bids), tuple(asks)


def _endpoints(port: int) -> LiveEndpoints:
    return LiveEndpoints(ws_linear=f"ws://127.0.0.1:{port}/ws/v5",
                         rest_base=f"http://127.0.0.1:{port}")


async def _run(ex: LocalOkx, symbols: list[str], syncs_each: int = 1, trades: int = 0):
    """A LiveFeed on the real ccxt.pro okx client pointed at `ex` until every symbol's last
    recorded frame has been applied after its `syncs_each`-th snapshot (and `trades` trades
    came); returns (feed, the engine's book after every event per symbol, book statuses,
    trades)."""
    port = await ex.start()
    client = make_exchange(_endpoints(port), "okx")
    books = BookManager()
    states: dict[str, list] = {s: [] for s in symbols}
    since_sync: dict[str, int] = {s: 0 for s in symbols}
    n_syncs: dict[str, int] = {s: 0 for s in symbols}
    statuses, got_trades = [], []
    frames = {sym: len(ex.books[inst]) for inst, sym in SYMBOLS.items()}

    def emit(ev) -> None:
        if type(ev) is Trade:
            got_trades.append(ev)
            return
        if type(ev) is BookSnapshot:
            out, st = books.on_snapshot(ev)
            n_syncs[ev.symbol] += 1
            since_sync[ev.symbol] = 0
        elif type(ev) is BookDelta:
            out, st = books.on_delta(ev)
            since_sync[ev.symbol] += 1
        else:
            return
        if st is not None:
            statuses.append((st.symbol, st.valid, st.reason))
        if out in (APPLIED, SYNCED):
            states[ev.symbol].append(_state(books, ev.symbol))

    def done() -> bool:
        return len(got_trades) >= trades and all(
            n_syncs[s] == syncs_each and since_sync[s] == frames[s] - 1 for s in symbols)

    feed = LiveFeed(client, symbols, emit, LiveClock(), tickers=False, trades=trades > 0,
                    marks=False, venue="okx")
    task = asyncio.create_task(feed.run())
    try:
        await wait_until(lambda: done() or task.done(), "the feed to take the recording")
        if task.done():
            task.result()
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await client.close()
        await ex.stop()
    return feed, states, statuses, got_trades


async def test_live_books_agree_with_the_venues_checksum_and_equal_the_replay_books(
        recording, replay_states):
    ex = LocalOkx(recording)
    symbols = sorted(SYMBOLS.values())
    feed, states, statuses, _ = await _run(ex, symbols)
    syncs = feed.book_frames.syncs()
    for inst, sym in SYMBOLS.items():
        r = syncs[sym].report()
        print(f"\nokx live {sym}: {len(states[sym])} book states, {r}")
        assert states[sym] == replay_states[sym]  # every state, in order
        assert r["checksum_checked"] == len(ex.books[inst]) == r["checksum_ok"]
        assert r["sequence_breaks"] == 0
    assert sorted(statuses) == sorted((s, True, "synced") for s in symbols)
    assert ex.subscriptions == {inst: 1 for inst in SYMBOLS}
    assert feed.taps["okx"].invalid == 0 and feed.reconnects == 0


@pytest.mark.parametrize("fault", ["corrupt_frame", "drop_frame"])
async def test_a_garbled_or_lost_update_fails_the_checksum_and_a_new_subscription_heals_it(
        recording, replay_states, fault):
    ex = LocalOkx(recording)
    setattr(ex, fault, ("BTC-USDT", FAULT_AT))
    sym = "BTC/USDT"
    feed, states, statuses, _ = await _run(ex, [sym], syncs_each=2)
    r = feed.book_frames.syncs()[sym].report()
    print(f"\nokx live, {fault} at {FAULT_AT}: {r}, statuses {statuses}")
    assert r["checksum_checked"] - r["checksum_ok"] == 1  # the one message after the fault
    assert [(v, why) for _, v, why in statuses] == [(True, "synced"), (False, "gap"),
                                                    (True, "synced")]
    assert ex.subscriptions["BTC-USDT"] == 2 and feed.reconnects == 1
    want = replay_states[sym]
    assert states[sym][:FAULT_AT] == want[:FAULT_AT]  # up to the fault, the recorded book
    assert states[sym][-len(want):] == want  # the second subscription: the recorded book


async def test_ccxt_pro_alone_applies_a_garbled_update_without_complaint(recording,
                                                                         replay_states):
    ex = LocalOkx(recording)
    ex.corrupt_frame = ("BTC-USDT", FAULT_AT)
    port = await ex.start()
    client = make_exchange(_endpoints(port), "okx")
    last_ts = int(orjson.loads(ex.books["BTC-USDT"][-1])["data"][0]["ts"])
    try:
        ob = await client.watch_order_book("BTC/USDT")  # subscribes; ccxt updates it in place
        await wait_until(lambda: ob["timestamp"] == last_ts, "ccxt to take every frame")
    finally:
        await client.close()
        await ex.stop()
    ccxt_state = (tuple((float(p), float(q)) for p, q, *_ in ob["bids"][:LEVELS]),
                  tuple((float(p), float(q)) for p, q, *_ in ob["asks"][:LEVELS]))
    assert ccxt_state != replay_states["BTC/USDT"][-1]


async def test_live_trades_are_the_recorded_trades(recording):
    """OKX's `trades` frames through the engine's reader (the recordings' own) as they arrive:
    every recorded trade once, with its id, price, size and side, for every instrument."""
    stats = CaptureStats(path=str(recording), market="", symbol=None)
    want = sorted((t.symbol, t.trade_id, t.price, t.size, t.taker_side)
                  for t in read_okx_recording(str(recording), stats) if type(t) is Trade)
    ex = LocalOkx(recording)
    feed, _, _, trades = await _run(ex, sorted(SYMBOLS.values()), trades=len(want))
    got = sorted((t.symbol, t.trade_id, t.price, t.size, t.taker_side) for t in trades)
    print(f"\nokx live trades: {len(got)} ({feed.book_frames.bad_trades} left out)")
    assert got == want and len(want) == 74
    assert all(t.exchange == "okx" and t.ts_event > 0 for t in trades)
    assert {(s, "trades") for s in SYMBOLS.values()} <= set(feed.age)
