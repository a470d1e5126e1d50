"""The local OKX exchange's private side (a mixin of `LocalOkx`): a trading account in net
position mode, cross margin, trading OKX's contracts against the venue's own replayed books,
for the real ccxt.pro `okx` client. What ccxt uses of OKX v5, with its wire formats:

- signed REST (`OK-ACCESS-KEY`, `OK-ACCESS-PASSPHRASE`, `OK-ACCESS-TIMESTAMP` (ISO, ms),
  `OK-ACCESS-SIGN` = base64 HMAC-SHA256 of timestamp + method + path?query + body; 50111 for an
  unknown key, 50105 for a wrong passphrase, 50113 for a bad signature):
  `POST /api/v5/trade/order`, `POST /api/v5/trade/cancel-order`, `GET /api/v5/trade/order`
  (by `clOrdId` or `ordId`, any state), `GET /api/v5/trade/fills-history`,
  `GET /api/v5/account/positions`, `GET /api/v5/account/balance`, `GET /api/v5/account/config`
  (the key's permissions);
- the private stream `/ws/v5/private`: `login` (base64 HMAC of seconds + "GET/users/self/verify"),
  `subscribe` to `orders`, `positions` (each push echoes the subscription), `account` (a
  snapshot at once), text `ping` -> `pong`; an `orders` push per fill and per state change.

Answers carry OKX's envelope (`code` "0"; an order's refusal: `code` "1" with its `sCode`).
Orders fill by the engine's own paper matcher on the recorded book at the replay's furthest
position (as the local Binance and Bybit exchanges do), refusals answered with OKX's codes
(`MATCHER_CODES`); a `clOrdId` outside OKX's alphabet (letters and digits, up to 32) is refused
as OKX refuses it. Fees: OKX's base tier for contracts, 2 bps maker, 5 bps taker, in the coin.

Fault hooks: `fail_next` queues `(code, msg)` answers for the next order requests (with
`"after_booking"` third: booked, then the error answered); `before_reply(cid)` is called once an
order is booked, before its answer.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import time
import uuid
from decimal import Decimal

import orjson
from aiohttp import WSMsgType, web

from replayed_book import ReplayedBooks

MATCHER_CODES = {
    -2019: (51008, "Order failed. Insufficient margin"),
    -4164: (51000, "Parameter sz error"),
    -2022: (51000, "Parameter reduceOnly error"),
    -4003: (51000, "Parameter sz error"),
    -1111: (51000, "Parameter sz error"),
    -4116: (51016, "Duplicated clOrdId"),
    -5022: (51000, "Post only order would take liquidity"),
    -1121: (51001, "Instrument ID does not exist"),
}
_CLORDID = re.compile(r"^[A-Za-z0-9]{1,32}$")
_OPEN = ("live", "partially_filled")


async def okx_requests(ws: web.WebSocketResponse):
    """The JSON requests a client sends on `ws`, OKX's way: the text `ping` is answered `pong`
    here, anything else that is not JSON is skipped."""
    async for msg in ws:
        if msg.type != WSMsgType.TEXT:
            continue
        if msg.data == "ping":
            await ws.send_str("pong")
            continue
        try:
            yield orjson.loads(msg.data)
        except orjson.JSONDecodeError:
            continue


def _ms() -> str:
    return str(int(time.time() * 1000))


def _answer(data: list, code: str = "0", msg: str = "", status: int = 200) -> web.Response:
    return web.Response(body=orjson.dumps({"code": code, "msg": msg, "data": data}),
                        status=status, content_type="application/json")


def _refused(cid: str, s_code: int, s_msg: str) -> web.Response:
    return _answer([{"clOrdId": cid, "ordId": "", "tag": "", "ts": _ms(),
                     "sCode": str(s_code), "sMsg": s_msg}], code="1",
                   msg="All operations failed")


class OkxAccount:
    """Order entry, the account and its private stream."""

    def _setup_account(self, account: dict | None, api_key: str, api_secret: str,
                       passphrase: str) -> None:
        from engine.brokers.paper import FeeSchedule, PaperBroker
        from engine.portfolio.instruments import instrument_from_symbol
        from engine.portfolio.state import Portfolio
        from engine.venues.okx.books import BOOKS_FRAME
        from engine.venues.okx.events import OkxBookEvents
        from engine.venues.okx.markets import read_markets

        account = account or {"coinm": {}, "positions": {}}
        self.api_key, self.api_secret, self.passphrase = api_key, api_secret, passphrase
        self.bad_signatures = 0
        self.withdrawals_enabled = False
        listed = read_markets()
        self.symbol_of = {m.market_id: s for s, m in listed.items() if m.market_id in self.books}
        self.markets = {s: listed[s] for s in self.symbol_of.values() if ":" in s}
        self.account = Portfolio(
            [instrument_from_symbol(s, leverage=float(account.get("leverage", {}).get(s, 5)),
                                    contract_size=m.contract_size)
             for s, m in self.markets.items()], cash={},
            futures_cash=account.get("cash", {}), coinm=account.get("coinm", {}))
        for sym, (qty, entry) in account.get("positions", {}).items():
            self.account.seed_position(sym, Decimal(qty), Decimal(entry))
        # the venue's own books (every recorded level), moved on as frames are sent
        self.venue_books = ReplayedBooks()
        self.venue_books.account = self.account
        self.book_manager = self.venue_books.manager
        events = OkxBookEvents()
        for inst, frames in self.books.items():
            if inst in self.symbol_of:
                self.venue_books.add(inst, [
                    events.on_message(f.action, f.data[0], self.symbol_of[inst],
                                      int(f.data[0].ts) * 1_000_000)[1]
                    for f in (BOOKS_FRAME.decode(x) for x in frames)])
        self.matcher = PaperBroker(self.book_manager, self.markets, self.account,
                                   FeeSchedule(maker_bps=Decimal("2"), taker_bps=Decimal("5")),
                                   exchange="okx")
        self.orders: dict[str, dict] = {}  # clOrdId -> OKX's order record
        self.fills: list[dict] = []
        self.order_requests = 0
        self.fail_next: list[tuple] = []
        self.before_reply = None
        self.private: dict[web.WebSocketResponse, list[dict]] = {}  # logged in -> subscriptions

    def add_private_routes(self, app: web.Application) -> None:
        app.router.add_post("/api/v5/trade/order", self.create_order)
        app.router.add_get("/api/v5/trade/order", self.get_order)
        app.router.add_post("/api/v5/trade/cancel-order", self.cancel_order)
        app.router.add_get("/api/v5/trade/fills-history", self.fills_history)
        app.router.add_get("/api/v5/account/positions", self.positions)
        app.router.add_get("/api/v5/account/balance", self.balance)
        app.router.add_get("/api/v5/account/config", self.config)
        app.router.add_get("/api/v5/asset/currencies", self.currencies)
        app.router.add_get("/ws/v5/private", self.private_ws)

    # -- signatures ---------------------------------------------------------------------------
    @web.middleware
    async def check_signature(self, request: web.Request, handler):
        if request.path.startswith("/api/v5/public/") or not request.path.startswith("/api/"):
            return await handler(request)
        h = request.headers
        if h.get("OK-ACCESS-KEY") != self.api_key:
            self.bad_signatures += 1
            return _answer([], "50111", "Invalid OK-ACCESS-KEY", status=401)
        if h.get("OK-ACCESS-PASSPHRASE") != self.passphrase:
            self.bad_signatures += 1
            return _answer([], "50105", "Invalid OK-ACCESS-PASSPHRASE", status=401)
        body = await request.text() if request.method != "GET" else ""
        pre = h.get("OK-ACCESS-TIMESTAMP", "") + request.method + request.raw_path + body
        want = base64.b64encode(hmac.new(self.api_secret.encode(), pre.encode(),
                                         hashlib.sha256).digest()).decode()
        if not hmac.compare_digest(want, h.get("OK-ACCESS-SIGN", "")):
            self.bad_signatures += 1
            return _answer([], "50113", "Invalid Sign", status=401)
        return await handler(request)

    # -- order entry ------------------------------------------------------------------------
    async def create_order(self, request: web.Request) -> web.Response:
        from engine.model.orders import OrderRequest

        self.order_requests += 1
        try:
            q = orjson.loads(await request.read())
        except orjson.JSONDecodeError:
            return _answer([], "50014", "Parameter body error")
        cid = q.get("clOrdId") or f"x{uuid.uuid4().hex[:20]}"
        fault = self.fail_next.pop(0) if self.fail_next else None
        if fault is not None and not (len(fault) > 2 and fault[2] == "after_booking"):
            return _answer([], *map(str, fault[:2]))
        symbol = self.symbol_of.get(q.get("instId", ""))
        if symbol not in self.markets:
            return _refused(cid, 51001, "Instrument ID does not exist")
        if not _CLORDID.match(cid):
            return _refused(cid, 51000, "Parameter clOrdId error")
        if cid in self.orders:
            return _refused(cid, 51016, "Duplicated clOrdId")
        kind = q.get("ordType")
        tif = {"market": "IOC", "ioc": "IOC", "limit": "GTC", "post_only": "GTX",
               "fok": "FOK"}.get(kind)
        side = q.get("side")
        try:
            qty = Decimal(q.get("sz", ""))
            price = Decimal(q["px"]) if kind != "market" else None
        except (ArithmeticError, KeyError):
            return _refused(cid, 51000, "Parameter sz or px error")
        if tif is None or side not in ("buy", "sell"):
            return _refused(cid, 51000, "Parameter ordType or side error")
        order = OrderRequest(client_order_id=cid, parent_id="", symbol=symbol, side=side,
                             qty=qty, price=price, tif=tif,
                             reduce_only=bool(q.get("reduceOnly")))
        now = time.time_ns()
        self.matcher.submit(order, now)
        events = self.matcher.on_time(now)
        reject = next((ev for ev in events if getattr(ev, "status", "") == "rejected"), None)
        if reject is not None:
            return _refused(cid, *MATCHER_CODES.get(reject.code, (51000, reject.reason)))
        ms = str(now // 1_000_000)
        self.orders[cid] = {
            "instType": "SWAP" if q["instId"].endswith("-SWAP") else "FUTURES",
            "instId": q["instId"], "ordId": str(10**18 + len(self.orders) + 1),
            "clOrdId": cid, "tag": "", "px": q.get("px", ""), "sz": q["sz"], "ordType": kind,
            "side": side, "posSide": "net", "tdMode": q.get("tdMode", "cross"),
            "accFillSz": "0", "avgPx": "", "fillPx": "", "fillSz": "", "tradeId": "",
            "fillTime": "", "fillFee": "", "fillFeeCcy": "", "execType": "", "state": "live",
            "fee": "0", "feeCcy": self.markets[symbol].settle,
            "reduceOnly": "true" if order.reduce_only else "false", "cTime": ms, "uTime": ms,
            "code": "0", "msg": ""}
        await self._apply(events, now, cid)
        if self.before_reply is not None:
            self.before_reply(cid)
        if fault is not None:  # booked, but the answer is an error (a lost reply)
            return _answer([], *map(str, fault[:2]))
        o = self.orders[cid]
        return _answer([{"clOrdId": cid, "ordId": o["ordId"], "tag": "", "ts": ms,
                         "sCode": "0", "sMsg": "Order placed"}])

    async def _apply(self, events, now: int, cid: str) -> None:
        """Book what the matcher reports and push it as OKX does: an `orders` push per fill
        (with that fill's id, price, size and fee), the order's end, then the position and the
        account."""
        from engine.model.events import Fill

        o = self.orders[cid]
        ms = str(now // 1_000_000)
        fills = [ev for ev in events if isinstance(ev, Fill)]
        for f in fills:
            self.account.on_fill(f)
            before = Decimal(o["accFillSz"])
            cum = before + f.qty
            avg = f.price if not before else (
                (Decimal(o["avgPx"]) * before + f.price * f.qty) / cum)
            tid = str(len(self.fills) + 1)
            o.update(accFillSz=str(cum), avgPx=str(avg), fillPx=str(f.price), fillSz=str(f.qty),
                     tradeId=tid, fillTime=ms, fillFee=str(-f.fee), fillFeeCcy=f.fee_currency,
                     execType="T" if f.liquidity == "taker" else "M",
                     fee=str(Decimal(o["fee"]) - f.fee), state="partially_filled", uTime=ms)
            self.fills.append({"instType": o["instType"], "instId": o["instId"],
                               "tradeId": tid, "ordId": o["ordId"], "clOrdId": cid,
                               "billId": tid, "tag": "", "fillPx": str(f.price),
                               "fillSz": str(f.qty), "side": o["side"], "posSide": "net",
                               "execType": o["execType"], "fee": str(-f.fee),
                               "feeCcy": f.fee_currency, "ts": ms, "fillTime": ms})
            await self._push_orders(o)
        for ev in events:
            if isinstance(ev, Fill):
                continue
            if ev.status == "filled":
                o["state"] = "filled"
            elif ev.status in ("expired", "canceled"):
                o["state"] = "canceled"
        o.update(tradeId="", fillPx="", fillSz="", fillFee="", execType="", uTime=ms)
        await self._push_orders(o)
        if fills:
            await self._push_positions(self.symbol_of[o["instId"]])
            await self._push_account()

    async def get_order(self, request: web.Request) -> web.Response:
        o = self._find(request.query)
        if o is None:
            return _answer([], "51603", "Order does not exist")
        return _answer([dict(o)])

    def _find(self, q) -> dict | None:
        cid, oid = q.get("clOrdId"), q.get("ordId")
        if cid:
            return self.orders.get(cid)
        if oid:
            return next((o for o in self.orders.values() if o["ordId"] == oid), None)
        return None

    async def cancel_order(self, request: web.Request) -> web.Response:
        try:
            q = orjson.loads(await request.read())
        except orjson.JSONDecodeError:
            return _answer([], "50014", "Parameter body error")
        o = self._find(q)
        cid = q.get("clOrdId", "")
        if o is None or o["state"] not in _OPEN:
            return _refused(cid, 51400, "Order cancellation failed as the order has been "
                                        "filled, canceled or does not exist")
        now = time.time_ns()
        self.matcher.cancel(o["clOrdId"], now)
        await self._apply(self.matcher.on_time(now), now, o["clOrdId"])
        return _answer([{"clOrdId": o["clOrdId"], "ordId": o["ordId"], "ts": _ms(),
                         "sCode": "0", "sMsg": ""}])

    async def fills_history(self, request: web.Request) -> web.Response:
        q = request.query
        rows = [f for f in self.fills if (not q.get("instId") or f["instId"] == q["instId"])
                and (not q.get("ordId") or f["ordId"] == q["ordId"])]
        return _answer(rows)

    # -- the account ------------------------------------------------------------------------
    def _position(self, symbol: str) -> dict:
        p = self.account.perps[symbol]
        mid = self.markets[symbol].market_id
        return {"instType": "SWAP" if mid.endswith("-SWAP") else "FUTURES", "instId": mid,
                "posSide": "net",
                "pos": str(p.qty), "avgPx": str(p.entry) if p.qty else "",
                "markPx": repr(p.mark) if p.mark else "", "mgnMode": "cross",
                "ccy": self.markets[symbol].settle, "lever": str(p.inst.leverage),
                "upl": repr(p.upnl), "cTime": _ms(), "uTime": _ms()}

    def _details(self) -> list[dict]:
        out = []
        for coin, cash in self.account.wallets["coinm"].items():
            out.append({"ccy": coin, "eq": str(cash), "cashBal": str(cash), "availBal": str(cash),
                        "availEq": "", "frozenBal": "0", "upl": "0", "uTime": _ms()})
        for ccy, cash in self.account.wallets["futures"].items():
            out.append({"ccy": ccy, "eq": str(cash), "cashBal": str(cash), "availBal": str(cash),
                        "availEq": "", "frozenBal": "0", "upl": "0", "uTime": _ms()})
        return out

    async def positions(self, request: web.Request) -> web.Response:
        wanted = set((request.query.get("instId") or "").split(",")) - {""}
        return _answer([self._position(s) for s, m in self.markets.items()
                        if not wanted or m.market_id in wanted])

    async def balance(self, request: web.Request) -> web.Response:
        return _answer([{"uTime": _ms(), "totalEq": "0", "details": self._details()}])

    async def config(self, request: web.Request) -> web.Response:
        perm = "read_only,trade" + (",withdraw" if self.withdrawals_enabled else "")
        return _answer([{"uid": "77", "acctLv": "2", "posMode": "net_mode", "perm": perm}])

    async def currencies(self, request: web.Request) -> web.Response:
        return _answer([])

    # -- the private stream -----------------------------------------------------------------
    async def private_ws(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        try:
            async for req in okx_requests(ws):
                if req.get("op") == "login":
                    a = (req.get("args") or [{}])[0]
                    want = base64.b64encode(hmac.new(
                        self.api_secret.encode(), f"{a.get('timestamp')}GET/users/self/verify"
                        .encode(), hashlib.sha256).digest()).decode()
                    ok = (a.get("apiKey") == self.api_key and a.get("passphrase") ==
                          self.passphrase and hmac.compare_digest(want, a.get("sign", "")))
                    await ws.send_str(_text({"event": "login", "code": "0", "msg": "",
                                             "connId": "local"} if ok else
                                            {"event": "error", "code": "60009",
                                             "msg": "Login failed.", "connId": "local"}))
                    if ok:
                        self.private[ws] = []
                elif req.get("op") == "subscribe" and ws in self.private:
                    for arg in req.get("args") or []:
                        self.private[ws].append(arg)
                        await ws.send_str(_text({"event": "subscribe", "arg": arg,
                                                 "connId": "local"}))
                        if arg.get("channel") == "account":
                            await self._push_account(only=ws)
                        elif arg.get("channel") == "positions":
                            for s in self.markets:
                                await self._push_positions(s, only=ws)
        finally:
            self.private.pop(ws, None)
        return ws

    async def _send(self, ws, payload: dict) -> None:
        if not ws.closed:
            try:
                await ws.send_str(_text(payload))
            except ConnectionError:
                pass

    async def _push_orders(self, o: dict) -> None:
        for ws, subs in list(self.private.items()):
            if any(a.get("channel") == "orders" for a in subs):  # once per socket
                await self._send(ws, {"arg": {"channel": "orders", "instType": "SWAP",
                                              "uid": "77"}, "data": [dict(o)]})

    async def _push_positions(self, symbol: str, only=None) -> None:
        row = self._position(symbol)
        for ws, subs in list(self.private.items()):
            if only is not None and ws is not only:
                continue
            for a in subs:  # each subscription gets the push with its own arg echoed
                if a.get("channel") == "positions" and a.get("instId") in (None, row["instId"]):
                    await self._send(ws, {"arg": {**a, "uid": "77"}, "data": [row]})

    async def _push_account(self, only=None) -> None:
        msg = {"arg": {"channel": "account", "uid": "77"},
               "data": [{"uTime": _ms(), "details": self._details()}]}
        for ws, subs in list(self.private.items()):
            if (only is None or ws is only) and any(a.get("channel") == "account" for a in subs):
                await self._send(ws, msg)


def _text(obj) -> str:
    return orjson.dumps(obj).decode()

