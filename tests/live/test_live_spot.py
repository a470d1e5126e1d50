"""Live spot and perps through the real ccxt clients (binance spot and binanceusdm) against
the local exchange playing the spot and USD-M captures of the same minutes: spot orders, the
transfer that margins the perps, both wallets and the positions equal to the venue's at the
end, no client id twice, and a transfer journaled once across a kill -9 between its request
and its answer."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from decimal import Decimal

import msgspec
import pytest

from engine.feeds.live import LiveEndpoints, make_exchange
from engine.journal.store import Journal
from engine.node.config import load_config
from engine.node.runner import Runner
from tests.conftest import ROOT
from tests.helpers import at_local_exchange, wait_until

sys.path.insert(0, str(ROOT / "scripts"))
from local_exchange import BUNDLED, BUNDLED_SPOT, LocalExchange  # noqa: E402

ENV = {"BINANCE_API_KEY": "local-test-key", "BINANCE_API_SECRET": "local-test-secret"}
# the venue holds what configs/demo.toml says: spot coins and USDT, futures margin
DEMO_VENUE = {"cash": {"USDT": "2000"},
              "spot": {"BTC": "1.214", "ETH": "9.33", "USDT": "8000"}}
# ... and what configs/demo_spot.toml says: a spot wallet alone
SPOT_VENUE = {"cash": {}, "spot": {"BTC": "1.214", "ETH": "9.33", "USDT": "2000"}}


def _endpoints(port: int) -> LiveEndpoints:
    base = f"http://127.0.0.1:{port}"
    return LiveEndpoints(ws_linear=f"ws://127.0.0.1:{port}/ws",
                         ws_spot=f"ws://127.0.0.1:{port}/spot/ws",
                         ws_api_spot=f"ws://127.0.0.1:{port}/spot/ws-api/v3",
                         rest_base=base, account_base=base)


def _live_cfg(path: str, port: int):
    cfg = at_local_exchange(load_config(path), port, duration_s=3.0, slices=6, retry_s=0.3,
                            deadline_s=8.0)
    return msgspec.structs.replace(cfg, live=msgspec.structs.replace(cfg.live,
                                                                     reconcile_every_s=0.5))


def _caught_up(r) -> bool:
    """The venue's streams told us what we hold: both wallets and the positions agree."""
    s, b = r.session, r.session.broker
    spot_ok = all(b.venue_spot.get(a, Decimal(0)) == q for a, q in s.portfolio.holdings.items())
    fut = s.portfolio.wallets["futures"].get("USDT", Decimal(0))
    return (not s.execution.busy and not b.in_flight and spot_ok
            and r.venue.spot_differences(Decimal("0.01")) == {}
            and (not s.portfolio.perps or b.venue_cash.get("USDT") == fut))


async def _run(cfg, path: str, journal: str, monkeypatch) -> tuple[Runner, dict]:
    for k, v in ENV.items():
        monkeypatch.setenv(k, v)
    r = Runner(cfg, path, open(path).read(), [], journal, mode="live")

    async def stop_when_done():
        await wait_until(lambda: r.session.pipeline.intents and _caught_up(r)
                         and r.reconciliations >= 2, "the rebalance and the venue's streams")
        r.request_stop("done")

    stopper = asyncio.create_task(stop_when_done())
    report = await asyncio.wait_for(r.run(), 90)
    stopper.cancel()
    return r, report


async def _venue_wallets(port: int) -> tuple[dict, dict, dict]:
    """(spot wallet, futures wallet, positions) as the venue reports them by REST."""
    from engine.venues.binance import user_data as ud

    spot = make_exchange(_endpoints(port), spot=True)
    fut = make_exchange(_endpoints(port))
    for c in (spot, fut):
        c.apiKey, c.secret = ENV["BINANCE_API_KEY"], ENV["BINANCE_API_SECRET"]
    try:
        s = ud.spot_balances(await spot.fetch_balance())
        f = ud.wallet_balances(await fut.fetch_balance())
        pos = {p["symbol"]: Decimal(p["info"]["positionAmt"])
               for p in await fut.fetch_positions(["BTC/USDT:USDT", "ETH/USDT:USDT"])}
    finally:
        await spot.close()
        await fut.close()
    return s, f, pos


async def _venue_run(ex: LocalExchange, config: str, tmp_path, monkeypatch):
    """configs/`config` live on `ex`: (runner, report, and the venue's spot wallet, futures
    wallet and positions at the end)."""
    port = await ex.start()
    path = str(ROOT / "configs" / config)
    try:
        r, report = await _run(_live_cfg(path, port), path, str(tmp_path / "j.sqlite"),
                               monkeypatch)
        return (r, report, *await _venue_wallets(port))
    finally:
        await ex.stop()


