"""Live mode on OKX end to end: the engine trades OKX's UNI-USD-SWAP inverse perpetual (10 USD a
contract, margined in UNI) through the real ccxt.pro `okx` client against the local OKX exchange
(scripts/local_okx.py + local_okx_account.py: signed v5 REST with a passphrase, the private
stream, orders filled on OKX's replayed book); the venue's positions and coin wallet equal the
engine's, client ids travel in OKX's alphabet and come back, nothing is sent twice."""

from __future__ import annotations

import sys
from decimal import Decimal

import msgspec
import pytest

from engine.core.errors import ConfigError, FatalError, VenueAuthError
from engine.feeds.live import LiveEndpoints, make_exchange
from engine.node.config import parse_config
from engine.node.runner import Runner
from tests.conftest import ROOT, shared
from tests.helpers import run_until_rebalanced
from tests.live.restart import journal_rows, kill_after_booking_then_resume

sys.path.insert(0, str(ROOT / "scripts"))
from local_okx import LocalOkx  # noqa: E402

SYM = "UNI/USD:UNI"
CONFIG = """
[account]
coinm = { UNI = "500" }

[[instruments]]
symbol = "UNI/USD:UNI"
leverage = 5
maintenance_rate = 0.01

[universe.UNI]
perp = "UNI/USD:UNI"

[strategy]
kind = "core_satellite"
weights = { UNI = 0.3 }
weights_sum = 0.3
max_gross_leverage = 2.0

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
max_gross_leverage = 2.0
price_band_bps = 100
max_price_age_s = 5

[live]
exchange = "okx"
api_key_env = "OKX_API_KEY"
api_secret_env = "OKX_API_SECRET"
api_passphrase_env = "OKX_API_PASSPHRASE"
reconcile_every_s = 0.5
"""
KEYS = {"OKX_API_KEY": "local-test-key", "OKX_API_SECRET": "local-test-secret",
        "OKX_API_PASSPHRASE": "local-test-passphrase"}


async def _venue_positions(port: int) -> dict[str, Decimal]:
    client = make_exchange(LiveEndpoints(rest_base=f"http://127.0.0.1:{port}"), "okx")
    client.apiKey, client.secret = KEYS["OKX_API_KEY"], KEYS["OKX_API_SECRET"]
    client.password = KEYS["OKX_API_PASSPHRASE"]
    try:
        rows = await client.fetch_positions([SYM])
    finally:
        await client.close()
    return {p["symbol"]: Decimal(str(p["contracts"])) * (-1 if p["side"] == "short" else 1)
            for p in rows if p["contracts"]}


async def _live_run(tmp_path, monkeypatch, fail=(), withdrawals=False, until=None, keys=None,
                    venue_uni: str = "500"):
    for k, v in {**KEYS, **(keys or {})}.items():
        monkeypatch.setenv(k, v)
    ex = LocalOkx(shared("cryptofeed", "sample_data", "OKX.ws.1.0"), speed=0.5,
                  account={"coinm": {"UNI": venue_uni}})
    ex.fail_next.extend(fail)
    ex.withdrawals_enabled = withdrawals
    port = await ex.start()
    tmp_path.mkdir(parents=True, exist_ok=True)
    path = tmp_path / "okx_live.toml"
    path.write_text(CONFIG)
    cfg = parse_config(CONFIG, str(path))
    cfg = msgspec.structs.replace(cfg, live=msgspec.structs.replace(
        cfg.live, ws_linear=f"ws://127.0.0.1:{port}/ws/v5", rest_base=f"http://127.0.0.1:{port}"))
    try:
        r = Runner(cfg, str(path), CONFIG, [], str(tmp_path / "j.sqlite"), mode="live")
        report = await run_until_rebalanced(r, until)
        positions = await _venue_positions(port)
    finally:
        await ex.stop()
    return r, report, positions, ex


async def test_live_twap_on_okx_inverse_perp_positions_and_coin_equal_the_venues(
        tmp_path, monkeypatch):
    r, report, positions, ex = await _live_run(
        tmp_path, monkeypatch, until=lambda r: r.reconciliations >= 2
        and r.session.broker.venue_positions_seen == {
            s: p.qty for s, p in r.session.portfolio.perps.items()})
    broker = r.session.broker
    print(f"\nokx live: {report['children']} orders, {report['fills']} fills, net "
          f"{report['net_weights']}, stream fills {broker.stream_fills}, rest fills "
          f"{broker.rest_fills}")
    assert report["intents"] >= 1 and report["fills"] > 0
    assert abs(report["net_weights"]["UNI"] - 0.3) < 0.01
    engine = {s: Decimal(q) for s, q in report["positions"].items()}
    assert positions == engine and engine[SYM] < 0  # the coins held, the perp short
    assert report["journal_submissions_unique"] and report["journal_fills"] == report["fills"]
    assert ex.order_requests == report["children"] == len(ex.orders)
    assert all(c.startswith("bl") and c.isalnum() for c in ex.orders)  # OKX's alphabet
    assert report["fills"] == len(ex.fills) == broker.stream_fills + broker.rest_fills
    assert r.reconciliations >= 2 and r.session.guard.state == "ACTIVE"
    # the coin wallet: read from the venue at the start, the venue's (its fees in UNI) equal to
    # ours at the end, and compared by the run's own reconciliation from the private stream
    assert r.venue.start["coinm"] == {"UNI": "500"}
    assert r.session.portfolio.wallets["coinm"]["UNI"] == ex.account.wallets["coinm"]["UNI"]
    assert broker.venue_coinm["UNI"] == ex.account.wallets["coinm"]["UNI"]
    assert r.cash_reconciled >= 1 and ex.bad_signatures == 0


