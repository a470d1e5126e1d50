"""Binance's codes mapped onto the engine's error tree, on the exceptions ccxt itself raises
for the venue's answers (its own `handle_errors` on a USD-M order URL)."""

from __future__ import annotations

import ccxt
import orjson
import pytest

from engine.core.errors import OrderRejected, RetryableError, VenueAuthError, VenueUnavailable
from engine.venues.binance.errors import classify

URL = "https://fapi.binance.com/fapi/v1/order"


def _ccxt_error(status: int, code: int, msg: str) -> BaseException:
    ex = ccxt.binanceusdm()
    body = orjson.dumps({"code": code, "msg": msg}).decode()
    try:
        ex.handle_errors(status, "", URL, "POST", {}, body, orjson.loads(body), None, None)
    except ccxt.BaseError as exc:
        return exc
    try:  # ccxt's generic fallback by HTTP status
        ex.handle_http_status_code(status, "", URL, "POST", body)
    except ccxt.BaseError as exc:
        return exc
    raise AssertionError(f"ccxt raised nothing for {code}")


@pytest.mark.parametrize("status,code,msg,kind", [
    (400, -2019, "Margin is insufficient.", OrderRejected),
    (400, -4164, "Order's notional must be no smaller than 5.", OrderRejected),
    (400, -2022, "ReduceOnly Order is rejected.", OrderRejected),
    (400, -5022, "Due to the order could not be executed as maker, the Post Only order will be "
                 "rejected.", OrderRejected),
    (400, -4116, "ClientOrderId is duplicated.", OrderRejected),
    (400, -2011, "Unknown order sent.", OrderRejected),
    (429, -1003, "Too many requests.", VenueUnavailable),
    (503, -1001, "Internal error; unable to process your request. Please try again.",
     VenueUnavailable),
    (400, -1021, "Timestamp for this request is outside of the recvWindow.", VenueUnavailable),
    (400, -1022, "Signature for this request is not valid.", VenueAuthError),
    (401, -2015, "Invalid API-key, IP, or permissions for action.", VenueAuthError),
])
def test_the_code_decides_retry_or_not(status, code, msg, kind):
    err = classify(_ccxt_error(status, code, msg))
    assert type(err) is kind and err.code == code
    assert isinstance(err, RetryableError) == (kind is VenueUnavailable)


def test_margin_insufficient_is_final_even_where_ccxt_calls_it_transient():
    exc = ccxt.OperationFailed('binance {"code":-2019,"msg":"Margin is insufficient."}')
    assert isinstance(classify(exc), OrderRejected)


def test_without_a_code_ccxt_class_decides():
    assert isinstance(classify(ccxt.NetworkError("binance connection reset")), VenueUnavailable)
    assert isinstance(classify(ccxt.RequestTimeout("binance timed out")), VenueUnavailable)
    assert isinstance(classify(ccxt.AuthenticationError("binance requires apiKey")),
                      VenueAuthError)
    assert isinstance(classify(ccxt.InvalidOrder("binance bad amount")), OrderRejected)


@pytest.mark.parametrize("msg,code", [
    ("Duplicate order sent.", -4116),  # spot's duplicate client id: USD-M's code
    ("Order would immediately match and take.", -5022),  # LIMIT_MAKER that would take
    ("Account has insufficient balance for requested action.", -2010),
])
def test_spot_2010_messages_become_the_codes_the_engine_hears(msg, code):
    ex = ccxt.binance()
    body = orjson.dumps({"code": -2010, "msg": msg}).decode()
    try:
        ex.handle_errors(400, "", "https://api.binance.com/api/v3/order", "POST", {}, body,
                         orjson.loads(body), None, None)
    except ccxt.BaseError as exc:
        err = classify(exc)
    assert isinstance(err, OrderRejected) and err.code == code
