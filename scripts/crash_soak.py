#!/usr/bin/env python3
"""Crash soak: kill -9 the replay run at random wall-clock moments, restart it on the same
journal each time, and check the finished run equals an uninterrupted one.

    python scripts/crash_soak.py [--rounds 10] [--kills 5] [--seed 1] [--json]

Each round: up to `--kills` external SIGKILLs at random times (0.3-2.5 s after start, when the
process is usually mid-replay and often mid-TWAP), then a final run to completion. Prints a
table; with --json one JSON object on the last line.
"""

from __future__ import annotations

import argparse
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import orjson
from rich.console import Console
from rich.table import Table

ROOT = Path(__file__).resolve().parents[1]
CONFIG = str(ROOT / "configs/demo_perps.toml")
KEYS = ("positions", "cash", "fills", "fees", "journal_positions", "journal_cash",
        "journal_fills", "journal_fees", "journal_submissions", "final_weights")


def start(journal: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "engine", "--log-level", "error", "run",
                             "--config", CONFIG, "--journal", journal, "--json"], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def finish(journal: str) -> dict:
    p = start(journal)
    out, err = p.communicate(timeout=600)
    if p.returncode != 0:
        raise SystemExit(f"run failed ({p.returncode}): {err[-2000:]}")
    return orjson.loads(out.strip().splitlines()[-1])


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rounds", type=int, default=10)
    ap.add_argument("--kills", type=int, default=5)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    rng = random.Random(args.seed)
    with tempfile.TemporaryDirectory() as d:
        base = finish(os.path.join(d, "base.sqlite"))
        rows = []
        for r in range(args.rounds):
            journal = os.path.join(d, f"r{r}.sqlite")
            kills = 0
            for _ in range(args.kills):
                p = start(journal)
                time.sleep(rng.uniform(0.3, 2.5))
                if p.poll() is None:
                    p.send_signal(signal.SIGKILL)
                    kills += 1
                p.communicate(timeout=60)
            final = finish(journal)
            diff = [k for k in KEYS if final[k] != base[k]]
            rows.append({"round": r, "kills": kills, "attempts": final["journal_attempts"],
                         "recovered_orders": final["recovered_orders"],
                         "unique_ids": final["journal_submissions_unique"], "mismatch": diff})
    console = Console(highlight=False)
    t = Table(title=f"crash soak: {args.rounds} rounds, up to {args.kills} kill -9 each")
    for c in ("round", "kills", "attempts", "recovered orders", "ids unique", "mismatches"):
        t.add_column(c, justify="right")
    for x in rows:
        t.add_row(str(x["round"]), str(x["kills"]), str(x["attempts"]),
                  str(x["recovered_orders"]), str(x["unique_ids"]), ",".join(x["mismatch"]) or "-")
    console.print(t)
    ok = all(not x["mismatch"] and x["unique_ids"] for x in rows)
    console.print("all rounds equal the uninterrupted run" if ok else "MISMATCH")
    if args.json:
        print(orjson.dumps({"rounds": len(rows), "kills": sum(x["kills"] for x in rows),
                            "all_equal": ok, "results": rows}).decode())
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
