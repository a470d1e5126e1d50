#!/usr/bin/env python3
"""Reaction time of the decision path: recorded events through books, portfolio, statistics
and the trigger actor, measured per event from the moment the source yields it to the moment
the trigger has decided (and, for events that fire, to the intent).

    python scripts/bench/trigger_latency.py [FILE...] [--config configs/demo_perps.toml]
        [--band 0.0005] [--runs 3] [--json]

Events are decoded first (decode speed is `scripts/bench/replay.py`'s business). `--band`
replaces the config's drift band with a narrow one and applies each intent at once (positions
set to their targets at the current price), so intents keep firing as prices move and the
intent path is measured thousands of times, not once. Prints a table; with --json, one JSON
object on the last line:
{"events_per_s": x, "latency_us": {"<kind>": {"p50": x, "p99": x, "max": x}, ...}, ...}
"""

from __future__ import annotations

import argparse
import gc
import statistics
import sys
import time
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

import orjson  # noqa: E402
from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402

from engine.core.clock import ReplayClock  # noqa: E402
from engine.core.numeric import to_decimal  # noqa: E402
from engine.feeds.capture import merge_captures  # noqa: E402
from engine.model import BookDelta, Fill  # noqa: E402
from engine.node.build import build  # noqa: E402
from engine.node.config import load_config  # noqa: E402
from engine.node.pipeline import Pipeline  # noqa: E402
from engine.triggers.rules import DriftBand  # noqa: E402

BUNDLED = [ROOT / "scripts/data/hftbacktest/usdm/btcusdt_20240808.gz",
           ROOT / "scripts/data/hftbacktest/usdm/ethusdt_20240808.gz"]
KIND = {"BestBidAsk": "bbo", "Trade": "trade", "BookDelta": "depth", "BookSnapshot": "snapshot",
        "MarkPrice": "mark_price", "FundingRate": "funding", "Bar": "bar"}


def make_pipeline(config: str, band: float | None) -> Pipeline:
    clock = ReplayClock()
    portfolio, strategy, stats, trigger = build(load_config(config), clock)
    if band is not None:
        trigger.drift = DriftBand(abs_band=band, hysteresis=0.0)
    return Pipeline(portfolio, stats, trigger, clock)


def apply_now(pl: Pipeline, intent) -> None:
    """Stand-in for execution: fill every perp to its target notional at its current mark."""
    for t in intent.targets:
        perp = pl.portfolio.perps.get(t.symbol)
        if perp is None or not perp.mark:
            continue
        mark = to_decimal(perp.mark)
        delta = (Decimal(repr(t.notional)) / mark - perp.qty).quantize(Decimal("0.000001"))
        if delta:
            pl.on_account(Fill(
                exchange="bench", symbol=t.symbol, ts_event=intent.ts_recv,
                ts_recv=intent.ts_recv, order_id=intent.intent_id,
                trade_id=f"{intent.intent_id}:{t.symbol}", side="buy" if delta > 0 else "sell",
                qty=abs(delta), price=mark))


def pct(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(q * len(xs)))]


def timed_run(events, config, band):
    pl = make_pipeline(config, band)
    on_event = pl.on_event
    clock = time.perf_counter_ns
    lat: dict[str, list[float]] = {}
    intent_lat: list[float] = []
    depth_by_levels: list[tuple[int, float]] = []
    for ev in events:
        t0 = clock()
        intent = on_event(ev)
        dt = (clock() - t0) / 1000.0
        k = KIND.get(type(ev).__name__, type(ev).__name__)
        lat.setdefault(k, []).append(dt)
        if type(ev) is BookDelta:
            depth_by_levels.append((len(ev.bids) + len(ev.asks), dt))
        if intent is not None:
            intent_lat.append(dt)
            if band is not None:
                apply_now(pl, intent)
    return lat, intent_lat, depth_by_levels, len(pl.intents)


def throughput_run(events, config, band) -> float:
    pl = make_pipeline(config, band)
    on_event = pl.on_event
    t0 = time.perf_counter()
    for ev in events:
        intent = on_event(ev)
        if intent is not None and band is not None:
            apply_now(pl, intent)
    return len(events) / (time.perf_counter() - t0)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("files", nargs="*")
    ap.add_argument("--config", default=str(ROOT / "configs/demo_perps.toml"))
    ap.add_argument("--band", type=float, default=0.00002,
                    help="narrow drift band that keeps intents firing (0 = use the config's)")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    band = args.band or None
    events = list(merge_captures([str(p) for p in (args.files or BUNDLED)]))
    gc.collect()
    gc.freeze()  # the decoded events are long-lived: keep the collector from rescanning them

    rates = [throughput_run(events, args.config, band) for _ in range(args.runs)]
    lat, intent_lat, depth_levels, intents = timed_run(events, args.config, band)
    rate = statistics.median(rates)

    summary = {k: {"p50": pct(v, 0.5), "p99": pct(v, 0.99), "max": max(v), "n": len(v)}
               for k, v in sorted(lat.items())}
    if intent_lat:
        summary["intent"] = {"p50": pct(intent_lat, 0.5), "p99": pct(intent_lat, 0.99),
                             "max": max(intent_lat), "n": len(intent_lat)}
    depth_levels.sort()
    big = depth_levels[-max(1, len(depth_levels) // 100):]  # the largest 1% of diffs
    big_lat = [dt for _, dt in big]
    summary["depth_largest_1pct"] = {"p50": pct(big_lat, 0.5), "p99": pct(big_lat, 0.99),
                                     "max": max(big_lat), "n": len(big_lat),
                                     "min_levels": big[0][0]}

    console = Console(highlight=False, width=110)
    t = Table(title=f"decision latency, {len(events):,} recorded events, {intents:,} intents "
                    f"(band {band if band else 'from config'}); pipeline {rate:,.0f} events/s")
    for c in ("event kind", "count", "p50 µs", "p99 µs", "max µs"):
        t.add_column(c, justify="left" if c == "event kind" else "right")
    for k, s in summary.items():
        t.add_row(k, f"{s['n']:,}", f"{s['p50']:.1f}", f"{s['p99']:.1f}", f"{s['max']:.1f}")
    console.print(t)
    console.print(f"throughput runs (events/s): {', '.join(f'{r:,.0f}' for r in rates)}")
    if args.json:
        print(orjson.dumps({
            "events_per_s": round(rate, 1),
            "latency_us": {k: {m: round(v[m], 2) for m in ("p50", "p99", "max")}
                           for k, v in summary.items()},
            "events": len(events),
            "intents": intents,
        }).decode())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
