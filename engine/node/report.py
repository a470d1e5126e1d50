"""Human-readable tables for command output (rich), always followed by the JSON when asked."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table


def print_replay_table(report: dict, console: Console | None = None) -> None:
    console = console or Console(highlight=False, soft_wrap=False, width=160)
    t = Table(title=f"replay: {report['messages']:,} messages in {report['seconds']:.2f} s "
                    f"({report['msgs_per_s']:,.0f} msgs/s)")
    cols = ["symbol", "messages", "depth", "bbo", "trade", "snap", "malformed", "gaps",
            "resyncs", "bbo agreed / compared", "best bid", "best ask", "spread"]
    for c in cols:
        t.add_column(c, justify="left" if c == "symbol" else "right")
    for sym, s in report["symbols"].items():
        k = s["by_kind"]
        agree = (f"{s['bbo_agreed']:,} / {s['bbo_compared']:,}" if report.get("verified")
                 else "-")
        t.add_row(sym, f"{s['messages']:,}", f"{k.get('depth', 0):,}", f"{k.get('bbo', 0):,}",
                  f"{k.get('trade', 0):,}", f"{k.get('snapshot', 0):,}", f"{s['malformed']:,}",
                  f"{s['gaps']:,}", f"{s['resyncs']:,}", agree, s["best_bid"] or "-",
                  s["best_ask"] or "-", s["spread"] or "-")
    console.print(t)
    for f in report.get("files", []):
        if f["skipped"] or f["truncated"]:
            console.print(f"  {f['path']}: skipped {f['skipped']}"
                          + (" (file truncated)" if f["truncated"] else ""))
