"""kill -9 during a TWAP on the recorded captures, restart from the journal, and end exactly
where an uninterrupted run ends: same positions, cash, fills, no client order id sent twice."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

from decimal import Decimal

import orjson
import pytest

from tests.conftest import ROOT

CONFIG = str(ROOT / "configs" / "demo_perps.toml")
KEYS = ("positions", "cash", "fills", "fees", "journal_positions", "journal_cash",
        "journal_fills", "journal_fees", "journal_intents", "journal_parents", "intents",
        "parents", "children", "final_weights", "journal_final_weights",
        "max_margin_utilisation", "shortfall_bps", "journal_submissions")


def _run(journal, env=None) -> subprocess.CompletedProcess:
    e = dict(os.environ)
    e.pop("BALLAST_CRASH_AT_EVENT", None)
    e.pop("BALLAST_CRASH_BEFORE_DISPATCH", None)
    e.update(env or {})
    return subprocess.run([sys.executable, "-m", "engine", "run", "--config", CONFIG,
                           "--mode", "replay", "--journal", str(journal), "--json"],
                          cwd=ROOT, capture_output=True, text=True, timeout=300, env=e)


def _report(p: subprocess.CompletedProcess) -> dict:
    assert p.returncode == 0, p.stderr[-2000:]
    return orjson.loads(p.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def baseline(tmp_path_factory) -> dict:
    r = _report(_run(tmp_path_factory.mktemp("base") / "j.sqlite"))
    assert r["journal_submissions_unique"] and r["fills"] > 0 and r["intents"] == 1
    return r


# 12 crash points: 3 chains of 4 kills each, from the first child (the books sync ~0.3 s in)
# to the end of the 120 s TWAP (~60k events), at events and just before dispatches; each
# restart resumes the same journal. (More, at random moments: scripts/crash_soak.py.)
CHAINS = [
    [("event", 400), ("dispatch", 1), ("event", 20000), ("event", 45000)],
    [("event", 1200), ("dispatch", 2), ("event", 15500), ("event", 58000)],
    [("event", 5000), ("event", 5001), ("dispatch", 4), ("event", 40000)],
]


@pytest.mark.parametrize("chain", CHAINS, ids=lambda c: "-".join(f"{k[0][0]}{k[1]}" for k in c))
def test_kill_9_during_twap_then_resume_matches_an_uninterrupted_run(tmp_path, baseline, chain):
    journal = tmp_path / "j.sqlite"
    for kind, at in chain:
        env = ({"BALLAST_CRASH_AT_EVENT": str(at)} if kind == "event"
               else {"BALLAST_CRASH_BEFORE_DISPATCH": str(at)})
        p = _run(journal, env)
        assert p.returncode == -signal.SIGKILL, (kind, at, p.returncode, p.stderr[-1500:])
        assert journal.exists()
    final = _report(_run(journal))
    for k in KEYS:
        assert final[k] == baseline[k], k
    assert final["client_order_ids_unique"] is True
    assert final["journal_submissions_unique"] is True
    assert final["journal_attempts"] == len(chain) + 1
    assert final["recovered_orders"] > 0 or chain[0] == ("event", 400)


SPOT_PERP = str(ROOT / "configs" / "demo.toml")


def _run_spot_perp(journal, env=None) -> dict | subprocess.CompletedProcess:
    e = dict(os.environ)
    e.pop("BALLAST_CRASH_AT_EVENT", None)
    e.update(env or {})
    return subprocess.run([sys.executable, "-m", "engine", "run", "--config", SPOT_PERP,
                           "--mode", "replay", "--journal", str(journal), "--json"],
                          cwd=ROOT, capture_output=True, text=True, timeout=300, env=e)


def test_kill_9_between_a_transfer_and_its_answer_journals_it_once(tmp_path):
    """The demo's first durable batch is the transfer alone (its children wait for it): kill
    -9 once it is durable and before it leaves, restart, and the run ends as an uninterrupted
    one with the transfer in the journal once."""
    base = _report(_run_spot_perp(tmp_path / "base.sqlite"))
    assert base["transfers"] == base["journal_transfers"] == 1
    # the uninterrupted run is `make demo`'s: two wallets as on the venue, the futures
    # wallet topped up once from spot, the spot core untouched, net 60/40 within 0.5%
    assert base["spot_end"] == base["spot_start"] == {"BTC": "1.214", "ETH": "9.33"}
    assert abs(base["net_weights"]["BTC"] - 0.6) <= 0.005
    assert abs(base["net_weights"]["ETH"] - 0.4) <= 0.005
    acc = base["accounts"]
    assert acc["spot"] == {"USDT": "0.00", "BTC": "1.214", "ETH": "9.33"}
    assert Decimal(acc["futures"]["wallet"]) == Decimal("10000") - Decimal(base["fees"])
    assert acc["spot_fees"] == {} and acc["futures"]["fees"] == {"USDT": base["fees"]}
    assert 0 < base["max_margin_utilisation"] <= 0.8
    assert base["journal_wallets"]["futures"] == {"USDT": acc["futures"]["wallet"]}
    v = base["books_verified"]
    assert len(v) == 4 and all(c["agreed"] == c["compared"] > 3000 for c in v.values())
    journal = tmp_path / "j.sqlite"
    p = _run_spot_perp(journal, {"BALLAST_CRASH_BEFORE_DISPATCH": "1"})
    assert p.returncode == -signal.SIGKILL, p.stderr[-1500:]
    import sqlite3

    with sqlite3.connect(journal) as db:
        rows = db.execute("SELECT status, amount FROM transfers").fetchall()
        sent = db.execute("SELECT COUNT(*) FROM submissions").fetchone()[0]
    assert rows == [("requested", "8000.00")] and sent == 0  # durable, not yet answered
    final = _report(_run_spot_perp(journal))
    for k in ("positions", "cash", "fills", "fees", "accounts", "transfers", "journal_transfers",
              "journal_wallets", "journal_cash", "final_weights", "journal_submissions"):
        assert final[k] == base[k], k
    with sqlite3.connect(journal) as db:
        assert db.execute("SELECT status, amount FROM transfers").fetchall() == [
            ("done", "8000.00")]
    assert final["journal_submissions_unique"] and final["journal_attempts"] == 2
