"""Drift bands as configured: a relative band is relative, every band policy of the bundled
5-year daily backtest trades, and the summary counts only the band policies that traded."""

from __future__ import annotations

import pytest

from engine.backtest.data import load_bar_data
from engine.backtest.report import answer
from engine.backtest.run import run_policy
from engine.backtest.sweep import expand_policies
from engine.core.clock import ReplayClock
from engine.core.errors import ConfigError
from engine.node.build import build
from engine.node.config import DriftCfg, PolicyCfg, load_config, parse_config
from tests.conftest import ROOT

DAILY = str(ROOT / "configs" / "backtest_daily.toml")


def test_a_relative_band_from_toml_is_the_rule_s_band():
    cfg = load_config(str(ROOT / "configs" / "risk_parity.toml"))
    drift = build(cfg, ReplayClock())[3].drift
    assert (drift.abs_band, drift.rel_band) == (None, 0.2)
    assert drift.band(0.25) == pytest.approx(0.05)  # 20% of a 25% target


def test_no_band_given_is_3pct_absolute_and_both_given_is_refused():
    text = (ROOT / "configs" / "demo_perps.toml").read_text()
    plain = text.replace("abs_band = 0.03\n", "")
    assert build(parse_config(plain), ReplayClock())[3].drift.abs_band == 0.03
    both = text.replace("abs_band = 0.03\n", "abs_band = 0.03\nrel_band = 0.1\n")
    with pytest.raises(ConfigError,
                       match=r"at `\$\.triggers\.drift`: give abs_band or rel_band, not both"):
        parse_config(both)


@pytest.fixture(scope="module")
def daily():
    cfg = load_config(DAILY)
    return cfg, load_bar_data(cfg.backtest, DAILY), expand_policies(cfg)


def test_every_band_policy_of_the_daily_backtest_rebalances(daily):
    cfg, data, policies = daily
    bands = [p for p in policies if p.drift is not None]
    assert len(bands) == 16
    idle = {}
    for pol in bands:
        res = run_policy(cfg, pol, data, cfg.backtest)
        if not res.metrics["rebalances"]:
            idle[pol.name] = res.metrics
    assert not idle, sorted(idle)


def test_the_summary_counts_only_band_policies_that_traded(daily):
    cfg, data, policies = daily
    by_name = {p.name: p for p in policies}
    results = {n: run_policy(cfg, by_name[n], data, cfg.backtest)
               for n in ("buy_and_hold", "band_rel_3pct_target")}
    never = PolicyCfg(name="band_abs_90pct", drift=DriftCfg(abs_band=0.9))
    results["band_abs_90pct"] = run_policy(cfg, never, data, cfg.backtest)
    assert results["band_abs_90pct"].metrics["rebalances"] == 0
    text = answer(results)
    assert "of 1 band policies that traded" in text
    assert "Never rebalanced (not counted above): band_abs_90pct." in text
    assert "band_abs_90pct: max drawdown" not in text
