"""Net exposure while the legs of one underlying execute: moving 0.2 BTC of exposure from spot
to the perp (sell spot, buy perp, the same net) on the bundled spot + USD-M replay. The net
stays near its start → target path (here: a point) and the run measures how far it strayed."""

from __future__ import annotations

from decimal import Decimal

import msgspec

from engine.feeds.capture import merge_captures
from engine.model import LegTarget, RebalanceIntent
from engine.node.config import TriggersCfg, load_config
from engine.node.runner import resolve_inputs
from engine.node.session import PaperSession
from tests.conftest import ROOT

CONFIG = str(ROOT / "configs" / "demo.toml")


def test_a_spot_to_perp_move_keeps_net_btc_near_its_path_and_measures_the_worst():
    cfg = load_config(CONFIG)
    cfg = msgspec.structs.replace(cfg, triggers=TriggersCfg())  # only the intent below
    s = PaperSession(cfg)
    sent = None
    for ev in merge_captures(resolve_inputs(cfg, CONFIG, None)):
        s.on_event(ev)
        if sent is None and s.pipeline._warm():
            now = s.clock.now_ns()
            px = s.pipeline.prices["BTC/USDT"]
            spot = s.portfolio.spot_value("BTC")
            move = 0.2 * px
            sent = RebalanceIntent(intent_id="move-1", rule="test", reason="spot to perp",
                                   ts_recv=now, ts_decided=now,
                                   targets=(LegTarget(symbol="BTC/USDT", notional=spot - move),
                                            LegTarget(symbol="BTC/USDT:USDT", notional=move)))
            s.execution.on_intent(sent, now)
            s.execution.dispatch(now)
            nav, slice_share = s.portfolio.nav, move / cfg.execution.slices
    assert sent is not None
    reports = {r.symbol: r for r in s.execution.reports()}
    assert reports["BTC/USDT"].state == reports["BTC/USDT:USDT"].state == "done"
    assert s.portfolio.holdings["BTC"] == Decimal("1.014")
    assert s.portfolio.perps["BTC/USDT:USDT"].qty == Decimal("0.200")
    dev = s.execution.max_transient_deviation
    # the two TWAPs share one schedule: the net strays by about a slice at most
    assert 0 < dev <= 2 * slice_share / nav, (dev, slice_share / nav)
    print(f"\nmax transient deviation {dev:.5%} of NAV (one slice: {slice_share / nav:.5%})")
