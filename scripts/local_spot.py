"""The local exchange's spot account and the transfers between its wallets (a mixin of
`LocalExchange`, which holds the books, the matcher and the two-wallet account).

Binance spot's wire formats, as far as the real ccxt client uses them: signed
`POST/DELETE/GET /api/v3/order`, `GET /api/v3/myTrades`, `GET /api/v3/account`; the user-data
stream through the WebSocket API (`userDataStream.subscribe.signature` on the `ws_api_spot`
URL, then `{"subscriptionId": 0, "event": {...}}` frames carrying `executionReport` and
`outboundAccountPosition`); the universal transfer `POST/GET /sapi/v1/asset/transfer` between
the spot wallet (MAIN) and the USD-M futures wallet (UMFUTURE).

Spot answers with spot's own codes where they differ from the futures ones the matcher uses:
a duplicate client id, a LIMIT_MAKER that would take and an unaffordable order are all -2010
with their own messages; filter failures are -1013.
"""

from __future__ import annotations

import functools
from decimal import Decimal

import orjson
from aiohttp import web

# the matcher's (futures) code -> spot's code and message
SPOT_CODES = {
    -4116: (-2010, "Duplicate order sent."),
    -5022: (-2010, "Order would immediately match and take."),
    -2010: (-2010, "Account has insufficient balance for requested action."),
    -4164: (-1013, "Filter failure: NOTIONAL"),
    -4003: (-1013, "Filter failure: LOT_SIZE"),
    -1111: (-1111, "Parameter 'quantity' has too much precision."),
}
TRANSFER_TYPES = {"MAIN_UMFUTURE": ("spot", "futures"), "UMFUTURE_MAIN": ("futures", "spot")}
SPOT_SIGNED = frozenset({"/api/v3/order", "/api/v3/myTrades", "/api/v3/account",
                         "/sapi/v1/asset/transfer"})


async def json_messages(ws: web.WebSocketResponse):
    """The JSON requests a client sends on `ws` (anything else is skipped, as Binance does)."""
    from aiohttp import WSMsgType

    async for msg in ws:
        if msg.type != WSMsgType.TEXT:
            continue
        try:
            yield orjson.loads(msg.data)
        except orjson.JSONDecodeError:
            continue


async def send_all(streams, data: bytes) -> None:
    """`data` to every open socket of `streams`; one gone meanwhile is skipped."""
    for ws in list(streams):
        if not ws.closed:
            try:
                await ws.send_bytes(data)
            except ConnectionError:
                pass


