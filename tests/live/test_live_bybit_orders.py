"""Live mode on Bybit end to end: the engine trades through the real ccxt.pro `bybit` client
against the local Bybit exchange (scripts/local_bybit.py + local_bybit_account.py: signed v5
REST, the private stream, orders filled on Bybit's replayed book); the venue's positions equal
the engine's, no client id is sent twice, the venue's codes mean what they say."""

from __future__ import annotations

import asyncio
import sys
from decimal import Decimal

import msgspec
import pytest

from engine.core.errors import FatalError, VenueAuthError
from engine.feeds.live import LiveEndpoints, make_exchange
from engine.node.config import parse_config
from engine.node.runner import Runner
from tests.conftest import ROOT, shared
from tests.helpers import run_until_rebalanced
from tests.live.restart import journal_rows, kill_after_booking_then_resume

sys.path.insert(0, str(ROOT / "scripts"))
from local_bybit import LocalBybit  # noqa: E402

SYM = "XRP/USDT:USDT"
CONFIG = """
[account]
cash = { USDT = "10000" }

[[instruments]]
symbol = "XRP/USDT:USDT"
leverage = 5
maintenance_rate = 0.01

[universe.XRP]
perp = "XRP/USDT:USDT"

[strategy]
kind = "fixed_weights"
weights = { XRP = 0.3 }
weights_sum = 0.3
leg = "perp"
max_gross_leverage = 1.5

[triggers.drift]
abs_band = 0.03
mode = "target"
cooldown_s = 5
min_trade_notional = 20

[execution]
algo = "twap"
duration_s = 2
slices = 4
mode = "marketable"
max_slippage_bps = 40
retry_s = 0.3
deadline_s = 8

[risk]
max_margin_utilisation = 0.8
max_gross_leverage = 1.5
price_band_bps = 100
max_price_age_s = 5

[live]
exchange = "bybit"
api_key_env = "BYBIT_API_KEY"
api_secret_env = "BYBIT_API_SECRET"
reconcile_every_s = 0.5
"""


def _recording():
    return shared("nautilus_trader", "tests", "test_data", "bybit", "xrpusdt-ob500.data.zip")


async def _venue_positions(port: int) -> dict[str, Decimal]:
    """The venue's positions (signed contracts), as a fresh client reads them."""
    client = make_exchange(LiveEndpoints(rest_base=f"http://127.0.0.1:{port}"), "bybit")
    client.apiKey, client.secret = "local-test-key", "local-test-secret"
    try:
        rows = await client.fetch_positions()
    finally:
        await client.close()
    return {p["symbol"]: Decimal(str(p["contracts"])) * (-1 if p["side"] == "short" else 1)
            for p in rows}


async def _live_run(tmp_path, monkeypatch, fail=(), withdrawals=False, until=None,
                    secret="local-test-secret"):
    monkeypatch.setenv("BYBIT_API_KEY", "local-test-key")
    monkeypatch.setenv("BYBIT_API_SECRET", secret)
    ex = LocalBybit(_recording(), speed=0.25, account={"cash": {"USDT": "10000"}})
    ex.fail_next.extend(fail)
    ex.withdrawals_enabled = withdrawals
    port = await ex.start()
    ends = LiveEndpoints(ws_linear=f"ws://127.0.0.1:{port}/v5/public/linear",
                         rest_base=f"http://127.0.0.1:{port}",
                         ws_private=f"ws://127.0.0.1:{port}/v5/private")
    tmp_path.mkdir(parents=True, exist_ok=True)
    path = tmp_path / "bybit_live.toml"
    path.write_text(CONFIG)
    cfg = parse_config(CONFIG, str(path))
    cfg = msgspec.structs.replace(cfg, live=msgspec.structs.replace(
        cfg.live, ws_linear=ends.ws_linear, rest_base=ends.rest_base,
        ws_private=ends.ws_private))
    try:
        r = Runner(cfg, str(path), CONFIG, [], str(tmp_path / "j.sqlite"), mode="live")
        report = await run_until_rebalanced(r, until)
        positions = await _venue_positions(port)
    finally:
        await ex.stop()
    return r, report, positions, ex


async def test_live_twap_on_bybit_positions_at_the_venue_equal_the_engines(tmp_path,
                                                                          monkeypatch):
    r, report, positions, ex = await _live_run(
        tmp_path, monkeypatch, until=lambda r: r.reconciliations >= 2
        and r.session.broker.venue_positions_seen == {
            s: p.qty for s, p in r.session.portfolio.perps.items()})
    broker = r.session.broker
    print(f"\nbybit live: {report['children']} orders, {report['fills']} fills, weights "
          f"{report['final_weights']}, stream fills {broker.stream_fills}, "
          f"rest fills {broker.rest_fills}")
    assert report["intents"] >= 1 and report["fills"] > 0
    assert abs(report["final_weights"]["XRP"] - 0.3) < 0.01
    engine = {s: Decimal(q) for s, q in report["positions"].items()}
    assert positions == engine and engine[SYM] > 0
    assert report["journal_submissions_unique"] and report["journal_fills"] == report["fills"]
    assert ex.order_requests == report["children"] and len(ex.orders) == report["children"]
    # every venue execution reached the engine once, by the private stream or by REST
    assert report["fills"] == len(ex.executions) == broker.stream_fills + broker.rest_fills
    assert r.reconciliations >= 2 and r.session.guard.state == "ACTIVE"
    assert broker.venue_positions_seen == engine
    # the wallet: the venue's (its fees booked as ours) equals ours
    assert r.session.portfolio.cash["USDT"] == ex.account.cash["USDT"]
    assert ex.bad_signatures == 0


