#!/usr/bin/env python3
"""A local Binance USD-M exchange (market data) on 127.0.0.1 that replays recorded traffic.

It speaks enough of Binance's wire formats for the real ccxt.pro client: REST
`GET /fapi/v1/exchangeInfo` (the real recorded one), `GET /fapi/v1/depth` (the server's own
book at its current replay position), `GET /fapi/v1/time`, and WebSocket streams on any path
(ccxt dials `/public/ws/0`): each SUBSCRIBE is answered with `{"result": null, "id": N}`, then
the recorded frames of the subscribed streams are played at recorded time × speed, in the
combined-stream layout. One timeline drives everything, so a depth snapshot always matches the
diffs that follow it.

    python scripts/local_exchange.py [CAPTURE...] [--port 8765] [--speed 1]

Order entry and user-data streams are not served yet.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import orjson  # noqa: E402
from aiohttp import WSMsgType, web  # noqa: E402

from engine.book.sync import BookSync  # noqa: E402
from engine.core.numeric import fmt  # noqa: E402
from engine.feeds.binance import BinanceDecoder  # noqa: E402
from engine.feeds.capture import iter_lines, sniff  # noqa: E402
from engine.model import BookSnapshot  # noqa: E402

log = logging.getLogger("local_exchange")
BUNDLED = [ROOT / "scripts/data/hftbacktest/usdm/btcusdt_20240808.gz",
           ROOT / "scripts/data/hftbacktest/usdm/ethusdt_20240808.gz"]
EXCHANGE_INFO = ROOT / "scripts/data/binance/usdm_exchange_info.json"


class Frame:
    __slots__ = ("ts", "market_id", "kind", "data", "event")

    def __init__(self, ts, market_id, kind, data, event) -> None:
        self.ts, self.market_id, self.kind, self.data, self.event = ts, market_id, kind, data, event


def load_frames(paths: list[str]) -> tuple[list[Frame], dict[str, BookSync]]:
    """Frames of every capture merged by receive time, starting once every book is synced
    (the server's books are synced on the recording up to that point)."""
    frames: list[Frame] = []
    for p in paths:
        market, symbol = sniff(str(p))
        dec = BinanceDecoder(market, symbol)
        market_id = Path(p).name.split("_")[0].lower()
        for line in iter_lines(str(p)):
            ts, _, payload = line.partition(b" ")
            ev = dec.decode_frame(payload, int(ts))
            if isinstance(ev, BookSnapshot):
                frames.append(Frame(int(ts), market_id, "snapshot", None, ev))
                continue
            stream = payload[11:payload.find(b'"', 11)].decode()
            kind = stream.split("@")[1]
            data = payload[payload.index(b'"data":') + 7:-1]
            frames.append(Frame(int(ts), market_id, kind, data, ev))
    frames.sort(key=lambda f: f.ts)
    books: dict[str, BookSync] = {}
    start = 0
    for i, f in enumerate(frames):
        sync = books.setdefault(f.market_id, BookSync(f.event.symbol, "futures"))
        if f.kind == "depth":
            sync.on_delta(f.event)
        elif f.kind == "snapshot":
            sync.on_snapshot(f.event)
        if all(b.valid for b in books.values()) and len(books) == len(paths):
            start = i + 1
            break
    return frames[start:], books


class LocalExchange:
    def __init__(self, captures=None, speed: float = 1.0, host: str = "127.0.0.1",
                 port: int = 0, exchange_info: Path = EXCHANGE_INFO) -> None:
        self.captures = [str(c) for c in (captures or BUNDLED)]
        self.speed, self.host, self.port = speed, host, port
        self.exchange_info = exchange_info.read_bytes()
        self.frames, self.books = load_frames(self.captures)
        self.position = 0
        self.subs: dict[web.WebSocketResponse, set[tuple[str, str]]] = {}
        self.names: dict[web.WebSocketResponse, dict[tuple[str, str], str]] = {}
        self.sent_frames = 0
        # fault injection, for tests and by hand
        self.stalled: set[tuple[str, str]] = set()  # (market id, kind) not sent while stalled
        self.skip_depth: dict[str, int] = {}  # market id -> depth frames to swallow
        self.skipped = 0
        # (market id, kind, update id) -> wall ns when the frame left, when `record_sends` is on
        self.record_sends = False
        self.sent_at: dict[tuple[str, str, int], int] = {}
        self._timeline: asyncio.Task | None = None
        self._runner: web.AppRunner | None = None
        self.started = asyncio.Event()

    # -- lifecycle ------------------------------------------------------------------------
    async def start(self) -> int:
        app = web.Application()
        app.router.add_get("/fapi/v1/exchangeInfo", self.exchange_info_handler)
        app.router.add_get("/fapi/v1/depth", self.depth)
        app.router.add_get("/fapi/v1/time", self.time)
        app.router.add_get("/fapi/v1/ping", self.ping)
        app.router.add_get("/{tail:.*}", self.ws)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]
        return self.port

    async def stop(self) -> None:
        if self._timeline is not None:
            self._timeline.cancel()
        for ws in list(self.subs):
            await ws.close()
        if self._runner is not None:
            await self._runner.cleanup()

    async def drop_connections(self) -> int:
        """Close every WebSocket (as an exchange restart or a network cut would)."""
        n = 0
        for ws in list(self.subs):
            if not ws.closed:
                await ws.close()
                n += 1
        return n

    def begin(self) -> None:
        """Start the timeline (on the first subscription, unless called earlier)."""
        if self._timeline is None:
            self._timeline = asyncio.get_running_loop().create_task(self._play())
            self.started.set()

    # -- REST -----------------------------------------------------------------------------
    async def exchange_info_handler(self, request):
        return web.Response(body=self.exchange_info, content_type="application/json")

    async def time(self, request):
        return web.json_response({"serverTime": int(time.time() * 1000)})

    async def ping(self, request):
        return web.json_response({})

    async def depth(self, request):
        mid = request.query.get("symbol", "").lower()
        sync = self.books.get(mid)
        if sync is None:
            return web.json_response({"code": -1121, "msg": "Invalid symbol."}, status=400)
        limit = int(request.query.get("limit", "1000"))
        bids, asks = sync.book.depth(limit)
        body = {"lastUpdateId": sync.book.update_id, "E": sync.book.ts_event // 1_000_000,
                "T": sync.book.ts_event // 1_000_000,
                "bids": [[fmt(p), fmt(q)] for p, q in bids],
                "asks": [[fmt(p), fmt(q)] for p, q in asks]}
        return web.Response(body=orjson.dumps(body), content_type="application/json")

    # -- WebSocket ------------------------------------------------------------------------
    async def ws(self, request):
        ws = web.WebSocketResponse(heartbeat=None, autoping=True)
        await ws.prepare(request)
        self.subs[ws] = set()
        self.names[ws] = {}
        try:
            async for msg in ws:
                if msg.type != WSMsgType.TEXT:
                    continue
                try:
                    req = orjson.loads(msg.data)
                except orjson.JSONDecodeError:
                    continue
                method = req.get("method")
                if method in ("SUBSCRIBE", "UNSUBSCRIBE"):
                    for name in req.get("params", []):
                        mid, _, rest = name.partition("@")
                        key = (mid.lower(), rest.split("@")[0])
                        if method == "SUBSCRIBE":
                            self.subs[ws].add(key)
                            self.names[ws][key] = name
                        else:
                            self.subs[ws].discard(key)
                    await ws.send_bytes(orjson.dumps({"result": None, "id": req.get("id")}))
                    if method == "SUBSCRIBE":
                        self.begin()
        finally:
            self.subs.pop(ws, None)
            self.names.pop(ws, None)
        return ws

    async def _play(self) -> None:
        loop = asyncio.get_running_loop()
        frames = self.frames
        if not frames:
            return
        t0_rec, t0 = frames[0].ts, loop.time()
        for i, f in enumerate(frames):
            due = t0 + (f.ts - t0_rec) / 1e9 / self.speed
            delay = due - loop.time()
            if delay > 0.001:
                await asyncio.sleep(delay)
            self.position = i
            if f.kind == "depth":
                self.books[f.market_id].on_delta(f.event)
            elif f.kind == "snapshot":
                continue
            key = (f.market_id, f.kind)
            if key in self.stalled:
                continue
            if f.kind == "depth" and self.skip_depth.get(f.market_id):
                self.skip_depth[f.market_id] -= 1
                self.skipped += 1
                continue
            for ws, keys in list(self.subs.items()):
                if key in keys and not ws.closed:
                    name = self.names[ws][key]
                    try:
                        if self.record_sends and f.kind == "bookTicker":
                            self.sent_at[(f.market_id, f.kind, f.event.update_id)] = \
                                time.time_ns()
                        await ws.send_bytes(b'{"stream":"' + name.encode() + b'","data":'
                                            + f.data + b"}")
                        self.sent_frames += 1
                    except ConnectionError:
                        pass
        self.position = len(frames)


async def _main(args) -> None:
    ex = LocalExchange(args.captures or None, args.speed, port=args.port)
    port = await ex.start()
    print(f"local exchange on http://127.0.0.1:{port} (ws ://127.0.0.1:{port}/ws), "
          f"{len(ex.frames):,} frames at x{args.speed}", flush=True)
    await asyncio.Event().wait()


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("captures", nargs="*")
    ap.add_argument("--port", type=int, default=8765)
    ap.add_argument("--speed", type=float, default=1.0)
    try:
        asyncio.run(_main(ap.parse_args()))
    except KeyboardInterrupt:
        pass
