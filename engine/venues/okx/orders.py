"""How OKX v5 takes orders through ccxt, for the live broker (a trading account in net position
mode, cross margin): our client id travels as `clOrdId` in OKX's alphabet (letters and digits:
the engine's `-` becomes `x`, `user_data.engine_id` turns it back), an order is found by it
(`GET /api/v5/trade/order?clOrdId=`, any state), and the create and cancel answers carry ids
only, so the broker asks for the order's state after them. One client serves every market
kind. Request costs: OKX's documented per-endpoint limits (60 orders per 2 s per instrument,
20 requests per 2 s on the account and position endpoints), taken as one budget here.
"""

from __future__ import annotations

from engine.core.ratelimit import INFO_LANE, ORDER_LANE, RateWindow, RequestCost
from engine.model.orders import OrderRequest
from engine.venues.okx import user_data as ud  # noqa: F401  (the venue's reader)
from engine.venues.okx.errors import (DUPLICATE_CLIENT_ID,  # noqa: F401
                                      UNKNOWN_ORDER, classify)
from engine.venues.okx.user_data import wire_id

NAME = "okx"
ANSWERS_WITH_STATE = False
POSITIONS_BY_SYMBOLS = True
FUNDING_HISTORY = False
POST_ONLY_WOULD_TAKE = ()  # OKX cancels such an order instead (a canceled child)
ONE_CLIENT = True  # spot, swaps and futures through the same client

COSTS: dict[str, RequestCost] = {
    "create_order": RequestCost(weight=1, orders=1, lane=ORDER_LANE),
    "cancel_order": RequestCost(weight=1, lane=ORDER_LANE),
    "fetch_order": RequestCost(weight=1, lane=INFO_LANE),
    "fetch_my_trades": RequestCost(weight=1, lane=INFO_LANE),
    "fetch_positions": RequestCost(weight=1, lane=INFO_LANE),
    "fetch_balance": RequestCost(weight=1, lane=INFO_LANE),
}
WINDOWS = [RateWindow(counts="weight", limit=20, window_ns=2_000_000_000),
           RateWindow(counts="orders", limit=60, window_ns=2_000_000_000)]

# one order per request (not the batch endpoint), no currency list (a signed call the engine
# has no use for)
CLIENT_OPTIONS = {"createOrder": "privatePostTradeOrder"}
CLIENT_HAS = {"fetchCurrencies": False}


def order_params(o: OrderRequest, spot: bool) -> dict:
    params: dict = {"clientOrderId": wire_id(o.client_order_id)}
    if o.price is not None:
        if o.tif == "GTX":
            params["postOnly"] = True
        else:
            params["timeInForce"] = o.tif
    if o.reduce_only:
        params["reduceOnly"] = True
    return params


def trades_of(order_id: str) -> dict:
    """The parameters that ask for one order's trades (its venue id)."""
    return {"ordId": order_id}


def by_client_id(cid: str) -> dict:
    return {"clOrdId": wire_id(cid)}


def lookups(symbol: str, cid: str) -> list[tuple[str, tuple]]:
    return [("fetch_order", (None, symbol, by_client_id(cid)))]


async def check_key_permissions(exchange, spot: bool = False, transfers: bool = False) -> None:
    """Refuse a key that can withdraw, and one that cannot trade (OKX lists a key's permissions
    in `GET /api/v5/account/config`: `perm` is e.g. "read_only,trade")."""
    import ccxt

    from engine.core.errors import FatalError

    try:
        res = await exchange.private_get_account_config()
    except ccxt.BaseError as exc:  # a wrong key, secret or passphrase: the venue's code says
        raise classify(exc) from exc
    perm = {p.strip() for p in str(((res.get("data") or [{}])[0]).get("perm", "")).split(",")}
    if "withdraw" in perm:
        raise FatalError("this API key has withdrawal permission: refusing to trade with it "
                         "(create a key without withdrawals)")
    if "trade" not in perm:
        raise FatalError("this API key cannot trade (perm has no `trade`), which this config "
                         "needs; enable it on the key")
    if spot or transfers:
        raise FatalError("spot orders and transfers on OKX are not wired yet")
