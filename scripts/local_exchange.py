#!/usr/bin/env python3
"""A local Binance USD-M exchange (market data) on 127.0.0.1 that replays recorded traffic.

It speaks enough of Binance's wire formats for the real ccxt.pro client: REST
`GET /fapi/v1/exchangeInfo` (the real recorded one), `GET /fapi/v1/depth` (the server's own
book at its current replay position), `GET /fapi/v1/time`, and WebSocket streams on any path
(ccxt dials `/public/ws/0`): each SUBSCRIBE is answered with `{"result": null, "id": N}`, then
the recorded frames of the subscribed streams are played at recorded time × speed, in the
combined-stream layout. The captures hold no mark price stream, so the server makes one:
`<symbol>@markPrice@1s` once per recorded second, its mark and index the mid of the server's
own book at that moment, its funding rate `funding_rates[market id]` (default 0.0001) due at the
next multiple of `funding_interval_ms` (Binance: 8 h; tests shorten it so a settlement falls
inside the recording). The first mark at or after a funding time settles it on the account. One timeline drives everything, so a depth snapshot always matches the
diffs that follow it.

    python scripts/local_exchange.py [CAPTURE...] [--port 8765] [--speed 1]

Order entry (REST, signed requests accepted as they come): `POST/DELETE/GET /fapi/v1/order`,
`GET /fapi/v1/userTrades`, `GET /fapi/v1/income` (funding fees), `GET /fapi/v2/positionRisk`, `GET /fapi/v1/leverageBracket`.
Orders fill against the server's own replayed books, as the paper broker fills them, on an
account that starts from `account` (cash and perp positions). `fail_next` queues HTTP failures
(429, 5xx) for the next order requests: `(status, body)` fails before booking,
`(status, body, "after_booking")` books the order and then answers with the error;
`fail_first_order` holds the same for the attempts of the first order only. A listenKey user-data stream (`/private/ws`) pushes
ORDER_TRADE_UPDATE for every fill.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import hashlib
import hmac
import logging
import signal
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import orjson  # noqa: E402
from aiohttp import web  # noqa: E402

from engine.book.sync import BookSync  # noqa: E402
from engine.core.numeric import fmt  # noqa: E402
from engine.venues.binance.frames import BinanceDecoder  # noqa: E402
from engine.core.errors import DecodeError  # noqa: E402
from engine.feeds.capture import iter_lines, sniff  # noqa: E402
from engine.feeds.cryptofeed_capture import (connection, depth_lines, frame_lines,  # noqa: E402
                                             is_cryptofeed, rest_companion, seconds_to_ns)
from engine.node.http import serve  # noqa: E402
from engine.model import BookSnapshot  # noqa: E402
from local_coinm import COINM_LISTEN_KEY, COINM_SIGNED, CoinmVenue  # noqa: E402
from local_spot import SPOT_SIGNED, SpotVenue, json_messages, send_all  # noqa: E402

log = logging.getLogger("local_exchange")
BUNDLED = [ROOT / "scripts/data/hftbacktest/usdm/btcusdt_20240808.gz",
           ROOT / "scripts/data/hftbacktest/usdm/ethusdt_20240808.gz"]
BUNDLED_SPOT = [ROOT / "scripts/data/hftbacktest/spot/btcusdt_20240808.gz",
                ROOT / "scripts/data/hftbacktest/spot/ethusdt_20240808.gz"]
EXCHANGE_INFO = ROOT / "scripts/data/binance/usdm_exchange_info.json"
SPOT_EXCHANGE_INFO = ROOT / "scripts/data/binance/spot_exchange_info.json"
SPOT = "spot:"  # the key prefix of spot markets (books, subscriptions, faults)
COINM = "coinm:"  # the key prefix of COIN-M markets (streams dialled under /coinm)
COINM_EXCHANGE_INFO = ROOT / "scripts/data/binance/coinm_exchange_info.json"
# klines served by GET .../klines: market key -> bar files (freqtrade feather); by default the
# bundled spot daily bars
KLINE_FILES = {SPOT + f"{c.lower()}usdt": [ROOT / f"scripts/data/oraculo-de-bitcoin/{c}_USDT-1d.feather"]
               for c in ("BTC", "ETH", "SOL", "BNB", "XRP")}


class Frame:
    __slots__ = ("ts", "market_id", "kind", "data", "event")

    def __init__(self, ts, market_id, kind, data, event) -> None:
        self.ts, self.market_id, self.kind, self.data, self.event = ts, market_id, kind, data, event


@functools.lru_cache(maxsize=4)
def _decoded(paths: tuple[str, ...]) -> tuple[tuple, ...]:
    """(ts, market id, kind, data, event) of every frame, merged by receive time. Decoding
    takes seconds; the events are immutable, so exchanges in one process share them."""
    rows: list[tuple] = []
    for p in paths:
        if is_cryptofeed(str(p)):
            rows += _cryptofeed_rows(str(p))
            continue
        market, symbol = sniff(str(p))
        dec = BinanceDecoder(market, symbol)
        # spot and USD-M share market ids (btcusdt): spot books are keyed "spot:btcusdt"
        market_id = (SPOT if market == "spot" else "") + Path(p).name.split("_")[0].lower()
        for line in iter_lines(str(p)):
            ts, _, payload = line.partition(b" ")
            ev = dec.decode_frame(payload, int(ts))
            if isinstance(ev, BookSnapshot):
                rows.append((int(ts), market_id, "snapshot", None, ev))
                continue
            stream = payload[11:payload.find(b'"', 11)].decode()
            kind = stream.split("@")[1]
            data = payload[payload.index(b'"data":') + 7:-1]
            rows.append((int(ts), market_id, kind, data, ev))
    rows.sort(key=lambda r: r[0])
    return tuple(rows)


def _cryptofeed_rows(path: str) -> list[tuple]:
    """Rows of a cryptofeed recording (several symbols, one market), keyed by market id; the
    venue's klines, which nothing here serves, are left out."""
    market, ids = connection(path)
    prefix = {"spot": SPOT, "coinm": COINM}.get(market, "")
    dec = BinanceDecoder(market, allowed_ids=ids)
    rows: list[tuple] = []
    for line in frame_lines(path):
        ts, _, payload = line.partition(b" ")
        try:
            ev = dec.decode_frame(payload, int(ts))
        except (DecodeError, ValueError):
            continue
        stream = payload[11:payload.find(b'"', 11)].decode()
        mid, kind = stream.split("@")[:2]
        data = payload[payload.index(b'"data":') + 7:-1]
        rows.append((int(ts), prefix + mid, kind, data, ev))
    rest = rest_companion(path)
    for _, mid, ts_txt, payload in depth_lines(rest) if rest else ():
        ts = seconds_to_ns(ts_txt)
        ev = dec.decode_snapshot(payload, ts, symbol=dec.symbol(mid))
        rows.append((ts, prefix + mid.lower(), "snapshot", None, ev))
    return rows