async def test_a_live_start_on_okx_whose_coin_wallet_differs_is_refused_naming_it(
        tmp_path, monkeypatch):
    with pytest.raises(ConfigError, match="UNI COIN-M wallet: config 500, venue 400"):
        await _live_run(tmp_path, monkeypatch, venue_uni="400")


async def test_a_lost_answer_on_okx_is_found_by_client_id_not_sent_again(tmp_path,
                                                                        monkeypatch):
    r, report, positions, ex = await _live_run(
        tmp_path, monkeypatch, fail=[(50013, "System busy", "after_booking")])
    assert report["fills"] > 0 and abs(report["net_weights"]["UNI"] - 0.3) < 0.01
    assert report["journal_submissions_unique"]
    assert ex.order_requests == report["children"] + 1  # the retry, refused as a duplicate
    assert len(ex.orders) == report["children"]
    assert report["journal_fills"] == report["fills"] == len(ex.fills)


async def test_okx_keys_are_checked_withdraw_passphrase_signature(tmp_path, monkeypatch):
    with pytest.raises(FatalError, match="withdrawal permission"):
        await _live_run(tmp_path / "a", monkeypatch, withdrawals=True)
    with pytest.raises(VenueAuthError, match="PASSPHRASE") as caught:
        await _live_run(tmp_path / "b", monkeypatch, keys={"OKX_API_PASSPHRASE": "wrong"})
    assert caught.value.code == 50105
    with pytest.raises(VenueAuthError, match="Invalid Sign") as caught:
        await _live_run(tmp_path / "c", monkeypatch, keys={"OKX_API_SECRET": "wrong"})
    assert caught.value.code == 50113
    monkeypatch.delenv("OKX_API_PASSPHRASE")
    cfg = parse_config(CONFIG, "okx_live.toml")
    for k in ("OKX_API_KEY", "OKX_API_SECRET"):
        monkeypatch.setenv(k, KEYS[k])
    with pytest.raises(ConfigError, match="api_passphrase_env"):
        Runner(cfg, "okx_live.toml", CONFIG, [], None, mode="live")


async def test_killed_with_an_okx_order_unanswered_settles_it_on_restart(tmp_path,
                                                                        monkeypatch):
    """kill -9 right after the second order was booked at OKX (its answer never sent); the
    restart finds it by its client id (in OKX's alphabet), takes its fills, sends nothing
    twice, and finishes with the venue's position and coin wallet equal to the engine's."""
    ex = LocalOkx(shared("cryptofeed", "sample_data", "OKX.ws.1.0"), speed=0.5,
                  account={"coinm": {"UNI": "500"}})
    port = await ex.start()
    path = tmp_path / "okx_live.toml"
    path.write_text(CONFIG + f'ws_linear = "ws://127.0.0.1:{port}/ws/v5"\n'
                    f'rest_base = "http://127.0.0.1:{port}"\n')
    journal = str(tmp_path / "j.sqlite")
    try:
        r, report, unanswered = await kill_after_booking_then_resume(ex, str(path), journal,
                                                                     KEYS, monkeypatch)
        positions = await _venue_positions(port)
    finally:
        await ex.stop()
    from engine.venues.okx.user_data import engine_id

    assert r.resumed["unfinished_orders"].get(engine_id(unanswered)) in ("filled", "expired")
    subs, orders, fills = await journal_rows(journal)
    assert len(subs) == len({c for c, _ in subs})  # no client id submitted twice
    sent = {engine_id(c) for c in ex.orders}
    assert set(orders) >= sent and all(orders[c] != "sent" for c in sent)
    assert len(fills) == len(ex.fills) == len({t for (t,) in fills})
    assert positions == {s: Decimal(q) for s, q in report["positions"].items()}
    assert abs(report["net_weights"]["UNI"] - 0.3) < 0.01
    assert r.session.portfolio.wallets["coinm"]["UNI"] == ex.account.wallets["coinm"]["UNI"]
