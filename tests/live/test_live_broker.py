"""Live mode end to end: the engine trades through the real ccxt client against the local
exchange (orders filled on its replayed book); the exchange's positions equal the engine's."""

from __future__ import annotations

import asyncio
import sys
from decimal import Decimal

import msgspec

from engine.feeds.live import LiveEndpoints, make_exchange
from engine.node.config import load_config
from engine.node.runner import Runner
from tests.conftest import ROOT, USDM_BTC, USDM_ETH
from tests.helpers import wait_until

sys.path.insert(0, str(ROOT / "scripts"))
from local_exchange import LocalExchange  # noqa: E402

CONFIG = str(ROOT / "configs" / "demo_perps.toml")
SEED = {"BTC/USDT:USDT": ("1.214", "61800"), "ETH/USDT:USDT": ("9.33", "2680")}


async def _live_run(tmp_path, monkeypatch, fail=(), account=None, withdrawals=False,
                    risk=None, during=None, execution=None, until=None, first_order=(),
                    before=None, adopt_venue=False):
    monkeypatch.setenv("BINANCE_API_KEY", "local-test-key")
    monkeypatch.setenv("BINANCE_API_SECRET", "local-test-secret")
    ex = LocalExchange([USDM_BTC, USDM_ETH], speed=4, funding_interval_ms=15_000,
                       account=account or {"cash": {"USDT": "100000"}, "positions": SEED})
    ex.fail_next.extend(fail)
    ex.fail_first_order.extend(first_order)
    ex.withdrawals_enabled = withdrawals
    if before is not None:
        await before(ex, None)
    port = await ex.start()
    ends = LiveEndpoints(ws_linear=f"ws://127.0.0.1:{port}/ws",
                         rest_base=f"http://127.0.0.1:{port}",
                         account_base=f"http://127.0.0.1:{port}")
    cfg = load_config(CONFIG)
    cfg = msgspec.structs.replace(
        cfg, live=msgspec.structs.replace(cfg.live, ws_linear=ends.ws_linear,
                                          rest_base=ends.rest_base,
                                          account_base=ends.account_base,
                                          reconcile_every_s=0.5),
        execution=msgspec.structs.replace(cfg.execution, **{
            "duration_s": 3.0, "slices": 6, "retry_s": 0.3, "deadline_s": 8.0,
            **(execution or {})}),
        risk=msgspec.structs.replace(cfg.risk, **(risk or {})))
    r = Runner(cfg, CONFIG, open(CONFIG).read(), [], str(tmp_path / "j.sqlite"), mode="live",
               adopt_venue=adopt_venue)
    try:
        async def stop_when_done():
            s = r.session
            if during is not None:
                await wait_until(lambda: s.pipeline.intents, "the first intent")
                await during(ex, r)
            await wait_until(lambda: s.pipeline.intents and not s.execution.busy
                             and not s.broker.in_flight and (until is None or until(r)),
                             "the rebalance to finish")
            r.request_stop("done")

        stopper = asyncio.create_task(stop_when_done())
        report = await asyncio.wait_for(r.run(), 90)
        stopper.cancel()
        client = make_exchange(ends)
        client.apiKey, client.secret = "local-test-key", "local-test-secret"
        try:
            positions = await client.fetch_positions(list(SEED))
        finally:
            await client.close()
    finally:
        await ex.stop()
    return r, report, positions, ex


