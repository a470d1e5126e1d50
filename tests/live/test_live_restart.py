"""A live run killed (SIGKILL) and started again on the same journal: the orders it left
unfinished are settled with the venue (looked up by client id, fills taken in, open ones
cancelled, unsent ones marked so), nothing is sent twice, and the rebalance completes with
the venue's positions and wallet equal to the engine's."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from decimal import Decimal

from engine.feeds.live import LiveEndpoints, make_exchange
from engine.node.runner import Runner
from tests.conftest import ROOT, USDM_BTC, USDM_ETH
from tests.live.restart import journal_rows, resume_live

sys.path.insert(0, str(ROOT / "scripts"))
from local_exchange import LocalExchange  # noqa: E402

SEED = {"BTC/USDT:USDT": ("1.214", "61800"), "ETH/USDT:USDT": ("9.33", "2680")}
ENV = {"BINANCE_API_KEY": "local-test-key", "BINANCE_API_SECRET": "local-test-secret"}


def _config(tmp_path, port: int, mode: str) -> str:
    text = (ROOT / "configs" / "demo_perps.toml").read_text()
    text = (text.replace("duration_s = 120", "duration_s = 4")
            .replace("slices = 12", "slices = 8").replace("retry_s = 1.0", "retry_s = 0.3")
            .replace('mode = "marketable"', f'mode = "{mode}"\npassive_timeout_s = 1.0\n'
                                            "stale_child_s = 0.5\ndeadline_s = 10"))
    text += (f'\n[live]\nws_linear = "ws://127.0.0.1:{port}/ws"\n'
             f'rest_base = "http://127.0.0.1:{port}"\naccount_base = "http://127.0.0.1:{port}"\n'
             "reconcile_every_s = 0.5\n")
    path = tmp_path / "live.toml"
    path.write_text(text)
    return str(path)


async def _first_attempt(cfg_path: str, journal: str, env: dict, ex: LocalExchange,
                         kill_at_order: int | None = None) -> int:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "engine", "run", "--config", cfg_path, "--mode", "live",
        "--journal", journal, "--duration", "60", cwd=str(ROOT),
        env={**os.environ, **ENV, **env}, stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL)
    if kill_at_order is not None:
        def kill(cid: str) -> None:
            if len(ex.orders) >= kill_at_order and proc.returncode is None:
                proc.send_signal(signal.SIGKILL)  # booked at the venue, never answered
        ex.before_reply = kill
    rc = await asyncio.wait_for(proc.wait(), 60)
    ex.before_reply = None
    return rc


async def _second_attempt(cfg_path: str, journal: str, monkeypatch) -> Runner:
    r, r.report_out = await resume_live(cfg_path, journal, ENV, monkeypatch)
    return r


async def _venue(port: int) -> dict[str, Decimal]:
    client = make_exchange(LiveEndpoints(rest_base=f"http://127.0.0.1:{port}"))
    client.apiKey, client.secret = "local-test-key", "local-test-secret"
    try:
        rows = await client.fetch_positions(list(SEED))
    finally:
        await client.close()
    return {p["symbol"]: Decimal(p["info"]["positionAmt"]) for p in rows}


async def _crash_and_resume(tmp_path, monkeypatch, env: dict, kill_at_order=None):
    """Attempt 1 in a subprocess, SIGKILLed; attempt 2 in this process on the same journal.
    Returns the exchange, the second runner, the venue's positions, the client ids the venue
    had before the restart (in arrival order) and the journal path."""
    ex = LocalExchange([USDM_BTC, USDM_ETH], speed=4,
                       account={"cash": {"USDT": "100000"}, "positions": SEED})
    port = await ex.start()
    try:
        cfg = _config(tmp_path, port, "marketable")
        journal = str(tmp_path / "j.sqlite")
        rc = await _first_attempt(cfg, journal, env, ex, kill_at_order=kill_at_order)
        assert rc == -signal.SIGKILL
        sent_before = list(ex.orders)
        r = await _second_attempt(cfg, journal, monkeypatch)
        venue = await _venue(port)
    finally:
        await ex.stop()
    return ex, r, venue, sent_before, journal


async def test_killed_before_sending_a_durable_batch_resumes_without_resending(tmp_path,
                                                                              monkeypatch):
    ex, r, venue, sent_before, journal = await _crash_and_resume(
        tmp_path, monkeypatch, {"BALLAST_CRASH_BEFORE_DISPATCH": "3"})
    report = r.report_out
    unsent = [c for c, st in r.resumed["unfinished_orders"].items() if st == "unsent"]
    assert unsent and not set(unsent) & set(ex.orders)  # durable, never sent, never resent
    assert set(ex.orders) >= set(sent_before)
    subs, orders, fills = await journal_rows(journal)
    assert {attempt for _, attempt in subs} == {1, 2}
    assert len(subs) == len({c for c, _ in subs})  # no client id submitted twice
    assert all(orders[c] == "unsent" for c in unsent)
    assert len(fills) == len(ex.trades) == len({t for (t,) in fills})  # every venue trade once
    assert venue == {s: Decimal(q) for s, q in report["positions"].items()}
    assert abs(report["final_weights"]["BTC"] - 0.6) < 0.01
    assert r.session.broker.venue_cash["USDT"] == r.session.portfolio.cash["USDT"]
    assert r.session.guard.state == "ACTIVE"


async def test_killed_with_an_order_at_the_venue_unanswered_settles_it_on_restart(tmp_path,
                                                                                 monkeypatch):
    ex, r, venue, sent_before, journal = await _crash_and_resume(tmp_path, monkeypatch, {},
                                                                 kill_at_order=3)
    third = list(sent_before)[-1]  # booked (resting or done) but its answer never came
    report = r.report_out
    settled = r.resumed["unfinished_orders"]
    assert third in settled and settled[third] in ("filled", "expired")  # IOC: done there
    subs, orders, fills = await journal_rows(journal)
    assert len(subs) == len({c for c, _ in subs})
    assert set(orders) >= set(ex.orders)  # every order the venue saw is in the journal
    assert all(orders[c] != "sent" for c in ex.orders)  # and ended there
    assert len(fills) == len(ex.trades) == len({t for (t,) in fills})
    assert venue == {s: Decimal(q) for s, q in report["positions"].items()}
    assert abs(report["final_weights"]["BTC"] - 0.6) < 0.01
    assert r.session.broker.venue_cash["USDT"] == r.session.portfolio.cash["USDT"]


async def test_recover_cancels_an_open_order_takes_fills_and_marks_the_unsent():
    """The broker's restart lookup, order by order, on the real client and venue."""
    from engine.brokers.live import LiveBroker
    from engine.core.clock import LiveClock
    from engine.execution.markets import load_markets_offline

    ex = LocalExchange([USDM_BTC], speed=30,
                       account={"cash": {"USDT": "100000"}, "positions": {}})
    port = await ex.start()
    client = make_exchange(LiveEndpoints(rest_base=f"http://127.0.0.1:{port}"))
    client.apiKey, client.secret = "local-test-key", "local-test-secret"
    sym = "BTC/USDT:USDT"
    try:
        bid = ex.books["btcusdt"].book.top()[0]
        # one resting below the touch, one crossing (filled), then the engine died
        await client.create_order(sym, "limit", "buy", 0.01, bid - 50,
                                  {"newClientOrderId": "rest-1", "timeInForce": "GTX"})
        await client.create_order(sym, "limit", "buy", 0.01, bid + 100,
                                  {"newClientOrderId": "took-1", "timeInForce": "IOC"})
        broker = LiveBroker(client, load_markets_offline(), LiveClock())
        got = {cid: await broker.recover(cid, sym, "buy")
               for cid in ("rest-1", "took-1", "never-1")}
        events = broker.on_time(0)
    finally:
        await client.close()
        await ex.stop()
    assert got == {"rest-1": "canceled", "took-1": "filled", "never-1": "unsent"}
    fills = [e for e in events if type(e).__name__ == "Fill"]
    assert fills and {f.order_id for f in fills} == {"took-1"}
    assert sum(f.qty for f in fills) == Decimal("0.01") == ex.account.perps[sym].qty
    assert not ex.matcher.open_orders()
    ends = {(e.client_order_id, e.status) for e in events if type(e).__name__ == "OrderUpdate"}
    assert ends == {("rest-1", "canceled"), ("took-1", "filled"), ("never-1", "unsent")}


async def test_live_start_on_a_venue_that_disagrees_exits_2_naming_the_difference(tmp_path):
    ex = LocalExchange([USDM_BTC, USDM_ETH], speed=4,
                       account={"cash": {"USDT": "100000"},
                                "positions": {"BTC/USDT:USDT": SEED["BTC/USDT:USDT"]}})
    port = await ex.start()
    try:
        cfg = _config(tmp_path, port, "marketable")
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "engine", "run", "--config", cfg, "--mode", "live",
            "--journal", str(tmp_path / "j.sqlite"), "--duration", "30", cwd=str(ROOT),
            env={**os.environ, **ENV}, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE)
        out, err = await asyncio.wait_for(proc.communicate(), 60)
    finally:
        await ex.stop()
    err = err.decode()
    assert proc.returncode == 2, err[-1500:]
    assert "ETH/USDT:USDT position: config 9.33, venue 0" in err and "--adopt-venue" in err
    assert "Traceback" not in err and not ex.orders
