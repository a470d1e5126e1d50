#!/usr/bin/env python3
"""Writes a hand-made mark price stream for one perpetual of a recorded capture: one Binance
`markPriceUpdate` frame a second, its mark the mid of the recorded bookTicker at that second
(as the local exchange makes them), its predicted funding rate from a hand-written path.

No recording we have holds COIN-M funding for the minute of BINANCE_DELIVERY.ws.1.0, so the
carry replay (configs/carry_link.toml) reads this file beside the recording: the books, trades
and fills are the recorded ones, only the funding rate is made up. The output is in
hftbacktest's capture format (`<receive ns> <frame>`), merged with the recording by time.

    python scripts/data/funding_paths/make_marks.py CAPTURE linkusd_perp OUT \\
        --rate -0.0001 --rate 17:0.0003     # seconds from the first frame : rate
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(ROOT))

import orjson  # noqa: E402

from engine.venues.binance.symbols import COINM, USDM, unified_symbol  # noqa: E402
from engine.feeds.capture import merge_captures  # noqa: E402
from engine.model import BestBidAsk  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("capture")
    ap.add_argument("market_id", help="e.g. linkusd_perp")
    ap.add_argument("out")
    ap.add_argument("--rate", action="append", required=True,
                    help="RATE (from the start) or SECONDS:RATE (from that second on)")
    a = ap.parse_args()
    path = sorted((float(k), v) for k, _, v in
                  (r.rpartition(":") if ":" in r else ("0", "", r) for r in a.rate))
    if path[0][0] > 0:
        raise SystemExit("--rate: give the rate from the start (RATE, or 0:RATE) first")
    mids: list[tuple[int, float]] = []
    market = COINM if a.market_id.lower().endswith("_perp") else USDM
    want = unified_symbol(a.market_id, market)
    for ev in merge_captures([a.capture]):
        if type(ev) is BestBidAsk and ev.symbol == want:
            mids.append((ev.ts_event, (ev.bid_price + ev.ask_price) / 2))
    if not mids:
        raise SystemExit(f"{a.market_id}: no bookTicker in {a.capture}")
    first_s = mids[0][0] // 10**9 + 1
    lines, i, mid = [], 0, None
    for second in range(first_s, mids[-1][0] // 10**9 + 1):
        while i < len(mids) and mids[i][0] <= second * 10**9:
            mid = mids[i][1]
            i += 1
        rate = next(v for k, v in reversed(path) if second - first_s >= k)
        e_ms = second * 1000
        frame = {"stream": f"{a.market_id}@markPrice@1s",
                 "data": {"e": "markPriceUpdate", "E": e_ms, "s": a.market_id.upper(),
                          "p": f"{mid:.4f}", "P": f"{mid:.4f}", "r": rate,
                          "T": (e_ms // 28_800_000 + 1) * 28_800_000}}
        lines.append(f"{e_ms * 1_000_000} ".encode() + orjson.dumps(frame))
    Path(a.out).write_bytes(b"\n".join(lines) + b"\n")
    print(f"{a.out}: {len(lines)} mark frames")


if __name__ == "__main__":
    main()