async def test_live_twap_positions_at_the_exchange_equal_the_engines(tmp_path, monkeypatch):
    # the TWAP finishes, then quiet moments get reconciled with the venue
    r, report, positions, ex = await _live_run(
        tmp_path, monkeypatch, until=lambda r: r.reconciliations >= 2 and any(
            p.funding for p in r.session.portfolio.perps.values())
        and not r.session.execution.busy
        # the position stream can trail the fills on a loaded machine: stop once it caught up
        and r.session.broker.venue_positions_seen == {
            s: p.qty for s, p in r.session.portfolio.perps.items()})
    assert report["intents"] >= 1 and report["fills"] > 0
    assert abs(report["final_weights"]["BTC"] - 0.6) < 0.01
    venue = {p["symbol"]: Decimal(p["info"]["positionAmt"]) for p in positions}
    engine = {s: Decimal(q) for s, q in report["positions"].items()}
    assert venue == engine
    assert report["journal_submissions_unique"] and report["journal_fills"] == report["fills"]
    assert ex.order_requests == report["children"]
    # every venue trade reached the engine exactly once, by the user-data stream or by REST
    broker = r.session.broker
    assert report["fills"] == len(ex.trades) == broker.stream_fills + broker.rest_fills
    assert broker.stream_fills > 0
    assert r.reconciliations >= 1 and r.session.guard.state == "ACTIVE"  # venue agreed
    # no order before the first reconciliation: the guard held until the venue agreed
    changes = [(c.old, c.new, c.reason) for c in r.session.guard.history]
    assert changes[0][:2] == ("ACTIVE", "HALTED") and "first reconciliation" in changes[0][2]
    released = next(c.ts for c in r.session.guard.history if c.old == "HALTED")
    assert min(o.ts_created for o in r.session.execution.sent) >= released
    # the user-data stream's views: every order's end, the positions and the wallet balance
    assert broker.stream_updates >= report["children"]
    assert broker.venue_positions_seen == engine
    assert r.cash_reconciled >= 1  # the wallet on the stream equalled our cash when idle
    # at the stop, a funding settlement may still be on its way to one side
    gap = r.session.portfolio.cash["USDT"] - ex.account.cash["USDT"]
    last_t = ex.funding_paid[-1][1]
    last = sum(Decimal(a) for _, t, a in ex.funding_paid if t == last_t)
    assert gap == 0 or abs(gap) == abs(last)
    # funding (every 15 s of the recording here): booked from the venue's income history
    assert ex.funding_paid
    for sym, p in r.session.portfolio.perps.items():
        paid = [Decimal(a) for s, _, a in ex.funding_paid if s == sym]
        assert p.funding in (sum(paid), sum(paid[:-1]))  # the last one may be on its way


async def test_429_and_5xx_are_retried_with_the_same_client_id(tmp_path, monkeypatch):
    fail = [(429, {"code": -1003, "msg": "Too many requests"}),
            (503, {"code": -1001, "msg": "Internal error; try again"})]
    r, report, positions, ex = await _live_run(tmp_path, monkeypatch, fail)
    broker = r.session.broker
    assert max(broker.attempts.values()) == 1  # one submit per id: retries are inside it
    assert ex.order_requests == report["children"] + 2  # the two failed requests, retried
    venue = {p["symbol"]: Decimal(p["info"]["positionAmt"]) for p in positions}
    assert venue == {s: Decimal(q) for s, q in report["positions"].items()}
    assert len(set(ex.orders)) == report["children"]  # no id reached the venue twice


def test_live_mode_refuses_to_start_without_keys(monkeypatch):
    import pytest

    from engine.core.errors import ConfigError

    monkeypatch.delenv("BINANCE_API_KEY", raising=False)
    monkeypatch.delenv("BINANCE_API_SECRET", raising=False)
    cfg = load_config(CONFIG)
    with pytest.raises(ConfigError, match="BINANCE_API_KEY"):
        Runner(cfg, CONFIG, open(CONFIG).read(), [], None, mode="live")


async def test_a_key_that_can_withdraw_is_refused(tmp_path, monkeypatch):
    import pytest

    from engine.core.errors import FatalError

    with pytest.raises(FatalError, match="withdrawal permission"):
        await _live_run(tmp_path, monkeypatch, withdrawals=True)


async def test_venue_margin_rejection_pauses_then_aborts_with_nothing_lost(tmp_path,
                                                                          monkeypatch):
    # The venue's margin check rejects the ETH buys (-2019: margin held elsewhere, which the
    # engine cannot see); the BTC sells (reducing) go through.
    async def refuse_eth(ex, r):
        ex.reject_orders["ETHUSDT"] = (-2019, "Margin is insufficient.")

    r, report, positions, ex = await _live_run(tmp_path, monkeypatch, before=refuse_eth)
    rejected = [u for u in r.session.execution.updates
                if u.status == "rejected" and u.code == -2019]
    assert rejected and all(u.symbol == "ETH/USDT:USDT" for u in rejected)
    reports = {p.symbol: p for p in r.session.execution.reports()}
    assert reports["ETH/USDT:USDT"].state == "aborted"
    assert reports["ETH/USDT:USDT"].filled_qty == 0
    assert reports["BTC/USDT:USDT"].state == "done"
    venue = {p["symbol"]: Decimal(p["info"]["positionAmt"]) for p in positions}
    assert venue == {s: Decimal(q) for s, q in report["positions"].items()}
    assert report["journal_submissions_unique"]


