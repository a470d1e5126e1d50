"""Strategies on streaming data: seed 004's BTC anchor on the bundled spot ETH and USD-M BTC
minutes (`configs/btc_anchor_stream.toml`). ETH stays in the spot wallet; each minute the BTC
perp hedge is re-sized to minus the rolling beta of ETH's 1-second returns on BTC's times the
ETH exposure. The beta is checked against an ordinary least-squares fit of the same returns
(numpy), the hedge against the beta, the position against the hedge."""

from __future__ import annotations

from decimal import Decimal

import numpy as np
import pytest

from engine.feeds.capture import merge_captures
from engine.node.config import load_config
from engine.node.runner import resolve_inputs
from engine.node.session import PaperSession
from tests.conftest import ROOT

CONFIG = str(ROOT / "configs" / "btc_anchor_stream.toml")
MINUTE = 60_000_000_000


def test_btc_anchor_hedges_spot_eth_by_its_rolling_beta_each_minute():
    cfg = load_config(CONFIG)
    s = PaperSession(cfg, verify_books=True)
    strategy, stats = s.strategy, s.pipeline.stats
    checked = []
    for ev in merge_captures(resolve_inputs(cfg, CONFIG, None)):
        intent = s.on_event(ev)
        if intent is None:
            continue
        eth, btc = stats.aligned(["ETH", "BTC"], cfg.strategy.window)
        slope = np.polyfit(np.array(btc), np.array(eth), 1)[0]  # OLS of ETH on BTC
        beta = strategy.betas(stats)["ETH"]
        if len(eth) >= cfg.strategy.min_returns:
            assert beta == pytest.approx(slope, rel=1e-9)
        else:
            assert beta == cfg.strategy.default_beta
        legs = {t.symbol: t.notional for t in intent.targets}
        assert legs["BTC/USDT:USDT"] == pytest.approx(-beta * legs["ETH/USDT"], rel=1e-12)
        checked.append((intent.ts_recv, beta, len(eth)))
    assert len(checked) == 5  # one per minute boundary in the six minutes
    for ts, _, _ in checked:
        assert ts % MINUTE < 2_000_000_000  # decided within two seconds after the boundary
    assert all(n >= cfg.strategy.min_returns for _, _, n in checked[1:])
    beta = checked[-1][1]
    assert 0.2 < beta < 1.5  # ETH on BTC over a quiet hour: positive, below 1.5
    # the last hedge filled: its position is the target within a lot
    reports = [r for r in s.execution.reports() if r.symbol == "BTC/USDT:USDT"]
    assert reports and all(r.state == "done" for r in reports)
    pos = s.portfolio.perps["BTC/USDT:USDT"].qty
    eth_exposure = s.portfolio.spot_value("ETH")
    px = s.pipeline.prices["BTC/USDT:USDT"]
    assert float(pos) * px == pytest.approx(-beta * eth_exposure, abs=0.001 * px + 0.01 * eth_exposure)
    assert s.portfolio.holdings["ETH"] >= Decimal("9.32")  # the spot core stays (± a small trim)
    v = s.pipeline.books_verified()  # the books it traded on agree with the venue's tops
    assert len(v) == 2 and all(c["agreed"] == c["compared"] > 3000 for c in v.values())


async def _paper_run(r, ex, drive):
    """Run `r` (paper) while `drive()` watches it and asks it to stop; the local exchange
    `ex` is stopped after. Returns (report, whether `drive` got to its end)."""
    import asyncio

    stopper = asyncio.create_task(drive())
    try:
        report = await asyncio.wait_for(r.run(), 120)
        return report, stopper.done() and stopper.exception() is None
    finally:
        stopper.cancel()
        await ex.stop()


