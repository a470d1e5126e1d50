"""`make demo` runs from the repository, finishes, and its numbers agree with its journal."""

from __future__ import annotations

import re
import subprocess
import sys
from decimal import Decimal

import orjson

from tests.conftest import ROOT


def test_make_demo_reports_what_the_journal_holds(tmp_path):
    journal = tmp_path / "demo.sqlite"
    p = subprocess.run(["make", "--no-print-directory", "demo", f"DEMO_JOURNAL={journal}",
                        f"PYTHON={sys.executable}"], cwd=ROOT, capture_output=True, text=True,
                       timeout=600)
    assert p.returncode == 0, p.stderr[-2000:]
    out = p.stdout
    m = re.search(r"parents / children / fills\s*│\s*(\d+) / (\d+) / (\d+)", out)
    fees = re.search(r"fees\s*│\s*([0-9.]+) USDT", out)
    btc = re.search(r"BTC net weight / target\s*│\s*([0-9.]+) / ([0-9.]+)", out)
    mmu = re.search(r"max margin utilisation\s*│\s*([0-9.]+)", out)
    assert m and fees and btc and mmu, out
    parents, children, fills = map(int, m.groups())
    assert parents == 2 and children > 12 and fills >= children
    assert abs(float(btc.group(1)) - 0.6) < 0.03 and btc.group(2) == "0.6000"
    assert 0 < float(mmu.group(1)) <= 0.8
    assert str(journal) in out
    # the seeds' case: the spot core untouched, every spot and perp book agreeing with its
    # recorded bookTicker
    for asset, qty in (("BTC", "1.214"), ("ETH", "9.33")):
        assert re.search(rf"{asset} spot before → after\s*│\s*{qty} → {qty}\s", out), out
    agree = re.findall(r"(\S+) book vs bookTicker\s*│\s*([0-9,]+) of ([0-9,]+) tops agree", out)
    assert {a[0] for a in agree} == {"BTC/USDT", "ETH/USDT", "BTC/USDT:USDT", "ETH/USDT:USDT"}
    assert all(a[1] == a[2] for a in agree)
    # two wallets: the futures wallet's $2,000 could not margin the overlay, so $8,000 moved
    # in from the spot wallet before the first perp order
    assert re.search(r"transfer spot → futures\s*│\s*8000\.00 USDT done", out), out

    r = subprocess.run([sys.executable, "-m", "engine", "report", "--journal", str(journal),
                        "--json"], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    rep = orjson.loads(r.stdout.strip().splitlines()[-1])
    assert rep["status"] == "finished"
    assert rep["journal_fills"] == fills and rep["journal_parents"] == parents
    assert rep["journal_submissions"] == children and rep["journal_submissions_unique"]
    assert rep["journal_transfers"] == 1
    assert rep["journal_wallets"]["spot"] == {"USDT": "0.00"}
    assert Decimal(rep["journal_wallets"]["futures"]["USDT"]) == Decimal("10000") - Decimal(
        fees.group(1))  # perp fees come out of the futures wallet
    assert Decimal(rep["journal_fees"]) == Decimal(fees.group(1))
    assert round(rep["journal_final_weights"]["BTC"], 4) == float(btc.group(1))
    # the same figures as tables a person reads, not dict reprs
    table = r.stdout
    assert re.search(rf"orders sent\s*│\s*{children} \(all unique\)", table), table
    assert re.search(r"BTC/USDT:USDT\s*│\s*-?[0-9.]+", table) and "{'" not in table