async def test_a_lost_answer_is_found_by_client_id_not_sent_again(tmp_path, monkeypatch):
    """The first order is booked at the venue but its answer is an error (as if lost): the
    broker retries with the same client id, Bybit says "duplicate" (110072), and the order is
    looked up by that id instead of being sent twice or called rejected."""
    r, report, positions, ex = await _live_run(
        tmp_path, monkeypatch, fail=[(10016, "System error. Please try again later.",
                                      "after_booking")])
    assert report["fills"] > 0 and abs(report["final_weights"]["XRP"] - 0.3) < 0.01
    assert report["journal_submissions_unique"]
    assert ex.order_requests == report["children"] + 1  # one retry, refused as a duplicate
    assert len(ex.orders) == report["children"]
    assert report["journal_fills"] == report["fills"] == len(ex.executions)


async def test_a_key_that_can_withdraw_or_a_wrong_secret_is_refused(tmp_path, monkeypatch):
    with pytest.raises(FatalError, match="withdrawal permission"):
        await _live_run(tmp_path, monkeypatch, withdrawals=True)
    with pytest.raises(VenueAuthError, match="error sign") as caught:
        await _live_run(tmp_path / "b", monkeypatch, secret="wrong-secret")
    assert caught.value.code == 10004


async def test_killed_with_an_order_unanswered_settles_it_on_restart(tmp_path, monkeypatch):
    """kill -9 of a live Bybit run right after its second order was booked at the venue (its
    answer never sent); the restart on the same journal looks it up by its client id, takes
    its fills from the venue, sends nothing twice, and finishes the rebalance with the venue's
    positions and wallet equal to the engine's."""
    ex = LocalBybit(_recording(), speed=0.25, account={"cash": {"USDT": "10000"}})
    port = await ex.start()
    path = tmp_path / "bybit_live.toml"
    path.write_text(CONFIG + f'ws_linear = "ws://127.0.0.1:{port}/v5/public/linear"\n'
                    f'rest_base = "http://127.0.0.1:{port}"\n'
                    f'ws_private = "ws://127.0.0.1:{port}/v5/private"\n')
    journal = str(tmp_path / "j.sqlite")
    env = {"BYBIT_API_KEY": "local-test-key", "BYBIT_API_SECRET": "local-test-secret"}
    try:
        r, report, unanswered = await kill_after_booking_then_resume(ex, str(path), journal,
                                                                     env, monkeypatch)
        positions = await _venue_positions(port)
    finally:
        await ex.stop()
    settled = r.resumed["unfinished_orders"]
    assert settled.get(unanswered) in ("filled", "expired")  # an IOC: over at the venue
    subs, orders, fills = await journal_rows(journal)
    assert len(subs) == len({c for c, _ in subs})  # no client id submitted twice
    assert set(orders) >= set(ex.orders) and all(orders[c] != "sent" for c in ex.orders)
    assert len(fills) == len(ex.executions) == len({t for (t,) in fills})
    assert positions == {s: Decimal(q) for s, q in report["positions"].items()}
    assert abs(report["final_weights"]["XRP"] - 0.3) < 0.01
    assert r.session.portfolio.cash["USDT"] == ex.account.cash["USDT"]


def test_a_live_run_trades_on_live_exchange_only(tmp_path, monkeypatch):
    """Instruments on Bybit with [live].exchange left at Binance: the key would be checked on
    one venue and the orders sent to another, so the start is refused naming the field."""
    from engine.core.errors import ConfigError

    monkeypatch.setenv("BINANCE_API_KEY", "k")
    monkeypatch.setenv("BINANCE_API_SECRET", "s")
    text = CONFIG.replace('exchange = "bybit"\napi_key_env = "BYBIT_API_KEY"\n'
                          'api_secret_env = "BYBIT_API_SECRET"\n', "").replace(
        'symbol = "XRP/USDT:USDT"\n', 'symbol = "XRP/USDT:USDT"\nvenue = "bybit"\n')
    cfg = parse_config(text, "live.toml")
    with pytest.raises(ConfigError, match=r"at `\$.live.exchange`: binance, but the "
                       r"instruments trade on \['bybit'\]"):
        Runner(cfg, "live.toml", text, [], None, mode="live")
