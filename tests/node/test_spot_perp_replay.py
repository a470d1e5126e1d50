"""Spot and perps as one portfolio in replay: the bundled spot and USD-M captures of the same
six minutes merged into one run of `configs/core_satellite.toml` (spot BTC held, the perp
overlay carries the drift). The spot core stays put, net exposure moves to the band, and every
spot and perp book agrees with its recorded bookTicker in the same run."""

from __future__ import annotations

from decimal import Decimal

import pytest

from engine.node.config import load_config
from engine.node.runner import Runner, resolve_inputs
from tests.conftest import ROOT

CONFIG = str(ROOT / "configs" / "core_satellite.toml")


@pytest.fixture(scope="module")
def run():
    import asyncio

    cfg = load_config(CONFIG)
    r = Runner(cfg, CONFIG, open(CONFIG).read(), resolve_inputs(cfg, CONFIG, None), None)
    start = dict(r.session.portfolio.holdings)
    return r, asyncio.run(r.run()), start


def test_the_spot_core_stays_and_the_perps_bring_net_weights_to_the_band(run):
    r, report, start = run
    assert {a: Decimal(q) for a, q in report["holdings"].items()} == start  # spot untouched
    assert start == {"BTC": Decimal("1"), "ETH": Decimal("0")}
    targets, w = report["target_weights"], report["final_weights"]
    # edge mode, 5% band: BTC (spot 1 BTC ≈ 50% of NAV) is hedged down to 40%, ETH up to 20%
    assert w["BTC"] == pytest.approx(targets["BTC"] + 0.05, abs=0.003)
    assert w["ETH"] == pytest.approx(targets["ETH"] - 0.05, abs=0.003)
    pos = {s: Decimal(q) for s, q in report["positions"].items()}
    assert pos["BTC/USDT:USDT"] < 0 < pos["ETH/USDT:USDT"]  # short BTC perp, long ETH perp
    assert report["max_margin_utilisation"] <= 0.8
    assert not report["unfinished_parents"] and not report["dead_books"]
    assert {o.symbol for o in r.session.execution.sent} == {"BTC/USDT:USDT", "ETH/USDT:USDT"}


def test_every_spot_and_perp_book_agrees_with_its_bookticker_in_the_same_run(run):
    _, report, _ = run
    v = report["books_verified"]
    assert set(v) == {"BTC/USDT", "ETH/USDT", "BTC/USDT:USDT", "ETH/USDT:USDT"}
    for sym, c in v.items():
        assert c["compared"] > 3000 and c["agreed"] == c["compared"], (sym, c)
