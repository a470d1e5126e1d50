#!/usr/bin/env python3
"""Live-path latency through the real ccxt.pro client: from a bookTicker frame leaving the local
exchange to (a) the model event reaching the engine and (b) the rebalance intent it caused.

    python scripts/bench/live_latency.py [--speed 5] [--seconds 20] [--every 0.25] [--json]

The local exchange replays the bundled BTC/ETH USD-M capture and stamps the wall-clock time each
bookTicker frame is sent; the engine runs in paper-live mode with a calendar rule every
`--every` seconds (so intents keep coming; the paper broker fills them with a 0.5 s TWAP).
Only intents caused by a bookTicker event are timed to the frame. Both ends share this
machine's clock. Prints a table; with --json one JSON object on the last line:
{"frame_to_event_us": {"p50": x, "p99": x}, "frame_to_intent_us": {"p50": x, "p99": x}, ...}
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

import msgspec  # noqa: E402
import orjson  # noqa: E402
from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402

from engine.model import BestBidAsk  # noqa: E402
from engine.node.config import load_config  # noqa: E402
from engine.node.runner import Runner  # noqa: E402
from engine.triggers.rules import Schedule  # noqa: E402
from local_exchange import LocalExchange  # noqa: E402

CONFIG = ROOT / "configs/demo_perps.toml"


def pct(xs, q):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(q * len(xs)))] if xs else None


async def run(speed: float, seconds: float, every: float) -> dict:
    ex = LocalExchange(speed=speed)
    ex.record_sends = True
    port = await ex.start()
    cfg = load_config(str(CONFIG))
    cfg = msgspec.structs.replace(
        cfg, live=msgspec.structs.replace(cfg.live, ws_linear=f"ws://127.0.0.1:{port}/ws",
                                          rest_base=f"http://127.0.0.1:{port}",
                                          mark_prices=False),  # bookTicker is what is timed
        execution=msgspec.structs.replace(cfg.execution, duration_s=0.5, slices=1))
    r = Runner(cfg, str(CONFIG), CONFIG.read_text(), [], None, mode="paper",
               duration_s=seconds)
    # a calendar rule every `every` seconds keeps intents coming at a steady pace
    r.session.trigger.drift = None
    r.session.trigger.schedule = Schedule(every_ns=int(every * 1e9))
    to_event, to_intent = [], []
    process = r.session.process

    def timed(ev):
        intent = process(ev)
        if type(ev) is BestBidAsk:
            now = time.time_ns()
            key = (ev.symbol.split("/")[0].lower() + "usdt", "bookTicker", ev.update_id)
            sent = ex.sent_at.get(key)
            if sent is not None:
                to_event.append((ev.ts_recv - sent) / 1000)
                if intent is not None:
                    to_intent.append((now - sent) / 1000)
        return intent

    r.session.process = timed
    try:
        rep = await r.run()
    finally:
        await ex.stop()
    return {"to_event": to_event, "to_intent": to_intent, "events": rep["events"],
            "intents": rep["intents"], "fills": rep["fills"]}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--speed", type=float, default=5.0)
    ap.add_argument("--seconds", type=float, default=20.0)
    ap.add_argument("--every", type=float, default=0.25,
                    help="seconds between scheduled rebalances (the intents measured)")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    res = asyncio.run(run(args.speed, args.seconds, args.every))
    te, ti = res["to_event"], res["to_intent"]
    console = Console(highlight=False, width=100)
    t = Table(title=f"live path via ccxt.pro: {res['events']:,} events, {res['intents']} intents "
                    f"in {args.seconds:.0f}s (exchange at x{args.speed})")
    for c in ("path", "n", "p50 µs", "p99 µs", "max µs"):
        t.add_column(c, justify="left" if c == "path" else "right")
    for name, xs in (("frame sent → event in engine", te), ("frame sent → intent", ti)):
        if xs:
            t.add_row(name, f"{len(xs):,}", f"{pct(xs, .5):.0f}", f"{pct(xs, .99):.0f}",
                      f"{max(xs):.0f}")
        else:
            t.add_row(name, "0", "-", "-", "-")
    console.print(t)
    if args.json:
        def s(xs):
            return ({"p50": round(pct(xs, .5), 1), "p99": round(pct(xs, .99), 1),
                     "max": round(max(xs), 1), "n": len(xs)} if xs else None)
        print(orjson.dumps({"frame_to_event_us": s(te), "frame_to_intent_us": s(ti),
                            "events": res["events"], "intents": res["intents"],
                            "fills": res["fills"]}).decode())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
