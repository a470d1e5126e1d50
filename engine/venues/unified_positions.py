"""Positions as ccxt's unified structure gives them (`contracts` unsigned, `side` long or
short, `entryPrice`), for the venues whose own fields ccxt has already read into it (Bybit,
OKX): signed contracts, as the engine holds a position."""

from __future__ import annotations

from decimal import Decimal


def _dec(x) -> Decimal:
    return Decimal(str(x)) if x not in (None, "") else Decimal(0)


def signed_contracts(p: dict) -> Decimal:
    size = _dec(p.get("contracts"))
    return -size if p.get("side") == "short" else size


def position_amount(p: dict) -> tuple[str, Decimal] | None:
    if not p.get("symbol") or p.get("contracts") is None:
        return None
    return p["symbol"], signed_contracts(p)


def position_entry(p: dict) -> tuple[str, Decimal, Decimal] | None:
    if not p.get("symbol") or p.get("contracts") is None:
        return None
    return p["symbol"], signed_contracts(p), _dec(p.get("entryPrice"))
