"""Each risk rule firing on the recorded captures mid-TWAP: refused, state changed, nothing lost,
the TWAP resumes or aborts as configured."""

from __future__ import annotations

from decimal import Decimal

import msgspec
import pytest

from engine.book.manager import BookManager
from engine.feeds.capture import merge_captures
from engine.model import BestBidAsk, BookDelta, BookSnapshot, MarkPrice, Trade
from engine.node.config import load_config
from engine.node.session import PaperSession
from engine.risk.guard import ACTIVE, REDUCING
from tests.conftest import ROOT, USDM_BTC, USDM_ETH

ETH = "ETH/USDT:USDT"
S = 1_000_000_000
SEED = {"BTC/USDT:USDT": Decimal("1.214"), ETH: Decimal("9.33")}


@pytest.fixture(scope="module")
def events():
    return list(merge_captures([str(USDM_BTC), str(USDM_ETH)]))


def _cfg(**execution):
    cfg = load_config(str(ROOT / "configs/demo_perps.toml"))
    return msgspec.structs.replace(cfg, execution=msgspec.structs.replace(cfg.execution,
                                                                          **execution))


def _run(cfg, events):
    s = PaperSession(cfg)
    for ev in events:
        s.on_event(ev)
    return s


def _consistent(s: PaperSession) -> None:
    """Nothing lost: every position is its seed plus exactly the fills the broker made."""
    fills = [f for f, _ in s.broker.fill_log]
    for sym, start in SEED.items():
        signed = sum((f.qty if f.side == "buy" else -f.qty) for f in fills if f.symbol == sym)
        assert s.portfolio.perps[sym].qty == start + signed
    for r in s.execution.reports():
        assert r.filled_qty == sum((f.qty for f in fills if f.order_id.startswith(r.parent_id)),
                                   Decimal(0))


def _stale_eth(events):
    t0 = events[0].ts_recv
    lo, hi = t0 + 20 * S, t0 + 32 * S
    return [e for e in events
            if not (e.symbol == ETH and type(e) in (BestBidAsk, Trade) and lo <= e.ts_recv < hi)]


@pytest.mark.parametrize("on_reject", ["pause", "abort"])
def test_stale_price_from_a_recording_gap_refuses_new_risk(events, on_reject):
    s = _run(_cfg(on_reject=on_reject), _stale_eth(events))
    changes = [(c.old, c.new) for c in s.guard.history]
    assert (ACTIVE, REDUCING) in changes and (REDUCING, ACTIVE) in changes
    assert any("ETH/USDT:USDT" in c.reason for c in s.guard.history if c.new == REDUCING)
    assert s.guard.refused.get("stale_price", 0) + s.guard.refused.get("reducing_only", 0) >= 1
    refused = [u for u in s.execution.updates if u.status == "rejected" and u.symbol == ETH
               and ("stale_price" in u.reason or "reducing_only" in u.reason)]
    assert refused
    eth = {r.symbol: r for r in s.execution.reports()}[ETH]
    if on_reject == "pause":
        assert eth.state == "done" and eth.fill_ratio == 1.0  # resumed after the gap
    else:
        assert eth.state == "aborted" and eth.fill_ratio < 1.0
        assert "stale_price" in eth.reason or "reducing_only" in eth.reason
    assert s.guard.state == ACTIVE
    _consistent(s)


def _book_gap(events, resync: bool):
    """Drop one ETH depth diff ~25 s into the TWAP; with `resync`, the venue's snapshot of the
    true book arrives 20 s later (rebuilt from an untouched replay)."""
    t0 = events[0].ts_recv
    drop = next(i for i, e in enumerate(events)
                if type(e) is BookDelta and e.symbol == ETH and e.ts_recv >= t0 + 25 * S)
    inject = next(i for i, e in enumerate(events)
                  if type(e) is BookDelta and e.symbol == ETH and e.ts_recv >= t0 + 45 * S)
    out = events[:drop] + events[drop + 1:inject]
    if resync:
        ref = BookManager()
        for e in events[:inject]:
            if type(e) is BookDelta:
                ref.on_delta(e)
            elif type(e) is BookSnapshot:
                ref.on_snapshot(e)
        book = ref.syncs[ETH].book
        out.append(BookSnapshot(exchange="binanceusdm", symbol=ETH,
                                ts_event=events[inject].ts_event, ts_recv=events[inject].ts_recv,
                                update_id=book.update_id, bids=tuple(book.levels("bid")),
                                asks=tuple(book.levels("ask"))))
    return out + events[inject:]


