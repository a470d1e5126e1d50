"""Two wallets as on the venue, and the transfers between them.

The arithmetic of the policy on small hand-written cases (no recording holds a transfer: the
venue's answer to one is not in any capture we have), then the real engine on the bundled spot
+ USD-M minutes: the perp overlay's margin moved in before the first perp order, the excess
moved back once the perps are closed, a spot buy paid by a transfer from the futures wallet,
and a transfer the source cannot spare failing without moving anything."""

from __future__ import annotations

from decimal import Decimal

import msgspec
import pytest

from engine.execution.transfers import AccountsCfg, TransferPolicy
from engine.feeds.capture import merge_captures
from engine.model import LegTarget, RebalanceIntent, Transfer
from engine.node.config import TriggersCfg, load_config
from engine.node.runner import resolve_inputs
from engine.node.session import PaperSession
from engine.portfolio.instruments import instrument_from_symbol
from engine.portfolio.state import Portfolio
from tests.conftest import ROOT

D = Decimal
CONFIG = str(ROOT / "configs" / "demo.toml")
PERP = "BTC/USDT:USDT"


def _portfolio(spot_usdt="0", futures_usdt="1000", btc_perp="0") -> Portfolio:
    p = Portfolio([instrument_from_symbol("BTC/USDT"),
                   instrument_from_symbol(PERP, leverage=5)],
                  cash={}, spot_cash={"USDT": spot_usdt}, futures_cash={"USDT": futures_usdt})
    p.on_price("BTC/USDT", 50_000.0)
    p.on_price(PERP, 50_000.0)
    if D(btc_perp):
        p.seed_position(PERP, D(btc_perp), D("50000"))
    return p


def test_perp_margin_comes_from_the_futures_wallet_only():
    p = _portfolio(spot_usdt="100000", futures_usdt="1000", btc_perp="0.1")
    # 0.1 BTC × 50,000 / 5 = 1,000 of initial margin against the futures wallet's 1,000
    assert p.initial_margin == pytest.approx(1000.0)
    assert p.margin_balance == pytest.approx(1000.0) and p.margin_utilisation == pytest.approx(1)
    assert p.nav == pytest.approx(101_000.0)  # NAV counts both wallets
    assert p.cash == {"USDT": D("101000")}


def test_a_transfer_moves_cash_once_and_a_failed_one_moves_nothing():
    p = _portfolio(spot_usdt="5000", futures_usdt="1000")
    t = Transfer(transfer_id="t1", asset="USDT", amount=D("1234.56"), from_wallet="spot",
                 to_wallet="futures", status="done", ts=1)
    assert p.apply(t) is None
    p.apply(t)  # the same id again: applied once
    p.apply(msgspec.structs.replace(t, transfer_id="t2", status="failed"))
    assert p.wallet("spot") == {"USDT": D("3765.44")}
    assert p.wallet("futures") == {"USDT": D("2234.56")}
    assert p.margin_balance == pytest.approx(2234.56)


def test_top_up_brings_the_plans_utilisation_to_the_target_within_the_limits():
    cfg = AccountsCfg(max_transfer=D("100000"), margin_target=0.5)
    p = _portfolio(spot_usdt="50000", futures_usdt="1000")
    prices = {PERP: 50_000.0, "BTC/USDT": 50_000.0}
    # a plan to short 1 BTC perp: 10,000 of initial margin needs 20,000 at 50% utilisation
    req = TransferPolicy(cfg).top_up(p, {PERP: D("-1")}, prices, now=7, why="test")
    assert (req.amount, req.from_wallet, req.to_wallet) == (D("19000.00"), "spot", "futures")
    # at most max_transfer, at most what the spot wallet holds beyond its own pending buys
    capped = msgspec.structs.replace(cfg, max_transfer=D("5000"))
    assert TransferPolicy(capped).top_up(p, {PERP: D("-1")}, prices, 7, "t").amount == D("5000")
    busy = {PERP: D("-1"), "BTC/USDT": D("0.7")}  # 35,070 of spot buys pending (with fees)
    assert TransferPolicy(cfg).top_up(p, busy, prices, 7, "t").amount == D("14930.00")
    # under the target: nothing; what the spot wallet can give below min_transfer: nothing
    assert TransferPolicy(cfg).top_up(p, {PERP: D("-0.01")}, prices, 7, "t") is None
    poor = _portfolio(spot_usdt="9.99", futures_usdt="1000")
    assert TransferPolicy(cfg).top_up(poor, {PERP: D("-1")}, prices, 7, "t") is None