async def test_stalled_price_stream_mid_twap_goes_reducing_then_resumes(tmp_path, monkeypatch):
    async def stall(ex, r):
        ex.stalled.update({("ethusdt", "bookTicker"), ("ethusdt", "markPrice")})  # ETH prices
        await wait_until(lambda: r.session.guard.state == "REDUCING", "the guard to reduce")
        ex.stalled.clear()

    # an 8 s TWAP, so the stall lands mid-way even when a busy machine leaves the engine
    # seconds behind its feed; the run ends once the guard is back to ACTIVE
    r, report, positions, ex = await _live_run(
        tmp_path, monkeypatch, risk={"max_price_age_s": 1.0}, during=stall,
        execution={"duration_s": 8.0, "slices": 8, "deadline_s": 30.0},
        until=lambda r: r.session.guard.state == "ACTIVE")
    changes = [(c.old, c.new) for c in r.session.guard.history]
    assert ("ACTIVE", "REDUCING") in changes and ("REDUCING", "ACTIVE") in changes
    assert any("ETH/USDT:USDT" in c.reason for c in r.session.guard.history)
    assert all(p.state == "done" for p in r.session.execution.reports())
    venue = {p["symbol"]: Decimal(p["info"]["positionAmt"]) for p in positions}
    assert venue == {s: Decimal(q) for s, q in report["positions"].items()}


async def test_websocket_cut_mid_twap_recovers_with_no_lost_or_duplicated_order(tmp_path,
                                                                                monkeypatch):
    async def cut(ex, r):
        await wait_until(lambda: len(ex.orders) >= 2, "the TWAP to be under way")
        assert await ex.drop_connections() >= 1

    r, report, positions, ex = await _live_run(tmp_path, monkeypatch, during=cut)
    assert r.feed.reconnects >= 1
    assert all(p.state == "done" for p in r.session.execution.reports())
    venue = {p["symbol"]: Decimal(p["info"]["positionAmt"]) for p in positions}
    assert venue == {s: Decimal(q) for s, q in report["positions"].items()}
    assert len(ex.orders) == report["children"] and report["journal_submissions_unique"]
    assert report["fills"] == len(ex.trades)


async def test_positions_are_reconciled_and_a_mismatch_halts(tmp_path, monkeypatch):
    from decimal import Decimal as D

    async def tamper(ex, r):
        await wait_until(lambda: r.reconciliations >= 1 and not r.session.execution.busy,
                         "the TWAP done and the venue agreeing")
        # someone trades the account behind the engine's back
        ex.account.seed_position("ETH/USDT:USDT", D("1.0"), D("2680"))
        seen = r.reconciliations
        # a difference must be seen on two checks in a row
        await wait_until(lambda: r.reconciliations >= seen + 2, "two more reconciliations")

    r, report, positions, ex = await _live_run(tmp_path, monkeypatch, during=tamper)
    assert r.reconciliations >= 2
    assert r.session.guard.state == "HALTED"
    assert "position mismatch" in r.session.guard.history[-1].reason


async def test_resting_children_filled_at_the_venue_reach_the_engine_by_the_stream(
        tmp_path, monkeypatch):
    # Passive children rest on the venue's book; recorded trades fill them there, later, and
    # only the user-data stream says so (fills by watch_my_trades, the end by watch_orders).
    r, report, positions, ex = await _live_run(
        tmp_path, monkeypatch, execution={"mode": "passive_then_cross", "passive_timeout_s": 1.0,
                                          "stale_child_s": 0.5},
        until=lambda r: r.cash_reconciled >= 1)
    broker = r.session.broker
    makers = [f for f, _ in broker.fill_log if f.liquidity == "maker"]
    print(f"\n{len(makers)} maker fills of {report['fills']}, {broker.stream_updates} order ends "
          "by stream")
    # an order filled while resting ends at the venue: only the stream can say so
    qty = {o.client_order_id: o.qty for o in r.session.execution.sent}
    filled: dict[str, Decimal] = {}
    for f in makers:
        filled[f.order_id] = filled.get(f.order_id, Decimal(0)) + f.qty
    done_resting = [c for c, q in filled.items() if q == qty[c]]
    assert makers and broker.stream_fills >= len(makers)
    assert broker.stream_updates >= len(done_resting)
    # a cancel sent while its order was still on its way waited for it: none was left resting
    assert not ex.matcher.open_orders()
    assert all(p.state == "done" for p in r.session.execution.reports())
    venue = {p["symbol"]: Decimal(p["info"]["positionAmt"]) for p in positions}
    assert venue == {s: Decimal(q) for s, q in report["positions"].items()}
    assert report["fills"] == len(ex.trades) and report["journal_submissions_unique"]
    assert r.cash_reconciled >= 1


