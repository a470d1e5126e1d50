#!/usr/bin/env python3
"""Journal cost: raw write throughput (rows/s through the batched writer) and the replay run's
events/s with the journal on and off (median of several runs).

    python scripts/bench/journal.py [--rows 200000] [--runs 3] [--json]

Target: the journal costs < 15% of pipeline throughput. Prints a table; with --json one JSON
object on the last line: {"journal_rows_per_s": x, "events_per_s_journal_off": x,
"events_per_s_journal_on": x, "journal_cost_pct": x}.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

import orjson  # noqa: E402
from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402

from engine.journal.store import Journal  # noqa: E402
from engine.node.config import load_config  # noqa: E402
from engine.node.runner import Runner, resolve_inputs  # noqa: E402

CONFIG = ROOT / "configs/demo_perps.toml"


async def write_rows(n: int) -> float:
    with tempfile.TemporaryDirectory() as d:
        j = await Journal.open(f"{d}/j.sqlite")
        t0 = time.perf_counter()
        for i in range(n):
            j.write("INSERT INTO fills VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
                    ("bench", "BTC/USDT:USDT", f"t{i}", "run", f"o{i // 3}", "buy", "0.001",
                     "61800.2", "0.0309", "USDT", "taker", i))
            if j.needs_flush:
                await j.flush()  # back-pressure, as the run loop does
        await j.flush()
        dt = time.perf_counter() - t0
        await j.close()
    return n / dt


async def run_once(journal: bool) -> tuple[float, int]:
    cfg = load_config(str(CONFIG))
    inputs = resolve_inputs(cfg, str(CONFIG), None)
    with tempfile.TemporaryDirectory() as d:
        r = Runner(cfg, str(CONFIG), CONFIG.read_text(), inputs,
                   f"{d}/j.sqlite" if journal else None)
        t0 = time.perf_counter()
        rep = await r.run()
        dt = time.perf_counter() - t0
    return rep["events"] / dt, (r.journal.rows_written if journal and r.journal else 0)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rows", type=int, default=200_000)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    rows_per_s = asyncio.run(write_rows(args.rows))
    off, on, rows = [], [], 0
    for _ in range(args.runs):  # interleaved, so drift on the machine hits both alike
        off.append(asyncio.run(run_once(False))[0])
        rate, rows = asyncio.run(run_once(True))
        on.append(rate)
    off_m, on_m = statistics.median(off), statistics.median(on)
    cost = (1 - on_m / off_m) * 100
    console = Console(highlight=False, width=100)
    t = Table(title=f"journal cost (median of {args.runs} runs over the bundled capture)")
    t.add_column("measure")
    t.add_column("value", justify="right")
    t.add_row("raw journal writes (rows/s)", f"{rows_per_s:,.0f}")
    t.add_row("run, journal off (events/s)", f"{off_m:,.0f}")
    t.add_row("run, journal on (events/s)", f"{on_m:,.0f}")
    t.add_row("rows journaled by one run", f"{rows:,}")
    t.add_row("journal cost", f"{cost:.1f} %")
    console.print(t)
    if args.json:
        print(orjson.dumps({"journal_rows_per_s": round(rows_per_s, 1),
                            "events_per_s_journal_off": round(off_m, 1),
                            "events_per_s_journal_on": round(on_m, 1),
                            "journal_cost_pct": round(cost, 2), "rows_per_run": rows}).decode())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
