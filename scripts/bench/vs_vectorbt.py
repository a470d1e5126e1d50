#!/usr/bin/env python3
"""Ballast's bar backtest against vectorbt on the same policies and bars: 5 spot assets at 20%
each, 5 years of 1h Binance bars (configs/backtest.toml), fee 10 bps, slippage 5 bps, $100k.

    pip install -e '.[bench]'          # vectorbt: a benchmark extra, not a test dependency
    python scripts/bench/vs_vectorbt.py [--repeat 5] [--workers 2] [--json]

Policies: `calendar_30d` (back to target every 30 days since the epoch, Ballast's "30d") and
`band_5pct` (back to target at a bar close where any weight is more than 5 points off). In
vectorbt the calendar is `Portfolio.from_orders` with target-percent orders on the bars where a
new 30-day slot starts; the band is `Portfolio.from_order_func` with a compiled (numba)
pre-segment function that measures the weights at each close and orders back to target when one
is out of its band (sells first). Both start with the same initial allocation on the first bar
where every asset has a price. Timed: the first call (vectorbt: numba compiles) and the median
of `--repeat` warm calls; Ballast's time is `run_policy` on bars already loaded (its load is
shown apart), vectorbt's is the simulation plus its NAV series. Ratio = Ballast seconds /
vectorbt seconds, warm, same policy. The sweep line is `configs/backtest.toml`'s 22 policies
with `--workers` local processes, bars loaded once and memory-mapped by the workers.

With --json the last line is {"ballast_s": x, "vectorbt_s": x, "ratio": x, "sweep_per_min": x,
"policies": {name: {"ballast_s", "ballast_first_s", "vectorbt_s", "vectorbt_first_s", "ratio",
"ballast_nav", "vectorbt_nav", "nav_diff_pct", "ballast_rebalances"}}, "load_s": x, "bars": n}
(the top-level seconds and ratio are the slowest policy's).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
import orjson  # noqa: E402
from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402

from engine.backtest.data import load_bar_data  # noqa: E402
from engine.backtest.run import run_policy  # noqa: E402
from engine.backtest.sweep import expand_policies, run_all  # noqa: E402
from engine.node.config import DriftCfg, PolicyCfg, load_config  # noqa: E402
from engine.triggers.calendar import period_of  # noqa: E402

CONFIG = ROOT / "configs" / "backtest.toml"
BAND = 0.05


def _timed(fn, repeat: int) -> tuple[float, float, object]:
    t = time.perf_counter()
    out = fn()
    first = time.perf_counter() - t
    warm = []
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn()
        warm.append(time.perf_counter() - t)
    return first, statistics.median(warm), out


def _vectorbt_band():
    """The band rule as vectorbt's order function: compiled once per process."""
    from numba import njit
    from vectorbt.portfolio import nb
    from vectorbt.portfolio.enums import Direction, SizeType

    @njit
    def pre_segment(c, targets, band, order_value_out, go):
        value = c.last_cash[c.group]
        for col in range(c.from_col, c.to_col):
            c.last_val_price[col] = c.close[c.i, col]
            value += c.last_position[col] * c.close[c.i, col]
        go[0] = c.i == 0  # the initial allocation
        for k in range(c.to_col - c.from_col):
            col = c.from_col + k
            w = c.last_position[col] * c.close[c.i, col] / value
            if abs(w - targets[k]) > band:
                go[0] = True
        if go[0]:
            nb.sort_call_seq_nb(c, targets, SizeType.TargetPercent, Direction.Both,
                                order_value_out)
        return ()

    @njit
    def order_func(c, targets, go, fees, slippage):
        if not go[0]:
            return nb.order_nothing_nb()
        return nb.order_nb(size=targets[c.call_idx], price=c.close[c.i, c.col],
                           size_type=SizeType.TargetPercent, direction=Direction.Both,
                           fees=fees, slippage=slippage)

    return pre_segment, order_func


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--no-sweep", action="store_true")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    try:
        import pandas as pd
        import vectorbt as vbt
    except ImportError:
        print("vectorbt is not installed: pip install -e '.[bench]'", file=sys.stderr)
        return 2
    cfg = load_config(str(CONFIG))
    bt = cfg.backtest
    t = time.perf_counter()
    data = load_bar_data(bt, str(CONFIG))
    load_s = time.perf_counter() - t
    weights = dict(cfg.strategy.weights)
    policies = {"calendar_30d": PolicyCfg(name="calendar_30d", schedule="30d"),
                "band_5pct": PolicyCfg(name="band_5pct", drift=DriftCfg(abs_band=BAND))}

    # the same bars for vectorbt: from Ballast's first priced bar, last closes carried forward
    cols = data.columns
    order = [cols.symbols.index(f"{a}/USDT") for a in weights]
    close = np.asarray(cols.close)[:, order]
    first = int(np.flatnonzero(~np.isnan(close).any(axis=1))[0])
    frame = pd.DataFrame(close[first:], index=pd.to_datetime(np.asarray(cols.ts)[first:]),
                         columns=list(weights)).ffill()
    targets = np.array(list(weights.values()))
    fees, slip, cash = bt.fee_bps / 1e4, bt.slippage_bps / 1e4, float(cfg.account.cash["USDT"])
    period = period_of("30d")
    slots = np.array([period.slot(int(x)) for x in np.asarray(cols.ts)[first:]])
    due = np.r_[True, slots[1:] > slots[:-1]]
    sizes = pd.DataFrame(np.where(due[:, None], targets, np.nan), index=frame.index,
                         columns=frame.columns)
    pre_segment, order_func = _vectorbt_band()

    def vbt_calendar():
        pf = vbt.Portfolio.from_orders(frame, sizes, size_type="targetpercent", fees=fees,
                                       slippage=slip, init_cash=cash, cash_sharing=True,
                                       group_by=True, call_seq="auto", freq="1h")
        return pf.value().to_numpy()

    def vbt_band():
        go = np.zeros(1, dtype=np.bool_)
        pf = vbt.Portfolio.from_order_func(
            frame, order_func, targets, go, fees, slip, init_cash=cash, cash_sharing=True,
            group_by=True, pre_segment_func_nb=pre_segment,
            pre_segment_args=(targets, BAND, np.empty(len(targets)), go), freq="1h")
        return pf.value().to_numpy()

    vbt_runs = {"calendar_30d": vbt_calendar, "band_5pct": vbt_band}
    rows: dict[str, dict] = {}
    for name, pol in policies.items():
        b_first, b_warm, res = _timed(lambda: run_policy(cfg, pol, data, bt), args.repeat)
        v_first, v_warm, nav = _timed(vbt_runs[name], args.repeat)
        b_nav, v_nav = res.nav[-1], float(nav[-1])
        rows[name] = {
            "ballast_s": round(b_warm, 4), "ballast_first_s": round(b_first, 4),
            "vectorbt_s": round(v_warm, 4), "vectorbt_first_s": round(v_first, 4),
            "ratio": round(b_warm / v_warm, 3),
            "ballast_nav": round(b_nav, 2), "vectorbt_nav": round(v_nav, 2),
            "nav_diff_pct": round((b_nav / v_nav - 1) * 100, 3),
            "ballast_rebalances": res.metrics["rebalances"],
            "skipped_bars": res.skip_ahead,
        }
    sweep_rate = None
    n_sweep = 0
    sweep_s = 0.0
    if not args.no_sweep:
        names = [p.name for p in expand_policies(cfg)]
        n_sweep = len(names)
        t = time.perf_counter()
        run_all(str(CONFIG), names, workers=args.workers)
        sweep_s = time.perf_counter() - t
        sweep_rate = n_sweep / sweep_s * 60

    table = Table(title=f"Ballast vs vectorbt {vbt.__version__}: {len(weights)} assets, "
                        f"{data.timestamps:,} hourly closes ({data.bars:,} bars); Ballast "
                        f"loads them in {load_s:.2f}s")
    for c in ("policy", "Ballast s (warm)", "first", "vectorbt s (warm)", "first", "ratio",
              "Ballast NAV", "vectorbt NAV", "diff %", "rebalances"):
        table.add_column(c, justify="left" if c == "policy" else "right")
    for name, r in rows.items():
        table.add_row(name, f"{r['ballast_s']:.3f}", f"{r['ballast_first_s']:.3f}",
                      f"{r['vectorbt_s']:.3f}", f"{r['vectorbt_first_s']:.3f}",
                      f"{r['ratio']:.2f}", f"{r['ballast_nav']:,.0f}",
                      f"{r['vectorbt_nav']:,.0f}", f"{r['nav_diff_pct']:+.3f}",
                      str(r["ballast_rebalances"]))
    con = Console(width=140)
    con.print(table)
    if sweep_rate is not None:
        con.print(f"sweep: {n_sweep} policies of configs/backtest.toml with {args.workers} "
                  f"workers in {sweep_s:.1f}s = {sweep_rate:.1f} backtests/min")
    if args.json:
        worst = max(rows.values(), key=lambda r: r["ratio"])
        print(orjson.dumps({
            "ballast_s": worst["ballast_s"], "vectorbt_s": worst["vectorbt_s"],
            "ratio": worst["ratio"],
            "sweep_per_min": round(sweep_rate, 1) if sweep_rate is not None else None,
            "sweep": {"policies": n_sweep, "workers": args.workers,
                      "seconds": round(sweep_s, 2)},
            "policies": rows, "load_s": round(load_s, 3), "bars": data.bars,
        }).decode())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
