#!/usr/bin/env python3
"""A local OKX v5 exchange on 127.0.0.1 that replays cryptofeed's recording of OKX's public
WebSocket (`OKX.ws.1.0`, May 2022) for the real ccxt.pro `okx` client: public market data
here, the account and order entry in `local_okx_account.py`.

What it speaks, as far as ccxt uses it:
- REST `GET /api/v5/public/instruments?instType=...` answered with the recorded listing of the
  same query (`OKX.0`, the venue's own responses), and `GET /api/v5/public/time`.
- WebSocket `/ws/v5/public`: `ping` -> `pong`; `{"op": "subscribe" | "unsubscribe", "args":
  [{"channel": "books" | "trades", "instId": ...}]}` answered with OKX's event reply; each
  subscription gets the recorded frames of that channel and instrument, byte for byte (books:
  snapshot, then updates, each with the venue's own checksum).

Pacing: each subscription's frames start when it is made (the channels of one instrument are
not aligned with each other; the engine does not need them to be).

Fault hooks: `drop_frame = (instId, k)` leaves out frame `k` of the first subscription to that
instrument (a lost update); `corrupt_frame = (instId, k)` sends it with its first bid's size
changed (a garbled update: the checksum no longer agrees); `subscriptions` counts them.

    python scripts/local_okx.py [RECORDING] [--port 8767]
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
from aiohttp import web  # noqa: E402

from engine.feeds.capture import iter_lines  # noqa: E402
from engine.node.http import serve  # noqa: E402
from engine.venues.okx.recording import instruments_file  # noqa: E402
from local_okx_account import OkxAccount, okx_requests  # noqa: E402
from replay_pace import Pace  # noqa: E402

log = logging.getLogger("local_okx")
RECORDING = ROOT.parent / "shared/data/cryptofeed/sample_data/OKX.ws.1.0"


def recorded_frames(path: Path, channel: str) -> dict[str, list[bytes]]:
    """instId -> its recorded frames of `channel` (books, trades), in order."""
    head = b'{"arg":{"channel":"' + channel.encode() + b'","instId":"'
    out: dict[str, list[bytes]] = {}
    for line in iter_lines(str(path)):
        _, sep, payload = line.partition(b": ")
        if sep and payload.startswith(head):
            inst = payload[len(head):payload.index(b'"', len(head))].decode()
            out.setdefault(inst, []).append(payload.rstrip())
    return out


def recorded_listing(path: Path) -> dict[str, bytes]:
    """The query string after `instruments?` -> the first recorded response to it."""
    out: dict[str, bytes] = {}
    for line in iter_lines(instruments_file(str(path))):
        url, sep, rest = line.partition(b" -> ")
        if not sep or b"/api/v5/public/instruments?" not in url:
            continue
        query = url.split(b"?", 1)[1].decode()
        out.setdefault(query, rest.partition(b": ")[2].rstrip())
    return out


def corrupted(frame: bytes) -> bytes:
    """`frame` with its first bid's size changed (one more unit in the last digit)."""
    msg = orjson.loads(frame)
    bid = msg["data"][0]["bids"][0]
    size = bid[1]
    bid[1] = size[:-1] + str((int(size[-1]) + 1) % 10)
    return orjson.dumps(msg)


class LocalOkx(OkxAccount):
    def __init__(self, recording: Path = RECORDING, host: str = "127.0.0.1",
                 port: int = 0, speed: float | None = None, account: dict | None = None,
                 api_key: str = "local-test-key", api_secret: str = "local-test-secret",
                 passphrase: str = "local-test-passphrase") -> None:
        self.speed = speed  # None: as fast as the socket takes them; else recorded time x speed
        self.books = recorded_frames(recording, "books")
        self.trades = recorded_frames(recording, "trades")
        self.listing = recorded_listing(recording)
        self.host, self.port = host, port
        self.drop_frame: tuple[str, int] | None = None
        self.corrupt_frame: tuple[str, int] | None = None
        self.subscriptions: dict[str, int] = {}
        self.sockets: set[web.WebSocketResponse] = set()
        self._runner: web.AppRunner | None = None
        self._setup_account(account, api_key, api_secret, passphrase)

    async def start(self) -> int:
        app = web.Application(middlewares=[self.check_signature])
        self.add_private_routes(app)
        app.router.add_get("/api/v5/public/instruments", self.instruments)
        app.router.add_get("/api/v5/public/time", self.time)
        app.router.add_get("/ws/v5/public", self.ws)
        self._runner, self.port = await serve(app, self.host, self.port)
        return self.port

    async def stop(self) -> None:
        for ws in list(self.sockets) + list(self.private):
            await ws.close()
        if self._runner is not None:
            await self._runner.cleanup()

    async def instruments(self, request: web.Request) -> web.Response:
        body = self.listing.get(request.query_string)
        if body is None:  # a query the recording does not hold: OKX's empty answer
            body = b'{"code":"0","data":[],"msg":""}'
        return web.Response(body=body, content_type="application/json")

    async def time(self, request: web.Request) -> web.Response:
        return web.json_response({"code": "0", "msg": "",
                                  "data": [{"ts": str(int(time.time() * 1000))}]})

    async def ws(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        self.sockets.add(ws)
        players: dict[tuple[str, str], asyncio.Task] = {}
        try:
            async for req in okx_requests(ws):
                op = req.get("op")
                for arg in req.get("args") or []:
                    inst, channel = arg.get("instId"), arg.get("channel")
                    frames = {"books": self.books, "trades": self.trades}.get(channel, {})
                    if inst not in frames:
                        await ws.send_bytes(orjson.dumps(
                            {"event": "error", "code": "60018",
                             "msg": f"Wrong URL or channel:{arg.get('channel')},instId:{inst}"
                             " doesn't exist", "connId": "local"}))
                        continue
                    await ws.send_bytes(orjson.dumps({"event": op, "arg": arg,
                                                      "connId": "local"}))
                    key = (channel, inst)
                    if op == "subscribe" and key not in players:
                        players[key] = asyncio.create_task(self._play(ws, channel, inst))
                    elif op == "unsubscribe" and key in players:
                        players.pop(key).cancel()
        finally:
            for task in players.values():
                task.cancel()
            self.sockets.discard(ws)
        return ws

    async def _play(self, ws: web.WebSocketResponse, channel: str, inst: str) -> None:
        frames = self.books[inst] if channel == "books" else self.trades[inst]
        drop = garble = None
        if channel == "books":  # the fault hooks are for the book (trades carry no checks)
            n = self.subscriptions[inst] = self.subscriptions.get(inst, 0) + 1
            if self.drop_frame and self.drop_frame[0] == inst and n == 1:
                drop = self.drop_frame[1]
            if self.corrupt_frame and self.corrupt_frame[0] == inst and n == 1:
                garble = self.corrupt_frame[1]
        pace = Pace(self.speed)
        for k, frame in enumerate(frames):
            if k == drop:
                continue
            if ws.closed:
                return
            if self.speed:
                await pace.wait(int(orjson.loads(frame)["data"][0]["ts"]))
            if channel == "books":
                self.venue_books.advance(inst, k)
            await ws.send_str((corrupted(frame) if k == garble else frame).decode())


async def _main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("recording", nargs="?", default=str(RECORDING))
    ap.add_argument("--port", type=int, default=8767)
    args = ap.parse_args()
    ex = LocalOkx(Path(args.recording), port=args.port)
    port = await ex.start()
    print(f"local OKX on 127.0.0.1:{port} ({', '.join(sorted(ex.books))})", flush=True)
    await asyncio.Event().wait()


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO)
    asyncio.run(_main())
