"""Seed 002's regime matrix: a spot share and a net futures exposure per row (net short
allowed), precedence, a minimum time in a regime, a regime's own targets (a correlation
breach's diversifying one), and the shipped matrix backtested over five years."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from engine.core.errors import ConfigError
from engine.triggers.regime import Regime, RegimeMatrix
from tests.conftest import ROOT, shared

H = 3_600_000_000_000


def test_net_short_rows_and_the_older_form():
    base = Regime(name="range", spot_share=1.0, futures=0.0)
    breakdown = Regime(name="breakdown", when=("sb",), spot_share=1.0, futures=-1.4)
    m = RegimeMatrix([breakdown], base, {"sb"})
    assert m.legs(breakdown, 10_000.0) == (10_000.0, -14_000.0)  # net short 40%
    old = Regime(name="old", perp_share=0.5, hedge_ratio=1.4)  # 1.4 was refused before
    assert RegimeMatrix([old], base, set()).legs(old, 1000.0) == pytest.approx((500.0, -900.0))
    for bad, why in ((Regime(name="x", futures=-3.5), "futures must be within"),
                     (Regime(name="x", spot_share=1.2), "spot_share must be in"),
                     (Regime(name="x", spot_share=1.0, hedge_ratio=0.5), "not both"),
                     (Regime(name="range"), "unique")):
        with pytest.raises(ConfigError, match=why):
            RegimeMatrix([bad], base, set())


def test_precedence_and_the_minimum_time_in_a_regime():
    base = Regime(name="range")
    spike = Regime(name="spike", when=("atr",), futures=-0.5)
    trend = Regime(name="trend", when=("cross", "above"), futures=0.25)
    m = RegimeMatrix([spike, trend], base, {"atr", "cross", "above"}, min_hold_ns=72 * H)
    assert m.update({"cross"}, 0) is None  # not every signal of the row: baseline stays
    assert m.update({"cross", "above"}, 1 * H).name == "trend"
    assert m.update({"cross", "above", "atr"}, 10 * H) is None  # held < 72 h
    assert m.update({"cross", "above", "atr"}, 73 * H).name == "spike"  # first row wins
    assert m.update(set(), 100 * H) is None
    assert m.update(set(), 146 * H).name == "range"


def test_a_regime_with_its_own_targets_trades_to_them(tmp_path):
    """A correlation breach's regime replaces the targets (a diversifying one) instead of
    rebalancing to the same weights; its hedge stays within the strategy's leverage cap."""
    import msgspec

    from engine.core.clock import ReplayClock
    from engine.model import PortfolioUpdate
    from engine.node.build import build
    from engine.node.config import load_config

    cfg = load_config(str(ROOT / "configs" / "regimes.toml"))
    portfolio, strategy, stats, trigger = build(cfg, ReplayClock(), pooled=True)
    for sym, px in (("BTC/USDT", 60000.0), ("ETH/USDT", 3000.0), ("BTC/USDT:USDT", 60000.0),
                    ("ETH/USDT:USDT", 3000.0)):
        portfolio.on_price(sym, px)
    lockstep = next(s for s in trigger.signals if s.name == "lockstep")
    lockstep.condition = lambda stats: True  # the correlation breach, as its rule reports it
    intent = trigger.on_update(PortfolioUpdate(ts_event=1, ts_recv=1, cause="bar", assets=(),
                                               nav=portfolio.nav))
    assert intent is not None and trigger.regimes.current.name == "lockstep"
    assert intent.target_weights == {"BTC": 0.25, "ETH": 0.15}
    legs = {t.symbol: t.notional for t in intent.targets}
    assert legs["BTC/USDT"] == pytest.approx(0.25 * 100_000) and legs["BTC/USDT:USDT"] == 0
    # the breakdown row: net short 40% of the target, scaled into the 1.6x gross cap
    trigger.regimes.since = None
    lockstep.condition = lambda stats: False
    breach = next(s for s in trigger.signals if s.name == "support_breach")
    breach.update = lambda stats: (setattr(breach, "active", True), True)[1]
    intent = trigger.on_update(PortfolioUpdate(ts_event=2, ts_recv=2, cause="bar", assets=(),
                                               nav=portfolio.nav))
    assert trigger.regimes.current.name == "support_breakdown"
    legs = {t.symbol: t.notional for t in intent.targets}
    gross = sum(abs(v) for v in legs.values())
    assert gross == pytest.approx(1.6 * portfolio.nav)
    assert legs["BTC/USDT:USDT"] / legs["BTC/USDT"] == pytest.approx(-1.4)


def test_the_matrix_backtested_over_five_years_answers_the_seeds_question():
    shared("shin-ltp-freqtrade", "user_data", "data", "binance", "futures",
           "BTC_USDT_USDT-8h-funding_rate.feather")
    p = subprocess.run([sys.executable, "-m", "engine", "--log-level", "error", "backtest",
                        "--config", "configs/regimes.toml", "--json", "--no-html"],
                       capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert p.returncode == 0, p.stderr[-2000:]
    out = json.loads(p.stdout.strip().splitlines()[-1])
    pol = out["policies"]
    hold, band, matrix = pol["buy_and_hold"], pol["band_5pct"], pol["regime_matrix"]
    assert matrix["years"] > 4.9
    assert sum(matrix["time_in_regime"].values()) == pytest.approx(1.0, abs=1e-3)
    assert set(matrix["time_in_regime"]) <= {"range_bound", "support_breakdown",
                                             "volatility_spike", "overbought_high_funding",
                                             "strong_uptrend", "lockstep"}
    log = out["signal_log"]["regime_matrix"]
    counts = {}
    for e in log:
        counts.setdefault(e["rule"], {"entry": 0, "exit": 0})[e["edge"]] += 1
    assert counts == matrix["signals"] and len(counts) >= 5
    assert matrix["funding"] != 0 and hold["funding"] == 0  # BTC perp pays where recorded
    assert matrix["refused_orders"] == {} and matrix["max_margin_utilisation"] < 0.8
    # the answer in plain words carries the figures of the table
    verdict = "lowered" if matrix["max_drawdown"] > hold["max_drawdown"] else "did not lower"
    assert f"The regime matrix (regime_matrix) {verdict} the max drawdown: " \
           f"{matrix['max_drawdown']:.2%} vs {hold['max_drawdown']:.2%}" in p.stdout
    assert band["rebalances"] > 0


def test_the_report_marks_every_entry_and_exit_on_the_price():
    from engine.backtest.data import load_bar_data
    from engine.backtest.report import build_figures
    from engine.backtest.run import run_policy
    from engine.node.config import load_config

    path = str(ROOT / "configs" / "sma_stream.toml")
    cfg = load_config(path)
    data = load_bar_data(cfg.backtest, path)
    res = {p.name: run_policy(cfg, p, data, cfg.backtest) for p in cfg.backtest.policies}
    figs = dict(build_figures(res))
    ax = figs["sma_signal: signals on the price"].axes[0]
    marks = {c.get_label(): len(c.get_offsets()) for c in ax.collections}
    log = res["sma_signal"].signal_log
    assert marks == {"btc_above_sma10 entry": sum(e == "entry" for _, _, e, _ in log),
                     "btc_above_sma10 exit": sum(e == "exit" for _, _, e, _ in log)}
    import matplotlib.pyplot as plt

    for f in figs.values():
        plt.close(f)
