"""The venues' instrument listings as market rules: OKX's recorded listing through ccxt's own
parser, Bybit's bundled (hand-written) one, and what a real Bybit listing also holds."""

from __future__ import annotations

from decimal import Decimal

import orjson
import pytest

from engine.core.errors import ConfigError
from engine.venues.bybit.markets import BUNDLED, read_markets as bybit_markets
from engine.venues.okx.markets import read_markets as okx_markets
from tests.conftest import shared


def test_okx_recorded_listing_gives_contract_values_and_steps():
    m = okx_markets(shared("cryptofeed", "sample_data", "OKX.0"))
    uni, fut, spot = m["UNI/USD:UNI"], m["BTC/USD:BTC-220527"], m["BTC/USDT"]
    assert (uni.kind, uni.contract_size, uni.amount_step, uni.price_tick) == (
        "inverse", Decimal("10"), Decimal("1"), Decimal("0.001"))
    assert (fut.kind, fut.contract_size, fut.settle) == ("inverse", Decimal("100"), "BTC")
    assert (spot.kind, spot.amount_step, spot.min_amount) == (
        "spot", Decimal("1E-8"), Decimal("0.00001"))
    assert okx_markets()["UNI/USD:UNI"] == uni  # the bundled, trimmed copy says the same


def test_a_bybit_dated_future_never_takes_the_perpetuals_rules(tmp_path):
    body = orjson.loads(BUNDLED.read_bytes())
    perp = body["result"]["list"][0]
    future = {**perp, "symbol": "XRPUSDT-27DEC24", "contractType": "LinearFutures",
              "deliveryTime": "1735286400000",
              "lotSizeFilter": {**perp["lotSizeFilter"], "qtyStep": "10"}}
    closed = {**perp, "symbol": "XRPUSDT", "status": "Closed"}
    body["result"]["list"] = [perp, future, closed]
    path = tmp_path / "listing.json"
    path.write_bytes(orjson.dumps(body))
    m = bybit_markets(path)
    assert list(m) == ["XRP/USDT:USDT"]
    assert (m["XRP/USDT:USDT"].market_id, m["XRP/USDT:USDT"].amount_step) == (
        "XRPUSDT", Decimal("1"))


def test_a_listing_that_is_not_one_is_refused_in_one_line(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text('{"retCode": 0}')
    with pytest.raises(ConfigError, match="not a Bybit instruments-info response"):
        bybit_markets(bad)
    with pytest.raises(ConfigError, match="cannot read the OKX listing"):
        okx_markets(tmp_path / "missing.0")
