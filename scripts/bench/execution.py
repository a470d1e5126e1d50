#!/usr/bin/env python3
"""Execution throughput and reaction: child orders/s through risk guard + paper broker on the
recorded book, and the time from an intent to its first child order.

    python scripts/bench/execution.py [--config configs/demo_perps.toml] [--children 20000]
        [--intents 300] [--json]

Children: the bundled USD-M capture is replayed through a paper session; at every depth update
a small marketable child (alternating buy/sell, 0.001-0.003 BTC or 0.01-0.03 ETH) goes through
`RiskGuard.check` and `PaperBroker.submit/on_time`, and its fills through the portfolio; only
that part is timed. Intents: at evenly spread points of the replay an intent to a fresh random
60/40-ish target is handed to the execution engine and its outbox dispatched (as the session
does); the clock runs from the call until the first child reaches the broker. Prints a table; with --json one JSON object on the last line:
{"child_orders_per_s": x, "intent_to_first_child_us": {"p50": x, "p99": x, "max": x}, ...}
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

import msgspec  # noqa: E402
import orjson  # noqa: E402
from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402

from engine.feeds.capture import merge_captures  # noqa: E402
from engine.model import BookDelta, Fill, LegTarget, OrderRequest, RebalanceIntent  # noqa: E402
from engine.node.config import load_config  # noqa: E402
from engine.node.session import PaperSession  # noqa: E402

BUNDLED = [ROOT / "scripts/data/hftbacktest/usdm/btcusdt_20240808.gz",
           ROOT / "scripts/data/hftbacktest/usdm/ethusdt_20240808.gz"]
SIZES = {"BTC/USDT:USDT": [Decimal("0.001"), Decimal("0.002"), Decimal("0.003")],
         "ETH/USDT:USDT": [Decimal("0.01"), Decimal("0.02"), Decimal("0.03")]}


def pct(xs, q):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(q * len(xs)))]


def bench_children(cfg, events, limit: int):
    # zero latency, so each child is matched inside the timed section
    cfg = msgspec.structs.replace(cfg, paper=msgspec.structs.replace(cfg.paper, latency_ms=0.0))
    s = PaperSession(cfg)
    check, submit, on_time = s.guard.check, s.broker.submit, s.broker.on_time
    on_fill = s.pipeline.on_account  # the portfolio's one writer
    n = 0
    fills = 0
    refused = 0
    spent = 0
    side = "buy"
    rng = random.Random(7)
    clock = time.perf_counter_ns
    for ev in events:
        s.on_event(ev)
        if type(ev) is not BookDelta or not s.books.syncs[ev.symbol].valid:
            continue
        if ev.symbol not in s.pipeline.prices:
            continue
        now = ev.ts_recv
        mid = s.pipeline.prices[ev.symbol]
        side = "sell" if side == "buy" else "buy"
        px = Decimal(repr(round(mid * (1.001 if side == "buy" else 0.999), 2)))
        n += 1
        o = OrderRequest(client_order_id=f"bench-{n}", parent_id="bench", symbol=ev.symbol,
                         side=side, qty=rng.choice(SIZES[ev.symbol]), price=px, tif="IOC",
                         ts_created=now)
        t0 = clock()
        if check(o, {}, now).ok:
            submit(o, now)
            for e in on_time(now):
                if type(e) is Fill:
                    on_fill(e)
                    fills += 1
        else:
            refused += 1
        spent += clock() - t0
        if n >= limit:
            break
    return n, spent / 1e9, fills, refused


def bench_intents(cfg, events, count: int):
    s = PaperSession(cfg)
    lat = []
    first = {}
    real_submit = s.broker.submit

    def submit(order, now):
        first.setdefault("t", time.perf_counter_ns())
        real_submit(order, now)

    s.broker.submit = submit
    step = max(1, len(events) // (count + 1))
    rng = random.Random(11)
    made = 0
    for i, ev in enumerate(events):
        s.on_event(ev)
        if i % step or i < len(events) // 20 or not s.pipeline.ready:
            continue
        nav = s.portfolio.nav
        w = 0.6 + rng.uniform(-0.1, 0.1)
        intent = RebalanceIntent(
            intent_id=f"bench-{i}", rule="bench", reason="", ts_recv=ev.ts_recv,
            ts_decided=ev.ts_recv,
            targets=(LegTarget(symbol="BTC/USDT:USDT", notional=w * nav),
                     LegTarget(symbol="ETH/USDT:USDT", notional=(1 - w) * nav)))
        first.clear()
        t0 = time.perf_counter_ns()
        s.execution.on_intent(intent, ev.ts_recv)
        s.execution.dispatch(ev.ts_recv)  # children wait in the outbox until dispatched
        if "t" in first:
            lat.append((first["t"] - t0) / 1000)
        made += 1
        if made >= count:
            break
    return lat


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--config", default=str(ROOT / "configs/demo_perps.toml"))
    ap.add_argument("--children", type=int, default=20000)
    ap.add_argument("--intents", type=int, default=300)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    cfg = load_config(args.config)
    events = list(merge_captures([str(p) for p in BUNDLED]))
    n, secs, fills, refused = bench_children(cfg, events, args.children)
    lat = bench_intents(cfg, events, args.intents)
    rate = n / secs if secs else 0.0
    console = Console(highlight=False, width=100)
    t = Table(title="execution: risk guard + paper broker on the recorded book")
    for c in ("measure", "value"):
        t.add_column(c, justify="left" if c == "measure" else "right")
    t.add_row("child orders", f"{n:,}")
    t.add_row("child orders/s (guard + broker + fills)", f"{rate:,.0f}")
    t.add_row("µs per child", f"{1e6 * secs / max(n, 1):.1f}")
    t.add_row("fills / refused", f"{fills:,} / {refused:,}")
    t.add_row("intents timed", f"{len(lat):,}")
    if lat:
        t.add_row("intent → first child p50 µs", f"{pct(lat, 0.5):.1f}")
        t.add_row("intent → first child p99 µs", f"{pct(lat, 0.99):.1f}")
        t.add_row("intent → first child max µs", f"{max(lat):.1f}")
    console.print(t)
    if args.json:
        print(orjson.dumps({
            "child_orders_per_s": round(rate, 1), "children": n, "fills": fills,
            "refused": refused,
            "intent_to_first_child_us": ({"p50": round(pct(lat, 0.5), 1),
                                          "p99": round(pct(lat, 0.99), 1),
                                          "max": round(max(lat), 1)} if lat else None),
            "intents": len(lat),
        }).decode())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
