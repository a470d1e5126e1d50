"""Spot coins hedged with inverse (COIN-M) perps in replay, on the recorded COIN-M minute
(`configs/inverse_hedge.toml`): the spot wallet untouched, each short's margin, fees and PnL in
its own coin's COIN-M wallet, net weights to target. No BTCUSD_PERP book was recorded (the
seeds' example): BCH and LINK, which were, carry the case; the contract arithmetic for BTC is
checked by hand in tests/portfolio/test_state.py."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from decimal import Decimal

import pytest

from tests.conftest import ROOT, shared

CONFIG = ROOT / "configs" / "inverse_hedge.toml"
TAKER = Decimal("5") / Decimal(10_000)


def test_inverse_perps_hedge_spot_coins_with_coin_margin(tmp_path):
    shared("cryptofeed", "sample_data", "BINANCE_DELIVERY.ws.1.0")
    journal = tmp_path / "j.db"
    p = subprocess.run([sys.executable, "-m", "engine", "--log-level", "error", "run",
                        "--config", str(CONFIG), "--mode", "replay", "--journal", str(journal),
                        "--json"], capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert p.returncode == 0, p.stderr[-3000:]
    r = json.loads(p.stdout.strip().splitlines()[-1])
    # net exposure (spot + COIN-M coin + short perp) at 30% of NAV each
    for asset in ("LINK", "BCH"):
        assert r["net_weights"][asset] == pytest.approx(0.3, abs=0.005)
    assert r["spot_end"] == r["spot_start"] == {"LINK": "1000", "BCH": "40"}
    assert r["accounts"]["spot"]["USDT"] == "2000"
    assert r["unfinished_parents"] == [] and r["client_order_ids_unique"]
    pos = {s: Decimal(q) for s, q in r["positions"].items()}
    assert pos["LINK/USD:LINK"] < 0 and pos["BCH/USD:BCH"] < 0
    assert pos["LINK/USD:LINK"] % 1 == 0 and pos["BCH/USD:BCH"] % 1 == 0  # whole contracts
    # every fee is the venue's inverse formula: contracts x 10 USD / price x taker rate, in
    # the coin, and the COIN-M wallet paid exactly those (an opening short realizes nothing)
    db = sqlite3.connect(journal)
    fills = db.execute("SELECT symbol, qty, price, fee, fee_currency FROM fills").fetchall()
    assert len(fills) == r["fills"] > 0
    paid = {"LINK": Decimal(0), "BCH": Decimal(0)}
    for sym, qty, price, fee, ccy in fills:
        coin = sym.split("/")[0]
        assert ccy == coin
        expect = (Decimal(qty) * 10 / Decimal(price) * TAKER).quantize(Decimal(fee))
        assert abs(Decimal(fee) - expect) <= Decimal("1e-8")
        paid[coin] += Decimal(fee)
    start = {"LINK": Decimal("150"), "BCH": Decimal("6")}
    for coin, acct in r["accounts"]["coinm"].items():
        assert Decimal(acct["wallet"]) == start[coin] - paid[coin]
        assert Decimal(acct["fees"]) == paid[coin]
        # its margin account: 1/5 of the short's contract value over the coin's value + PnL
        im = float(-pos[f"{coin}/USD:{coin}"]) * 10 / 5
        assert acct["margin_utilisation"] == pytest.approx(im / acct["margin_balance"], rel=1e-4)
        assert acct["margin_utilisation"] < 0.8
    assert r["accounts"]["futures"]["wallet"] == "0" and r["transfers"] == 0
    assert r["journal_wallets"]["coinm"] == {c: a["wallet"] for c, a in r["accounts"]["coinm"].items()}
    assert r["max_margin_utilisation"] < 0.8
    # the books it traded on, checked against the recorded bookTicker in the same run (the
    # BCH snapshot lacks one level the stream holds: tests/feeds/test_cryptofeed_capture.py)
    v = r["books_verified"]
    assert v["LINK/USD:LINK"] == {"compared": 229, "agreed": 229, "not_comparable": 0}
    assert v["BCH/USD:BCH"] == {"compared": 209, "agreed": 206, "not_comparable": 0}
