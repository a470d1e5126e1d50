"""Bybit v5 user data as ccxt hands it over (REST answers and the private stream's `execution`,
`order`, `position` and `wallet` topics of a unified trading account), read into the engine's
terms. The fields are Bybit's: `orderLinkId` our client id, `cumExecQty` the filled quantity,
a position's `size` with its `side`, a coin's `walletBalance`.

A trade from `watch_my_trades`, as ccxt parses an `execution` row (no unified client id on
trades: it is `info.orderLinkId`):
    {"id": "e-1", "order": "1111-aaaa", "symbol": "XRP/USDT:USDT", "side": "buy",
     "amount": 40.0, "price": 0.5, "takerOrMaker": "taker",
     "fee": {"cost": 0.011, "currency": "USDT"}, "info": {"orderLinkId": "bl-1", ...}}
"""

from __future__ import annotations

from decimal import Decimal

from engine.model.events import Fill
from engine.venues.unified_positions import position_amount, position_entry  # noqa: F401

EXCHANGE = "bybit"
# ccxt's unified order status -> the engine's. Bybit's `PartiallyFilledCanceled` is "closed" in
# ccxt (an IOC that filled in part); the filled quantity tells a fill from a cancel
STATUS = {"closed": "filled", "expired": "expired", "canceled": "canceled",
          "open": "accepted", "rejected": "rejected"}
ENDED = ("filled", "expired", "canceled")


def _dec(x) -> Decimal:
    return Decimal(str(x)) if x not in (None, "") else Decimal(0)


def order_status(res: dict) -> str:
    status = STATUS.get(res.get("status") or "", "accepted")
    info = res.get("info") or {}
    if info.get("orderStatus") == "PartiallyFilledCanceled":
        status = "canceled"  # what is left of it will never fill: it ended, in part filled
    if status == "canceled" and res.get("timeInForce") in ("IOC", "FOK"):
        return "expired"  # the venue's own end of an immediate order (nothing more at its limit)
    return status


def filled_of(res: dict) -> Decimal:
    return _dec(res.get("filled"))


def trade_client_id(t: dict) -> str | None:
    return (t.get("info") or {}).get("orderLinkId") or None


def fill_from_trade(t: dict, cid: str, symbol: str, side: str, now: int) -> Fill:
    fee = t.get("fee") or {}
    return Fill(exchange=EXCHANGE, symbol=symbol, ts_event=now, ts_recv=now, order_id=cid,
                trade_id=str(t["id"]), side=side, qty=_dec(t["amount"]),
                price=_dec(t["price"]), fee=_dec(fee.get("cost")),
                fee_currency=fee.get("currency") or "",
                liquidity=t.get("takerOrMaker") or "taker")


def order_end(o: dict) -> tuple[str, str, str, Decimal] | None:
    """(client id, symbol, final status, cumulative filled) of an order that ended, else None."""
    status = order_status(o)
    cid = o.get("clientOrderId")
    if not cid or status not in ENDED:
        return None
    return cid, o["symbol"], status, filled_of(o)


def _coins(info) -> dict[str, Decimal]:
    rows = info if isinstance(info, list) else (info.get("result") or {}).get("list") or []
    out = {}
    for acct in rows[:1]:  # the unified account
        for c in acct.get("coin") or []:
            wb = _dec(c.get("walletBalance"))
            if wb != 0:
                out[str(c["coin"])] = wb
    return out


def wallet_update(balance: dict) -> tuple[dict[str, Decimal], bool]:
    """The wallet balances of a `wallet` push, and whether funding moved them (Bybit's push
    does not say why: funding is read from the venue's history when it is wired)."""
    return _coins(balance.get("info") or []), False


def wallet_balances(bal: dict) -> dict[str, Decimal]:
    """Non-zero wallet balances of a `fetch_balance` (GET /v5/account/wallet-balance) answer."""
    return _coins(bal.get("info") or {})