def test_book_invalidated_mid_twap_pauses_then_resumes_after_resync(events):
    s = _run(_cfg(on_reject="pause"), _book_gap(events, resync=True))
    sync = s.books.syncs[ETH]
    assert sync.gaps == 1 and sync.resyncs == 1 and sync.valid
    refused = [u for u in s.execution.updates if "book_invalid" in u.reason and u.symbol == ETH]
    assert refused and all(u.ts > events[0].ts_recv + 25 * S for u in refused)
    eth = {r.symbol: r for r in s.execution.reports()}[ETH]
    assert eth.state == "done" and eth.fill_ratio == 1.0
    _consistent(s)


def test_book_invalidated_mid_twap_aborts_cleanly_when_configured(events):
    s = _run(_cfg(on_reject="abort"), _book_gap(events, resync=False))
    assert not s.books.syncs[ETH].valid
    reports = {r.symbol: r for r in s.execution.reports()}
    eth, btc = reports[ETH], reports["BTC/USDT:USDT"]
    assert eth.state == "aborted" and "book_invalid" in eth.reason and 0 < eth.fill_ratio < 1
    assert btc.state == "done" and btc.fill_ratio == 1.0  # the other book was fine
    assert not s.broker.resting and s.broker.in_flight == 0
    _consistent(s)


def test_plan_that_would_breach_the_margin_cap_is_refused(events):
    cfg = load_config(str(ROOT / "configs/demo_perps.toml"))
    strategy = msgspec.structs.replace(cfg.strategy, weights={"BTC": 0.8, "ETH": 0.5},
                                       weights_sum=1.3)
    cfg = msgspec.structs.replace(
        cfg, strategy=strategy,
        risk=msgspec.structs.replace(cfg.risk, max_margin_utilisation=0.25,
                                     max_gross_leverage=2.0),
        execution=msgspec.structs.replace(cfg.execution, deadline_s=60.0))
    s = _run(cfg, events[:60000])
    assert s.guard.refused.get("margin_utilisation", 0) > 0
    reports = {r.symbol: r for r in s.execution.reports()}
    # Projected end state: 130% gross at 5x = 26% > 25%: no buy gets through; parents give up
    # at their deadline with nothing filled, and the account is untouched.
    for r in reports.values():
        assert r.side == "buy" and r.filled_qty == 0 and r.state == "aborted"
        assert "deadline" in r.reason
    assert s.portfolio.margin_utilisation <= 0.25
    _consistent(s)


def _late_eth(events, by_s: float):
    """ETH quotes that arrive on time by the local clock but left the exchange `by_s` seconds
    earlier (a backlogged feed), for 12 s mid-TWAP."""
    t0 = events[0].ts_recv
    lo, hi = t0 + 20 * S, t0 + 32 * S
    late = int(by_s * S)
    return [msgspec.structs.replace(e, ts_event=e.ts_event - late)
            if e.symbol == ETH and type(e) in (BestBidAsk, BookDelta, MarkPrice)
            and lo <= e.ts_recv < hi else e for e in events]


def test_quotes_late_by_exchange_time_refuse_new_risk_then_trading_resumes(events):
    s = _run(_cfg(on_reject="pause"), _late_eth(events, 60))
    reducing = [c for c in s.guard.history if c.new == REDUCING]
    assert reducing and all("delayed_quotes" in c.reason and ETH in c.reason for c in reducing)
    refused = [u for u in s.execution.updates if u.status == "rejected" and u.symbol == ETH]
    assert refused and all(u.ts >= events[0].ts_recv + 20 * S for u in refused)
    eth = {r.symbol: r for r in s.execution.reports()}[ETH]
    assert eth.state == "done" and eth.fill_ratio == 1.0  # resumed once quotes were on time
    assert s.guard.state == ACTIVE
    _consistent(s)


def test_a_skewed_local_clock_is_not_a_delay(events):
    # the local clock an hour ahead of the exchange's: every latency is +1 h, none is late
    skewed = [msgspec.structs.replace(e, ts_recv=e.ts_recv + 3600 * S) for e in events]
    a, b = _run(_cfg(), events), _run(_cfg(), skewed)
    assert not any("delayed" in c.reason for c in b.guard.history)
    assert [(f.symbol, f.side, f.qty, f.price) for f, _ in a.broker.fill_log] == \
        [(f.symbol, f.side, f.qty, f.price) for f, _ in b.broker.fill_log]
    assert b.broker.fill_log
