#!/usr/bin/env python3
"""Backtest speed: 5 assets × 5 years of 1h bars (≈219k bars) through the full policy code path
(pipeline, strategy, trigger, risk guard, bar fills), per policy on one core; then the sweep's
throughput (backtests per minute) with local worker processes.

    python scripts/bench/backtest.py [--config configs/backtest.toml] [--workers 2] [--json]

Target: < 5 s per policy on one core. Prints a table; with --json one JSON object on the last
line: {"bars": n, "load_s": x, "policies": {"<name>": {"seconds": x, "bars_per_s": x}},
"max_policy_s": x, "sweep": {"workers": n, "backtests": n, "seconds": x,
"backtests_per_min": x}}.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

import orjson  # noqa: E402
from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402

from engine.backtest.data import load_bar_data  # noqa: E402
from engine.backtest.run import run_policy  # noqa: E402
from engine.backtest.sweep import expand_policies, run_all  # noqa: E402
from engine.node.config import load_config  # noqa: E402


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--config", default=str(ROOT / "configs/backtest.toml"))
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    cfg = load_config(args.config)
    t0 = time.perf_counter()
    data = load_bar_data(cfg.backtest, args.config)
    load_s = time.perf_counter() - t0
    policies = expand_policies(cfg)
    per: dict[str, dict] = {}
    for p in policies:
        t = time.perf_counter()
        run_policy(cfg, p, data, cfg.backtest)
        dt = time.perf_counter() - t
        per[p.name] = {"seconds": round(dt, 3), "bars_per_s": round(data.bars / dt)}
    t = time.perf_counter()
    run_all(args.config, [p.name for p in policies], workers=args.workers)
    sweep_s = time.perf_counter() - t
    table = Table(title=f"backtest: {data.bars:,} bars ({data.timestamps:,} timestamps, "
                        f"{data.timeframe}), loaded in {load_s:.2f}s")
    table.add_column("policy")
    table.add_column("seconds (1 core)", justify="right")
    table.add_column("bars/s", justify="right")
    for n, r in per.items():
        table.add_row(n, f"{r['seconds']:.2f}", f"{r['bars_per_s']:,}")
    con = Console(width=120)
    con.print(table)
    rate = len(policies) / sweep_s * 60
    con.print(f"sweep: {len(policies)} backtests with {args.workers} workers in {sweep_s:.1f}s "
              f"= {rate:.1f} backtests/min (bars loaded once, memory-mapped by the workers)")
    if args.json:
        print(orjson.dumps({
            "bars": data.bars, "load_s": round(load_s, 3), "policies": per,
            "max_policy_s": max(r["seconds"] for r in per.values()),
            "sweep": {"workers": args.workers, "backtests": len(policies),
                      "seconds": round(sweep_s, 3), "backtests_per_min": round(rate, 1)},
        }).decode())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
