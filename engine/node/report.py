"""Human-readable tables for command output (rich), always followed by the JSON when asked."""

from __future__ import annotations

import os
import sys
import time

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
        if f["skipped"] or f["truncated"] or f.get("backwards"):
            console.print(f"  {f['path']}: skipped {f['skipped']}"
                          + (" (file truncated)" if f["truncated"] else "")
                          + (f", receive time went back {f['backwards']} times"
                             if f.get("backwards") else ""))


def print_run_report(r: dict, console: Console | None = None) -> None:
    """The short human report of a `run`."""
    console = console or Console(highlight=False, soft_wrap=False, width=110)
    t = Table(title=f"run {r['run_id']} ({r['mode']}): {r['events']:,} events"
                    + (f", stopped by {r['stopped']}" if r.get("stopped") else ""),
              show_header=False)
    t.add_column("what")
    t.add_column("value")
    t.add_row("triggers fired (intents)", str(r["intents"]))
    t.add_row("parents / children / fills", f"{r['parents']} / {r['children']} / {r['fills']}")
    t.add_row("shortfall vs arrival mid", "-" if r["shortfall_bps"] is None
              else f"{r['shortfall_bps']:.2f} bps")
    t.add_row("fees", f"{r['fees']} USDT")
    for a, w in r["final_weights"].items():
        tgt = r["target_weights"].get(a)
        t.add_row(f"{a} net weight / target",
                  f"{w:.4f} / " + ("-" if tgt is None else f"{tgt:.4f}"))
    for a, q in (r.get("spot_end") or {}).items():
        before = (r.get("spot_start") or {}).get(a, "0")
        t.add_row(f"{a} spot before → after", f"{before} → {q}")
    for sym, q in (r.get("positions") or {}).items():
        t.add_row(f"{sym} position", q)
    t.add_row("max margin utilisation", f"{r['max_margin_utilisation']:.4f}")
    acc = r.get("accounts")
    if acc:
        spot_cash = {a: q for a, q in acc["spot"].items() if a not in (r.get("spot_end") or {})}
        def money(d: dict) -> str:
            return ", ".join(f"{q} {a}" for a, q in d.items()) or "0"

        t.add_row("spot wallet cash / fees", f"{money(spot_cash)} / {money(acc['spot_fees'])}")
        fut = acc["futures"]
        t.add_row("futures wallet / fees / margin used",
                  f"{fut['wallet']} / {money(fut['fees'])} / {fut['margin_utilisation']:.4f}")
        for coin, cm in (acc.get("coinm") or {}).items():
            t.add_row(f"COIN-M {coin} wallet / fees / margin used",
                      f"{cm['wallet']} / {cm['fees']} / {cm['margin_utilisation']:.4f}")
    for tr in r.get("transfer_log") or []:
        t.add_row(f"transfer {tr['from']} → {tr['to']}",
                  f"{tr['amount']} {tr['asset']} {tr['status']}"
                  + (f": {tr['reason']}" if tr["reason"] else ""))
    if r.get("max_transient_deviation"):
        t.add_row("max transient deviation", f"{r['max_transient_deviation']:.4%} of NAV "
                                             "(net off its start → target path)")
    t.add_row("risk state", r["risk_state"])
    if r.get("halted_at_start"):
        t.add_row("halted at start", r["halted_at_start"])
    if r.get("failure"):
        t.add_row("failure", r["failure"])
    for sym, v in (r.get("books_verified") or {}).items():
        t.add_row(f"{sym} book vs bookTicker", f"{v['agreed']:,} of {v['compared']:,} tops agree")
    for sym, where in (r.get("dead_books") or {}).items():
        t.add_row(f"{sym} book DEAD", where)
    for sym in r.get("no_data") or []:
        t.add_row(f"{sym}", "NO DATA in this run")
    for p in r.get("unfinished_parents") or []:
        t.add_row(f"unfinished {p['symbol']}", f"{p['state']}: {p['filled']} of {p['target']}")
    if r.get("max_child_send_delay_ms"):
        t.add_row("worst child send delay", f"{r['max_child_send_delay_ms']:.1f} ms "
                                            "(release to request, venue budget)")
    t.add_row("client order ids unique", str(r["client_order_ids_unique"]))
    if r.get("journal"):
        t.add_row("journal", f"{r['journal']} (attempt {r.get('journal_attempts', 1)}, "
                             f"{r.get('recovered_orders', 0)} orders recovered)")
    console.print(t)


def print_journal_report(r: dict, console: Console | None = None) -> None:
    """`engine report`: what a journal says, as tables a person reads."""
    console = console or Console(highlight=False, soft_wrap=False, width=110)
    t = Table(title=f"journal: run {r['run_id']} ({r['status']})", show_header=False)
    t.add_column("what")
    t.add_column("value", justify="right")
    unique = "all unique" if r["journal_submissions_unique"] else "DUPLICATES"
    t.add_row("orders sent", f"{r['journal_submissions']} ({unique})")
    t.add_row("fills", str(r["journal_fills"]))
    t.add_row("decisions / parents", f"{r['journal_intents']} / {r['journal_parents']}")
    t.add_row("attempts (starts)", str(r["journal_attempts"]))
    t.add_row("fees paid", r["journal_fees"])
    t.add_row("cash", r["journal_cash"])
    t.add_row("kill switch", "KILLED (until `engine resume`)" if r.get("killed") else "off")
    console.print(t)
    if r["journal_positions"] or r["journal_holdings"]:
        p = Table(title="positions (journal)")
        p.add_column("instrument")
        p.add_column("amount", justify="right")
        for sym, q in r["journal_positions"].items():
            p.add_row(sym, q)
        for asset, q in r["journal_holdings"].items():
            p.add_row(f"{asset} (spot)", q)
        console.print(p)
    if r["journal_final_weights"]:
        w = Table(title="last weights")
        w.add_column("asset")
        w.add_column("weight", justify="right")
        for a, x in r["journal_final_weights"].items():
            w.add_row(a, f"{x:.4%}")
        console.print(w)
    if r.get("kill_history"):
        k = Table(title="kill switch history")
        for col in ("when (UTC)", "action", "reason"):
            k.add_column(col)
        for h in r["kill_history"]:
            k.add_row(time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(h["ts"] / 1e9)),
                      h["action"], h["reason"])
        console.print(k)


class Progress:
    """A rich progress line when attached to a terminal; nothing in CI or in a pipe."""

    def __init__(self, enabled: bool) -> None:
        self.p = None
        if enabled and sys.stderr.isatty() and not os.environ.get("CI"):
            from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

            self.p = Progress(SpinnerColumn(), TextColumn("{task.description}"),
                              TimeElapsedColumn(), transient=True)
            self.p.start()
            self.task = self.p.add_task("replaying", total=None)
            self.t0 = time.monotonic()

    def update(self, n: int) -> None:
        if self.p is not None:
            rate = n / max(1e-9, time.monotonic() - self.t0)
            self.p.update(self.task, description=f"replaying: {n:,} events ({rate:,.0f}/s)")

    def close(self) -> None:
        if self.p is not None:
            self.p.stop()