class SpotVenue:
    """Spot order entry, the spot user-data stream and wallet transfers."""

    def _setup_spot(self) -> None:
        self.spot_trades: list[dict] = []
        self.spot_user_streams: set[web.WebSocketResponse] = set()
        self.transfers: list[dict] = []  # every transfer done, as GET /sapi/v1/asset/transfer
        self.fail_next_transfer: list[tuple] = []  # (status, body[, "after_booking"])
        self.transfer_requests = 0

    def add_spot_routes(self, app: web.Application) -> None:
        app.router.add_post("/api/v3/order", self.spot_new_order)
        app.router.add_delete("/api/v3/order", functools.partial(self.cancel_order, spot=True))
        app.router.add_get("/api/v3/order", functools.partial(self.get_order, spot=True))
        app.router.add_get("/api/v3/myTrades", self.spot_my_trades)
        app.router.add_get("/api/v3/account", self.spot_account)
        app.router.add_post("/sapi/v1/asset/transfer", self.new_transfer)
        app.router.add_get("/sapi/v1/asset/transfer", self.transfer_history)

    # -- orders ---------------------------------------------------------------------------
    async def spot_new_order(self, request):
        from engine.model.orders import OrderRequest

        self.order_requests += 1
        q = dict(request.query)
        q.update(dict(await request.post()))
        fault = self.fail_next.pop(0) if self.fail_next else None  # shared with USD-M
        if fault is not None and not (len(fault) > 2 and fault[2] == "after_booking"):
            return web.json_response(fault[1], status=fault[0])
        mid = q.get("symbol", "")
        symbol = self._symbol_of(mid, spot=True)
        if symbol is None:
            return web.json_response({"code": -1121, "msg": "Invalid symbol."}, status=400)
        cid = q.get("newClientOrderId") or f"x-{self._order_seq}"
        if cid in self.orders:
            return self._spot_error(-4116)
        kind = q.get("type", "LIMIT")
        tif = "GTX" if kind == "LIMIT_MAKER" else q.get("timeInForce", "GTC")
        if kind == "MARKET":
            tif = "IOC"
        order = OrderRequest(client_order_id=cid, parent_id="", symbol=symbol,
                             side=q.get("side", "").lower(), qty=Decimal(q.get("quantity", "0")),
                             price=Decimal(q["price"]) if q.get("price") else None, tif=tif)
        now = self._now()
        self.matcher.submit(order, now)
        events = self.matcher.on_time(now)
        reject = next((ev for ev in events if getattr(ev, "status", "") == "rejected"), None)
        if reject is not None:
            return self._spot_error(reject.code, reject.reason)
        self._order_seq += 1
        self.orders[cid] = {
            "symbol": mid, "orderId": self._order_seq, "orderListId": -1,
            "clientOrderId": cid, "transactTime": now // 1_000_000,
            "price": q.get("price", "0"), "origQty": q.get("quantity"), "executedQty": "0",
            "cummulativeQuoteQty": "0", "status": "NEW", "timeInForce": tif if tif != "GTX"
            else "GTC", "type": kind, "side": q.get("side"), "workingTime": now // 1_000_000,
            "selfTradePreventionMode": "NONE", "_spot": True, "_fills": []}
        await self._apply(events, now, new=cid)
        if self.before_reply is not None:
            self.before_reply(cid)
        if fault is not None:  # booked, but the answer is an error (as a lost response)
            return web.json_response(fault[1], status=fault[0])
        o = self._order_json(self.orders[cid])
        o["fills"] = list(self.orders[cid]["_fills"])
        return web.json_response(o)

    def _spot_error(self, code: int, msg: str = ""):
        spot_code, spot_msg = SPOT_CODES.get(code, (code, msg))
        return web.json_response({"code": spot_code, "msg": spot_msg or msg}, status=400)

    async def spot_fill(self, o: dict, ev, now: int) -> None:
        """Book one fill of a spot order and push it, as Binance spot does."""
        cum = Decimal(o["executedQty"]) + ev.qty
        quote = Decimal(o["cummulativeQuoteQty"]) + ev.qty * ev.price
        o["executedQty"], o["cummulativeQuoteQty"] = str(cum), str(quote)
        o["status"] = "FILLED" if cum >= Decimal(o["origQty"]) else "PARTIALLY_FILLED"
        tid = len(self.spot_trades) + 1
        o["_fills"].append({"price": str(ev.price), "qty": str(ev.qty),
                            "commission": str(ev.fee), "commissionAsset": ev.fee_currency,
                            "tradeId": tid})
        self.spot_trades.append({
            "symbol": o["symbol"], "id": tid, "orderId": o["orderId"], "orderListId": -1,
            "price": str(ev.price), "qty": str(ev.qty), "quoteQty": str(ev.qty * ev.price),
            "commission": str(ev.fee), "commissionAsset": ev.fee_currency,
            "time": now // 1_000_000, "isBuyer": ev.side == "buy",
            "isMaker": ev.liquidity == "maker", "isBestMatch": True})
        await self._push_execution(o, "TRADE", now, fill=ev, trade_id=tid)

    async def _push_execution(self, o: dict, execution: str, now: int, fill=None,
                              trade_id: int = -1) -> None:
        ms = now // 1_000_000
        await self._push_spot_user({
            "e": "executionReport", "E": ms, "s": o["symbol"], "c": o["clientOrderId"],
            "S": o["side"], "o": o["type"], "f": o["timeInForce"], "q": o["origQty"],
            "p": o["price"], "P": "0.00000000", "F": "0.00000000", "g": -1, "C": "",
            "x": execution, "X": o["status"], "r": "NONE", "i": o["orderId"],
            "l": str(fill.qty) if fill else "0", "z": o["executedQty"],
            "L": str(fill.price) if fill else "0", "n": str(fill.fee) if fill else "0",
            "N": fill.fee_currency if fill else None, "T": ms, "t": trade_id, "I": 0,
            "w": o["status"] in ("NEW", "PARTIALLY_FILLED"), "m": bool(
                fill and fill.liquidity == "maker"), "M": False, "O": o["transactTime"],
            "Z": o["cummulativeQuoteQty"], "Y": str(fill.qty * fill.price) if fill else "0",
            "Q": "0", "W": o["workingTime"], "V": "NONE"})

    async def push_spot_balances(self, assets: list[str]) -> None:
        """outboundAccountPosition: the spot wallet's balances of `assets` that changed."""
        ms = self._now() // 1_000_000
        await self._push_spot_user({
            "e": "outboundAccountPosition", "E": ms, "u": ms,
            "B": [{"a": a, "f": str(self._spot_balance(a)), "l": "0"} for a in assets]})

    def _spot_balance(self, asset: str) -> Decimal:
        acct = self.account
        if asset in acct.stables:
            return acct.wallets["spot"].get(asset, Decimal(0))
        return acct.holdings.get(asset, Decimal(0))

    async def _push_spot_user(self, event: dict) -> None:
        await send_all(self.spot_user_streams, orjson.dumps({"subscriptionId": 0,
                                                              "event": event}))

    async def spot_my_trades(self, request):
        mid = request.query.get("symbol")
        oid = request.query.get("orderId")
        return web.json_response([t for t in self.spot_trades if t["symbol"] == mid and (
            oid is None or str(t["orderId"]) == oid)])

    async def spot_account(self, request):
        acct = self.account
        assets = sorted(set(acct.wallets["spot"]) | set(acct.holdings))
        return web.json_response({
            "makerCommission": 10, "takerCommission": 10, "canTrade": True,
            "canWithdraw": False, "canDeposit": True, "accountType": "SPOT",
            "updateTime": self._now() // 1_000_000, "permissions": ["SPOT"],
            "balances": [{"asset": a, "free": str(self._spot_balance(a)), "locked": "0"}
                         for a in assets]})

    # -- the user-data stream (WebSocket API) -----------------------------------------------
    async def ws_api(self, ws: web.WebSocketResponse) -> None:
        """Requests on the spot WebSocket API; `userDataStream.subscribe.signature` with our
        key subscribes this connection to the spot user data."""
        try:
            async for req in json_messages(ws):
                rid = req.get("id")
                if req.get("method") != "userDataStream.subscribe.signature":
                    await ws.send_bytes(orjson.dumps({"id": rid, "status": 400, "error": {
                        "code": -1100, "msg": "unsupported method"}}))
                    continue
                if (req.get("params") or {}).get("apiKey") != self.api_key:
                    self.bad_signatures += 1
                    await ws.send_bytes(orjson.dumps({"id": rid, "status": 401, "error": {
                        "code": -2015, "msg": "Invalid API-key, IP, or permissions for "
                                              "action."}}))
                    continue
                self.spot_user_streams.add(ws)
                await ws.send_bytes(orjson.dumps({"id": rid, "status": 200,
                                                  "result": {"subscriptionId": 0}}))
        finally:
            self.spot_user_streams.discard(ws)

    # -- transfers between the wallets ----------------------------------------------------
    async def new_transfer(self, request):
        from engine.model.orders import TransferRequest

        self.transfer_requests += 1
        q = dict(request.query)
        q.update(dict(await request.post()))
        fault = self.fail_next_transfer.pop(0) if self.fail_next_transfer else None
        if fault is not None and not (len(fault) > 2 and fault[2] == "after_booking"):
            return web.json_response(fault[1], status=fault[0])
        wallets = TRANSFER_TYPES.get(q.get("type", ""))
        if wallets is None:
            return web.json_response({"code": -1102, "msg": "Mandatory parameter 'type' was "
                                      "not sent, was empty/null, or malformed."}, status=400)
        now = self._now()
        tid = 100_000 + len(self.transfers) + 1
        req = TransferRequest(transfer_id=str(tid), asset=q.get("asset", ""),
                              amount=Decimal(q.get("amount", "0")), from_wallet=wallets[0],
                              to_wallet=wallets[1])
        settled = self.matcher._settle_transfer(req, now)
        if settled.status != "done":
            return web.json_response({"code": -5013, "msg": "Asset transfer failed: "
                                      "insufficient balance"}, status=400)
        self.account.apply(settled)
        self.transfers.append({"asset": req.asset, "amount": str(req.amount),
                               "type": q["type"], "status": "CONFIRMED", "tranId": tid,
                               "timestamp": now // 1_000_000})
        await self.push_spot_balances([req.asset])
        await self._push_account("DEPOSIT" if wallets[1] == "futures" else "WITHDRAW", [],
                                 req.amount if wallets[1] == "futures" else -req.amount)
        if self.before_reply is not None:
            self.before_reply(str(tid))
        if fault is not None:  # done, but the answer is an error (as a lost response)
            return web.json_response(fault[1], status=fault[0])
        return web.json_response({"tranId": tid})

    async def transfer_history(self, request):
        q = request.query
        start = int(q.get("startTime", "0"))
        rows = [t for t in self.transfers if t["type"] == q.get("type")
                and t["timestamp"] >= start]
        return web.json_response({"total": len(rows), "rows": rows})
