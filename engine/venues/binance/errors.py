"""Binance error codes and ccxt's exception classes, mapped onto the engine's error tree.

The one place that knows what a Binance code means. ccxt's own mapping differs between its
API sections (-2019 "Margin is insufficient" is an OperationFailed, retried as transient, in
one of them), so the code decides first and ccxt's class only when the venue sent no code.
"""

from __future__ import annotations

import re

import orjson

from engine.core.errors import VenueError, venue_error

# code -> (kind, what it means)
CODES: dict[int, tuple[str, str]] = {
    -1000: ("retry", "unknown error while processing the request"),
    -1001: ("retry", "internal error, disconnected: try again"),
    -1003: ("retry", "too much request weight used (rate limit)"),
    -1006: ("retry", "unexpected response from the message bus: status unknown"),
    -1007: ("retry", "timeout waiting for the backend: status unknown"),
    -1008: ("retry", "server busy"),
    -1015: ("retry", "too many new orders (order rate limit)"),
    -1021: ("retry", "timestamp outside the recvWindow (clock skew)"),
    -1002: ("auth", "unauthorized"),
    -1022: ("auth", "signature not valid"),
    -2014: ("auth", "API-key format invalid"),
    -2015: ("auth", "invalid API-key, IP or permissions"),
    -1102: ("reject", "mandatory parameter missing or malformed"),
    -1111: ("reject", "precision over the maximum for this asset"),
    -1116: ("reject", "invalid order type"),
    -1121: ("reject", "invalid symbol"),
    -2010: ("reject", "new order rejected"),
    -2011: ("reject", "cancel rejected: unknown order"),
    -2013: ("reject", "order does not exist"),
    -2019: ("reject", "margin is insufficient"),
    -2022: ("reject", "reduce-only order rejected"),
    -4003: ("reject", "quantity less than or equal to zero"),
    -4116: ("reject", "client order id is duplicated"),
    -4164: ("reject", "notional below the minimum"),
    -5022: ("reject", "post-only order would have taken liquidity"),
    -1013: ("reject", "filter failure (spot: lot size, notional, price)"),
    -5013: ("reject", "asset transfer failed: insufficient balance"),
}

# Binance spot says several things with -2010 that USD-M says with codes of their own: the
# message tells them apart, and the engine hears the USD-M code. (ccxt raises some of these
# with the message alone, no code: the message decides then too.)
SPOT_2010 = {"duplicate order sent": -4116,
             "order would immediately match and take": -5022,
             "account has insufficient balance": -2010}

DUPLICATE_CLIENT_ID = -4116
UNKNOWN_ORDER = (-2011, -2013)
POST_ONLY_WOULD_TAKE = -5022


def venue_code(exc: BaseException) -> tuple[int, str]:
    """Binance's code and message out of a ccxt exception's text (0 when there is none):
    `binance {"code":-2019,"msg":"Margin is insufficient."}`."""
    m = re.search(r"\{.*\}", str(exc))
    if m:
        try:
            body = orjson.loads(m.group(0))
            if isinstance(body, dict):
                return int(body.get("code", 0)), str(body.get("msg", ""))
        except (orjson.JSONDecodeError, ValueError, TypeError):
            pass
    return 0, str(exc)[:200]


def classify(exc: BaseException) -> VenueError:
    """The engine error a ccxt exception stands for. Anything that is not a ccxt error is a
    programming error and is not classified: callers let it propagate."""
    code, msg = venue_code(exc)
    if code in (0, -2010):
        code = next((c for text, c in SPOT_2010.items() if text in msg.lower()), code)
    return venue_error(exc, code, msg, CODES.get(code, (None, ""))[0])