async def test_an_order_booked_but_every_answer_lost_is_found_not_called_rejected(tmp_path,
                                                                                 monkeypatch):
    # The first attempt reaches the venue but its answer is a 503; the four retries fail too
    # (before reaching it). Giving up, the broker asks for the order by its id and finds it.
    err = {"code": -1001, "msg": "Internal error; try again"}
    plan = [(503, err, "after_booking")] + [(503, err)] * 4
    r, report, positions, ex = await _live_run(tmp_path, monkeypatch, first_order=plan)
    first = next(iter(ex.orders))
    assert r.session.broker.attempts[first] == 1 and not ex.fail_first_order  # all 5 used
    ups = [u for u in r.session.execution.updates if u.client_order_id == first]
    assert ups and all(u.status != "rejected" for u in ups)
    assert len(ex.orders) == report["children"] and report["journal_submissions_unique"]
    assert report["fills"] == len(ex.trades)
    venue = {p["symbol"]: Decimal(p["info"]["positionAmt"]) for p in positions}
    assert venue == {s: Decimal(q) for s, q in report["positions"].items()}
    assert all(p.state == "done" for p in r.session.execution.reports())


async def test_a_live_start_on_a_venue_that_disagrees_is_refused_naming_it(tmp_path,
                                                                         monkeypatch):
    import pytest

    from engine.core.errors import ConfigError

    seen = {}

    async def keep(ex, r):
        seen["ex"] = ex

    account = {"cash": {"USDT": "98000"},
               "positions": {**SEED, "BTC/USDT:USDT": ("1.5", "61800")}}
    with pytest.raises(ConfigError) as err:
        await _live_run(tmp_path, monkeypatch, account=account, before=keep)
    msg = str(err.value)
    assert "BTC/USDT:USDT position: config 1.214, venue 1.5" in msg
    assert "USDT wallet: config 100000, venue 98000" in msg and "--adopt-venue" in msg
    assert not seen["ex"].orders  # refused before any order


async def test_adopt_venue_trades_from_what_the_venue_holds(tmp_path, monkeypatch):
    account = {"cash": {"USDT": "98000"},
               "positions": {**SEED, "BTC/USDT:USDT": ("1.5", "61500")}}
    r, report, positions, ex = await _live_run(tmp_path, monkeypatch, account=account,
                                               adopt_venue=True)
    assert r.venue_start["differences"]
    assert abs(report["final_weights"]["BTC"] - 0.6) < 0.01
    venue = {p["symbol"]: Decimal(p["info"]["positionAmt"]) for p in positions}
    assert venue == {s: Decimal(q) for s, q in report["positions"].items()}
    assert report["journal_submissions_unique"] and r.session.guard.state == "ACTIVE"


async def test_the_venue_checks_our_signature_and_refuses_a_wrong_secret(tmp_path, monkeypatch):
    """The local exchange verifies HMAC signatures as Binance does: every signed request of a
    run passed, and the same client with a wrong secret gets -1022 (a fatal auth error)."""
    import pytest

    from engine.core.errors import VenueAuthError

    r, report, positions, ex = await _live_run(tmp_path, monkeypatch)
    assert report["fills"] > 0 and ex.bad_signatures == 0
    await ex.start()
    client = make_exchange(LiveEndpoints(rest_base=f"http://127.0.0.1:{ex.port}"))
    client.apiKey, client.secret = "local-test-key", "not-the-secret"
    try:
        from engine.brokers.live import LiveBroker
        from engine.core.clock import LiveClock
        from engine.execution.markets import load_markets_offline

        broker = LiveBroker(client, load_markets_offline(), LiveClock())
        with pytest.raises(VenueAuthError, match="Signature for this request is not valid"):
            await broker.venue_positions(list(SEED))
    finally:
        await client.close()
        await ex.stop()
    assert ex.bad_signatures == 1
