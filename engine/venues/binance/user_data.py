"""Binance USD-M user data as ccxt hands it over: fills, order ends, positions and the
wallet, read into the engine's terms. The fields are Binance's (ORDER_TRADE_UPDATE `c` client
id and `z` cumulative filled; ACCOUNT_UPDATE `a.B[].wb` wallet balance and `a.m` reason).

A trade from `watch_my_trades`, as ccxt parses an ORDER_TRADE_UPDATE:
    {"id": "17", "symbol": "BTC/USDT:USDT", "side": "sell", "amount": 0.042,
     "price": 61812.3, "takerOrMaker": "maker", "fee": {"cost": 0.519, "currency": "USDT"},
     "info": {"c": "bl9a3b0534d2733a06-1", "z": "0.042", "X": "FILLED", ...}}
"""

from __future__ import annotations

from decimal import Decimal

from engine.model.events import Fill

EXCHANGE = "binanceusdm"
SPOT_EXCHANGE = "binance"
# a transfer between our wallets -> Binance's universal transfer type, and ccxt's account names
TRANSFER_TYPE = {("spot", "futures"): "MAIN_UMFUTURE", ("futures", "spot"): "UMFUTURE_MAIN"}
CCXT_ACCOUNT = {"spot": "spot", "futures": "linear"}
# ccxt's unified order status -> the engine's
STATUS = {"closed": "filled", "expired": "expired", "canceled": "canceled",
          "open": "accepted", "rejected": "rejected"}
ENDED = ("filled", "expired", "canceled")


def order_status(res: dict) -> str:
    return STATUS.get(res.get("status") or "", "accepted")


def filled_of(res: dict) -> Decimal:
    return Decimal(str(res.get("filled") or 0))


def trade_client_id(t: dict) -> str | None:
    return (t.get("info") or {}).get("c")


def exchange_of(symbol: str) -> str:
    """The ccxt id of the market a unified symbol trades on (spot BTC/USDT: binance, COIN-M
    BTC/USD:BTC: binancecoinm)."""
    from engine.execution.markets import CCXT_ID, market_kind

    return CCXT_ID[market_kind(symbol)]


def fill_from_trade(t: dict, cid: str, symbol: str, side: str, now: int) -> Fill:
    fee = t.get("fee") or {}
    return Fill(exchange=exchange_of(symbol), symbol=symbol, ts_event=now, ts_recv=now, order_id=cid,
                trade_id=str(t["id"]), side=side, qty=Decimal(str(t["amount"])),
                price=Decimal(str(t["price"])), fee=Decimal(str(fee.get("cost") or 0)),
                fee_currency=fee.get("currency") or "",
                liquidity=t.get("takerOrMaker") or "taker")


def order_end(o: dict) -> tuple[str, str, str, Decimal] | None:
    """(client id, symbol, final status, cumulative filled) of an order that ended, else None."""
    status = STATUS.get(o.get("status") or "")
    cid = o.get("clientOrderId")
    if not cid or status not in ENDED:
        return None
    return cid, o["symbol"], status, Decimal(str((o.get("info") or {}).get("z")
                                                 or o.get("filled") or 0))


def position_amount(p: dict) -> tuple[str, Decimal] | None:
    info = p.get("info") or {}
    amt = info.get("pa", info.get("positionAmt"))
    if not p.get("symbol") or amt is None:
        return None
    return p["symbol"], Decimal(str(amt))


def wallet_update(balance: dict) -> tuple[dict[str, Decimal], bool]:
    """The wallet balances an ACCOUNT_UPDATE carries, and whether funding moved them."""
    upd = (balance.get("info") or {}).get("a") or {}
    wallet = {str(b["a"]): Decimal(str(b["wb"])) for b in upd.get("B") or []}
    return wallet, upd.get("m") == "FUNDING_FEE"


def funding_row(r: dict) -> tuple[str, str, int, Decimal]:
    """(income id, symbol, time ms, amount) of one income-history row."""
    return (str(r.get("id")), r["symbol"], int(r["timestamp"]),
            Decimal(str((r.get("info") or {}).get("income", r["amount"]))))


def wallet_balances(bal: dict) -> dict[str, Decimal]:
    """Non-zero wallet balances of a `fetch_balance` (GET /fapi/v3/account) answer."""
    out = {}
    for a in (bal.get("info") or {}).get("assets") or []:
        wb = Decimal(str(a.get("walletBalance") or 0))
        if wb != 0:
            out[str(a["asset"])] = wb
    return out


def position_entry(p: dict) -> tuple[str, Decimal, Decimal] | None:
    info = p.get("info") or {}
    if not p.get("symbol") or info.get("positionAmt") is None:
        return None
    return (p["symbol"], Decimal(str(info["positionAmt"])),
            Decimal(str(info.get("entryPrice") or 0)))


def spot_balances(balance: dict) -> dict[str, Decimal]:
    """The spot wallet per asset (free + locked) of a spot `watch_balance` update
    (outboundAccountPosition `B`) or a spot `fetch_balance` (GET /api/v3/account
    `balances`); an asset at zero stays (it was sold out)."""
    info = balance.get("info") or {}
    rows = info.get("B") if "B" in info else info.get("balances") or []
    out = {}
    for b in rows:
        asset = str(b.get("a") or b.get("asset"))
        total = Decimal(str(b.get("f", b.get("free")) or 0)) + Decimal(
            str(b.get("l", b.get("locked")) or 0))
        out[asset] = total
    return out


def transfer_row(t: dict) -> tuple[str, str, Decimal, str, bool]:
    """(tranId, asset, amount, type, whether it is done) of one universal transfer history
    row (`status` CONFIRMED; PENDING and FAILED ones have not moved the money)."""
    info = t.get("info") or {}
    return (str(info.get("tranId") or t.get("id")), str(info.get("asset")),
            Decimal(str(info.get("amount"))), str(info.get("type")),
            info.get("status") == "CONFIRMED")
