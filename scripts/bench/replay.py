#!/usr/bin/env python3
"""Replay throughput: decode only, decode + book maintenance, the full verified replay, and the
same frames through ccxt.pro's own Binance handlers (driven offline), as medians of several runs.

    python scripts/bench/replay.py [FILE...] [--runs 5] [--ccxt-runs 3] [--no-ccxt] [--json]

Defaults to the bundled USD-M captures. Frames are read into memory first, so the decode figures
exclude gzip; the `replay --verify` row includes reading the gzip files, merging and verifying.
ccxt.pro is fed the same text frames through its WebSocket client's message handler, with
markets built from a recorded exchangeInfo and the recorded REST snapshot standing in for the
depth request. Prints a table; with --json, one JSON object on the last line.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

import orjson  # noqa: E402
from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402

from engine.book.manager import BookManager  # noqa: E402
from engine.venues.binance.frames import BinanceDecoder  # noqa: E402
from engine.feeds.capture import iter_lines, merge_captures, sniff  # noqa: E402
from engine.model import BookDelta, BookSnapshot  # noqa: E402
from engine.node.replay_session import ReplaySession  # noqa: E402

BUNDLED = [ROOT / "scripts/data/hftbacktest/usdm/btcusdt_20240808.gz",
           ROOT / "scripts/data/hftbacktest/usdm/ethusdt_20240808.gz"]
EXCHANGE_INFO = {
    "usdm": ROOT / "scripts/data/binance/usdm_exchange_info.json",
}


def load(paths: list[str]) -> list[tuple[str, str, list[tuple[int, bytes]]]]:
    """(market, symbol, [(ts_recv, payload)]) per file, read fully into memory."""
    out = []
    for p in paths:
        market, symbol = sniff(p)
        frames = []
        for line in iter_lines(p):
            ts, _, payload = line.partition(b" ")
            frames.append((int(ts), payload))
        out.append((market, symbol, frames))
    return out


def run_decode(files) -> int:
    n = 0
    for market, symbol, frames in files:
        decode = BinanceDecoder(market, symbol).decode_frame
        for ts, payload in frames:
            decode(payload, ts)
        n += len(frames)
    return n


def run_decode_book(files) -> int:
    n = 0
    books = BookManager()
    on_delta, on_snapshot = books.on_delta, books.on_snapshot
    for market, symbol, frames in files:
        decode = BinanceDecoder(market, symbol).decode_frame
        for ts, payload in frames:
            ev = decode(payload, ts)
            t = type(ev)
            if t is BookDelta:
                on_delta(ev)
            elif t is BookSnapshot:
                on_snapshot(ev)
        n += len(frames)
    return n


def run_replay_verify(paths: list[str]) -> int:
    session = ReplaySession(verify=True)
    on_event = session.on_event
    for ev in merge_captures(paths):
        on_event(ev)
    session.finish()
    return session.events


def _exchange_info(market: str) -> dict:
    path = EXCHANGE_INFO.get(market)
    if path is None or not path.exists():
        raise FileNotFoundError(f"no recorded exchangeInfo for {market}")
    return orjson.loads(path.read_bytes())


async def _ccxt_feed(files) -> tuple[int, dict]:
    import ccxt.pro as ccxtpro

    n = 0
    tops = {}
    for market, symbol, frames in files:
        if market != "usdm":
            raise ValueError("the ccxt.pro path is wired for USD-M captures only")
        ex = ccxtpro.binanceusdm({"options": {"defaultType": "swap"}})
        try:
            info = _exchange_info(market)
            ex.set_markets([m for m in (ex.parse_market(s) for s in info["symbols"]) if m])
            client = ex.client(ex.urls["api"]["ws"]["linear"])
            ob = ex.order_book({}, 1000)
            ob["nonce"] = None
            ob.cache = []
            ex.orderbooks[symbol] = ob
            feed = client.handle_text_or_binary_message
            for ts, payload in frames:
                if payload.startswith(b'{"lastUpdateId"'):
                    snap = orjson.loads(payload)

                    async def recorded_depth(sym, limit=None, params={}, _snap=snap):
                        book = ex.parse_order_book(_snap, sym, _snap.get("T"), "bids", "asks")
                        book["nonce"] = _snap["lastUpdateId"]
                        return book

                    ex.fetch_rest_order_book_safe = recorded_depth
                    await ex.fetch_order_book_snapshot(
                        client, {}, {"symbol": symbol, "type": "linear", "limit": 1000,
                                     "params": {}})
                    continue
                feed(payload.decode())
            n += len(frames)
            book = ex.orderbooks[symbol]
            tops[symbol] = (book["bids"][0][:2], book["asks"][0][:2])
        finally:
            await ex.close()
    return n, tops


def run_ccxt(files) -> tuple[int, dict]:
    return asyncio.run(_ccxt_feed(files))


def _time(fn, runs: int) -> tuple[float, int, object]:
    times = []
    n = 0
    extra = None
    for _ in range(runs):
        gc.collect()
        t0 = time.perf_counter()
        res = fn()
        times.append(time.perf_counter() - t0)
        n, extra = (res if isinstance(res, tuple) else (res, None))
    return statistics.median(times), n, extra


# A straightforward msgspec + dict book with the same sync rules, kept beside the project
PLAIN_BOOK = ROOT.parent / "shared/bench/plain_book.py"


def _plain_book(script: str, paths: list[str], runs: int) -> float | None:
    """msgs/s of the plain book script on the same files (None when it is not there)."""
    if not os.path.isfile(script):
        print(f"note: {script} not found: no plain-book row", file=sys.stderr)
        return None
    out = subprocess.run([sys.executable, script, *paths, "--runs", str(runs), "--json"],
                         capture_output=True, text=True, cwd=ROOT, check=False)
    try:
        return float(orjson.loads(out.stdout.strip().splitlines()[-1])["plain_book_msgs_per_s"])
    except (IndexError, KeyError, ValueError, orjson.JSONDecodeError):
        print(f"note: {script} failed: {out.stderr.strip()[-200:]}", file=sys.stderr)
        return None


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("files", nargs="*", help="captures (default: the bundled USD-M pair)")
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--ccxt-runs", type=int, default=3)
    ap.add_argument("--no-ccxt", action="store_true")
    ap.add_argument("--plain", default=str(PLAIN_BOOK), metavar="SCRIPT",
                    help="the plain msgspec + dict book run beside (same files, same runs); "
                         "'' to skip")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    paths = [str(p) for p in (args.files or BUNDLED)]
    for p in paths:
        if not os.path.isfile(p):
            print(f"error: no such file: {p}", file=sys.stderr)
            return 2
    files = load(paths)
    total = sum(len(f[2]) for f in files)

    rows = []
    t, n, _ = _time(lambda: run_decode(files), args.runs)
    decode_rate = n / t
    rows.append(("decode (compiled readers → model events)", n, t, decode_rate))
    t, n, _ = _time(lambda: run_decode_book(files), args.runs)
    book_rate = n / t
    rows.append(("decode + book sync/maintenance", n, t, book_rate))
    t, n, _ = _time(lambda: run_replay_verify(paths), max(1, args.runs // 2))
    rows.append(("replay --verify (gzip, merge, books, bookTicker check)", n, t, n / t))
    ccxt_rate = None
    ccxt_tops = None
    if not args.no_ccxt:
        t, n, ccxt_tops = _time(lambda: run_ccxt(files), args.ccxt_runs)
        ccxt_rate = n / t
        rows.append(("ccxt.pro binanceusdm handlers (json + handle_message)", n, t, ccxt_rate))
    peak_rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    plain_rate = _plain_book(args.plain, paths, args.runs) if args.plain else None
    if plain_rate:
        rows.append(("plain msgspec + dict book (its own process)", total, total / plain_rate,
                     plain_rate))

    console = Console(highlight=False, width=120)
    table = Table(title=f"replay throughput: {total:,} messages from {len(paths)} file(s), "
                        f"median of {args.runs} runs (ccxt: {args.ccxt_runs})")
    for c, j in (("path", "left"), ("messages", "right"), ("seconds", "right"),
                 ("msgs/s", "right"), ("µs/msg", "right")):
        table.add_column(c, justify=j)
    for name, n, t, rate in rows:
        table.add_row(name, f"{n:,}", f"{t:.3f}", f"{rate:,.0f}", f"{1e6 / rate:.2f}")
    console.print(table)
    console.print(f"peak RSS: {peak_rss_mb:.1f} MB   python {sys.version.split()[0]}")
    if ccxt_tops:
        console.print("ccxt.pro final tops: " + ", ".join(
            f"{s} bid {b[0]} ask {a[0]}" for s, (b, a) in ccxt_tops.items()))
    if args.json:
        print(orjson.dumps({
            "decode_msgs_per_s": round(decode_rate, 1),
            "book_msgs_per_s": round(book_rate, 1),
            "ccxt_msgs_per_s": round(ccxt_rate, 1) if ccxt_rate else None,
            "replay_verify_msgs_per_s": round(rows[2][3], 1),
            "plain_book_msgs_per_s": round(plain_rate, 1) if plain_rate else None,
            "book_vs_ccxt": round(book_rate / ccxt_rate, 1) if ccxt_rate else None,
            "book_vs_plain": round(book_rate / plain_rate, 3) if plain_rate else None,
            "peak_rss_mb": round(peak_rss_mb, 1),
            "messages": total,
            "runs": args.runs,
        }).decode())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
