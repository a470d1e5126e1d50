"""The bar backtest that skips the bars on which no rule can fire equals the one that takes
every bar through the pipeline: the same rebalances at the same bars, the same fills, fees and
metrics, NAV to float rounding, on the recorded Binance bars (bundled daily and 1h from
../shared). Runs that cannot skip say why, and take every bar."""

from __future__ import annotations

import msgspec
import pytest

from engine.backtest.data import load_bar_data
from engine.backtest.run import policy_config, run_policy
from engine.backtest.skip_ahead import refusal
from engine.core.clock import ReplayClock
from engine.node.build import build
from engine.backtest.sweep import expand_policies
from engine.node.config import DriftCfg, PolicyCfg, load_config
from tests.conftest import ROOT, shared

DAILY = str(ROOT / "configs" / "backtest_daily.toml")
HOURLY = str(ROOT / "configs" / "backtest.toml")


def _same(fast, full) -> None:
    assert fast.skip_ahead and not full.skip_ahead
    assert fast.rebalance_ts == full.rebalance_ts
    assert [d[:2] for d in fast.decisions] == [d[:2] for d in full.decisions]
    for (_, _, wa), (_, _, wb) in zip(fast.decisions, full.decisions):
        assert wa == pytest.approx(wb, rel=1e-12)  # an edge trade's weights, to rounding
    assert fast.ts == full.ts
    assert len(fast.nav) == len(full.nav)
    for a, b in zip(fast.nav, full.nav):
        assert a == pytest.approx(b, rel=1e-12)
    assert fast.weights_ts == full.weights_ts
    for wa, wb in zip(fast.weights, full.weights):
        assert wa.keys() == wb.keys()
        assert all(wa[k] == pytest.approx(wb[k], rel=1e-9, abs=1e-12) for k in wa)
    ma = {k: v for k, v in fast.metrics.items() if k != "seconds"}
    mb = {k: v for k, v in full.metrics.items() if k != "seconds"}
    # rounded as reported: the skipped bars' sums run in another order, to the last bit
    assert ma == mb


@pytest.fixture(scope="module")
def daily():
    cfg = load_config(DAILY)
    return cfg, load_bar_data(cfg.backtest, DAILY), {p.name: p for p in expand_policies(cfg)}


@pytest.mark.parametrize("name", [
    "buy_and_hold", "calendar_monthly", "calendar_weekly",
    "risk_parity_weekly",  # statistics fed bar by bar up to each decision
    "vol_target_40pct_weekly",
    "band_abs_5pct_target", "band_rel_10pct_edge",
])
def test_daily_policies_skip_and_agree(daily, name):
    cfg, data, policies = daily
    fast = run_policy(cfg, policies[name], data, cfg.backtest)
    full = run_policy(cfg, policies[name], data, cfg.backtest, skip_ahead=False)
    assert fast.metrics["rebalances"] or name == "buy_and_hold"
    _same(fast, full)


def test_hysteresis_and_cooldown_bands_agree(daily):
    """A disarmed band re-arms inside band × (1 − hysteresis); a cooldown holds a breach back:
    both change the rule's state on bars the skipping path must not jump over."""
    cfg, data, _ = daily
    for drift in (DriftCfg(abs_band=0.03, hysteresis=0.5),
                  DriftCfg(rel_band=0.1, mode="edge", hysteresis=0.3, cooldown_s=20 * 86400),
                  DriftCfg(abs_band=0.02, min_trade_notional=5_000)):
        pol = PolicyCfg(name="band", drift=drift)
        fast = run_policy(cfg, pol, data, cfg.backtest)
        full = run_policy(cfg, pol, data, cfg.backtest, skip_ahead=False)
        assert fast.metrics["rebalances"] > 3
        _same(fast, full)


def test_hourly_bars_a_year_of_five_assets_agree():
    shared("oraculo-de-bitcoin", "user_data", "data", "binance", "BTC_USDT-1h.feather")
    cfg = load_config(HOURLY)
    bt = msgspec.structs.replace(cfg.backtest, start="2022-01-01", end="2023-01-01")
    data = load_bar_data(bt, HOURLY)
    assert data.timestamps == 8760
    for pol in (PolicyCfg(name="cal30", schedule="30d"),
                PolicyCfg(name="band5", drift=DriftCfg(abs_band=0.05))):
        fast = run_policy(cfg, pol, data, bt)
        full = run_policy(cfg, pol, data, bt, skip_ahead=False)
        assert fast.metrics["rebalances"] >= 5
        _same(fast, full)


def test_runs_that_cannot_skip_say_why():
    for name in ("backtest_perp.toml", "regimes.toml"):
        path = str(ROOT / "configs" / name)
        cfg = load_config(path)
        data = load_bar_data(cfg.backtest, path)
        portfolio, _, _, trigger = build(policy_config(cfg, expand_policies(cfg)[-1],
                                                       data.step_ns), ReplayClock(),
                                         pooled=True)
        assert refusal(portfolio, trigger, data, detail=False) == "funding settlements"
        data.funding_at.clear()
        assert refusal(portfolio, trigger, data, detail=False) in (
            "signal rules, regimes, rolls or carry moves look at every bar",
            "futures (margin and funding move with every bar)")
    cfg = load_config(DAILY)
    data = load_bar_data(cfg.backtest, DAILY)
    pol = PolicyCfg(name="cal", schedule="week")
    # an export records every bar: every bar through the pipeline
    assert not run_policy(cfg, pol, data, cfg.backtest, detail=True).skip_ahead
