"""End to end on the recorded BTCUSDT + ETHUSDT USD-M captures: a 75/25 portfolio brought back
to 60/40 by TWAP, paper-filled on the real book."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

import msgspec
import pytest

from engine.core.numeric import to_decimal
from engine.feeds.capture import merge_captures
from engine.model import Fill
from engine.node.config import load_config
from engine.node.session import PaperSession
from tests.conftest import ROOT, USDM_BTC, USDM_ETH

TAKER = Decimal("5") / Decimal(10000)


def run(cfg, events=None, check=None) -> PaperSession:
    s = PaperSession(cfg)
    seen = 0
    for ev in events if events is not None else merge_captures([str(USDM_BTC), str(USDM_ETH)]):
        s.on_event(ev)
        if check is not None:
            new = s.broker.fill_log[seen:]
            seen = len(s.broker.fill_log)
            check(s, ev, [f for f, _ in new])
    return s


@pytest.fixture(scope="module")
def demo_cfg():
    return load_config(str(ROOT / "configs/demo_perps.toml"))


def test_twap_brings_75_25_back_to_60_40_on_the_real_book(demo_cfg):
    util = []
    checked = []

    def check(s, ev, fills):
        util.append(s.portfolio.margin_utilisation)
        for f in fills:
            book = s.books.syncs[f.symbol].book
            side = book.asks if f.side == "buy" else book.bids
            # A taker fill happened at a price level that is in the book right now.
            assert float(f.price) in side, (f, ev)
            checked.append(f)

    s = run(demo_cfg, check=check)
    snap = s.portfolio.snapshot()
    assert abs(snap.weights["BTC"] - 0.6) < 0.03 and abs(snap.weights["ETH"] - 0.4) < 0.03
    assert snap.weights["BTC"] == pytest.approx(0.6, abs=0.002)
    reports = {r.symbol: r for r in s.execution.reports()}
    assert reports["BTC/USDT:USDT"].side == "sell" and reports["ETH/USDT:USDT"].side == "buy"
    for r in reports.values():
        assert r.state == "done" and r.fill_ratio == 1.0 and r.shortfall_bps is not None
    fills: list[Fill] = [f for f, _ in s.broker.fill_log]
    assert fills and len(checked) == len(fills)
    # Fees: taker 5 bps of each fill's notional, rounded to 1e-8, and the portfolio paid them.
    for f in fills:
        assert f.fee == (f.qty * f.price * TAKER).quantize(Decimal("1e-8"), ROUND_HALF_UP)
    total_fees = sum((f.fee for f in fills), Decimal(0))
    assert s.portfolio.fees_paid["USDT"] == total_fees
    assert sum((r.fees for r in reports.values()), Decimal(0)) == total_fees
    # Margin utilisation never above the 80% cap at any event.
    assert max(util) <= demo_cfg.risk.max_margin_utilisation
    # Every child id is unique and every fill belongs to a child that was sent.
    ids = [o.client_order_id for o in s.execution.sent]
    assert len(ids) == len(set(ids)) and {f.order_id for f in fills} <= set(ids)
    # Positions are exactly the seeded ones plus the fills.
    for sym, start in (("BTC/USDT:USDT", Decimal("1.214")), ("ETH/USDT:USDT", Decimal("9.33"))):
        signed = sum((f.qty if f.side == "buy" else -f.qty) for f in fills if f.symbol == sym)
        assert s.portfolio.perps[sym].qty == start + signed


def test_passive_then_cross_fills_as_maker_then_crosses(demo_cfg):
    cfg = msgspec.structs.replace(demo_cfg, execution=msgspec.structs.replace(
        demo_cfg.execution, mode="passive_then_cross", passive_timeout_s=4.0))
    s = run(cfg)
    fills = [f for f, _ in s.broker.fill_log]
    makers = [f for f in fills if f.liquidity == "maker"]
    assert makers
    for f in makers:
        assert f.fee == (f.qty * f.price * Decimal("2") / 10000).quantize(Decimal("1e-8"),
                                                                          ROUND_HALF_UP)
    snap = s.portfolio.snapshot()
    assert abs(snap.weights["BTC"] - 0.6) < 0.01
    assert all(r.state == "done" for r in s.execution.reports())


def test_vwap_follows_the_recent_trade_volume(demo_cfg):
    cfg = msgspec.structs.replace(demo_cfg, execution=msgspec.structs.replace(
        demo_cfg.execution, algo="vwap", slices=6, vwap_window_s=60))
    s = run(cfg)
    assert all(r.state == "done" and r.fill_ratio == 1.0 for r in s.execution.reports())
    assert abs(s.portfolio.snapshot().weights["BTC"] - 0.6) < 0.01


def test_fills_reach_the_portfolio_exactly_once(demo_cfg):
    s = run(demo_cfg)
    fills = [f for f, _ in s.broker.fill_log]
    before = s.portfolio.perps["BTC/USDT:USDT"].qty
    for f in fills:  # replaying the same fills changes nothing
        assert s.portfolio.on_fill(f) is None
    assert s.portfolio.perps["BTC/USDT:USDT"].qty == before
    assert to_decimal(s.portfolio.perps["BTC/USDT:USDT"].qty_f) == before


def test_a_refused_post_only_child_crosses_next_and_never_aborts_the_parent(demo_cfg):
    # With 300 ms to reach the book, the touch often moves through a post-only price on the
    # way (-5022). That is the market coming to us, not a refusal: even with on_reject =
    # "abort" the parent goes on, and its next child crosses.
    cfg = msgspec.structs.replace(
        demo_cfg, paper=msgspec.structs.replace(demo_cfg.paper, latency_ms=300),
        execution=msgspec.structs.replace(demo_cfg.execution, mode="passive_then_cross",
                                          on_reject="abort", passive_timeout_s=4.0))
    s = run(cfg)
    post_only = [u for u in s.execution.updates if u.status == "rejected" and u.code == -5022]
    assert post_only
    assert all(r.state == "done" and r.rejects == 0 for r in s.execution.reports())
    sent = {o.client_order_id: o for o in s.execution.sent}
    for u in post_only:  # the child after each refused one is a crossing (IOC) order
        pid, n = u.client_order_id.rsplit("-", 1)
        nxt = sent.get(f"{pid}-{int(n) + 1}")
        assert nxt is None or nxt.tif == "IOC"
