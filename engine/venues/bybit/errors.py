"""Bybit v5 `retCode`s and ccxt's exception classes, mapped onto the engine's error tree.

The one place that knows what a Bybit code means. ccxt raises them with the response body in
the message (`bybit {"retCode":110072,"retMsg":"OrderLinkedID is duplicate",...}`); the code
decides first, ccxt's class only when the venue sent no code.
"""

from __future__ import annotations

import re

import orjson

from engine.core.errors import VenueError, venue_error

# code -> (kind, what it means)
CODES: dict[int, tuple[str, str]] = {
    10000: ("retry", "server timeout"),
    10002: ("retry", "request expired: timestamp outside the recv window (clock skew)"),
    10006: ("retry", "too many requests (rate limit)"),
    10016: ("retry", "internal server error, or the service is restarting"),
    10018: ("retry", "IP rate limit exceeded"),
    10003: ("auth", "API key invalid"),
    10004: ("auth", "signature error"),
    10005: ("auth", "permission denied for this API key"),
    10010: ("auth", "request IP not in the key's whitelist"),
    10001: ("reject", "request parameter error"),
    110001: ("reject", "order does not exist"),
    110003: ("reject", "order price out of the permissible range"),
    110004: ("reject", "wallet balance insufficient"),
    110007: ("reject", "available balance insufficient"),
    110012: ("reject", "available balance insufficient"),
    110017: ("reject", "reduce-only rule not satisfied"),
    110072: ("reject", "order link id (client order id) is duplicated"),
    110094: ("reject", "order notional below the minimum"),
}

DUPLICATE_CLIENT_ID = 110072
UNKNOWN_ORDER = (110001,)


def venue_code(exc: BaseException) -> tuple[int, str]:
    """Bybit's code and message out of a ccxt exception's text (0 when there is none)."""
    m = re.search(r"\{.*\}", str(exc))
    if m:
        try:
            body = orjson.loads(m.group(0))
            if isinstance(body, dict) and "retCode" in body:
                return int(body["retCode"]), str(body.get("retMsg", ""))
        except (orjson.JSONDecodeError, ValueError, TypeError):
            pass
    return 0, str(exc)[:200]


def classify(exc: BaseException) -> VenueError:
    """The engine error a ccxt exception stands for (anything that is not a ccxt error is a
    programming error: callers let it propagate)."""
    code, msg = venue_code(exc)
    return venue_error(exc, code, msg, CODES.get(code, (None, ""))[0])
