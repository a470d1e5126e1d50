"""OKX v5 user data as ccxt hands it over (REST answers and the private stream's `orders`,
`positions` and `account` channels), read into the engine's terms. OKX's fields: `clOrdId`
our client id (in OKX's alphabet, `engine_id` turns it back), `accFillSz` the filled contracts,
a fill's `fee` / `fillFee` negative when charged (ccxt flips the sign on some paths and not
others, so the fee is read from the venue's own field), a net position's signed `pos`, a
coin's `cashBal`.
"""

from __future__ import annotations

from decimal import Decimal

from engine.model.events import Fill
from engine.venues.unified_positions import position_amount, position_entry  # noqa: F401

EXCHANGE = "okx"
STATUS = {"closed": "filled", "expired": "expired", "canceled": "canceled",
          "open": "accepted", "rejected": "rejected"}
ENDED = ("filled", "expired", "canceled")


def engine_id(wire: str | None) -> str | None:
    """The engine's client id of OKX's `clOrdId` (the engine's `-` travels as `x`: OKX takes
    letters and digits only, and the engine's ids have one `-`, before the child number)."""
    if not wire:
        return None
    i = wire.rfind("x")
    return f"{wire[:i]}-{wire[i + 1:]}" if wire.startswith("bl") and i > 0 else wire


def wire_id(cid: str) -> str:
    return cid.replace("-", "x")


def _dec(x) -> Decimal:
    return Decimal(str(x)) if x not in (None, "") else Decimal(0)


def order_status(res: dict) -> str:
    status = STATUS.get(res.get("status") or "", "accepted")
    if status == "canceled" and res.get("timeInForce") in ("IOC", "FOK"):
        return "expired"  # the venue's own end of an immediate order (nothing more at its limit)
    return status


def filled_of(res: dict) -> Decimal:
    return _dec(res.get("filled"))


def trade_client_id(t: dict) -> str | None:
    return engine_id((t.get("info") or {}).get("clOrdId"))


def fill_from_trade(t: dict, cid: str, symbol: str, side: str, now: int) -> Fill:
    info = t.get("info") or {}
    charged = info.get("fillFee") if info.get("fillFee") not in (None, "") else info.get("fee")
    fee = t.get("fee") or {}
    return Fill(exchange=EXCHANGE, symbol=symbol, ts_event=now, ts_recv=now, order_id=cid,
                trade_id=str(t["id"]), side=side, qty=_dec(t["amount"]),
                price=_dec(t["price"]), fee=-_dec(charged),
                fee_currency=info.get("fillFeeCcy") or info.get("feeCcy")
                or fee.get("currency") or "",
                liquidity=t.get("takerOrMaker") or "taker")


def order_end(o: dict) -> tuple[str, str, str, Decimal] | None:
    status = order_status(o)
    cid = engine_id(o.get("clientOrderId"))
    if not cid or status not in ENDED:
        return None
    return cid, o["symbol"], status, filled_of(o)


def _coins(info) -> dict[str, Decimal]:
    rows = info if isinstance(info, list) else (info.get("data") or [])
    out = {}
    for acct in rows[:1]:
        for d in acct.get("details") or []:
            cash = _dec(d.get("cashBal"))
            if cash != 0:
                out[str(d["ccy"])] = cash
    return out


def wallet_update(balance: dict) -> tuple[dict[str, Decimal], bool]:
    """The coin balances of an `account` push (its `data`), and whether funding moved them
    (not said by the push: funding is read from the venue's history when it is wired)."""
    info = balance.get("info") or {}
    return _coins(info.get("data") if isinstance(info, dict) else info), False


def wallet_balances(bal: dict) -> dict[str, Decimal]:
    """Non-zero coin balances of a `fetch_balance` (GET /api/v5/account/balance) answer."""
    return _coins(bal.get("info") or {})
