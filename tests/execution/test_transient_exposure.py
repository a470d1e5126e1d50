"""Net exposure while the legs of one underlying execute: moving 0.2 BTC of exposure from spot
to the perp (sell spot, buy perp, the same net) on the bundled spot + USD-M replay. The legs are
paced together: the net never stands more than one slice off its start → target path (here a
point), and when one leg cannot trade the other stops a slice ahead instead of running on."""

from __future__ import annotations

from decimal import Decimal

import msgspec

from engine.execution.transfers import AccountsCfg
from engine.feeds.capture import merge_captures
from engine.model import LegTarget, RebalanceIntent
from engine.node.config import TriggersCfg, load_config
from engine.node.runner import resolve_inputs
from engine.node.session import PaperSession
from tests.conftest import ROOT

CONFIG = str(ROOT / "configs" / "demo.toml")


def _move_spot_to_perp(cfg, btc=0.2):
    s = PaperSession(cfg)
    sent = None
    for ev in merge_captures(resolve_inputs(cfg, CONFIG, None)):
        s.on_event(ev)
        if sent is None and s.pipeline._warm():
            now = s.clock.now_ns()
            px = s.pipeline.prices["BTC/USDT"]
            spot = s.portfolio.spot_value("BTC")
            move = btc * px
            sent = RebalanceIntent(intent_id="move-1", rule="test", reason="spot to perp",
                                   ts_recv=now, ts_decided=now,
                                   targets=(LegTarget(symbol="BTC/USDT", notional=spot - move),
                                            LegTarget(symbol="BTC/USDT:USDT", notional=move)))
            s.execution.on_intent(sent, now)
            s.execution.dispatch(now)
            nav, slice_share = s.portfolio.nav, move / cfg.execution.slices
        elif sent is not None and not s.execution.busy:
            break
    assert sent is not None
    return s, slice_share / nav


def test_a_spot_to_perp_move_keeps_net_btc_within_one_slice_of_its_path():
    cfg = msgspec.structs.replace(load_config(CONFIG), triggers=TriggersCfg())
    s, one_slice = _move_spot_to_perp(cfg)
    reports = {r.symbol: r for r in s.execution.reports()}
    assert reports["BTC/USDT"].state == reports["BTC/USDT:USDT"].state == "done"
    assert s.portfolio.holdings["BTC"] == Decimal("1.014")
    assert s.portfolio.perps["BTC/USDT:USDT"].qty == Decimal("0.200")
    ex = s.execution
    dev = ex.max_transient_deviation
    # the limit is one slice of the move (0.2 BTC / 12), and the net never passed it
    assert abs(ex.max_transient_limit - one_slice) < 1e-4 * one_slice
    assert 0 < dev <= ex.max_transient_limit * (1 + 1e-6), (dev, ex.max_transient_limit)
    assert ex.paced_holds > 0  # the perp's lot-rounded slices (0.017) were cut to fit
    print(f"\nmax transient deviation {dev:.5%} of NAV (one slice: {one_slice:.5%}), "
          f"limit {ex.max_transient_limit:.5%}, held {ex.paced_holds}")


def test_when_one_leg_cannot_trade_the_other_stops_one_slice_ahead():
    """No futures margin and no transfers: the guard refuses every perp child, so the spot
    sells must stop instead of selling the whole 0.2 BTC with nothing bought back."""
    cfg = load_config(CONFIG)
    acct = msgspec.structs.replace(cfg.account, futures={})
    cfg = msgspec.structs.replace(cfg, triggers=TriggersCfg(), account=acct,
                                  accounts=AccountsCfg())
    s, one_slice = _move_spot_to_perp(cfg)
    reports = {r.symbol: r for r in s.execution.reports()}
    assert reports["BTC/USDT:USDT"].filled_qty == 0 and reports["BTC/USDT:USDT"].rejects > 0
    sold = reports["BTC/USDT"].filled_qty
    assert Decimal("0.015") <= sold <= Decimal("0.0167")  # one slice, not the whole 0.2
    assert reports["BTC/USDT"].state == "aborted"  # the deadline ended it, held back
    assert s.execution.max_transient_deviation <= s.execution.max_transient_limit * (1 + 1e-6)
