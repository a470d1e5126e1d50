"""The trigger actor in the pipeline: recorded ticks, bars and funding in, intents out."""

from __future__ import annotations

import asyncio
import heapq

import pytest

from engine.core.clock import ReplayClock
from engine.feeds.bars import read_bars, read_funding
from engine.feeds.capture import merge_captures
from engine.model import PortfolioUpdate, RebalanceIntent
from engine.node.build import build
from engine.node.config import load_config
from engine.node.pipeline import Pipeline
from tests.conftest import ROOT, USDM_BTC, USDM_ETH, shared


def _pipeline(config: str) -> Pipeline:
    clock = ReplayClock()
    portfolio, strategy, stats, trigger = build(load_config(str(ROOT / "configs" / config)), clock)
    return Pipeline(portfolio, stats, trigger, clock)


def test_demo_portfolio_off_target_fires_one_drift_intent_on_the_first_tick():
    pl = _pipeline("demo_perps.toml")
    assert pl.portfolio.weight("BTC") == pytest.approx(0.7503, abs=1e-4)
    first = None
    n = 0
    for ev in merge_captures([str(USDM_BTC), str(USDM_ETH)]):
        intent = pl.on_event(ev)
        n += 1
        if intent is not None and first is None:
            first = (ev, intent)
    ev, intent = first
    assert len(pl.intents) == 1  # nothing executes yet, so hysteresis keeps it quiet after
    assert intent.rule == "drift" and intent.reason.startswith("BTC weight 0.75")
    assert intent.ts_recv == ev.ts_recv and intent.ts_decided == ev.ts_recv
    legs = {t.symbol: t.notional for t in intent.targets}
    assert intent.nav == pytest.approx(100000.0, rel=0.01)
    assert legs["BTC/USDT:USDT"] == pytest.approx(0.6 * intent.nav, rel=1e-12)
    assert legs["ETH/USDT:USDT"] == pytest.approx(0.4 * intent.nav, rel=1e-12)
    assert intent.target_weights == {"BTC": 0.6, "ETH": 0.4}
    assert n == 93954 + 74655


def test_schedule_fires_every_interval_of_recorded_time():
    pl = _pipeline("demo_perps.toml")
    from engine.triggers.rules import Schedule

    pl.trigger.drift = None
    pl.trigger.schedule = Schedule(every_ns=60_000_000_000)
    for ev in merge_captures([str(USDM_BTC), str(USDM_ETH)]):
        pl.on_event(ev)
    # 23:54:15 → 23:59:59: the minute boundaries 23:55 … 23:59 each fire once.
    assert [i.rule for i in pl.intents] == ["schedule"] * 5
    mins = [i.ts_recv // 60_000_000_000 for i in pl.intents]
    assert mins == sorted(set(mins)) and len(mins) == 5


def test_regime_changes_from_real_bars_and_funding_set_the_perp_mix():
    pl = _pipeline("carry_regimes.toml")
    spot = ("oraculo-de-bitcoin", "user_data", "data", "binance")
    fut = ("DcaTpStrategy", "user_data", "data", "binance", "futures")
    streams = [read_bars(str(shared(*spot, "BTC_USDT-1d.feather"))),
               read_bars(str(shared(*spot, "ETH_USDT-1d.feather"))),
               read_funding(str(shared(*fut, "BTC_USDT_USDT-8h-funding_rate.feather")),
                            str(shared(*fut, "BTC_USDT_USDT-8h-mark.feather"))),
               read_bars(str(shared(*fut, "BTC_USDT_USDT-8h-mark.feather"))),
               read_bars(str(shared(*fut, "ETH_USDT_USDT-8h-mark.feather")))]
    regimes = []
    for ev in heapq.merge(*streams, key=lambda e: e.ts_event):
        intent = pl.on_event(ev)
        if intent is not None and intent.rule == "regime":
            regimes.append((intent, pl.trigger.regimes.current))
    assert len(regimes) > 10
    names = {r.name for _, r in regimes}
    assert {"vol_spike", "breakdown", "uptrend"} <= names
    for intent, regime in regimes:
        legs = {t.symbol: t.notional for t in intent.targets}
        for asset in ("BTC", "ETH"):
            exposure = intent.target_weights[asset] * intent.nav
            # Each regime intent carries that regime's spot/perp split of the exposure.
            assert legs[f"{asset}/USDT"] == pytest.approx(exposure * (1 - regime.perp_share))
            assert legs[f"{asset}/USDT:USDT"] == pytest.approx(
                exposure * (regime.perp_share - regime.hedge_ratio))
        assert regime.name in intent.reason
    calm_exits = [r for _, r in regimes if r.name == "calm"]
    assert calm_exits, "exit rules bring the matrix back to the baseline"


async def test_queue_fed_actor_puts_intents_on_a_bounded_outbox():
    pl = _pipeline("demo_perps.toml")
    inbox: asyncio.Queue = asyncio.Queue(maxsize=16)
    outbox: asyncio.Queue = asyncio.Queue(maxsize=1)
    task = asyncio.create_task(pl.trigger.run(inbox, outbox))
    p = pl.portfolio
    pl.clock.advance_to(10)
    await inbox.put(PortfolioUpdate(ts_event=10, ts_recv=10, cause="price", assets=("BTC",),
                                    nav=p.nav))
    intent = await asyncio.wait_for(outbox.get(), 5)
    assert isinstance(intent, RebalanceIntent) and intent.ts_recv == 10
    await inbox.put(None)
    await asyncio.wait_for(task, 5)


def test_depth_priced_pipeline_marks_perps_at_the_synced_book_mid():
    clock = ReplayClock()
    portfolio, strategy, stats, trigger = build(load_config(str(ROOT / "configs/demo_perps.toml")),
                                                clock)
    pl = Pipeline(portfolio, stats, trigger, clock, price_from_depth=True)
    from engine.model import BookDelta

    checked = 0
    for ev in merge_captures([str(USDM_BTC)]):
        pl.on_event(ev)
        if isinstance(ev, BookDelta) and pl.books.syncs[ev.symbol].valid:
            b, _, a, _ = pl.books.syncs[ev.symbol].book.top()
            assert portfolio.perps[ev.symbol].mark == (b + a) * 0.5
            checked += 1
    assert checked == 6545
