"""The local Bybit exchange's private side (a mixin of `LocalBybit`): a unified trading
account trading linear perpetuals against the venue's own replayed book, for the real ccxt.pro
`bybit` client. What ccxt uses of Bybit v5, with its wire formats:

- signed REST (`X-BAPI-API-KEY`, `X-BAPI-TIMESTAMP`, `X-BAPI-RECV-WINDOW`, `X-BAPI-SIGN` =
  HMAC-SHA256 of timestamp + key + recv window + the raw query string or body; 10003 for an
  unknown key, 10004 for a bad signature): `POST /v5/order/create`, `POST /v5/order/cancel`,
  `GET /v5/order/realtime` and `/v5/order/history` (by `orderLinkId` or `orderId`),
  `GET /v5/execution/list`, `GET /v5/position/list`, `GET /v5/account/wallet-balance`,
  `GET /v5/user/query-api` (the key's permissions);
- the private stream `/v5/private`: `auth` (HMAC of "GET/realtime" + expires), `subscribe`
  to `execution`, `order`, `position`, `wallet`, `ping`; a push per change, as Bybit sends.

Every answer carries `retCode` (0, or the error's code with HTTP 200, as Bybit answers).
Orders fill against the recorded book at the replay's furthest position, by the engine's own
paper matcher (as the local Binance exchange does); its refusals are answered with Bybit's
codes (`MATCHER_CODES`). Fees: Bybit's base tier for contracts, 2 bps maker, 5.5 bps taker.

Fault hooks: `fail_next` queues `(retCode, retMsg)` answers for the next order requests (with
`"after_booking"` third: the order is booked, then the error answered, as a lost reply);
`before_reply(cid)` is called once an order is booked, before its answer.
"""

from __future__ import annotations

import hashlib
import hmac
import time
import uuid
from decimal import Decimal

import orjson
from aiohttp import web

from local_spot import json_messages

# the paper matcher's (Binance) refusal code -> Bybit's code and message
MATCHER_CODES = {
    -2019: (110007, "ab not enough for new order"),
    -4164: (110094, "Order does not meet minimum order value"),
    -2022: (110017, "Reduce-only rule not satisfied"),
    -4003: (10001, "Qty invalid"),
    -1111: (10001, "Qty invalid: not a multiple of the qty step"),
    -4116: (110072, "OrderLinkedID is duplicate"),
    -5022: (10001, "PostOnly order would take liquidity"),
    -1121: (10001, "params error: symbol invalid"),
}
SIGNED_PREFIXES = ("/v5/order/", "/v5/execution/", "/v5/position/", "/v5/account/",
                   "/v5/user/", "/v5/asset/")
_OPEN = ("New", "PartiallyFilled")


def _text(obj) -> str:
    return orjson.dumps(obj).decode()


def _ok(result: dict) -> web.Response:
    return web.Response(body=orjson.dumps({"retCode": 0, "retMsg": "OK", "result": result,
                                           "retExtInfo": {}, "time": int(time.time() * 1000)}),
                        content_type="application/json")


def _err(code: int, msg: str) -> web.Response:
    return web.Response(body=orjson.dumps({"retCode": code, "retMsg": msg, "result": {},
                                           "retExtInfo": {}, "time": int(time.time() * 1000)}),
                        content_type="application/json")


