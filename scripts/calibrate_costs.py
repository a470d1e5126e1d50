#!/usr/bin/env python3
"""Backtest costs calibrated on a tick replay: runs a recorded capture through the paper session
(real book walking, queue and fees) and measures what the fills cost, as figures to put in a
backtest's `[backtest]` (`fee_bps`, `slippage_bps`).

    python scripts/calibrate_costs.py [--config configs/demo_perps.toml] [--json]

Fee: Σ fees / Σ filled notional. Slippage: the fill-weighted implementation shortfall of the
parents against their arrival mid (what a bar backtest's close × (1 ± slippage) stands for).
Prints a table; with --json one JSON object on the last line: {"fills": n, "notional": x,
"fee_bps": x, "slippage_bps": x, "per_symbol": {...}}.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import orjson  # noqa: E402
from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402

from engine.node.config import load_config  # noqa: E402
from engine.node.runner import Runner, resolve_inputs  # noqa: E402


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--config", default=str(ROOT / "configs/demo_perps.toml"))
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    cfg = load_config(args.config)
    r = Runner(cfg, args.config, Path(args.config).read_text(),
               resolve_inputs(cfg, args.config, None), None)
    asyncio.run(r.run())
    fills = [f for f, _ in r.session.broker.fill_log]
    per: dict[str, dict] = {}
    for f in fills:
        s = per.setdefault(f.symbol, {"fills": 0, "notional": Decimal(0), "fees": Decimal(0)})
        s["fills"] += 1
        s["notional"] += f.qty * f.price
        s["fees"] += f.fee
    for rep in r.session.execution.reports():
        s = per.get(rep.symbol)
        if s is not None and rep.shortfall_bps is not None:
            s["slippage_bps"] = rep.shortfall_bps
    notional = sum((s["notional"] for s in per.values()), Decimal(0))
    fees = sum((s["fees"] for s in per.values()), Decimal(0))
    fee_bps = float(fees / notional * 10_000) if notional else 0.0
    slip = sum(s.get("slippage_bps", 0.0) * float(s["notional"]) for s in per.values())
    slip_bps = slip / float(notional) if notional else 0.0
    t = Table(title=f"costs on {', '.join(Path(p).name for p in r.inputs)}")
    for c in ("symbol", "fills", "notional", "fee bps", "slippage bps"):
        t.add_column(c, justify="right")
    for sym, s in per.items():
        t.add_row(sym, str(s["fills"]), f"{s['notional']:,.2f}",
                  f"{float(s['fees'] / s['notional'] * 10_000):.2f}",
                  f"{s.get('slippage_bps', 0.0):.2f}")
    t.add_row("all", str(len(fills)), f"{notional:,.2f}", f"{fee_bps:.2f}", f"{slip_bps:.2f}")
    con = Console(width=100)
    con.print(t)
    con.print(f"for a backtest: fee_bps = {fee_bps:.2f}, slippage_bps = {slip_bps:.2f} "
              "(one replay window: a floor, not a forecast)")
    if args.json:
        print(orjson.dumps({
            "fills": len(fills), "notional": float(notional), "fee_bps": round(fee_bps, 4),
            "slippage_bps": round(slip_bps, 4),
            "per_symbol": {k: {"fills": v["fills"], "notional": float(v["notional"]),
                               "fees": float(v["fees"]),
                               "slippage_bps": v.get("slippage_bps")} for k, v in per.items()},
        }).decode())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
