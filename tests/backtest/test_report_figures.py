"""The HTML report's charts are readable: no chart has more lines than its colours tell apart
(policies are split across charts, the baseline in each), legends sit beside the data, and
every rebalance is marked on its policy's weights chart."""

from __future__ import annotations

import msgspec

from engine.backtest.data import load_bar_data
from engine.backtest.report import MAX_LINES, build_figures, write_html
from engine.backtest.run import run_policy
from engine.backtest.sweep import expand_policies
from engine.node.config import load_config
from tests.conftest import ROOT

DAILY = str(ROOT / "configs" / "backtest_daily.toml")


def test_charts_are_split_legends_outside_and_every_rebalance_marked(tmp_path):
    import matplotlib.pyplot as plt
    from matplotlib.collections import LineCollection

    cfg = load_config(DAILY)
    cfg = msgspec.structs.replace(cfg, backtest=msgspec.structs.replace(
        cfg.backtest, start="2022-01-01T00:00:00", end="2023-01-01T00:00:00"))
    data = load_bar_data(cfg.backtest, DAILY)
    pols = expand_policies(cfg)[:12]  # the listed policies and the first swept bands
    results = {p.name: run_policy(cfg, p, data, cfg.backtest) for p in pols}
    figs = build_figures(results)
    equity = [f for t, f in figs if t.startswith("Equity")]
    assert len(equity) == -(-(len(results) - 1) // MAX_LINES) >= 2  # split, not crowded
    for _, fig in figs:
        for ax in fig.axes:
            assert len(ax.lines) <= MAX_LINES + 1
            leg = ax.get_legend()
            if leg is not None:  # anchored right of the axes: never over the data
                assert leg.get_bbox_to_anchor().transformed(ax.transAxes.inverted()).x0 > 1.0
    plotted = set()
    for fig in equity:
        plotted |= {ln.get_label() for ln in fig.axes[0].lines}
    assert plotted == set(results)
    for title, fig in figs:
        if not title.startswith("Weights: "):
            continue
        r = results[title.removeprefix("Weights: ")]
        marks = [c for c in fig.axes[0].collections if isinstance(c, LineCollection)]
        n = sum(len(c.get_segments()) for c in marks)
        assert n == len(r.rebalance_ts)
        assert f"all {len(r.rebalance_ts)} rebalances marked" in fig.axes[0].get_title()
    assert any(len(r.rebalance_ts) > 100 for r in results.values())
    plt.close("all")
    out = write_html(results, data.report(), str(tmp_path / "r.html"), "t")
    assert open(out).read().count("<img") == len(figs)
