"""How Bybit v5 takes orders through ccxt, for the live broker (a unified trading account,
linear perpetuals): our client id travels as `orderLinkId`, an order is found by it through
the open and the finished order lists (ccxt's `fetch_order` needs the venue's own id), and the
create and cancel answers carry ids only, so the broker asks for the order's state after them.
Request costs: Bybit's documented defaults (600 requests per 5 s per IP; 10 orders a second
per symbol for linear contracts)."""

from __future__ import annotations

from engine.core.ratelimit import INFO_LANE, ORDER_LANE, RateWindow, RequestCost
from engine.model.orders import OrderRequest
from engine.venues.bybit import user_data as ud  # noqa: F401  (the venue's reader)
from engine.venues.bybit.errors import (DUPLICATE_CLIENT_ID,  # noqa: F401
                                        UNKNOWN_ORDER, classify)

NAME = "bybit"
# the create and cancel answers hold ids only: the order's state is looked up after them
ANSWERS_WITH_STATE = False
# a position list names one symbol or none (all of a settle coin): asked for all
POSITIONS_BY_SYMBOLS = False
# funding fees are not read from Bybit's history yet (mark prices are not wired either)
POST_ONLY_WOULD_TAKE = ()  # Bybit cancels such an order instead (a canceled child)
ONE_CLIENT = True  # every market kind through the same client
FUNDING_HISTORY = False

COSTS: dict[str, RequestCost] = {
    "create_order": RequestCost(weight=1, orders=1, lane=ORDER_LANE),
    "cancel_order": RequestCost(weight=1, lane=ORDER_LANE),
    "fetch_open_orders": RequestCost(weight=1, lane=INFO_LANE),
    "fetch_canceled_and_closed_orders": RequestCost(weight=1, lane=INFO_LANE),
    "fetch_my_trades": RequestCost(weight=1, lane=INFO_LANE),
    "fetch_positions": RequestCost(weight=1, lane=INFO_LANE),
    "fetch_balance": RequestCost(weight=1, lane=INFO_LANE),
}
WINDOWS = [RateWindow(counts="weight", limit=600, window_ns=5_000_000_000),
           RateWindow(counts="orders", limit=10, window_ns=1_000_000_000)]

# ccxt client options a live Bybit client needs: a unified account (no account-type probe),
# no currency list (a signed call that needs a permission the engine does not), the position
# stream subscribed at once (not a REST snapshot first)
CLIENT_OPTIONS = {"enableUnifiedAccount": True, "enableUnifiedMargin": False,
                  "watchPositions": {"fetchPositionsSnapshot": False}}
CLIENT_HAS = {"fetchCurrencies": False}

_TIF = {"GTC": "GTC", "IOC": "IOC", "FOK": "FOK", "GTX": "PostOnly"}


def order_params(o: OrderRequest, spot: bool) -> dict:
    params: dict = {"clientOrderId": o.client_order_id}
    if o.price is not None:
        params["timeInForce"] = _TIF.get(o.tif, o.tif)
    if o.reduce_only:
        params["reduceOnly"] = True
    return params


def trades_of(order_id: str) -> dict:
    """The parameters that ask for one order's trades (its venue id)."""
    return {"orderId": order_id}


def by_client_id(cid: str) -> dict:
    """The parameters that name an order by our client id (cancels)."""
    return {"orderLinkId": cid}


def lookups(symbol: str, cid: str) -> list[tuple[str, tuple]]:
    """The calls that find an order by our client id, in turn: its open orders, then its
    finished ones (each answers a list)."""
    params = {"orderLinkId": cid}
    return [("fetch_open_orders", (symbol, None, None, params)),
            ("fetch_canceled_and_closed_orders", (symbol, None, None, params))]


async def check_key_permissions(exchange, spot: bool = False, transfers: bool = False) -> None:
    """Refuse a key that can withdraw, and one that cannot trade contracts (Bybit lists a key's
    permissions at `GET /v5/user/query-api`: `Wallet` holds `Withdraw` when it may)."""
    import ccxt

    from engine.core.errors import FatalError

    try:
        res = (await exchange.private_get_v5_user_query_api()).get("result") or {}
    except ccxt.BaseError as exc:  # a wrong key or secret: the venue's code says which
        raise classify(exc) from exc
    perms = res.get("permissions") or {}
    if "Withdraw" in (perms.get("Wallet") or []):
        raise FatalError("this API key has withdrawal permission: refusing to trade with it "
                         "(create a key without withdrawals)")
    if str(res.get("readOnly")) == "1" or "Order" not in (perms.get("ContractTrade") or []):
        raise FatalError("this API key cannot place contract orders (ContractTrade: Order), "
                         "which this config needs; enable it on the key")
    if spot or transfers:
        raise FatalError("spot orders and transfers on Bybit are not wired yet")
