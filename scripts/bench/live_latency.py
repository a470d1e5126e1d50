#!/usr/bin/env python3
"""Live-path latency through the real ccxt.pro client: from a bookTicker frame leaving the local
exchange to (a) the model event reaching the engine and (b) the rebalance intent it caused.

    python scripts/bench/live_latency.py [--speed 1] [--seconds 20] [--every 0.25] [--json]
                                         [--in-process]

The local exchange runs in its own process (`scripts/local_exchange.py --record-sends`), so
its replay does not share the engine's event loop and the figures are the engine's; it replays
the bundled BTC/ETH USD-M capture at recorded speed (`--speed`) and notes the wall-clock time
each bookTicker frame is sent, written to a file when it is stopped. The engine runs in
paper-live mode with a calendar rule every `--every` seconds (so intents keep coming; the paper
broker fills them with a 0.5 s TWAP). Only intents caused by a bookTicker event are timed to
the frame. Both processes read this machine's wall clock. `--in-process` runs the exchange in
the engine's own loop instead (the earlier set-up). Prints a table; with --json one JSON object
on the last line: {"frame_to_event_us": {"p50": x, "p99": x, ...}, "frame_to_intent_us": ...}
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import subprocess
import sys
import tempfile
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


class _OwnProcessExchange:
    """`scripts/local_exchange.py` in a child process; `sent_at` is read when it stops."""

    def __init__(self, speed: float) -> None:
        self.speed = speed
        self.sent_at: dict[tuple[str, str, int], int] = {}
        self._dir = tempfile.TemporaryDirectory(prefix="ballast-latency-")
        self._sends = os.path.join(self._dir.name, "sends.json")
        self._proc: subprocess.Popen | None = None

    async def start(self) -> int:
        self._log = open(os.path.join(self._dir.name, "exchange.log"), "w")
        self._proc = subprocess.Popen(
            [sys.executable, str(ROOT / "scripts/local_exchange.py"), "--port", "0",
             "--speed", str(self.speed), "--record-sends", self._sends],
            stdout=subprocess.PIPE, stderr=self._log, text=True)
        try:
            line = await asyncio.wait_for(asyncio.to_thread(self._proc.stdout.readline), 60)
        except asyncio.TimeoutError:
            line = ""
        if not line.startswith("local exchange on http://127.0.0.1:"):
            self._proc.kill()
            raise SystemExit(f"local exchange did not start: {line.strip() or self._tail()}")
        self._proc.stdout.close()  # the rest of its stdout is not read: no pipe to fill
        return int(line.split("http://127.0.0.1:")[1].split()[0])

    def _tail(self) -> str:
        self._log.flush()
        with open(self._log.name) as f:
            return f.read()[-500:].strip()

    async def stop(self) -> None:
        if self._proc is None:
            return
        try:
            self._proc.send_signal(signal.SIGTERM)
            try:
                await asyncio.to_thread(self._proc.wait, 30)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                raise SystemExit("local exchange did not stop within 30 s: killed") from None
            if not os.path.exists(self._sends):
                raise SystemExit(f"local exchange wrote no send times (exit "
                                 f"{self._proc.returncode}): {self._tail()}")
            with open(self._sends, "rb") as f:
                self.sent_at = {(m, k, u): ns for m, k, u, ns in orjson.loads(f.read())}
        finally:
            if self._proc.poll() is None:
                self._proc.kill()
            self._log.close()
            self._dir.cleanup()


async def run(speed: float, seconds: float, every: float, in_process: bool = False,
              decode_frames: bool = True) -> dict:
    if in_process:
        ex = LocalExchange(speed=speed)
        ex.record_sends = True
    else:
        ex = _OwnProcessExchange(speed)
    port = await ex.start()
    try:
        cfg = load_config(str(CONFIG))
        cfg = msgspec.structs.replace(
            cfg, live=msgspec.structs.replace(cfg.live, ws_linear=f"ws://127.0.0.1:{port}/ws",
                                              rest_base=f"http://127.0.0.1:{port}",
                                              mark_prices=False,  # bookTicker is what is timed
                                              decode_frames=decode_frames),
            execution=msgspec.structs.replace(cfg.execution, duration_s=0.5, slices=1))
        r = Runner(cfg, str(CONFIG), CONFIG.read_text(), [], None, mode="paper",
                   duration_s=seconds)
        # a calendar rule every `every` seconds keeps intents coming at a steady pace
        r.session.trigger.drift = None
        r.session.trigger.schedule = Schedule(every_ns=int(every * 1e9))
        seen: list[tuple[str, int, int, int | None]] = []  # (market id, update id, recv, intent)
        process = r.session.process

        def timed(ev):
            intent = process(ev)
            if type(ev) is BestBidAsk:
                seen.append((ev.symbol.split("/")[0].lower() + "usdt", ev.update_id, ev.ts_recv,
                             time.time_ns() if intent is not None else None))
            return intent

        r.session.process = timed
        rep = await r.run()
    finally:
        await ex.stop()
    to_event, to_intent = [], []
    for market_id, update_id, recv, intent_ns in seen:
        sent = ex.sent_at.get((market_id, "bookTicker", update_id))
        if sent is not None:
            to_event.append((recv - sent) / 1000)
            if intent_ns is not None:
                to_intent.append((intent_ns - sent) / 1000)
    return {"to_event": to_event, "to_intent": to_intent, "events": rep["events"],
            "intents": rep["intents"], "fills": rep["fills"]}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--speed", type=float, default=1.0, help="recorded time x SPEED")
    ap.add_argument("--seconds", type=float, default=20.0)
    ap.add_argument("--every", type=float, default=0.25,
                    help="seconds between scheduled rebalances (the intents measured)")
    ap.add_argument("--in-process", action="store_true",
                    help="run the local exchange in the engine's event loop")
    ap.add_argument("--ccxt-parse", action="store_true",
                    help="frames parsed by ccxt.pro ([live] decode_frames = false)")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    res = asyncio.run(run(args.speed, args.seconds, args.every, args.in_process,
                          not args.ccxt_parse))
    te, ti = res["to_event"], res["to_intent"]
    console = Console(highlight=False, width=100)
    t = Table(title=f"live path via ccxt.pro: {res['events']:,} events, {res['intents']} intents "
                    f"in {args.seconds:.0f}s (exchange at x{args.speed}, "
                    f"{'same loop' if args.in_process else 'own process'}, "
                    f"{'ccxt.pro parses' if args.ccxt_parse else 'our decoders'})")
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
                            "fills": res["fills"], "speed": args.speed,
                            "exchange": "in_process" if args.in_process else "own_process",
                            "decode_frames": not args.ccxt_parse}
                           ).decode())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
