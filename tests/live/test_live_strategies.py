"""The seeds' streaming strategies in live mode: the real ccxt clients (binance spot and
binanceusdm) with the API key against the local exchange playing the recorded spot and USD-M
minutes, each run until its strategy reached its point, then both wallets and the positions
compared with the venue's. Replay and paper runs of the same configs are in
tests/strategies/test_streaming_strategies.py."""

from __future__ import annotations

import asyncio
from decimal import Decimal

import msgspec
import pytest

from engine.node.config import ScheduleCfg
from engine.node.runner import Runner
from tests.conftest import ROOT
from tests.helpers import wait_until
from tests.live.test_live_spot import ENV, _caught_up, _live_cfg, _venue_wallets

from local_exchange import BUNDLED, BUNDLED_SPOT, LocalExchange  # noqa: E402  (on sys.path)


async def _live_until(ex: LocalExchange, config: str, tmp_path, monkeypatch, reached, what):
    """configs/`config` live on `ex`, looking again every 3 s, until `reached(session)` and
    the venue's streams agree with us: (runner, report, venue spot, futures, positions)."""
    port = await ex.start()
    path = str(ROOT / "configs" / config)
    cfg = _live_cfg(path, port)
    cfg = msgspec.structs.replace(
        cfg, execution=msgspec.structs.replace(cfg.execution, duration_s=2.0, slices=4),
        triggers=msgspec.structs.replace(cfg.triggers, schedule=ScheduleCfg(every_minutes=0.05)))
    for k, v in ENV.items():
        monkeypatch.setenv(k, v)
    r = Runner(cfg, path, open(path).read(), [], str(tmp_path / "j.sqlite"), mode="live")

    async def drive():
        await wait_until(lambda: reached(r.session), what, timeout_s=75)
        # hold the venue's timeline (no more trades, marks or funding charged), then wait
        # for its streams to tell us everything it did until there
        ex.hold_at = ex.position + 1
        await wait_until(lambda: ex.holding, "the venue's timeline to hold")
        n = r.reconciliations
        await wait_until(lambda: _caught_up(r) and r.reconciliations >= n + 2,
                         "the venue's streams and two reconciliations")
        r.request_stop("done")

    stopper = asyncio.create_task(drive())
    try:
        report = await asyncio.wait_for(r.run(), 100)
        assert stopper.done() and stopper.exception() is None, "stopped before " + what
        return (r, report, *await _venue_wallets(port))
    finally:
        stopper.cancel()
        await ex.stop()


def _agrees_with_venue(r, report, spot, fut, pos, ex):
    s = r.session
    assert {a: spot.get(a, Decimal(0)) for a in s.portfolio.holdings} == s.portfolio.holdings
    assert fut["USDT"] == s.portfolio.wallets["futures"]["USDT"]
    assert spot.get("USDT", Decimal(0)) == s.portfolio.wallets["spot"].get("USDT", Decimal(0))
    assert {sym: q for sym, q in pos.items() if sym in s.portfolio.perps} == \
        {sym: p.qty for sym, p in s.portfolio.perps.items()}
    assert report["journal_submissions_unique"] and report["client_order_ids_unique"]
    # no client id reached the venue twice (a child may not have reached it at all: one in
    # flight when the run stopped, or refused before booking)
    assert len(ex.orders) <= report["children"]
    assert report["journal_fills"] == report["fills"] > 0


async def test_live_btc_anchor_hedges_spot_eth_with_the_btc_perp(tmp_path, monkeypatch):
    ex = LocalExchange([BUNDLED[0], BUNDLED_SPOT[1]], speed=4,  # BTC perp, ETH spot
                       account={"cash": {"USDT": "10000"}, "spot": {"ETH": "9.33"}})
    r, report, spot, fut, pos = await _live_until(
        ex, "btc_anchor_stream.toml", tmp_path, monkeypatch,
        lambda s: len(s.pipeline.intents) >= 2 and s.portfolio.perps["BTC/USDT:USDT"].qty < 0,
        "two hedges")
    s = r.session
    beta = s.strategy.betas(s.pipeline.stats)["ETH"]
    hedge, eth = s.portfolio.perp_notional("BTC/USDT:USDT"), s.portfolio.spot_value("ETH")
    assert hedge < 0 and abs(hedge + beta * eth) < 0.002 * s.pipeline.prices[
        "BTC/USDT:USDT"] + 0.02 * eth  # within a lot and the moves since the last intent
    assert s.portfolio.holdings["ETH"] >= Decimal("9.28")  # the spot core stays
    _agrees_with_venue(r, report, spot, fut, pos, ex)


async def test_live_carry_switch_moves_perp_exposure_to_spot(tmp_path, monkeypatch):
    """Funding every 5 recorded seconds at 0.05% at the venue: the perps first carry 60/40,
    then, after three rich settlements, 80% of each moves to spot, bought with USDT the
    engine moves over from the futures wallet (a universal transfer at the venue)."""
    ex = LocalExchange(BUNDLED + BUNDLED_SPOT, speed=4, funding_interval_ms=5_000,
                       funding_rates={"btcusdt": "0.00050000", "ethusdt": "0.00050000"},
                       account={"cash": {"USDT": "100000"}, "spot": {}})
    r, report, spot, fut, pos = await _live_until(
        ex, "carry_stream.toml", tmp_path, monkeypatch,
        lambda s: all(s.strategy.rich.values()) and s.portfolio.holdings.get("BTC", 0) > 0
        and s.portfolio.holdings.get("ETH", 0) > 0 and not s.execution.busy,
        "the switch to spot")
    s = r.session
    for a, w in (("BTC", 0.6), ("ETH", 0.4)):
        sv, pv = s.portfolio.spot_value(a), s.portfolio.perp_notional(f"{a}/USDT:USDT")
        assert report["net_weights"][a] == pytest.approx(w, abs=0.02)
        assert sv / (sv + pv) == pytest.approx(0.8, abs=0.03)
    assert ex.transfers and all(t["type"] == "UMFUTURE_MAIN" for t in ex.transfers[:1])
    assert report["transfers"] == report["journal_transfers"] == len(ex.transfers)
    _agrees_with_venue(r, report, spot, fut, pos, ex)