async def test_live_spot_core_with_a_perp_overlay_and_the_transfer_that_margins_it(
        tmp_path, monkeypatch):
    ex = LocalExchange(BUNDLED + BUNDLED_SPOT, speed=4, account=DEMO_VENUE)
    r, report, spot, fut, pos = await _venue_run(ex, "demo.toml", tmp_path, monkeypatch)
    s = r.session
    assert report["spot_end"] == report["spot_start"] == {"BTC": "1.214", "ETH": "9.33"}
    assert abs(report["net_weights"]["BTC"] - 0.6) < 0.01
    # one transfer, at the venue and in the journal, before the first perp order
    assert len(ex.transfers) == 1 and report["transfers"] == report["journal_transfers"] == 1
    assert ex.transfers[0]["type"] == "MAIN_UMFUTURE"
    # both wallets and the positions equal the venue's
    assert spot["USDT"] == s.portfolio.wallets["spot"]["USDT"]
    assert {a: spot[a] for a in ("BTC", "ETH")} == s.portfolio.holdings
    assert fut["USDT"] == s.portfolio.wallets["futures"]["USDT"]
    assert pos == {sym: p.qty for sym, p in s.portfolio.perps.items()}
    assert report["journal_submissions_unique"] and report["client_order_ids_unique"]
    assert len(ex.orders) == report["children"]  # no id reached the venue twice
    assert s.guard.state == "ACTIVE" and r.reconciliations >= 2


async def test_live_spot_rebalance_sells_btc_and_buys_eth_through_the_spot_api(
        tmp_path, monkeypatch):
    ex = LocalExchange(BUNDLED_SPOT, speed=4, account=SPOT_VENUE)
    r, report, spot, _, _ = await _venue_run(ex, "demo_spot.toml", tmp_path, monkeypatch)
    s = r.session
    w = report["final_weights"]
    assert abs(w["BTC"] / (w["BTC"] + w["ETH"]) - 0.6) < 0.01
    assert s.portfolio.holdings["BTC"] < Decimal("1.214") < Decimal("9.33") < \
        s.portfolio.holdings["ETH"]
    assert {a: spot[a] for a in ("BTC", "ETH")} == s.portfolio.holdings
    assert spot["USDT"] == s.portfolio.wallets["spot"]["USDT"] >= 0
    assert all(o["_spot"] for o in ex.orders.values()) and ex.spot_trades
    assert report["fills"] == report["journal_fills"] == len(ex.spot_trades)
    assert len(ex.orders) == report["children"] and report["journal_submissions_unique"]
    assert r.session.broker.stream_fills > 0  # executionReport through the WebSocket API


def _config_file(tmp_path, port: int, config: str) -> str:
    """configs/`config` as a file of its own, pointed at the local exchange on `port`."""
    e = _endpoints(port)
    text = (ROOT / "configs" / config).read_text()
    path = tmp_path / "live.toml"
    path.write_text(text.replace('"../scripts/', f'"{ROOT}/scripts/')
                    .replace("duration_s = 120", "duration_s = 3")
                    .replace("slices = 12", "slices = 6") + (
        f'\n[live]\nws_linear = "{e.ws_linear}"\nws_spot = "{e.ws_spot}"\n'
        f'ws_api_spot = "{e.ws_api_spot}"\nrest_base = "{e.rest_base}"\n'
        f'account_base = "{e.account_base}"\nreconcile_every_s = 0.5\n'))
    return str(path)


async def _killed_then_resumed(ex: LocalExchange, config: str, tmp_path, monkeypatch,
                               kill_when) -> tuple[Runner, dict, list, tuple]:
    """Attempt 1 in a subprocess, SIGKILLed from the venue's side once `kill_when(ex)` holds
    as it books something (before it answers); attempt 2 in this process on the same journal
    until rebalanced. Returns (runner, report, the journal's rows after the kill as
    [(transfer status, amount)], [(client id,)] submissions), the venue's wallets)."""
    port = await ex.start()
    cfg_path = _config_file(tmp_path, port, config)
    journal = str(tmp_path / "j.sqlite")
    try:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "engine", "run", "--config", cfg_path, "--mode", "live",
            "--journal", journal, "--duration", "60", cwd=str(ROOT),
            env={**os.environ, **ENV}, stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL)

        def kill(ident: str) -> None:
            if kill_when(ex) and proc.returncode is None:
                proc.send_signal(signal.SIGKILL)  # done at the venue, never answered
        ex.before_reply = kill
        assert await asyncio.wait_for(proc.wait(), 60) == -signal.SIGKILL
        ex.before_reply = None
        j = await Journal.open(journal)
        try:
            rows = (await j.fetchall("SELECT status, amount FROM transfers"),
                    await j.fetchall("SELECT client_order_id FROM submissions"))
        finally:
            await j.close()
        r, report = await _run(load_config(cfg_path), cfg_path, journal, monkeypatch)
        return r, report, rows, await _venue_wallets(port)
    finally:
        await ex.stop()


