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
    assert report["max_transient_deviation"] == 0  # one leg per underlying: never off path
    assert {o.symbol for o in r.session.execution.sent} == {"BTC/USDT:USDT", "ETH/USDT:USDT"}


def test_every_spot_and_perp_book_agrees_with_its_bookticker_in_the_same_run(run):
    _, report, _ = run
    v = report["books_verified"]
    assert set(v) == {"BTC/USDT", "ETH/USDT", "BTC/USDT:USDT", "ETH/USDT:USDT"}
    for sym, c in v.items():
        assert c["compared"] > 3000 and c["agreed"] == c["compared"], (sym, c)


def test_the_spot_demo_sells_spot_btc_and_buys_spot_eth_to_60_40():
    import asyncio

    path = str(ROOT / "configs" / "demo_spot.toml")
    cfg = load_config(path)
    r = Runner(cfg, path, open(path).read(), resolve_inputs(cfg, path, None), None)
    cash_seen = []
    r.on_tick = lambda: cash_seen.append(r.session.portfolio.cash["USDT"])
    report = asyncio.run(r.run())
    w = report["final_weights"]
    assert w["BTC"] / (w["BTC"] + w["ETH"]) == pytest.approx(0.6, abs=0.005)
    held = {a: Decimal(q) for a, q in report["holdings"].items()}
    assert held["BTC"] < Decimal("1.214") and held["ETH"] > Decimal("9.33")
    assert report["positions"] == {} and not report["unfinished_parents"]
    assert min(cash_seen) >= 0 and Decimal(report["cash"]) >= 0  # never bought on credit
    fills = [f for f, _ in r.session.broker.fill_log]
    assert fills and all(f.fee == (f.qty * f.price / 1000).quantize(Decimal("1e-8"),
                                                                   "ROUND_HALF_UP")
                         for f in fills)  # spot: 10 bps
    v = report["books_verified"]
    assert all(c["agreed"] == c["compared"] > 3000 for c in v.values()) and len(v) == 2

