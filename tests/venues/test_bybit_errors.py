"""Bybit's retCodes onto the engine's error tree: the code decides, ccxt's class only when the
venue sent none. The bodies are Bybit's own answers as ccxt puts them in its exceptions."""

from __future__ import annotations

import ccxt
import pytest

from engine.core.errors import OrderRejected, VenueAuthError, VenueUnavailable
from engine.venues.bybit.errors import DUPLICATE_CLIENT_ID, UNKNOWN_ORDER, classify


def _body(code: int, msg: str) -> str:
    return f'bybit {{"retCode":{code},"retMsg":"{msg}","result":{{}},"retExtInfo":{{}},"time":1}}'


@pytest.mark.parametrize("exc, cls, code", [
    (ccxt.InvalidOrder(_body(110072, "OrderLinkedID is duplicate")), OrderRejected,
     DUPLICATE_CLIENT_ID),
    (ccxt.OrderNotFound(_body(110001, "order not exists or too late to cancel")),
     OrderRejected, UNKNOWN_ORDER[0]),
    (ccxt.InsufficientFunds(_body(110007, "ab not enough for new order")), OrderRejected,
     110007),
    (ccxt.RateLimitExceeded(_body(10006, "Too many visits!")), VenueUnavailable, 10006),
    # ccxt calls 10016 an ExchangeError; the venue says try again: the code decides
    (ccxt.ExchangeError(_body(10016, "System error. Please try again later.")),
     VenueUnavailable, 10016),
    (ccxt.InvalidNonce(_body(10002, "invalid request, please check your server timestamp")),
     VenueUnavailable, 10002),
    (ccxt.AuthenticationError(_body(10004, "error sign!")), VenueAuthError, 10004),
    (ccxt.PermissionDenied(_body(10005, "Permission denied for current apikey")),
     VenueAuthError, 10005),
    (ccxt.NetworkError("bybit GET http://127.0.0.1/v5/order/realtime timed out"),
     VenueUnavailable, 0),
    (ccxt.ExchangeError(_body(99999, "something new")), OrderRejected, 99999),
])
def test_each_code_means_what_the_venue_says(exc, cls, code):
    err = classify(exc)
    assert type(err) is cls and err.code == code