async def test_kill_9_between_a_transfer_and_its_answer_journals_it_once(tmp_path,
                                                                        monkeypatch):
    """The engine asks for the transfer; the venue books it and the engine is killed before
    the answer. The restart finds it in the venue's transfer history: done, journaled once,
    not asked for again; the rebalance then completes with both wallets equal the venue's."""
    ex = LocalExchange(BUNDLED + BUNDLED_SPOT, speed=4, account=DEMO_VENUE)
    r, report, (transfers, sent), (spot, fut, pos) = await _killed_then_resumed(
        ex, "demo.toml", tmp_path, monkeypatch, lambda ex: ex.transfers)
    assert transfers == [("requested", "8000.00")] and sent == []  # durable, unanswered
    s = r.session
    # found done in the venue's transfer history
    assert list(r.resumed["unfinished_transfers"].values()) == ["done"]
    assert len(ex.transfers) == 1 and report["journal_transfers"] == 1  # asked for once
    assert report["transfers"] == 0  # this attempt made none: it found the first one done
    assert fut["USDT"] == s.portfolio.wallets["futures"]["USDT"]
    assert spot["USDT"] == s.portfolio.wallets["spot"]["USDT"] == Decimal("0.00")
    assert pos == {sym: p.qty for sym, p in s.portfolio.perps.items()} != {}
    assert report["journal_submissions_unique"]


async def test_kill_9_with_a_spot_order_unanswered_settles_it_by_its_client_id(
        tmp_path, monkeypatch):
    """Killed once the venue booked the third spot order, before its answer: the restart
    looks it up by client id on the spot API, takes in its fills, sends nothing twice, and the
    spot wallet ends equal to the venue's."""
    ex = LocalExchange(BUNDLED_SPOT, speed=4, account=SPOT_VENUE)
    r, report, (_, sent), (spot, _, _) = await _killed_then_resumed(
        ex, "demo_spot.toml", tmp_path, monkeypatch, lambda ex: len(ex.orders) >= 3)
    third = list(ex.orders)[2]
    settled = r.resumed["unfinished_orders"]
    assert settled[third] in ("filled", "expired")  # an IOC: over at the venue
    s = r.session
    assert report["journal_submissions_unique"] and len(set(ex.orders)) == len(ex.orders)
    assert report["journal_fills"] == len(ex.spot_trades)  # every venue trade once
    assert {a: spot[a] for a in ("BTC", "ETH")} == s.portfolio.holdings
    assert spot["USDT"] == s.portfolio.wallets["spot"]["USDT"]
    w = report["final_weights"]
    assert abs(w["BTC"] / (w["BTC"] + w["ETH"]) - 0.6) < 0.01


async def test_a_spot_order_booked_with_its_answer_lost_is_found_by_its_client_id(
        tmp_path, monkeypatch):
    """HTTP 503 after the venue booked the first spot order, then 429 before booking one:
    retried with the same client id (the venue says -2010 "Duplicate order sent.", so the
    broker looks the order up by that id); no order twice, the wallets equal the venue's."""
    ex = LocalExchange(BUNDLED_SPOT, speed=4, account=SPOT_VENUE)
    ex.fail_next.extend([(503, {"code": -1001, "msg": "Internal error"}, "after_booking"),
                         (429, {"code": -1003, "msg": "Too many requests"})])
    r, report, spot, _, _ = await _venue_run(ex, "demo_spot.toml", tmp_path, monkeypatch)
    s = r.session
    assert not ex.fail_next  # both faults were met
    assert len(ex.orders) == report["children"]  # the booked one was not placed again
    assert ex.order_requests == report["children"] + 2  # one retry after each fault
    assert max(s.broker.attempts.values()) == 1 and report["journal_submissions_unique"]
    assert {a: spot[a] for a in ("BTC", "ETH")} == s.portfolio.holdings
    assert spot["USDT"] == s.portfolio.wallets["spot"]["USDT"]


async def test_a_transfer_whose_answer_is_lost_is_not_sent_again(tmp_path, monkeypatch):
    """The venue does the transfer and answers 503: a transfer carries no id of ours, so it
    is never resent; the venue's history says it is done, and it is booked once."""
    ex = LocalExchange(BUNDLED + BUNDLED_SPOT, speed=4, account=DEMO_VENUE)
    ex.fail_next_transfer.append((503, {"code": -1001, "msg": "Internal error"},
                                  "after_booking"))
    r, report, spot, fut, _ = await _venue_run(ex, "demo.toml", tmp_path, monkeypatch)
    s = r.session
    assert ex.transfer_requests == 1 and len(ex.transfers) == 1  # asked for once
    assert report["transfers"] == report["journal_transfers"] == 1
    assert fut["USDT"] == s.portfolio.wallets["futures"]["USDT"]
    assert spot["USDT"] == s.portfolio.wallets["spot"]["USDT"] == Decimal("0.00")


async def test_a_key_without_universal_transfer_is_refused_at_start(tmp_path, monkeypatch):
    from engine.core.errors import FatalError

    ex = LocalExchange(BUNDLED + BUNDLED_SPOT, speed=4, account=DEMO_VENUE)
    ex.transfers_enabled = False  # the demo moves margin between wallets: it needs this
    with pytest.raises(FatalError, match="lacks universal transfer"):
        await _venue_run(ex, "demo.toml", tmp_path, monkeypatch)
    assert ex.order_requests == 0 and ex.transfer_requests == 0
