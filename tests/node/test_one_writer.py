"""The portfolio has one writer once a run is going: the pipeline. Fills from the paper broker
and the bar filler, and funding, reach the portfolio as events through `Pipeline.on_account`;
every other component only reads it. Checked by recording, on real runs, which module calls
each of the portfolio's mutating methods."""

from __future__ import annotations

import sys

import pytest

from engine.backtest.data import load_bar_data
from engine.backtest.run import run_policy
from engine.backtest.sweep import expand_policies
from engine.feeds.capture import merge_captures
from engine.node.config import load_config
from engine.node.session import PaperSession
from engine.portfolio.state import Portfolio
from tests.backtest.test_backtest import _spot_config
from tests.conftest import ROOT, USDM_BTC, USDM_ETH

MUTATORS = ("apply", "on_fill", "on_funding", "book_funding", "on_price", "set_cash",
            "seed_position", "add_instrument", "set_sleeve", "transfer", "set_holding")


@pytest.fixture
def writers(monkeypatch):
    """{(calling module, method): calls} for calls from outside the portfolio's own module."""
    seen: dict[tuple[str, str], int] = {}
    for name in MUTATORS:
        orig = getattr(Portfolio, name)

        def wrapped(self, *a, _orig=orig, _name=name, **kw):
            caller = sys._getframe(1).f_globals.get("__name__", "?")
            if caller != "engine.portfolio.state":
                seen[(caller, _name)] = seen.get((caller, _name), 0) + 1
            return _orig(self, *a, **kw)

        monkeypatch.setattr(Portfolio, name, wrapped)
    return seen


def test_paper_replay_fills_reach_the_portfolio_only_through_the_pipeline(writers):
    s = PaperSession(load_config(str(ROOT / "configs/demo_perps.toml")))
    writers.clear()  # building the start portfolio from config is not a run's write
    for ev in merge_captures([str(USDM_BTC), str(USDM_ETH)]):
        s.on_event(ev)
        if s.execution.parents and not any(p.active for p in s.execution.parents.values()):
            break
    assert s.broker.fill_log, "the demo's rebalance filled nothing"
    assert writers[("engine.node.pipeline", "apply")] == len(s.broker.fill_log)
    assert {mod for mod, _ in writers} == {"engine.node.pipeline"}, writers


def test_transfers_between_the_wallets_reach_the_portfolio_only_through_the_pipeline(writers):
    path = str(ROOT / "configs/demo.toml")  # the spot core + perp overlay, one transfer
    cfg = load_config(path)
    s = PaperSession(cfg)
    writers.clear()
    from engine.node.runner import resolve_inputs

    for ev in merge_captures(resolve_inputs(cfg, path, None)):
        s.on_event(ev)
        if s.execution.parents and not s.execution.busy:
            break
    assert [t.status for t in s.execution.transfer_log] == ["done"]
    assert writers[("engine.node.pipeline", "apply")] == len(s.broker.fill_log) + 1
    assert {mod for mod, _ in writers} == {"engine.node.pipeline"}, writers


def test_bar_backtest_fills_reach_the_portfolio_only_through_the_pipeline(
        writers, tmp_path):
    cfg_path = _spot_config(tmp_path, '[[backtest.policies]]\nname = "monthly"\n'
                            'schedule = "month"', start="2021-01-01T00:00:00",
                            end="2021-06-01T00:00:00")
    cfg = load_config(cfg_path)
    data = load_bar_data(cfg.backtest, cfg_path)
    pol = {p.name: p for p in expand_policies(cfg)}["monthly"]
    writers.clear()
    res = run_policy(cfg, pol, data, cfg.backtest)
    assert res.metrics["rebalances"] >= 4
    assert writers[("engine.node.pipeline", "apply")] >= 2 * (res.metrics["rebalances"] + 1)
    assert {mod for mod, _ in writers} == {"engine.node.pipeline"}, writers