def load_frames(paths: list[str]) -> tuple[list[Frame], dict[str, BookSync]]:
    """Frames of every capture merged by receive time, starting once every book is synced
    (the server's books are synced on the recording up to that point)."""
    frames = [Frame(*r) for r in _decoded(tuple(str(p) for p in paths))]
    books: dict[str, BookSync] = {}
    wanted = {f.market_id for f in frames if f.kind in ("depth", "snapshot")}
    start = 0
    for i, f in enumerate(frames):
        sync = books.setdefault(f.market_id, BookSync(
            f.event.symbol, "spot" if f.market_id.startswith(SPOT) else "futures"))
        if f.kind == "depth":
            sync.on_delta(f.event)
        elif f.kind == "snapshot":
            sync.on_snapshot(f.event)
        if len(books) == len(wanted) and all(b.valid for b in books.values()):
            start = i + 1
            break
    return frames[start:], books


class LocalExchange(SpotVenue, CoinmVenue):
    def __init__(self, captures=None, speed: float = 1.0, host: str = "127.0.0.1",
                 port: int = 0, exchange_info: Path = EXCHANGE_INFO,
                 account: dict | None = None, funding_interval_ms: int = 8 * 3600_000,
                 funding_rates: dict[str, str] | None = None,
                 api_key: str = "local-test-key", api_secret: str = "local-test-secret",
                 kline_files: dict[str, list] | None = None,
                 open_interest: dict[str, list[str]] | None = None) -> None:
        self.captures = [str(c) for c in (captures or BUNDLED)]
        # signed requests must carry this key and an HMAC-SHA256 of their parameters with
        # this secret, as Binance checks them (-2015 for the key, -1022 for the signature)
        self.api_key, self.api_secret = api_key, api_secret
        self.bad_signatures = 0
        self.speed, self.host, self.port = speed, host, port
        self.exchange_info = exchange_info.read_bytes()
        self.kline_files = KLINE_FILES if kline_files is None else kline_files
        self.kline_requests = 0
        # market id -> the open interest answered to each successive request (the last one
        # repeats): no open interest was recorded, so a test writes the series it needs
        self.open_interest = {k: list(v) for k, v in (open_interest or {}).items()}
        self.open_interest_requests = 0
        self.kline_starts: list[int] = []  # startTime of each klines request (ms)
        self.frames, self.books = _playable(self.captures)
        self.funding_interval_ms = funding_interval_ms
        self.funding_rates = {mid: "0.00010000" for mid in self.books
                              if not mid.startswith(SPOT)}
        self.funding_rates.update(funding_rates or {})
        self._funding_due: dict[str, tuple[int, str]] = {}  # market id -> (T ms, rate)
        self._funding_done: dict[str, int] = {}
        self.mark_frames: list[bytes] = []  # every mark payload sent (for comparisons)
        self.funding_paid: list[tuple[str, int, str]] = []  # (symbol, T ms, amount)
        self.income: list[dict] = []  # GET /fapi/v1/income rows (funding fees)
        self.position = 0
        self.subs: dict[web.WebSocketResponse, set[tuple[str, str]]] = {}
        self.names: dict[web.WebSocketResponse, dict[tuple[str, str], str]] = {}
        self.sent_frames = 0
        # fault injection, for tests and by hand
        self.stalled: set[tuple[str, str]] = set()  # (market id, kind) not sent while stalled
        self.skip_depth: dict[str, int] = {}  # market id -> depth frames to swallow
        self.skipped = 0
        # the timeline holds before frame `hold_at` until `release()` (tests: a known end)
        self.hold_at: int | None = None
        self._released = asyncio.Event()
        # (market id, kind) -> the id of the last frame sent (see `_client_id`)
        self.last_sent: dict[tuple[str, str], int] = {}
        # (market id, kind, update id) -> wall ns when the frame left, when `record_sends` is on
        self.record_sends = False
        self.sent_at: dict[tuple[str, str, int], int] = {}
        self.holding = False
        self.error: BaseException | None = None  # why the timeline died, if it did
        self.replays = 0  # times the recording was played again for a new session
        # (seconds after the timeline starts, async action(exchange)): from the command line
        self.faults: list[tuple[float, object]] = []
        self._faults_task: asyncio.Task | None = None
        self._timeline: asyncio.Task | None = None
        self._runner: web.AppRunner | None = None
        self.started = asyncio.Event()
        self._setup_account(account or {"cash": {"USDT": "100000"}, "positions": {}})

    # -- the account and its matching ----------------------------------------------------
    def _setup_account(self, account: dict) -> None:
        from decimal import Decimal

        from engine.book.manager import BookManager
        from engine.brokers.paper import FeeSchedule, PaperBroker
        from engine.execution.markets import load_markets_offline
        from engine.portfolio.instruments import instrument_from_symbol
        from engine.portfolio.state import STABLES, Portfolio

        self.markets = load_markets_offline()
        if any(mid.startswith(COINM) for mid in self.books):
            self.markets.update(load_markets_offline(COINM_EXCHANGE_INFO, "binancecoinm"))
        self.book_manager = BookManager()
        for mid, sync in self.books.items():
            self.book_manager.syncs[sync.book.symbol] = sync
        syms = [sync.book.symbol for sync in self.books.values()]
        if any(":" not in sym for sym in syms):
            self.markets.update(load_markets_offline(SPOT_EXCHANGE_INFO, "binance"))
        # two wallets, as on Binance: "cash" is the USD-M futures wallet, "spot" every asset
        # of the spot wallet
        spot = account.get("spot", {})
        stables = {a: q for a, q in spot.items() if a in STABLES}
        self.account = Portfolio([instrument_from_symbol(s, leverage=float(
            account.get("leverage", {}).get(s, 5))) for s in syms], cash={},
            futures_cash=account.get("cash", {}), spot_cash=stables,
            holdings={a: q for a, q in spot.items() if a not in stables},
            coinm=account.get("coinm", {}))
        for sym, (qty, entry) in account.get("positions", {}).items():
            self.account.seed_position(sym, Decimal(qty), Decimal(entry))
        self.matcher = PaperBroker(self.book_manager, self.markets, self.account, FeeSchedule(),
                                   exchange="binanceusdm")
        self.orders: dict[str, dict] = {}
        self.trades: list[dict] = []
        self._order_seq = 1000
        self.fail_next: list[tuple] = []
        self.fail_first_order: list[tuple] = []  # the same, for the first order's attempts only
        self._first_cid: str | None = None
        self.withdrawals_enabled = False
        self.spot_trading_enabled = True  # the key's permissions, as apiRestrictions says
        self.transfers_enabled = True
        # market id (BTCUSDT) -> (code, msg): every new order there is refused so
        self.reject_orders: dict[str, tuple[int, str]] = {}
        self.user_streams: set[web.WebSocketResponse] = set()
        self.order_requests = 0
        # test hook: called with the client id once an order is booked, before the reply
        self.before_reply = None
        self._setup_spot()
        self._setup_coinm()

    # -- lifecycle ------------------------------------------------------------------------
    async def start(self) -> int:
        app = web.Application(middlewares=[self._check_signature])
        app.router.add_get("/fapi/v1/exchangeInfo", self.exchange_info_handler)
        app.router.add_get("/fapi/v1/depth", self.depth)
        app.router.add_get("/fapi/v1/time", self.time)
        app.router.add_get("/fapi/v1/ping", self.ping)
        app.router.add_post("/fapi/v1/order", self.new_order)
        app.router.add_delete("/fapi/v1/order", self.cancel_order)
        app.router.add_get("/fapi/v1/order", self.get_order)
        app.router.add_get("/fapi/v1/userTrades", self.user_trades)
        app.router.add_get("/fapi/v1/income", self.income_history)
        app.router.add_get("/fapi/v2/positionRisk", self.position_risk)
        app.router.add_get("/fapi/v3/positionRisk", self.position_risk)
        app.router.add_get("/fapi/v1/leverageBracket", self.leverage_bracket)
        app.router.add_get("/fapi/v2/account", self.account_info)
        app.router.add_get("/fapi/v3/account", self.account_info)
        app.router.add_get("/sapi/v1/account/apiRestrictions", self.api_restrictions)
        app.router.add_route("*", "/fapi/v1/listenKey", self.listen_key)
        app.router.add_get("/fapi/v1/openInterest", self.open_interest_handler)
        for path in ("/api/v3/klines", "/fapi/v1/klines", "/dapi/v1/klines"):
            app.router.add_get(path, self.klines)
        app.router.add_get("/dapi/v1/exchangeInfo", self.coinm_exchange_info)
        app.router.add_get("/dapi/v1/depth", self.depth)
        app.router.add_get("/dapi/v1/time", self.time)
        app.router.add_get("/dapi/v1/ping", self.ping)
        app.router.add_get("/api/v3/exchangeInfo", self.spot_exchange_info)
        app.router.add_get("/api/v3/depth", self.depth)
        app.router.add_get("/api/v3/time", self.time)
        app.router.add_get("/api/v3/ping", self.ping)
        self.add_spot_routes(app)
        self.add_coinm_routes(app)
        app.router.add_get("/{tail:.*}", self.ws)
        self._runner, self.port = await serve(app, self.host, self.port)
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
        for ws in list(self.subs) + list(self.user_streams) + list(self.coinm_user_streams):
            if not ws.closed:
                await ws.close()
                n += 1
        return n

    def release(self) -> None:
        """Let a timeline held at `hold_at` go on."""
        self.hold_at = None
        self._released.set()

    def begin(self) -> None:
        """Start the timeline (on the first subscription, unless called earlier). A session
        that subscribes after the recording has played out gets it again from the start."""
        if self._timeline is not None and self._timeline.done() and self.error is None \
                and self.position >= len(self.frames):
            self._rewind()
        if self._timeline is None:
            self._timeline = asyncio.get_running_loop().create_task(self._play())
            self._timeline.add_done_callback(self._timeline_ended)
            self.started.set()
            if self.faults and self._faults_task is None:
                self._faults_task = asyncio.get_running_loop().create_task(self._run_faults())
                self._faults_task.add_done_callback(self._timeline_ended)

    def _rewind(self) -> None:
        """Back to the start of the recording: the books as they were there (the account,
        its orders and its positions stay what they are)."""
        self.frames, books = _playable(self.captures)
        for mid, sync in books.items():
            self.books[mid] = sync
            self.book_manager.syncs[sync.book.symbol] = sync
        self.position = 0
        self.replays += 1
        self._timeline = None

    async def _run_faults(self) -> None:
        """The faults given on the command line, at their times after the timeline starts."""
        loop = asyncio.get_running_loop()
        t0 = loop.time()
        for at, action in sorted(self.faults, key=lambda f: f[0]):
            delay = t0 + at - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)  # the fault's own time: that is the point of it
            await action(self)

    def _timeline_ended(self, task: asyncio.Task) -> None:
        # a dead timeline would look like a quiet market: say so loudly
        if not task.cancelled() and task.exception() is not None:
            self.error = task.exception()
            log.error("local exchange timeline died: %r", self.error,
                      exc_info=self.error)

    # -- REST -----------------------------------------------------------------------------
    @web.middleware
    async def _check_signature(self, request, handler):
        """Binance's rules for SIGNED and USER_STREAM endpoints: the X-MBX-APIKEY header
        names the key; SIGNED ones end their parameters (query, or the form body of a POST)
        with `signature=` the hex HMAC-SHA256 of everything before it."""
        path = request.path
        signed = path in SIGNED_PATHS or path in SPOT_SIGNED or path in COINM_SIGNED
        if path.startswith(("/fapi/v1/listenKey", "/dapi/v1/listenKey")) or signed:
            if request.headers.get("X-MBX-APIKEY") != self.api_key:
                self.bad_signatures += 1
                return web.json_response({"code": -2015, "msg": "Invalid API-key, IP, or "
                                          "permissions for action."}, status=401)
        if signed:
            raw = request.query_string
            if request.method in ("POST", "PUT") and request.can_read_body:
                raw = (await request.text()) or raw
            payload, sep, sig = raw.rpartition("&signature=")
            want = hmac.new(self.api_secret.encode(), payload.encode(),
                            hashlib.sha256).hexdigest()
            if not sep or not hmac.compare_digest(sig, want):
                self.bad_signatures += 1
                return web.json_response({"code": -1022, "msg": "Signature for this request "
                                          "is not valid."}, status=400)
        return await handler(request)

    async def exchange_info_handler(self, request):
        return web.Response(body=self.exchange_info, content_type="application/json")

    async def time(self, request):
        return web.json_response({"serverTime": int(time.time() * 1000)})

    async def ping(self, request):
        return web.json_response({})

    async def spot_exchange_info(self, request):
        return web.Response(body=SPOT_EXCHANGE_INFO.read_bytes(), content_type="application/json")

    async def open_interest_handler(self, request):
        mid = request.query.get("symbol", "").lower()
        series = self.open_interest.get(mid)
        if mid not in self.books or not series:
            return web.json_response({"code": -1121, "msg": "Invalid symbol."}, status=400)
        value = series.pop(0) if len(series) > 1 else series[0]
        self.open_interest_requests += 1
        return web.json_response({"openInterest": value, "symbol": mid.upper(),
                                  "time": self._recording_now() // 1_000_000})

    async def klines(self, request):
        """Closed bars up to the recording's current time (the bar in progress is not known
        from bar files), from `kline_files`, as Binance lays klines out."""
        from engine.feeds.bars import parse_name, read_bars, timeframe_ns

        q = request.query
        prefix = (SPOT if request.path.startswith("/api/") else
                  COINM if request.path.startswith("/dapi/") else "")
        key = prefix + q.get("symbol", "").lower()
        if key not in self.books and key not in self.kline_files:
            return web.json_response({"code": -1121, "msg": "Invalid symbol."}, status=400)
        self.kline_requests += 1
        interval = q.get("interval", "")
        now_ms = self._recording_now() // 1_000_000
        start = int(q.get("startTime", "0"))
        self.kline_starts.append(start)
        end = min(int(q.get("endTime", str(now_ms))), now_ms)
        limit = min(int(q.get("limit", "500")), 1500)
        rows = []
        for path in self.kline_files.get(key, []):
            if parse_name(str(path)).timeframe != interval:
                continue
            step = timeframe_ns(interval) // 1_000_000
            for b in read_bars(str(path)):
                t = b.ts_open // 1_000_000
                if t >= start and t + step <= end:
                    rows.append([t, fmt(b.open), fmt(b.high), fmt(b.low), fmt(b.close),
                                 fmt(b.volume), t + step - 1, "0", 0, "0", "0", "0"])
        return web.Response(body=orjson.dumps(rows[:limit]), content_type="application/json")

    def _recording_now(self) -> int:
        """The recording's time at the replay position (its receive clock)."""
        frames = self.frames
        if not frames:
            return 0
        return frames[min(self.position, len(frames) - 1)].ts

    async def coinm_exchange_info(self, request):
        return web.Response(body=COINM_EXCHANGE_INFO.read_bytes(),
                            content_type="application/json")

    async def depth(self, request):
        mid = request.query.get("symbol", "").lower()
        prefix = (SPOT if request.path.startswith("/api/") else
                  COINM if request.path.startswith("/dapi/") else "")
        sync = self.books.get(prefix + mid)
        if sync is None:
            return web.json_response({"code": -1121, "msg": "Invalid symbol."}, status=400)
        limit = int(request.query.get("limit", "1000"))
        bids, asks = sync.book.depth(limit)
        body = {"lastUpdateId": sync.book.update_id, "E": sync.book.ts_event // 1_000_000,
                "T": sync.book.ts_event // 1_000_000,
                "bids": [[fmt(p), fmt(q)] for p, q in bids],
                "asks": [[fmt(p), fmt(q)] for p, q in asks]}
        return web.Response(body=orjson.dumps(body), content_type="application/json")

    # -- order entry ----------------------------------------------------------------------
    def _now(self) -> int:
        return time.time_ns()

    def _mid(self, symbol: str) -> str:
        return self.markets[symbol].market_id

    def _symbol_of(self, market_id: str, spot: bool) -> str | None:
        """The unified symbol of a market id this exchange trades (spot and USD-M share ids)."""
        return next((s for s, m in self.markets.items() if m.market_id == market_id
                     and (m.kind == "spot") == spot and s in self.book_manager.syncs), None)

    def _order_json(self, o: dict) -> dict:
        return {k: v for k, v in o.items() if not k.startswith("_")}

    async def new_order(self, request):
        from decimal import Decimal

        from engine.model.orders import OrderRequest

        self.order_requests += 1
        q = dict(request.query)
        q.update(dict(await request.post()))
        fault = self.fail_next.pop(0) if self.fail_next else None
        if fault is None and self.fail_first_order:  # the plan for one order's attempts
            cid = q.get("newClientOrderId")
            self._first_cid = self._first_cid or cid
            if cid == self._first_cid:
                fault = self.fail_first_order.pop(0)
        if fault is not None and not (len(fault) > 2 and fault[2] == "after_booking"):
            return web.json_response(fault[1], status=fault[0])
        if q.get("symbol", "") in self.reject_orders:  # the venue refuses this market's orders
            code, msg = self.reject_orders[q["symbol"]]
            return web.json_response({"code": code, "msg": msg}, status=400)
        mid = q.get("symbol", "")
        symbol = self._symbol_of(mid, spot=False)
        coinm = request.path.startswith("/dapi/")  # COIN-M's own endpoint: its contracts only
        if symbol is None or self.is_coinm(symbol) != coinm:
            return web.json_response({"code": -1121, "msg": "Invalid symbol."}, status=400)
        cid = q.get("newClientOrderId") or f"x-{self._order_seq}"
        if cid in self.orders:
            return web.json_response({"code": -4116, "msg": "ClientOrderId is duplicated."},
                                     status=400)
        tif = q.get("timeInForce", "GTC") if q.get("type") == "LIMIT" else "IOC"
        order = OrderRequest(client_order_id=cid, parent_id="", symbol=symbol,
                             side=q.get("side", "").lower(), qty=Decimal(q.get("quantity", "0")),
                             price=Decimal(q["price"]) if q.get("price") else None, tif=tif,
                             reduce_only=q.get("reduceOnly") == "true")
        now = self._now()
        self.matcher.submit(order, now)
        events = self.matcher.on_time(now)
        reject = next((ev for ev in events if getattr(ev, "status", "") == "rejected"), None)
        if reject is not None:
            return web.json_response({"code": reject.code, "msg": reject.reason}, status=400)
        self._order_seq += 1
        self.orders[cid] = {
            "orderId": self._order_seq, "clientOrderId": cid, "symbol": mid, "status": "NEW",
            "price": q.get("price", "0"), "avgPrice": "0", "origQty": q.get("quantity"),
            "executedQty": "0", "cumQuote": "0", "timeInForce": tif,
            "type": q.get("type", "LIMIT"), "side": q.get("side"),
            "reduceOnly": order.reduce_only, "positionSide": "BOTH",
            "updateTime": now // 1_000_000}
        if coinm:  # COIN-M counts the filled value in the coin (cumBase), not in quote
            self.orders[cid].update({"cumBase": "0", "pair": mid.partition("_")[0],
                                     "_coinm": True})
        await self._apply(events, now, new=cid)
        if self.before_reply is not None:
            self.before_reply(cid)
        if fault is not None:  # booked, but the answer is an error (as a lost response)
            return web.json_response(fault[1], status=fault[0])
        return web.json_response(self._order_json(self.orders[cid]))

    async def _apply(self, events, now: int, new: str | None = None) -> None:
        """Book what the matcher reports and push it on the user-data stream, as Binance
        does: ORDER_TRADE_UPDATE per execution (NEW, TRADE, EXPIRED, CANCELED), then one
        ACCOUNT_UPDATE with the wallet and positions that changed."""
        from decimal import Decimal

        from engine.model.events import Fill

        touched: list[str] = []
        spot_assets: list[str] = []
        if new is not None and not any(isinstance(ev, Fill) for ev in events) and not any(
                ev.status in ("expired", "canceled") for ev in events):
            o = self.orders[new]
            await (self._push_execution(o, "NEW", now) if o.get("_spot")
                   else self._push_order(o, "NEW", now))
        for ev in events:
            if isinstance(ev, Fill) and self.orders[ev.order_id].get("_spot"):
                self.account.on_fill(ev)
                await self.spot_fill(self.orders[ev.order_id], ev, now)
                m = self.markets[ev.symbol]
                spot_assets += [a for a in (m.base, m.quote) if a not in spot_assets]
            elif isinstance(ev, Fill):
                o = self.orders[ev.order_id]
                self.account.on_fill(ev)
                if o.get("_coinm"):  # as Binance, the coin's wallet kept to 8 decimals
                    coin = self.markets[ev.symbol].settle
                    self.account.set_coinm(coin, self.account.wallets["coinm"][coin].quantize(
                        Decimal("1e-8")))
                cum = Decimal(o["executedQty"]) + ev.qty
                cost = Decimal(o["cumQuote"]) + ev.qty * ev.price
                o["executedQty"], o["cumQuote"] = str(cum), str(cost)
                o["avgPrice"] = str(cost / cum)
                if o.get("_coinm"):  # contracts x contract size / price, in the coin
                    cs = self.markets[ev.symbol].contract_size
                    o["cumBase"] = str(Decimal(o["cumBase"]) + ev.qty * cs / ev.price)
                o["status"] = "FILLED" if cum >= Decimal(o["origQty"]) else "PARTIALLY_FILLED"
                o["updateTime"] = now // 1_000_000
                tid = len(self.trades) + 1
                self.trades.append({
                    "symbol": o["symbol"], "id": tid, "orderId": o["orderId"],
                    "side": ev.side.upper(), "price": str(ev.price), "qty": str(ev.qty),
                    "realizedPnl": "0", "quoteQty": str(ev.qty * ev.price),
                    "commission": str(ev.fee), "commissionAsset": ev.fee_currency,
                    "time": now // 1_000_000, "positionSide": "BOTH",
                    "buyer": ev.side == "buy", "maker": ev.liquidity == "maker"})
                await self._push_order(o, "TRADE", now, fill=ev, trade_id=tid)
                if ev.symbol not in touched:
                    touched.append(ev.symbol)
            elif ev.status in ("expired", "canceled"):
                o = self.orders.get(ev.client_order_id)
                if o is None:
                    continue
                o["status"] = ev.status.upper()
                if o.get("_spot"):
                    await self._push_execution(o, ev.status.upper(), now)
                    continue
                o["updateTime"] = now // 1_000_000
                await self._push_order(o, ev.status.upper(), now)
        usdm = [sym for sym in touched if not self.is_coinm(sym)]
        coinm = [sym for sym in touched if self.is_coinm(sym)]
        if usdm:
            await self._push_account("ORDER", usdm, None)
        if coinm:
            await self._push_account("ORDER", coinm, None, coinm=True)
        if spot_assets:
            await self.push_spot_balances(spot_assets)

    async def _push_order(self, o: dict, execution: str, now: int, fill=None,
                          trade_id: int = 0) -> None:
        ms = now // 1_000_000
        await self._push_user(coinm=bool(o.get("_coinm")), payload={
            "e": "ORDER_TRADE_UPDATE", "E": ms, "T": ms,
            "o": {"s": o["symbol"], "c": o["clientOrderId"], "S": o["side"],
                  "o": o["type"], "f": o["timeInForce"], "q": o["origQty"], "p": o["price"],
                  "ap": o["avgPrice"], "sp": "0", "x": execution, "X": o["status"],
                  "i": o["orderId"], "l": str(fill.qty) if fill else "0",
                  "z": o["executedQty"], "L": str(fill.price) if fill else "0",
                  "N": fill.fee_currency if fill else "USDT",
                  "n": str(fill.fee) if fill else "0", "T": ms, "t": trade_id, "b": "0",
                  "a": "0", "m": bool(fill and fill.liquidity == "maker"),
                  "R": o["reduceOnly"], "wt": "CONTRACT_PRICE", "ot": o["type"],
                  "ps": "BOTH", "cp": False, "rp": "0"}})

    async def _push_account(self, reason: str, symbols: list[str], change,
                            coinm: bool = False) -> None:
        """ACCOUNT_UPDATE: the wallet balance and the positions of `symbols` (`coinm`: on the
        COIN-M stream, its wallets in coins)."""
        ms = self._now() // 1_000_000
        bal = self.coinm_balances() if coinm else [
            {"a": a, "wb": str(q), "cw": str(q), "bc": str(change or 0)}
            for a, q in self.account.wallets["futures"].items()]
        pos = []
        for sym in symbols:
            p = self.account.perps[sym]
            pos.append({"s": self._mid(sym), "pa": str(p.qty), "ep": str(p.entry),
                        "bep": str(p.entry), "cr": "0", "up": repr(p.upnl), "mt": "cross",
                        "iw": "0", "ps": "BOTH"})
        await self._push_user({"e": "ACCOUNT_UPDATE", "E": ms, "T": ms,
                               "a": {"m": reason, "B": bal, "P": pos}}, coinm=coinm)

    async def cancel_order(self, request, spot: bool = False, coinm: bool = False):
        """DELETE /fapi/v1/order (or, `spot`, /api/v3/order; `coinm`, /dapi/v1/order) by
        client id."""
        cid = request.query.get("origClientOrderId")
        now = self._now()
        o = self.orders.get(cid)
        if o is None or bool(o.get("_spot")) != spot or bool(o.get("_coinm")) != coinm:
            # not an order of this API: the other market's orders are not touched
            return web.json_response({"code": -2011, "msg": "Unknown order sent."}, status=400)
        self.matcher.cancel(cid, now)
        events = self.matcher.on_time(now)
        if any(getattr(ev, "status", "") == "canceled" for ev in events):
            await self._apply(events, now)
            return web.json_response(self._order_json(o))
        return web.json_response({"code": -2011, "msg": "Unknown order sent."}, status=400)

    async def get_order(self, request, spot: bool = False, coinm: bool = False):
        """GET /fapi/v1/order (or, `spot`, /api/v3/order; `coinm`, /dapi/v1/order) by
        client id."""
        o = self.orders.get(request.query.get("origClientOrderId"))
        if o is None or bool(o.get("_spot")) != spot or bool(o.get("_coinm")) != coinm:
            return web.json_response({"code": -2013, "msg": "Order does not exist."},
                                     status=400)
        return web.json_response(self._order_json(o))

    async def user_trades(self, request):
        mid = request.query.get("symbol")
        oid = request.query.get("orderId")
        rows = [t for t in self.trades if t["symbol"] == mid
                and (oid is None or str(t["orderId"]) == oid)]
        return web.json_response(rows)

    async def income_history(self, request):
        q = request.query
        start = int(q.get("startTime", "0"))
        self.kline_starts.append(start)
        coinm = request.path.startswith("/dapi/")  # each market's income on its own API
        rows = [r for r in self.income if r["time"] >= start
                and r["symbol"].endswith("_PERP") == coinm
                and q.get("symbol") in (None, r["symbol"])
                and q.get("incomeType") in (None, r["incomeType"])]
        return web.json_response(rows[: int(q.get("limit", "1000"))])

    async def position_risk(self, request, coinm: bool = False):
        """The positions of USD-M's contracts (or, `coinm`, COIN-M's), as GET positionRisk."""
        out = []
        for sym, p in self.account.perps.items():
            if p.coinm != coinm:
                continue
            mid = self._mid(sym)
            out.append({"symbol": mid, "positionAmt": str(p.qty), "entryPrice": str(p.entry),
                        "markPrice": repr(p.mark), "unRealizedProfit": repr(p.upnl),
                        "liquidationPrice": "0", "leverage": str(int(p.lev)),
                        "maxNotionalValue": "1000000", "marginType": "cross",
                        "isolatedMargin": "0", "isAutoAddMargin": "false",
                        "positionSide": "BOTH", "notional": repr(p.notional),
                        "isolatedWallet": "0", "updateTime": self._now() // 1_000_000})
        return web.json_response(out)

    async def account_info(self, request):
        """GET /fapi/v3/account: the wallet per asset and the open positions."""
        p = self.account
        assets = [{"asset": a, "walletBalance": str(q), "unrealizedProfit": repr(p.unrealized_pnl),
                   "marginBalance": repr(float(q) + p.unrealized_pnl), "maintMargin": "0",
                   "initialMargin": repr(p.initial_margin), "positionInitialMargin": "0",
                   "openOrderInitialMargin": "0", "crossWalletBalance": str(q),
                   "crossUnPnl": repr(p.unrealized_pnl), "availableBalance": str(q),
                   "maxWithdrawAmount": str(q), "updateTime": self._now() // 1_000_000}
                  for a, q in p.wallets["futures"].items()]
        positions = [{"symbol": self._mid(sym), "positionSide": "BOTH",
                      "positionAmt": str(x.qty), "unrealizedProfit": repr(x.upnl),
                      "isolatedMargin": "0", "notional": repr(x.notional), "isolatedWallet": "0",
                      "initialMargin": "0", "maintMargin": "0",
                      "updateTime": self._now() // 1_000_000}
                     for sym, x in p.perps.items() if x.qty != 0 and not x.coinm]
        return web.json_response({"totalWalletBalance": str(sum(p.wallets["futures"].values())),
                                  "assets": assets, "positions": positions})

    async def listen_key(self, request):
        return web.json_response({"listenKey": "local-listen-key"})

    async def _push_user(self, payload: dict, coinm: bool = False) -> None:
        await send_all(self.coinm_user_streams if coinm else self.user_streams,
                       orjson.dumps(payload))

    async def api_restrictions(self, request):
        return web.json_response({"ipRestrict": False, "enableReading": True,
                                  "enableFutures": True, "enableSpotAndMarginTrading":
                                  self.spot_trading_enabled,
                                  "enableWithdrawals": self.withdrawals_enabled,
                                  "enableInternalTransfer": False, "permitsUniversalTransfer":
                                  self.transfers_enabled, "createTime": 1700000000000})

    async def leverage_bracket(self, request, coinm: bool = False):
        return web.json_response([
            {"symbol": self._mid(sym), "brackets": [
                {"bracket": 1, "initialLeverage": 125, "notionalCap": 50000, "notionalFloor": 0,
                 "qtyCap": 50000, "qtyFloor": 0, "maintMarginRatio": 0.004, "cum": 0.0}]}
            for sym, p in self.account.perps.items() if p.coinm == coinm])

    # -- WebSocket ------------------------------------------------------------------------
    async def ws(self, request):
        ws = web.WebSocketResponse(heartbeat=None, autoping=True)
        await ws.prepare(request)
        if "ws-api" in request.path:  # the spot WebSocket API: the spot user-data stream
            await self.ws_api(ws)
            return ws
        coinm_user = request.path.endswith("/" + COINM_LISTEN_KEY)  # <ws_inverse>/<listenKey>
        if request.path.startswith("/private") or coinm_user:  # a user-data stream
            streams = self.coinm_user_streams if coinm_user else self.user_streams
            streams.add(ws)
            try:
                async for _ in ws:
                    pass
            finally:
                streams.discard(ws)
            return ws
        # spot streams are dialled under /spot (the [live] ws_spot URL), COIN-M's under /coinm
        # ([live] ws_inverse), USD-M's anywhere else
        prefix = (SPOT if request.path.startswith("/spot") else
                  COINM if request.path.startswith("/coinm") else "")
        self.subs[ws] = set()
        self.names[ws] = {}
        try:
            async for req in json_messages(ws):
                method = req.get("method")
                if method in ("SUBSCRIBE", "UNSUBSCRIBE"):
                    for name in req.get("params", []):
                        mid, _, rest = name.partition("@")
                        key = (prefix + mid.lower(), rest.split("@")[0])
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
            if self.hold_at is not None and i >= self.hold_at:
                self.position = i
                self.holding = True
                await self._released.wait()
                self.holding = False
                t0_rec, t0 = f.ts, loop.time()  # the recording goes on from here
            due = t0 + (f.ts - t0_rec) / 1e9 / self.speed
            delay = due - loop.time()
            if delay > 0.001:
                await asyncio.sleep(delay)
            self.position = i
            if f.kind == "depth":
                self.books[f.market_id].on_delta(f.event)
                self.matcher.on_delta(f.event)
            elif f.kind == "snapshot":
                continue
            elif f.kind == "markPrice":
                f.data = self._mark_frame(f)
                if f.data is None:
                    continue
            elif f.kind == "bookTicker":
                ev = f.event
                self.account.on_price(ev.symbol, (ev.bid_price + ev.ask_price) * 0.5)
            elif f.kind == "trade" and self.matcher.open_orders():
                now = self._now()  # resting orders the recorded trades went through
                await self._apply(self.matcher.on_trade(f.event) + self.matcher.on_time(now),
                                  now)
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
                        self.last_sent[key] = _client_id(f)
                    except ConnectionError:
                        pass
        self.position = len(frames)

    def _mark_frame(self, f: Frame) -> bytes | None:
        """The mark price frame for this second (mid of the book), settling funding first."""
        from decimal import Decimal

        from engine.model.events import FundingRate

        sync = self.books[f.market_id]
        top = sync.book.top() if sync.valid else None
        if top is None:
            return None
        mark = (top[0] + top[2]) * 0.5
        e_ms = f.ts // 1_000_000
        symbol = sync.book.symbol
        due = self._funding_due.get(f.market_id)
        if due is not None and e_ms >= due[0] and self._funding_done.get(f.market_id) != due[0]:
            self._funding_done[f.market_id] = due[0]
            self.account.on_price(symbol, mark)
            amount = self.account.on_funding(FundingRate(
                exchange="binanceusdm", symbol=symbol, ts_event=due[0] * 1_000_000,
                ts_recv=f.ts, rate=float(due[1]), mark_price=mark))
            if amount is not None:
                coinm = self.is_coinm(symbol)  # its funding is in the coin, on its own stream
                self.funding_paid.append((symbol, due[0], str(amount)))
                self.income.append({"symbol": f.market_id.removeprefix(COINM).upper(),
                                    "incomeType": "FUNDING_FEE", "income": str(amount),
                                    "asset": self.markets[symbol].settle if coinm else "USDT",
                                    "time": self._now() // 1_000_000,  # charged now, as live
                                    "info": "FUNDING_FEE", "tranId": str(len(self.income) + 1),
                                    "tradeId": ""})
                # crossed positions: Binance pushes the wallet only, no positions
                asyncio.get_running_loop().create_task(
                    self._push_account("FUNDING_FEE", [], Decimal(amount), coinm=coinm))
        nxt = (e_ms // self.funding_interval_ms + 1) * self.funding_interval_ms
        rate = self.funding_rates[f.market_id]
        self._funding_due[f.market_id] = (nxt, rate)
        body = orjson.dumps({"e": "markPriceUpdate", "E": e_ms,
                             "s": f.market_id.removeprefix(COINM).upper(),
                             "p": repr(mark), "P": repr(mark), "i": repr(mark), "r": rate,
                             "T": nxt})
        self.mark_frames.append(body)
        return body


SIGNED_PATHS = frozenset({
    "/fapi/v1/order", "/fapi/v1/userTrades", "/fapi/v1/income", "/fapi/v2/positionRisk",
    "/fapi/v3/positionRisk", "/fapi/v1/leverageBracket", "/fapi/v2/account", "/fapi/v3/account",
    "/sapi/v1/account/apiRestrictions"})


def _playable(captures: list[str]) -> tuple[list[Frame], dict[str, BookSync]]:
    """The frames to play (with the mark price frames the server makes) and the synced books
    at their start."""
    frames, books = load_frames(captures)
    # marks for the perps: USD-M's, and COIN-M's perpetuals (a quarterly's is left out here)
    perps = sorted(m for m in books if not m.startswith(SPOT)
                   and (not m.startswith(COINM) or m.endswith("_perp")))
    return _with_marks(frames, perps), books


def _client_id(f: Frame) -> int:
    """What identifies a frame once it reached the client: the update id of a depth diff or a
    bookTicker, the trade id, or a mark price's event time (ms)."""
    if f.kind == "trade":
        return f.event.trade_id
    if f.kind == "markPrice":
        return f.ts // 1_000_000
    if f.kind == "depth":
        return f.event.final_update_id
    return f.event.update_id


def _with_marks(frames: list[Frame], market_ids: list[str], every_ns: int = 1_000_000_000
                ) -> list[Frame]:
    """The recorded frames with one (yet empty) mark price frame per market per second."""
    if not frames:
        return frames
    first, last = frames[0].ts, frames[-1].ts
    marks = [Frame(t, mid, "markPrice", None, None) for t in
             range(first - first % every_ns + every_ns, last + 1, every_ns) for mid in market_ids]
    return sorted(frames + marks, key=lambda f: f.ts)


def parse_faults(args) -> list[tuple[float, object]]:
    """--cut-ws-after S, --stall MARKET@KIND:START:SECONDS; the others apply from the start."""
    out: list[tuple[float, object]] = []
    for s in args.cut_ws_after or []:
        async def cut(ex):
            n = await ex.drop_connections()
            log.warning("fault: cut %d WebSocket connections", n)
        out.append((float(s), cut))
    for spec in args.stall or []:
        try:
            stream, start, secs = spec.rsplit(":", 2)
            market, kind = stream.split("@", 1)
            start_s, secs_s = float(start), float(secs)
        except ValueError:
            raise SystemExit(f"--stall {spec!r}: expected MARKET@KIND:START:SECONDS, e.g. "
                             "ethusdt@bookTicker:10:5") from None
        key = (market.lower(), kind)

        async def stall(ex, key=key, secs=secs_s):
            ex.stalled.add(key)
            log.warning("fault: stalling %s@%s for %.1fs", *key, secs)
            await asyncio.sleep(secs)  # the stall lasts this long, by definition
            ex.stalled.discard(key)
        out.append((start_s, stall))
    return out


_FAULT_BODIES = {429: (-1003, "Too many requests; current limit is 2400 request weight per 1 "
                              "MINUTE."),
                 418: (-1003, "Way too many requests; IP banned."),
                 500: (-1001, "Internal error; unable to process your request. Please try "
                              "again."),
                 502: (-1001, "Internal error; unable to process your request. Please try "
                              "again."),
                 503: (-1001, "Service Unavailable."),
                 504: (-1007, "Timeout waiting for response from backend server.")}


_REJECT_MSGS = {-2019: "Margin is insufficient.", -2022: "ReduceOnly Order is rejected.",
                -4164: "Order's notional must be no smaller than 5 (unless you choose reduce "
                       "only).", -2010: "NEW_ORDER_REJECTED"}


def apply_order_faults(ex: LocalExchange, args) -> None:
    for spec in args.fault or []:
        parts = spec.split(":")
        try:
            status, count = int(parts[0]), int(parts[1]) if len(parts) > 1 else 1
            when = parts[2] if len(parts) > 2 else "before_booking"
            if status not in _FAULT_BODIES or count < 1 or when not in ("before_booking",
                                                                       "after_booking"):
                raise ValueError
        except ValueError:
            raise SystemExit(f"--fault {spec!r}: expected STATUS[:COUNT[:after_booking]] with "
                             f"STATUS one of {sorted(_FAULT_BODIES)}") from None
        code, msg = _FAULT_BODIES[status]
        body = {"code": code, "msg": msg}
        ex.fail_next.extend([(status, body, when) if when == "after_booking" else (status, body)]
                            * count)
    for spec in args.drop_diff or []:
        market, _, n = spec.partition(":")
        ex.skip_depth[market.lower()] = int(n or 1)
    for spec in args.reject or []:
        market, _, code = spec.partition(":")
        from engine.venues.binance.errors import CODES

        c = int(code)
        ex.reject_orders[market.upper()] = (c, _REJECT_MSGS.get(c) or CODES.get(
            c, ("", "rejected"))[1])


def account_from_config(path: str) -> dict:
    """The venue's account as a config's [account] has it (both wallets, perp positions), so
    that a live run of that config starts from what it expects."""
    from engine.node.config import load_config

    cfg = load_config(path)
    has_perps = any(":" in i.symbol for i in cfg.instruments)
    spot_cash, coins, futures = cfg.account.by_wallet(has_perps)
    return {"cash": {a: str(q) for a, q in futures.items()},
            "spot": {a: str(q) for a, q in {**spot_cash, **coins}.items()},
            "coinm": {a: str(q) for a, q in cfg.account.coinm.items()},
            "positions": {sym: (str(p.qty), str(p.entry_price))
                          for sym, p in cfg.account.positions.items()}}


async def _main(args) -> None:
    captures = args.captures or None
    if args.spot and not captures:
        captures = BUNDLED + BUNDLED_SPOT
    ex = LocalExchange(captures, args.speed, port=args.port,
                       funding_interval_ms=args.funding_interval_ms,
                       api_key=args.api_key, api_secret=args.api_secret,
                       account=account_from_config(args.account_from)
                       if args.account_from else None)
    apply_order_faults(ex, args)
    ex.faults = parse_faults(args)
    ex.record_sends = bool(args.record_sends)
    port = await ex.start()
    base = f"http://127.0.0.1:{port}"
    print(f"local exchange on {base} (WebSocket ws://127.0.0.1:{port}/ws), "
          f"{len(ex.frames):,} frames at x{args.speed}; point a config at it with\n"
          f"[live]\nws_linear = \"ws://127.0.0.1:{port}/ws\"\nrest_base = \"{base}\"\n"
          f"account_base = \"{base}\"\nws_spot = \"ws://127.0.0.1:{port}/spot/ws\"\n"
          f"ws_api_spot = \"ws://127.0.0.1:{port}/spot/ws-api/v3\"", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    if args.record_sends:
        # when each bookTicker frame left, for a latency measurement in another process
        with open(args.record_sends, "wb") as f:
            f.write(orjson.dumps([[m, k, u, ns] for (m, k, u), ns in ex.sent_at.items()]))
    await ex.stop()


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        epilog="Faults, for trying the engine's recovery by hand: --fault 429:3 (the next 3 "
               "order requests get HTTP 429 / -1003), --fault 503:1:after_booking (booked, "
               "then answered 503), --cut-ws-after 20 (every WebSocket closed 20 s in), "
               "--stall ethusdt@bookTicker:10:5 (that stream silent from 10 s for 5 s), "
               "--drop-diff btcusdt:1 (one depth diff swallowed: a sequence gap), "
               "--reject ETHUSDT:-2019 (every new ETHUSDT order refused with that code).")
    ap.add_argument("captures", nargs="*", help="hftbacktest captures, spot and USD-M "
                    "(default: the bundled BTC/ETH USD-M minutes)")
    ap.add_argument("--port", type=int, default=8765)
    ap.add_argument("--spot", action="store_true", help="without CAPTURE: the bundled spot "
                    "and USD-M BTC/ETH minutes together")
    ap.add_argument("--account-from", metavar="CONFIG", help="the venue holds what this "
                    "config's [account] says (both wallets, perp positions)")
    ap.add_argument("--speed", type=float, default=1.0, help="recorded time x SPEED")
    ap.add_argument("--funding-interval-ms", type=int, default=8 * 3600_000,
                    help="funding every this many ms of recorded time (Binance: 8 h)")
    ap.add_argument("--api-key", default="local-test-key",
                    help="the key signed requests must carry")
    ap.add_argument("--api-secret", default="local-test-secret",
                    help="the secret their HMAC-SHA256 signatures are checked with")
    ap.add_argument("--fault", action="append", metavar="STATUS[:COUNT[:after_booking]]")
    ap.add_argument("--cut-ws-after", action="append", metavar="SECONDS")
    ap.add_argument("--stall", action="append", metavar="MARKET@KIND:START:SECONDS")
    ap.add_argument("--drop-diff", action="append", metavar="MARKET[:N]")
    ap.add_argument("--reject", action="append", metavar="MARKET:CODE")
    ap.add_argument("--record-sends", metavar="FILE", help="on SIGTERM, write when each "
                    "bookTicker frame was sent (wall ns) to FILE as JSON")
    return ap


if __name__ == "__main__":
    try:
        asyncio.run(_main(build_parser().parse_args()))
    except KeyboardInterrupt:
        pass
