"""OKX v5 codes and ccxt's exception classes, mapped onto the engine's error tree.

ccxt raises OKX's errors with the raw response in the message (`okx {"code":"1","msg":"",
"data":[{"sCode":"51016","sMsg":"Duplicated clOrdId",...}]}`): an order's own code is its
`sCode`, a request's the top-level `code`. The code decides first, ccxt's class only when the
venue sent none.
"""

from __future__ import annotations

import orjson

from engine.core.errors import VenueError, venue_error

CODES: dict[int, tuple[str, str]] = {
    50001: ("retry", "service temporarily unavailable"),
    50004: ("retry", "endpoint request timeout: the order's state is unknown"),
    50011: ("retry", "too many requests (rate limit)"),
    50013: ("retry", "system busy"),
    50026: ("retry", "system error"),
    50102: ("retry", "timestamp request expired (clock skew)"),
    50105: ("auth", "invalid passphrase"),
    50111: ("auth", "invalid API key"),
    50113: ("auth", "invalid signature"),
    50114: ("auth", "invalid authority"),
    60009: ("auth", "login failed"),
    51000: ("reject", "parameter error"),
    51008: ("reject", "insufficient balance or margin"),
    51016: ("reject", "duplicated client order id"),
    51400: ("reject", "cancel failed: the order is filled, canceled or unknown"),
    51401: ("reject", "cancel failed: the order is canceled"),
    51402: ("reject", "cancel failed: the order is completed"),
    51603: ("reject", "order does not exist"),
}

DUPLICATE_CLIENT_ID = 51016
UNKNOWN_ORDER = (51603, 51400, 51401, 51402)


def venue_code(exc: BaseException) -> tuple[int, str]:
    """OKX's code and message out of a ccxt exception's text (0 when there is none)."""
    text = str(exc)
    start = text.find("{")
    if start >= 0:
        try:
            body = orjson.loads(text[start:])
        except orjson.JSONDecodeError:
            body = None
        if isinstance(body, dict):
            for d in body.get("data") or []:
                if isinstance(d, dict) and d.get("sCode") not in (None, "", "0"):
                    return int(d["sCode"]), str(d.get("sMsg", ""))
            try:
                code = int(body.get("code") or 0)
            except (TypeError, ValueError):
                code = 0
            if code:
                return code, str(body.get("msg", ""))
    return 0, text[:200]


def classify(exc: BaseException) -> VenueError:
    """The engine error a ccxt exception stands for (anything that is not a ccxt error is a
    programming error: callers let it propagate)."""
    code, msg = venue_code(exc)
    return venue_error(exc, code, msg, CODES.get(code, (None, ""))[0])
