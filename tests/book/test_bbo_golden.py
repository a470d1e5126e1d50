"""Golden replay: local books synced from real captures agree with Binance's own bookTicker.

The exchange is the oracle. Every book top after an applied diff is compared with the latest
recorded bookTicker whose update id is at or before the book's, and the counts are exact.
"""

from __future__ import annotations

from engine.feeds.capture import CaptureStats, merge_captures
from engine.model import BestBidAsk, BookDelta
from engine.node.replay_session import ReplaySession
from tests.conftest import USDM_BTC, USDM_ETH, shared


def _run(paths):
    stats: list[CaptureStats] = []
    s = ReplaySession(verify=True)
    for ev in merge_captures([str(p) for p in paths], stats=stats):
        s.on_event(ev)
    s.finish()
    return s, s.summary(stats)


def test_usdm_books_agree_with_every_comparable_book_ticker():
    session, summary = _run([USDM_BTC, USDM_ETH])
    btc, eth = summary["BTC/USDT:USDT"], summary["ETH/USDT:USDT"]
    # 6,551 and 6,586 diffs; the ones before the snapshot are stale, every later one compared.
    assert (btc["bbo_compared"], btc["bbo_agreed"]) == (6546, 6546)
    assert (eth["bbo_compared"], eth["bbo_agreed"]) == (6580, 6580)
    for s in (btc, eth):
        assert s["gaps"] == 0 and s["resyncs"] == 0 and s["malformed"] == 0
        assert s["bbo_not_comparable"] == 0 and s["book_valid"]
    assert btc["by_kind"] == {"bbo": 66089, "depth": 6551, "snapshot": 1, "trade": 21313}
    assert (btc["best_bid"], btc["best_ask"]) == ("61659.7", "61659.8")
    assert (eth["best_bid"], eth["best_ask"]) == ("2681.38", "2681.39")


def test_spot_books_across_the_day_boundary_agree_with_book_ticker():
    spot = shared("hftbacktest", "examples", "spot")
    files = [spot / f for f in ("btcusdt_20240808.gz", "btcusdt_20240809.gz",
                                "ethusdt_20240808.gz", "ethusdt_20240809.gz")]
    session, summary = _run(files)
    eth, btc = summary["ETH/USDT"], summary["BTC/USDT"]
    assert (eth["bbo_compared"], eth["bbo_agreed"]) == (6469, 6469)
    assert eth["gaps"] == 0 and btc["gaps"] == 0
    # Two BTC tops differ, both where Binance's own depth stream disagrees with its bookTicker
    # (see test_spot_btc_disagreements_are_levels_the_depth_stream_never_added).
    assert (btc["bbo_compared"], btc["bbo_agreed"]) == (6493, 6491)
    mism = session.verifiers["BTC/USDT"].mismatches
    assert [m[0] for m in mism] == [50093478174, 50093480542]


def test_spot_btc_disagreements_are_levels_the_depth_stream_never_added():
    """At both ids the bookTicker's best bid is a level that no diff ever added, yet the very
    next diff deletes it: the depth stream itself omitted it, the book applied what it got."""
    spot = shared("hftbacktest", "examples", "spot")
    files = [str(spot / "btcusdt_20240808.gz"), str(spot / "btcusdt_20240809.gz")]
    targets = {50093478174: 61565.1, 50093480542: 61556.11}
    session = ReplaySession(verify=True)
    added: set[float] = set()
    pending: dict[int, float] = {}
    checked = {}
    last_ticker: BestBidAsk | None = None
    for ev in merge_captures(files):
        if isinstance(ev, BestBidAsk) and ev.update_id <= 50093480542:
            if ev.update_id in (50093478171, 50093480538):
                last_ticker = ev
        session.on_event(ev)
        if isinstance(ev, BookDelta):
            for p, q in ev.bids:
                if q > 0:
                    added.add(p)
            for x, price in list(pending.items()):
                if ev.first_update_id == x + 1:
                    checked[x] = any(p == price and q == 0.0 for p, q in ev.bids)
                    del pending[x]
            if ev.final_update_id in targets:
                price = targets[ev.final_update_id]
                book = session.books.syncs["BTC/USDT"].book
                assert price not in book.bids
                assert price not in added
                pending[ev.final_update_id] = price
    assert last_ticker is not None and last_ticker.bid_price == 61556.11
    assert checked == {50093478174: True, 50093480542: True}


def test_every_diff_is_either_applied_or_stale_and_every_book_state_is_compared():
    session, _ = _run([USDM_BTC])
    sync = session.books.syncs["BTC/USDT:USDT"]
    v = session.verifiers["BTC/USDT:USDT"]
    assert sync.applied + sync.stale == 6551
    # 6 diffs were buffered before the snapshot: 4 ended before its lastUpdateId (dropped),
    # 2 were replayed onto it. The synced state is compared once, then every live diff.
    assert sync.stale == 4 and sync.applied == 6547
    assert v.compared == 1 + (sync.applied - 2)