class BybitAccount:
    """Order entry, the account and its private stream."""

    def _setup_account(self, account: dict | None, api_key: str, api_secret: str) -> None:
        from engine.brokers.paper import FeeSchedule, PaperBroker
        from engine.portfolio.instruments import instrument_from_symbol
        from engine.portfolio.state import Portfolio
        from engine.venues.bybit.markets import read_markets
        from engine.venues.bybit.recording import unified_symbol

        account = account or {"cash": {"USDT": "100000"}, "positions": {}}
        self.api_key, self.api_secret = api_key, api_secret
        self.bad_signatures = 0
        self.withdrawals_enabled = False
        self.markets = read_markets()
        syms = [unified_symbol(m) for m in self.market_ids]
        self.account = Portfolio([instrument_from_symbol(s, leverage=float(
            account.get("leverage", {}).get(s, 5))) for s in syms], cash={},
            futures_cash=account.get("cash", {}))
        for sym, (qty, entry) in account.get("positions", {}).items():
            self.account.seed_position(sym, Decimal(qty), Decimal(entry))
        self.venue_books.account = self.account  # marked at the book's mid
        self.matcher = PaperBroker(self.book_manager, self.markets, self.account,
                                   FeeSchedule(maker_bps=Decimal("2"), taker_bps=Decimal("5.5")),
                                   exchange="bybit")
        self.orders: dict[str, dict] = {}  # orderLinkId -> Bybit's order object
        self.executions: list[dict] = []
        self.order_requests = 0
        self.fail_next: list[tuple] = []
        self.before_reply = None
        self.private: dict[web.WebSocketResponse, set[str]] = {}  # authenticated -> topics

    def add_private_routes(self, app: web.Application) -> None:
        app.router.add_post("/v5/order/create", self.create_order)
        app.router.add_post("/v5/order/cancel", self.cancel_order)
        app.router.add_get("/v5/order/realtime", self.open_orders)
        app.router.add_get("/v5/order/history", self.order_history)
        app.router.add_get("/v5/execution/list", self.execution_list)
        app.router.add_get("/v5/position/list", self.position_list)
        app.router.add_get("/v5/account/wallet-balance", self.wallet_balance)
        app.router.add_get("/v5/user/query-api", self.query_api)
        app.router.add_get("/v5/asset/coin/query-info", self.coin_info)
        app.router.add_get("/v5/private", self.private_ws)

    # -- signatures ---------------------------------------------------------------------------
    @web.middleware
    async def check_signature(self, request: web.Request, handler):
        if not request.path.startswith(SIGNED_PREFIXES):
            return await handler(request)
        h = request.headers
        if h.get("X-BAPI-API-KEY") != self.api_key:
            self.bad_signatures += 1
            return _err(10003, "API key is invalid.")
        payload = (await request.text()) if request.method == "POST" else \
            request.raw_path.partition("?")[2]
        want = hmac.new(self.api_secret.encode(), (h.get("X-BAPI-TIMESTAMP", "") + self.api_key
                        + h.get("X-BAPI-RECV-WINDOW", "") + payload).encode(),
                        hashlib.sha256).hexdigest()
        if not hmac.compare_digest(want, h.get("X-BAPI-SIGN", "")):
            self.bad_signatures += 1
            return _err(10004, "error sign! origin_string[...]")
        return await handler(request)

    # -- order entry ------------------------------------------------------------------------
    def _symbol(self, market_id: str) -> str | None:
        return next((s for s, m in self.markets.items() if m.market_id == market_id), None)

    async def create_order(self, request: web.Request) -> web.Response:
        from engine.model.orders import OrderRequest

        self.order_requests += 1
        try:
            q = orjson.loads(await request.read())
        except orjson.JSONDecodeError:
            return _err(10001, "params error: body is not JSON")
        fault = self.fail_next.pop(0) if self.fail_next else None
        if fault is not None and not (len(fault) > 2 and fault[2] == "after_booking"):
            return _err(*fault[:2])
        symbol = self._symbol(q.get("symbol", ""))
        if q.get("category") != "linear" or symbol is None:
            return _err(10001, "params error: symbol invalid")
        cid = q.get("orderLinkId") or f"x-{uuid.uuid4().hex[:12]}"
        if cid in self.orders:
            return _err(110072, "OrderLinkedID is duplicate")
        side = {"Buy": "buy", "Sell": "sell"}.get(q.get("side"))
        kind = q.get("orderType")
        try:
            qty = Decimal(q.get("qty", ""))
            price = Decimal(q["price"]) if kind == "Limit" else None
        except (ArithmeticError, KeyError):
            return _err(10001, "params error: qty or price")
        if side is None or kind not in ("Market", "Limit"):
            return _err(10001, "params error: side or orderType")
        tif = "IOC" if kind == "Market" else {"PostOnly": "GTX"}.get(
            q.get("timeInForce", "GTC"), q.get("timeInForce", "GTC"))
        order = OrderRequest(client_order_id=cid, parent_id="", symbol=symbol, side=side, qty=qty,
                             price=price, tif=tif, reduce_only=bool(q.get("reduceOnly")))
        now = time.time_ns()
        self.matcher.submit(order, now)
        events = self.matcher.on_time(now)
        reject = next((ev for ev in events if getattr(ev, "status", "") == "rejected"), None)
        if reject is not None:
            return _err(*MATCHER_CODES.get(reject.code, (10001, reject.reason)))
        ms = str(now // 1_000_000)
        self.orders[cid] = {
            "symbol": q["symbol"], "orderId": uuid.uuid4().hex, "orderLinkId": cid,
            "side": q["side"], "orderType": kind, "price": q.get("price", "0"),
            "qty": q["qty"], "timeInForce": "IOC" if kind == "Market" else q.get(
                "timeInForce", "GTC"), "orderStatus": "New", "cumExecQty": "0",
            "cumExecValue": "0", "cumExecFee": "0", "leavesQty": q["qty"], "avgPrice": "",
            "cumFeeDetail": {}, "reduceOnly": order.reduce_only, "positionIdx": 0,
            "category": "linear", "tpslMode": "", "triggerPrice": "", "takeProfit": "",
            "stopLoss": "", "triggerDirection": 0, "createdTime": ms, "updatedTime": ms}
        await self._apply(events, now, cid)
        if self.before_reply is not None:
            self.before_reply(cid)
        if fault is not None:  # booked, but the answer is an error (a lost reply)
            return _err(*fault[:2])
        o = self.orders[cid]
        return _ok({"orderId": o["orderId"], "orderLinkId": cid})

    async def _apply(self, events, now: int, cid: str) -> None:
        """Book what the matcher reports and push it on the private stream, as Bybit does: an
        `execution` per fill, the order's new state, then the position and the wallet."""
        from engine.model.events import Fill

        o = self.orders[cid]
        fills = [ev for ev in events if isinstance(ev, Fill)]
        ends = [ev for ev in events if not isinstance(ev, Fill)]
        rows = []
        for f in fills:
            self.account.on_fill(f)
            cum = Decimal(o["cumExecQty"]) + f.qty
            value = Decimal(o["cumExecValue"]) + f.qty * f.price
            fee = Decimal(o["cumExecFee"]) + f.fee
            o.update(cumExecQty=str(cum), cumExecValue=str(value), cumExecFee=str(fee),
                     cumFeeDetail={f.fee_currency: str(fee)}, avgPrice=str(value / cum),
                     leavesQty=str(Decimal(o["qty"]) - cum), orderStatus="PartiallyFilled")
            row = {"category": "linear", "symbol": o["symbol"], "execId": uuid.uuid4().hex,
                   "orderId": o["orderId"], "orderLinkId": cid, "side": o["side"],
                   "orderPrice": o["price"], "orderQty": o["qty"], "leavesQty": o["leavesQty"],
                   "orderType": o["orderType"], "execPrice": str(f.price),
                   "execQty": str(f.qty), "execValue": str(f.qty * f.price),
                   "execFee": str(f.fee), "feeCurrency": f.fee_currency,
                   "feeRate": "0.00055" if f.liquidity == "taker" else "0.0002",
                   "isMaker": f.liquidity == "maker", "execType": "Trade",
                   "execTime": str(now // 1_000_000)}
            self.executions.append(row)
            rows.append(row)
        for ev in ends:
            if ev.status == "filled":
                o["orderStatus"] = "Filled"
            elif ev.status in ("expired", "canceled"):
                o["orderStatus"] = "PartiallyFilledCanceled" if Decimal(o["cumExecQty"]) \
                    else "Cancelled"
                o["leavesQty"] = "0"
        o["updatedTime"] = str(now // 1_000_000)
        if rows:
            await self._push("execution", rows)
        await self._push("order", [dict(o)])
        if fills:
            await self._push("position", [self._position(self._symbol(o["symbol"]))])
            await self._push("wallet", [self._wallet()])

    async def cancel_order(self, request: web.Request) -> web.Response:
        try:
            q = orjson.loads(await request.read())
        except orjson.JSONDecodeError:
            return _err(10001, "params error: body is not JSON")
        o = self._find(q.get("orderLinkId"), q.get("orderId"))
        if o is None or o["orderStatus"] not in _OPEN:
            return _err(110001, "order not exists or too late to cancel")
        now = time.time_ns()
        self.matcher.cancel(o["orderLinkId"], now)
        await self._apply(self.matcher.on_time(now), now, o["orderLinkId"])
        return _ok({"orderId": o["orderId"], "orderLinkId": o["orderLinkId"]})

    def _find(self, link_id, order_id) -> dict | None:
        if link_id not in (None, "", "None"):
            return self.orders.get(link_id)
        if order_id not in (None, "", "None"):
            return next((o for o in self.orders.values() if o["orderId"] == order_id), None)
        return None

    def _orders(self, request: web.Request, open_only: bool) -> list[dict]:
        q = request.query
        one = self._find(q.get("orderLinkId"), q.get("orderId"))
        if one is not None or q.get("orderLinkId") not in (None, "", "None") or \
                q.get("orderId") not in (None, "", "None"):
            rows = [one] if one is not None else []
        else:
            rows = list(self.orders.values())
        if q.get("symbol"):
            rows = [o for o in rows if o["symbol"] == q["symbol"]]
        if q.get("orderStatus"):
            rows = [o for o in rows if o["orderStatus"] == q["orderStatus"]]
        return [o for o in rows if (o["orderStatus"] in _OPEN) == open_only]

    async def open_orders(self, request: web.Request) -> web.Response:
        return _ok({"category": "linear", "nextPageCursor": "",
                    "list": self._orders(request, open_only=True)})

    async def order_history(self, request: web.Request) -> web.Response:
        return _ok({"category": "linear", "nextPageCursor": "",
                    "list": self._orders(request, open_only=False)})

    async def execution_list(self, request: web.Request) -> web.Response:
        q = request.query
        rows = [e for e in self.executions
                if (not q.get("symbol") or e["symbol"] == q["symbol"])
                and (not q.get("orderId") or e["orderId"] == q["orderId"])]
        return _ok({"category": "linear", "nextPageCursor": "", "list": rows})

    # -- the account ------------------------------------------------------------------------
    def _position(self, symbol: str) -> dict:
        p = self.account.perps[symbol]
        mid = self.markets[symbol].market_id
        side = "Buy" if p.qty > 0 else ("Sell" if p.qty < 0 else "")
        return {"positionIdx": 0, "symbol": mid, "side": side, "size": str(abs(p.qty)),
                "avgPrice": str(p.entry), "positionValue": str(abs(p.qty) * p.entry),
                "leverage": str(p.inst.leverage), "markPrice": repr(p.mark),
                "unrealisedPnl": repr(p.upnl), "positionStatus": "Normal",
                "tpslMode": "Full", "category": "linear",
                "updatedTime": str(time.time_ns() // 1_000_000)}

    def _wallet(self) -> dict:
        wb = self.account.wallets["futures"].get("USDT", Decimal(0))
        im = sum((abs(p.qty) * p.entry / Decimal(str(p.inst.leverage))
                  for p in self.account.perps.values()), Decimal(0))
        coin = {"coin": "USDT", "equity": str(wb), "walletBalance": str(wb),
                "availableToWithdraw": str(wb - im), "totalPositionIM": str(im),
                "totalOrderIM": "0", "unrealisedPnl": "0"}
        return {"accountType": "UNIFIED", "totalEquity": str(wb), "totalWalletBalance": str(wb),
                "coin": [coin]}

    async def position_list(self, request: web.Request) -> web.Response:
        q = request.query
        rows = [self._position(s) for s in self.account.perps
                if not q.get("symbol") or self.markets[s].market_id == q["symbol"]]
        if q.get("category") != "linear":
            rows = []
        return _ok({"category": q.get("category", ""), "nextPageCursor": "", "list": rows})

    async def wallet_balance(self, request: web.Request) -> web.Response:
        return _ok({"list": [self._wallet()]})

    async def query_api(self, request: web.Request) -> web.Response:
        wallet = ["AccountTransfer"] + (["Withdraw"] if self.withdrawals_enabled else [])
        return _ok({"id": "1", "apiKey": self.api_key, "readOnly": 0, "uta": 1, "unified": 0,
                    "permissions": {"ContractTrade": ["Order", "Position"], "Wallet": wallet,
                                    "Spot": [], "Options": [], "Derivatives": []}})

    async def coin_info(self, request: web.Request) -> web.Response:
        return _ok({"rows": []})

    # -- the private stream -----------------------------------------------------------------
    async def private_ws(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        authed = False
        try:
            async for req in json_messages(ws):
                op, req_id = req.get("op"), req.get("req_id")
                if op == "ping":
                    await ws.send_str(_text({"success": True, "ret_msg": "pong",
                                                      "conn_id": "local", "req_id": req_id,
                                                      "op": "ping"}))
                elif op == "auth":
                    args = req.get("args") or ["", "", ""]
                    want = hmac.new(self.api_secret.encode(), f"GET/realtime{args[1]}".encode(),
                                    hashlib.sha256).hexdigest()
                    authed = args[0] == self.api_key and hmac.compare_digest(want, args[2])
                    await ws.send_str(_text(
                        {"success": authed, "ret_msg": "" if authed else "Invalid sign",
                         "op": "auth", "conn_id": "local", "request": req}))
                    if authed:
                        self.private[ws] = set()
                elif op == "subscribe":
                    ok = authed
                    if ok:
                        self.private[ws].update(t for t in req.get("args") or []
                                                if isinstance(t, str))
                    await ws.send_str(_text(
                        {"success": ok, "ret_msg": "" if ok else "error: not authenticated",
                         "conn_id": "local", "req_id": req_id, "op": "subscribe"}))
        finally:
            self.private.pop(ws, None)
        return ws

    async def _push(self, topic: str, data: list[dict]) -> None:
        msg = _text({"id": uuid.uuid4().hex, "topic": topic,
                     "creationTime": int(time.time() * 1000), "data": data})
        for ws, topics in list(self.private.items()):
            if topic in topics and not ws.closed:
                try:
                    await ws.send_str(msg)
                except ConnectionError:
                    pass