def test_excess_margin_goes_back_only_below_return_below():
    cfg = AccountsCfg(max_transfer=D("100000"), margin_target=0.5, return_below=0.4)
    pol = TransferPolicy(cfg)
    # 0.1 BTC short: 1,000 of margin; 2,000 keeps it at 50%, so 8,000 of 10,000 is excess
    p = _portfolio(futures_usdt="10000", btc_perp="-0.1")
    req = pol.excess(p, now=1)
    assert (req.amount, req.from_wallet, req.to_wallet) == (D("8000.00"), "futures", "spot")
    assert pol.excess(_portfolio(futures_usdt="2400", btc_perp="-0.1"), 1) is None  # 41.7%


def test_a_spot_buy_the_spot_wallet_cannot_pay_draws_what_the_plan_lacks():
    cfg = AccountsCfg(max_transfer=D("100000"), margin_target=0.5)
    p = _portfolio(spot_usdt="100", futures_usdt="30000", btc_perp="-0.1")
    prices = {PERP: 50_000.0, "BTC/USDT": 50_000.0}
    # buying 0.2 BTC spot (10,000 + 0.2% fee allowance) with 100 in the spot wallet
    req = TransferPolicy(cfg).for_spot_buy(p, D("5000"), {"BTC/USDT": D("0.2")}, prices, 3)
    assert (req.amount, req.from_wallet, req.to_wallet) == (D("9920.00"), "futures", "spot")
    # the futures wallet keeps what margins its perps at the target: 30,000 - 2,000 spare
    big = {"BTC/USDT": D("1")}
    assert TransferPolicy(cfg).for_spot_buy(p, D("5000"), big, prices, 3).amount == D("28000")


# -- the real engine on the bundled spot + USD-M minutes ------------------------------------

def _session(**accounts) -> tuple[PaperSession, list]:
    cfg = load_config(CONFIG)
    cfg = msgspec.structs.replace(
        cfg, triggers=TriggersCfg(),  # only the intents below
        accounts=msgspec.structs.replace(cfg.accounts, **accounts))
    return PaperSession(cfg), list(merge_captures(resolve_inputs(cfg, CONFIG, None)))


def _warm_session() -> tuple[PaperSession, object]:
    """A session on the demo's replay, fed until every book is synced; the rest to come."""
    s, events = _session()
    it = iter(events)
    for ev in it:
        s.on_event(ev)
        if s.pipeline._warm():
            break
    return s, it


def _intent(s: PaperSession, iid: str, targets: dict[str, float]) -> None:
    now = s.clock.now_ns()
    s.execution.on_intent(RebalanceIntent(
        intent_id=iid, rule="test", reason=iid, ts_recv=now, ts_decided=now,
        targets=tuple(LegTarget(symbol=k, notional=v) for k, v in targets.items())), now)
    s.execution.dispatch(now)


