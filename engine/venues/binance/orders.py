"""How Binance takes orders through ccxt, for the live broker: the parameters that carry the
engine's client id and time in force, how an order is named by that id alone, the codes that
say "duplicate id" and "unknown order", the user-data reader and the request costs. Each venue
has a module of this shape (`engine/venues/<venue>/orders.py`); the broker names no venue."""

from __future__ import annotations

from engine.model.orders import OrderRequest
from engine.venues.binance import user_data as ud  # noqa: F401  (the venue's reader)
from engine.venues.binance.errors import (DUPLICATE_CLIENT_ID,  # noqa: F401
                                          UNKNOWN_ORDER, classify)
from engine.venues.binance.rate_limits import COSTS  # noqa: F401  (USD-M request weights)

NAME = "binance"
ANSWERS_WITH_STATE = True  # an order's create and cancel answers carry its state
POSITIONS_BY_SYMBOLS = True  # one position request names the symbols it wants
POST_ONLY_WOULD_TAKE = (-5022,)  # GTX that would take (spot: mapped onto it)
ONE_CLIENT = False  # spot, USD-M and COIN-M each through their own client
FUNDING_HISTORY = True  # funding fees from the income history


def order_params(o: OrderRequest, spot: bool) -> dict:
    params = {"newClientOrderId": o.client_order_id}
    if o.price is not None:
        if spot and o.tif == "GTX":
            params["postOnly"] = True  # spot's post-only is the LIMIT_MAKER type
        else:
            params["timeInForce"] = o.tif
    if o.reduce_only and not spot:
        params["reduceOnly"] = True
    return params


def trades_of(order_id: str) -> dict:
    """The parameters that ask for one order's trades (its venue id)."""
    return {"orderId": order_id}


def by_client_id(cid: str) -> dict:
    """The parameters that name an order by our client id (lookups and cancels)."""
    return {"origClientOrderId": cid}


def lookups(symbol: str, cid: str) -> list[tuple[str, tuple]]:
    """The call that finds an order by our client id (ccxt's `fetch_order`)."""
    return [("fetch_order", (None, symbol, by_client_id(cid)))]


async def check_key_permissions(exchange, spot: bool = False, transfers: bool = False) -> None:
    """Refuse a key that can withdraw (Binance reports it in apiRestrictions), and one that
    lacks what the run needs: spot trading (`spot`), universal transfers (`transfers`); found
    now rather than as an auth error halting a rebalance half done."""
    from engine.core.errors import FatalError

    r = await exchange.sapi_get_account_apirestrictions()
    if str(r.get("enableWithdrawals")).lower() == "true":
        raise FatalError("this API key has withdrawal permission: refusing to trade with it "
                         "(create a key without withdrawals)")
    for needed, field, what in ((spot, "enableSpotAndMarginTrading", "spot trading"),
                                (transfers, "permitsUniversalTransfer", "universal transfer")):
        if needed and str(r.get(field)).lower() != "true":
            raise FatalError(f"this API key lacks {what} ({field}), which this config needs; "
                             "enable it on the key")