async def test_carry_switch_moves_perp_exposure_to_spot_after_three_rich_settlements(tmp_path):
    """Paper mode on live books (ccxt.pro against the local exchange playing spot and USD-M),
    funding every 5 recorded seconds at 0.05%: the perps bought first move to spot (80%) once
    three settlements paid above the 0.01% threshold, net exposure unchanged, the spot buys
    paid by transfers from the futures wallet, the perp and spot legs of each underlying paced
    together."""
    import asyncio
    import sys

    import msgspec

    from engine.node.config import ScheduleCfg
    from engine.node.runner import Runner
    from tests.helpers import at_local_exchange, wait_until

    sys.path.insert(0, str(ROOT / "scripts"))
    from local_exchange import BUNDLED, BUNDLED_SPOT, LocalExchange

    ex = LocalExchange(BUNDLED + BUNDLED_SPOT, speed=4, funding_interval_ms=5_000,
                       funding_rates={"btcusdt": "0.00050000", "ethusdt": "0.00050000"})
    port = await ex.start()
    path = str(ROOT / "configs" / "carry_stream.toml")
    cfg = at_local_exchange(load_config(path), port, duration_s=2.0, slices=4, retry_s=0.2)
    cfg = msgspec.structs.replace(cfg, triggers=msgspec.structs.replace(
        cfg.triggers, schedule=ScheduleCfg(every_minutes=0.05)))  # every 3 s
    r = Runner(cfg, path, open(path).read(), [], str(tmp_path / "j.sqlite"), mode="paper")
    s = r.session
    perps_first = {}

    async def drive():
        await wait_until(lambda: s.pipeline.intents and not s.execution.busy
                         and all(p.qty for p in s.portfolio.perps.values()),
                         "the perps to carry 60/40 first")
        perps_first.update({k: p.qty for k, p in s.portfolio.perps.items()})
        await wait_until(lambda: all(s.strategy.rich.values()), "three rich settlements")
        await wait_until(lambda: s.portfolio.holdings.get("BTC", 0) > 0
                         and s.portfolio.holdings.get("ETH", 0) > 0 and not s.execution.busy,
                         "the switch to spot", timeout_s=60)
        r.request_stop("done")

    report, driven = await _paper_run(r, ex, drive)
    assert driven  # every stage was reached, then the run was stopped
    assert all(q > 0 for q in perps_first.values())  # first the base strategy's perps
    spot = {a: s.portfolio.spot_value(a) for a in ("BTC", "ETH")}
    perp = {a: s.portfolio.perp_notional(f"{a}/USDT:USDT") for a in ("BTC", "ETH")}
    for a, w in (("BTC", 0.6), ("ETH", 0.4)):
        assert report["net_weights"][a] == pytest.approx(w, abs=0.02)
        assert spot[a] / (spot[a] + perp[a]) == pytest.approx(0.8, abs=0.03)  # 80% on spot
    done = [t for t in report["transfer_log"] if t["status"] == "done"]
    assert done and all(t["from"] == "futures" for t in done[:1])  # spot buys paid by futures
    assert report["max_transient_limit"] > 0  # each underlying's two legs paced together
    assert any(k.startswith("carry:") for k in s.portfolio.funding_by_sleeve)


async def test_btc_anchor_in_paper_mode_hedges_on_live_books(tmp_path):
    """The same strategy on live books (ccxt.pro's spot client for ETH, the USD-M one for
    BTC, against the local exchange), re-sizing every 3 s: a short BTC perp hedge of beta ×
    the ETH exposure, ETH kept in the spot wallet."""
    import asyncio
    import sys

    import msgspec

    from engine.node.config import ScheduleCfg
    from engine.node.runner import Runner
    from tests.helpers import at_local_exchange, wait_until

    sys.path.insert(0, str(ROOT / "scripts"))
    from local_exchange import BUNDLED, BUNDLED_SPOT, LocalExchange

    ex = LocalExchange([BUNDLED[0], BUNDLED_SPOT[1]], speed=4)  # BTC perp, ETH spot
    port = await ex.start()
    cfg = at_local_exchange(load_config(CONFIG), port, duration_s=2.0, slices=4, retry_s=0.2)
    cfg = msgspec.structs.replace(cfg, triggers=msgspec.structs.replace(
        cfg.triggers, schedule=ScheduleCfg(every_minutes=0.05)))
    r = Runner(cfg, CONFIG, open(CONFIG).read(), [], str(tmp_path / "j.sqlite"), mode="paper")
    s = r.session

    async def drive():
        await wait_until(lambda: len(s.pipeline.intents) >= 2 and not s.execution.busy
                         and s.portfolio.perps["BTC/USDT:USDT"].qty < 0, "two hedges")
        r.request_stop("done")

    report, driven = await _paper_run(r, ex, drive)
    assert driven
    beta = s.strategy.betas(s.pipeline.stats)["ETH"]
    hedge = s.portfolio.perp_notional("BTC/USDT:USDT")
    eth = s.portfolio.spot_value("ETH")
    assert hedge < 0 and abs(hedge + beta * eth) < 0.002 * s.pipeline.prices[
        "BTC/USDT:USDT"] + 0.02 * eth  # within a lot and the moves since the last intent
    # the spot core stays: at most trimmed toward its 71.4% (prices move in paper mode)
    assert s.portfolio.holdings["ETH"] >= Decimal("9.28")
    assert r.feed.invalid == 0 and report["unfinished_parents"] == []