def test_perp_margin_moves_in_before_the_first_perp_order_and_back_when_in_excess():
    s, it = _warm_session()
    assert s.portfolio.wallet("futures") == {"USDT": D("2000")}
    _intent(s, "hedge", {"BTC/USDT:USDT": -9000.0, "ETH/USDT:USDT": 19000.0})
    first_child = None
    for ev in it:
        s.on_event(ev)
        if first_child is None and s.execution.sent:
            first_child = s.execution.sent[0].ts_created
        if not s.execution.busy:
            break
    t = s.execution.transfer_log
    assert [(x.from_wallet, x.to_wallet, x.status) for x in t] == [("spot", "futures", "done")]
    assert t[0].ts <= first_child  # settled before the first perp order was even made
    # all 8,000 the spot wallet had (the plan wanted ~11,200 for 50%)
    assert t[0].amount == D("8000.00") and s.portfolio.wallet("spot") == {"USDT": D("0.00")}
    assert 0.5 < s.portfolio.margin_utilisation <= 0.8
    # close the perps: the futures wallet's cash is all excess and goes back to spot
    _intent(s, "close", {"BTC/USDT:USDT": 0.0, "ETH/USDT:USDT": 0.0})
    for ev in it:
        s.on_event(ev)
        if len(s.execution.transfer_log) == 2:
            break
    back = s.execution.transfer_log[1]
    assert (back.from_wallet, back.to_wallet, back.status) == ("futures", "spot", "done")
    assert all(p.qty == 0 for p in s.portfolio.perps.values())
    fut = s.portfolio.wallet("futures")["USDT"]
    assert D(0) <= fut < D("0.01")  # all but the sub-cent rest
    assert s.portfolio.wallet("spot")["USDT"] == back.amount
    assert s.portfolio.holdings == {"BTC": D("1.214"), "ETH": D("9.33")}  # spot untouched


def test_a_spot_buy_is_paid_by_a_transfer_from_the_futures_wallet():
    s, it = _warm_session()
    eth = s.portfolio.spot_value("ETH")
    _intent(s, "buy-eth", {"ETH/USDT": eth + 9000.0})  # 9,000 more ETH spot: 8,000 on hand
    for ev in it:
        s.on_event(ev)
        if not s.execution.busy:
            break
    t = s.execution.transfer_log
    assert t and all((x.from_wallet, x.to_wallet, x.status) == ("futures", "spot", "done")
                     for x in t)
    moved = sum(x.amount for x in t)
    assert D("1000") < moved <= D("2000")  # what the buys lacked, within the futures wallet
    [r] = s.execution.reports()
    assert r.state == "done" and r.rejects == 0  # no -2010: every child could be paid
    assert s.portfolio.wallet("spot")["USDT"] >= 0


def test_a_transfer_the_source_cannot_spare_fails_and_moves_nothing():
    s, it = _warm_session()
    from engine.model import TransferRequest

    now = s.clock.now_ns()
    s.broker.transfer(TransferRequest(transfer_id="too-much", asset="USDT", amount=D("8000.01"),
                                      from_wallet="spot", to_wallet="futures"), now)
    s.execution.poll_broker(now + s.broker.latency_ns)
    [t] = s.execution.transfer_log
    assert t.status == "failed" and "-5013" in t.reason
    assert s.portfolio.wallet("spot") == {"USDT": D("8000")}
    assert s.portfolio.wallet("futures") == {"USDT": D("2000")}


def test_no_money_moves_while_halted_and_a_refused_transfer_backs_off():
    s, it = _warm_session()
    now = s.clock.now_ns()
    s.guard.kill("test: a person stopped trading", now)
    _intent(s, "hedge", {"BTC/USDT:USDT": -9000.0})
    for _ in range(200):
        s.on_event(next(it))
    assert s.execution.transfer_log == [] and s.portfolio.wallet("futures") == {"USDT": 2000}
    # a refusal (the spot wallet cannot spare it) waits retry_s, then twice as long
    ex = s.execution
    ex._transfer_settled(Transfer(transfer_id="x", asset="USDT", amount=D(1), from_wallet="spot",
                                  to_wallet="futures", status="failed", ts=now), now)
    first = ex._transfer_retry_at - now
    ex._transfer_settled(Transfer(transfer_id="y", asset="USDT", amount=D(1), from_wallet="spot",
                                  to_wallet="futures", status="failed", ts=now), now)
    assert first == int(s.cfg.execution.retry_s * 1e9)
    assert ex._transfer_retry_at - now == 2 * first
