"""The local exchange's COIN-M account (a mixin of `LocalExchange`, which holds the books, the
matcher and the account with its COIN-M wallet).

Binance COIN-M's wire formats, as far as the real ccxt `binancecoinm` client uses them: signed
`POST/DELETE/GET /dapi/v1/order` (the USD-M handlers, answering with COIN-M's `cumBase`),
`GET /dapi/v1/userTrades`, `GET /dapi/v1/positionRisk`, `GET /dapi/v1/account` (one wallet per
coin), `GET /dapi/v1/income`; the user-data stream on its own listenKey
(`POST /dapi/v1/listenKey`, dialled as `<ws_inverse>/<listenKey>`) carrying ORDER_TRADE_UPDATE
and ACCOUNT_UPDATE for COIN-M orders only, its balances in coins. Quantities are contracts;
an inverse contract's PnL, fees and funding are in its coin.
"""

from __future__ import annotations

import functools
from decimal import Decimal

from aiohttp import web

COINM_LISTEN_KEY = "local-coinm-listen-key"
COINM_SIGNED = frozenset({"/dapi/v1/order", "/dapi/v1/userTrades", "/dapi/v1/positionRisk",
                          "/dapi/v1/account", "/dapi/v1/income", "/dapi/v1/leverageBracket",
                          "/dapi/v2/leverageBracket"})


class CoinmVenue:
    """COIN-M order entry, positions, wallets and its user-data stream."""

    def _setup_coinm(self) -> None:
        self.coinm_user_streams: set[web.WebSocketResponse] = set()

    def add_coinm_routes(self, app: web.Application) -> None:
        app.router.add_post("/dapi/v1/order", self.new_order)
        app.router.add_delete("/dapi/v1/order", functools.partial(self.cancel_order,
                                                                  coinm=True))
        app.router.add_get("/dapi/v1/order", functools.partial(self.get_order, coinm=True))
        app.router.add_get("/dapi/v1/userTrades", self.user_trades)
        app.router.add_get("/dapi/v1/positionRisk", functools.partial(self.position_risk,
                                                                      coinm=True))
        app.router.add_get("/dapi/v1/account", self.coinm_account)
        app.router.add_get("/dapi/v1/income", self.income_history)
        for path in ("/dapi/v1/leverageBracket", "/dapi/v2/leverageBracket"):
            app.router.add_get(path, functools.partial(self.leverage_bracket, coinm=True))
        app.router.add_route("*", "/dapi/v1/listenKey", self.coinm_listen_key)

    def is_coinm(self, symbol: str) -> bool:
        return self.markets[symbol].kind == "inverse"

    async def coinm_listen_key(self, request):
        return web.json_response({"listenKey": COINM_LISTEN_KEY})

    async def coinm_account(self, request):
        """GET /dapi/v1/account: each coin's wallet, and the COIN-M positions."""
        acct = self.account
        ms = self._now() // 1_000_000
        upnl: dict[str, float] = {}
        for sym, p in acct.perps.items():
            if p.coinm and p.mark:  # the coin's PnL: the account's upnl is in quote
                px = acct.px.get(p.asset) or p.mark
                upnl[p.asset] = upnl.get(p.asset, 0.0) + p.upnl / px
        assets = [{"asset": a, "walletBalance": str(q), "unrealizedProfit": repr(upnl.get(a, 0.0)),
                   "marginBalance": repr(float(q) + upnl.get(a, 0.0)), "maintMargin": "0",
                   "initialMargin": "0", "positionInitialMargin": "0",
                   "openOrderInitialMargin": "0", "maxWithdrawAmount": str(q),
                   "crossWalletBalance": str(q), "crossUnPnl": repr(upnl.get(a, 0.0)),
                   "availableBalance": str(q), "updateTime": ms}
                  for a, q in acct.wallets["coinm"].items()]
        positions = [{"symbol": self._mid(sym), "positionAmt": str(p.qty),
                      "initialMargin": "0", "maintMargin": "0",
                      "unrealizedProfit": repr(p.upnl), "positionInitialMargin": "0",
                      "openOrderInitialMargin": "0", "leverage": str(int(p.lev)),
                      "isolated": False, "positionSide": "BOTH", "entryPrice": str(p.entry),
                      "maxQty": "1000000", "notionalValue": repr(p.notional), "updateTime": ms}
                     for sym, p in acct.perps.items() if p.coinm and p.qty != 0]
        return web.json_response({"assets": assets, "positions": positions,
                                  "canDeposit": True, "canTrade": True,
                                  "canWithdraw": True, "feeTier": 0, "updateTime": ms})

    def coinm_balances(self) -> list[dict]:
        """ACCOUNT_UPDATE's balances of the COIN-M wallets (one per coin)."""
        return [{"a": a, "wb": str(q), "cw": str(q), "bc": "0"}
                for a, q in self.account.wallets["coinm"].items()]
