"""A bar rule while streaming, warmed up from history (`configs/sma_stream.toml`): the daily
bar of 2024-08-08 built from the recorded spot BTC trades on top of that day's hourly history
closes at the venue's daily close, BTC's close above its 10-day SMA enters at that close, and
a backtest of the same config over the daily bars enters at the same time, with the same
value and the same targets. The rule's entries and exits on the daily bars are checked
against an SMA computed here with numpy."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys

import numpy as np
import pytest

from engine.backtest.data import load_bar_data
from engine.backtest.run import run_policy
from engine.feeds.bars import read_bars
from engine.node.config import load_config
from tests.conftest import ROOT, shared

CONFIG = ROOT / "configs" / "sma_stream.toml"
DAILY = ROOT / "scripts" / "data" / "oraculo-de-bitcoin" / "BTC_USDT-1d.feather"
DAY = 86_400_000_000_000


def _ns(y, m, d):
    return int(dt.datetime(y, m, d, tzinfo=dt.timezone.utc).timestamp()) * 1_000_000_000


def test_daily_bar_from_recorded_trades_fires_the_sma_rule_as_the_backtest_does(tmp_path):
    shared("hftbacktest", "examples", "spot", "btcusdt_20240809.gz")
    shared("oraculo-de-bitcoin", "user_data", "data", "binance", "BTC_USDT-1h.feather")
    p = subprocess.run([sys.executable, "-m", "engine", "--log-level", "error", "run",
                        "--config", str(CONFIG), "--mode", "replay", "--journal",
                        str(tmp_path / "j.db"), "--json"],
                       capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert p.returncode == 0, p.stderr[-3000:]
    r = json.loads(p.stdout.strip().splitlines()[-1])
    bars = r["bars"]["BTC"]
    assert (bars["history_bars"], bars["seeded"], bars["built"]) == (60, True, 1)
    assert bars["unseen_s"] == pytest.approx(3255.342)  # 23:00 -> the first trade, 23:54:15.342
    assert r["signal_log"] == [{"ts": "2024-08-09 00:00:00 UTC", "rule": "btc_above_sma10",
                                "edge": "entry", "value": pytest.approx(1.022327, abs=1e-6)}]
    assert r["intents"] == 1 and r["target_weights"] == {"BTC": 0.5}
    assert r["net_weights"]["BTC"] == pytest.approx(0.5, abs=0.005)
    # the same config as a backtest over the daily bars: the same entry, value and targets
    cfg = load_config(str(CONFIG))
    data = load_bar_data(cfg.backtest, str(CONFIG))
    res = run_policy(cfg, cfg.backtest.policies[0], data, cfg.backtest)
    entry = [x for x in res.signal_log if x[0] == _ns(2024, 8, 9)]
    assert entry == [(_ns(2024, 8, 9), "btc_above_sma10", "entry",
                      pytest.approx(r["signal_log"][0]["value"], abs=1e-6))]
    assert (_ns(2024, 8, 9), "btc_above_sma10", {"BTC": 0.5}) in res.decisions


def test_the_day_built_from_trades_closes_at_the_venues_daily_close():
    """The streamed bar against the venue's own daily kline (the bundled 1d file): the same
    open (the hourly history's first), the same close (the last recorded trade before
    midnight); its high is the hourly history's, lower than the day's: the day's high fell in
    the unrecorded 23:00-23:54."""
    from engine.feeds.capture import merge_captures
    from engine.node.session import PaperSession

    cfg = load_config(str(CONFIG))
    s = PaperSession(cfg, cfg_path=str(CONFIG))
    files = [ROOT / "scripts/data/hftbacktest/spot/btcusdt_20240808.gz",
             shared("hftbacktest", "examples", "spot", "btcusdt_20240809.gz")]
    shared("oraculo-de-bitcoin", "user_data", "data", "binance", "BTC_USDT-1h.feather")
    for ev in merge_captures([str(f) for f in files]):
        s.process(ev)
        if s.pipeline.bars_built:
            break
    built = s.pipeline.bars_built[0]
    venue = next(b for b in read_bars(str(DAILY)) if b.ts_open == _ns(2024, 8, 8))
    assert (built.ts_open, built.ts_event) == (venue.ts_open, venue.ts_event)
    assert (built.open, built.close, built.low) == (venue.open, venue.close, venue.low)
    assert built.high == 62530.0 < venue.high == 62745.14


def test_sma_entries_and_exits_on_daily_bars_match_numpy():
    cfg = load_config(str(CONFIG))
    data = load_bar_data(cfg.backtest, str(CONFIG))
    res = run_policy(cfg, cfg.backtest.policies[0], data, cfg.backtest)
    bars = read_bars(str(DAILY))
    close = np.array([b.close for b in bars])
    ts = np.array([b.ts_event for b in bars])
    sma = np.convolve(close, np.ones(10) / 10, mode="valid")  # sma[k] ends at bar k + 9
    above = close[9:] > sma
    lo, hi = _ns(2024, 6, 1), _ns(2024, 9, 1)
    expect = []
    for k in range(1, len(above)):
        t = ts[k + 9]
        if lo < t <= hi and above[k] != above[k - 1]:
            expect.append((int(t), "entry" if above[k] else "exit"))
    got = [(t, edge) for t, _, edge, _ in res.signal_log]
    assert got == expect and len(got) == 14
