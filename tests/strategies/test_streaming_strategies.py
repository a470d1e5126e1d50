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
