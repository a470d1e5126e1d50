#!/usr/bin/env python3
"""A local Bybit v5 exchange on 127.0.0.1 that replays a recorded `orderbook.500` stream, for
the real ccxt.pro `bybit` client: public market data here, the account and order entry in
`local_bybit_account.py`.

What it speaks, as far as ccxt uses it:
- REST `GET /v5/market/instruments-info` (category=linear: one instrument per recorded market;
  PreLaunch and other categories: an empty list) and `GET /v5/market/time`.
- WebSocket `/v5/public/linear`: `{"op": "subscribe" | "unsubscribe" | "ping"}` answered as
  Bybit answers them; each subscribed `orderbook.<depth>.<id>` gets a snapshot, then deltas.

Depths: Bybit serves linear books at 1, 50, 200 and 1000 levels (this server: all but 1000,
deeper than the recording); the recording (Bybit's own
CDN file, 2024-12-01) is the retired 500-level stream. The server keeps the recorded book and
sends the top `depth` levels of it as Bybit does: a snapshot, then per recorded message a delta
of the levels that changed within the top (a level pushed out is sent with size 0, one pulled
in with its size), `u` one more per message sent, `seq` the recorded one. Depth 1 is
snapshot-only, sent when the best bid or ask changes.

No Bybit instruments listing is recorded in ../shared/data: the listing served is the
hand-written `scripts/data/bybit/linear_instruments.json` (its README says what it holds), the
one a paper run on Bybit reads too.

Fault hooks: `drop_frame = (depth, k)` leaves out frame `k` of the first subscription to that
depth (a lost delta); `subscriptions` counts subscriptions per topic.

    python scripts/local_bybit.py [RECORDING] [--port 8766]
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
import time
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import orjson  # noqa: E402
from aiohttp import web  # noqa: E402

from engine.node.http import serve  # noqa: E402
from engine.venues.bybit.markets import BUNDLED as LISTING  # noqa: E402
from local_bybit_account import BybitAccount  # noqa: E402
from local_spot import json_messages  # noqa: E402
from replay_pace import Pace  # noqa: E402
from replayed_book import ReplayedBooks  # noqa: E402

log = logging.getLogger("local_bybit")
RECORDING = ROOT.parent / "shared/data/nautilus_trader/tests/test_data/bybit/xrpusdt-ob500.data.zip"
DEPTHS = (1, 50, 200)  # Bybit's linear depths the 500-level recording can fill (not 1000)


def read_recording(path: Path) -> list[dict]:
    """The recorded messages (one JSON object a line; a zip's one member)."""
    if zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as z:
            raw = z.read(z.namelist()[0])
    else:
        raw = Path(path).read_bytes()
    return [orjson.loads(x) for x in raw.splitlines() if x.strip()]


def _top(side: dict[str, str], n: int, bids: bool) -> list[tuple[str, str]]:
    return sorted(side.items(), key=lambda kv: float(kv[0]), reverse=bids)[:n]


def depth_stream(records: list[dict], depth: int, origins: list[int] | None = None
                 ) -> list[bytes]:
    """The frames Bybit would send for `orderbook.<depth>.<id>`, derived from the recording
    (`origins`, when given, gets each frame's recorded message index)."""
    book = {"b": {}, "a": {}}
    shown = {"b": {}, "a": {}}
    out: list[bytes] = []
    u = 0
    for k, rec in enumerate(records):
        data = rec["data"]
        if rec["type"] == "snapshot":
            book = {"b": {}, "a": {}}
        for side in ("b", "a"):
            for p, q in data[side]:
                if float(q) == 0:
                    book[side].pop(p, None)
                else:
                    book[side][p] = q
        top = {s: _top(book[s], depth, s == "b") for s in ("b", "a")}
        first = not out or rec["type"] == "snapshot"
        if first or depth == 1:
            if not first and all(dict(top[s]) == shown[s] for s in ("b", "a")):
                continue
            kind, b, a = "snapshot", top["b"], top["a"]
        else:
            changes = {}
            for s in ("b", "a"):
                now = dict(top[s])
                gone = [(p, "0") for p in shown[s] if p not in now]
                moved = [(p, q) for p, q in top[s] if shown[s].get(p) != q]
                changes[s] = gone + moved
            if not changes["b"] and not changes["a"]:
                continue
            kind, b, a = "delta", changes["b"], changes["a"]
        shown = {s: dict(top[s]) for s in ("b", "a")}
        u += 1
        if origins is not None:
            origins.append(k)
        out.append(orjson.dumps({
            "topic": f"orderbook.{depth}.{data['s']}", "type": kind, "ts": rec["ts"],
            "data": {"s": data["s"], "b": [list(x) for x in b], "a": [list(x) for x in a],
                     "u": u, "seq": data["seq"]},
            "cts": rec.get("cts")}))
    return out


class LocalBybit(BybitAccount):
    def __init__(self, recording: Path = RECORDING, host: str = "127.0.0.1",
                 port: int = 0, speed: float | None = None, account: dict | None = None,
                 api_key: str = "local-test-key", api_secret: str = "local-test-secret"
                 ) -> None:
        self.speed = speed  # None: as fast as the socket takes them; else recorded time x speed
        self.records = read_recording(recording)
        self.market_ids = sorted({r["data"]["s"] for r in self.records})
        self.listing = orjson.loads(LISTING.read_bytes())["result"]["list"]
        self.host, self.port = host, port
        self.drop_frame: tuple[int, int] | None = None
        self.subscriptions: dict[str, int] = {}
        self.sockets: set[web.WebSocketResponse] = set()
        self._streams: dict[tuple[int, str], list[bytes]] = {}
        self._origins: dict[tuple[int, str], list[int]] = {}
        self._setup_venue_book()
        self._setup_account(account, api_key, api_secret)
        self._runner: web.AppRunner | None = None

    def stream(self, depth: int, market_id: str) -> list[bytes]:
        """The frames of `orderbook.<depth>.<market_id>` (derived once, kept)."""
        s = self._streams.get((depth, market_id))
        if s is None:
            mine = [r for r in self.records if r["data"]["s"] == market_id]
            origins: list[int] = []
            s = self._streams[(depth, market_id)] = depth_stream(mine, depth, origins)
            self._origins[(depth, market_id)] = origins
        return s

    def _setup_venue_book(self) -> None:
        """The recorded messages as the engine's book events (the venue's full book, checked
        by its own rules), per market, for the matcher."""
        from engine.venues.bybit.books import BOOK_FRAME, depth_of
        from engine.venues.bybit.events import BybitBookEvents
        from engine.venues.bybit.recording import unified_symbol

        self.venue_books = ReplayedBooks()
        self.book_manager = self.venue_books.manager
        for mid in self.market_ids:
            mine = [r for r in self.records if r["data"]["s"] == mid]
            events = BybitBookEvents(depth_of(mine[0]["topic"]))
            self.venue_books.add(mid, [
                events.on_frame(BOOK_FRAME.decode(orjson.dumps(r)), unified_symbol(mid),
                                r["ts"] * 1_000_000)[1] for r in mine])

    async def start(self) -> int:
        app = web.Application(middlewares=[self.check_signature])
        self.add_private_routes(app)
        app.router.add_get("/v5/market/instruments-info", self.instruments)
        app.router.add_get("/v5/market/time", self.time)
        app.router.add_get("/v5/public/linear", self.ws)
        self._runner, self.port = await serve(app, self.host, self.port)
        return self.port

    async def stop(self) -> None:
        for ws in list(self.sockets) + list(self.private):
            await ws.close()
        if self._runner is not None:
            await self._runner.cleanup()

    # -- REST -------------------------------------------------------------------------------
    @staticmethod
    def _ok(result: dict) -> web.Response:
        return web.json_response({"retCode": 0, "retMsg": "OK", "result": result,
                                  "retExtInfo": {}, "time": int(time.time() * 1000)},
                                 dumps=lambda x: orjson.dumps(x).decode())

    async def instruments(self, request: web.Request) -> web.Response:
        q = request.query
        listed = q.get("category") == "linear" and q.get("status") in (None, "Trading")
        return self._ok({"category": q.get("category", ""), "nextPageCursor": "",
                         "list": self.listing if listed else []})

    async def time(self, request: web.Request) -> web.Response:
        ns = time.time_ns()
        return self._ok({"timeSecond": str(ns // 10**9), "timeNano": str(ns)})

    # -- WebSocket --------------------------------------------------------------------------
    async def ws(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        self.sockets.add(ws)
        players: dict[str, asyncio.Task] = {}
        try:
            async for msg in json_messages(ws):
                op, req_id = msg.get("op"), msg.get("req_id")
                reply = {"success": True, "ret_msg": "", "conn_id": "local", "req_id": req_id,
                         "op": op}
                if op == "ping":
                    reply["ret_msg"] = "pong"
                    await ws.send_bytes(orjson.dumps(reply))
                    continue
                topics = [t for t in msg.get("args") or [] if isinstance(t, str)]
                if op == "subscribe":
                    bad = [t for t in topics if self._topic(t) is None]
                    if bad:
                        reply.update(success=False, ret_msg=f"Invalid topic: {bad}")
                    await ws.send_str(orjson.dumps(reply).decode())
                    for t in topics:
                        if t not in bad and t not in players:
                            players[t] = asyncio.create_task(self._play(ws, t))
                elif op == "unsubscribe":
                    for t in topics:
                        task = players.pop(t, None)
                        if task is not None:
                            task.cancel()
                    await ws.send_str(orjson.dumps(reply).decode())
        finally:
            for task in players.values():
                task.cancel()
            self.sockets.discard(ws)
        return ws

    def _topic(self, topic: str) -> int | None:
        """The depth of a book topic this server can serve, else None."""
        parts = topic.split(".")
        if len(parts) != 3 or parts[0] != "orderbook" or parts[2] not in self.market_ids:
            return None
        depth = int(parts[1]) if parts[1].isdigit() else 0
        return depth if depth in DEPTHS else None

    async def _play(self, ws: web.WebSocketResponse, topic: str) -> None:
        depth = self._topic(topic)
        n = self.subscriptions[topic] = self.subscriptions.get(topic, 0) + 1
        skip = None
        if self.drop_frame is not None and self.drop_frame[0] == depth and n == 1:
            skip = self.drop_frame[1]
        pace = Pace(self.speed)
        market_id = topic.rsplit(".", 1)[1]
        frames = self.stream(depth, market_id)
        origins = self._origins[(depth, market_id)]
        for k, frame in enumerate(frames):
            if k == skip:
                continue
            if ws.closed:
                return
            if self.speed:
                await pace.wait(orjson.loads(frame)["ts"])
            self.venue_books.advance(market_id, origins[k])
            await ws.send_str(frame.decode())


async def _main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("recording", nargs="?", default=str(RECORDING))
    ap.add_argument("--port", type=int, default=8766)
    args = ap.parse_args()
    ex = LocalBybit(Path(args.recording), port=args.port)
    port = await ex.start()
    print(f"local Bybit on 127.0.0.1:{port} ({', '.join(ex.market_ids)})", flush=True)
    await asyncio.Event().wait()


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO)
    asyncio.run(_main())
