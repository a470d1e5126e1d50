"""Bybit v5 instrument listings (`/v5/market/instruments-info`) as the engine's `MarketSpec`s:
lot (`qtyStep`), tick (`tickSize`), minimum and maximum quantity, minimum notional. Linear
perpetuals that trade only for now (one unit is one coin: contract size 1)."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from pathlib import Path

import orjson

from engine.core.errors import ConfigError
from engine.execution.markets import MarketSpec

BUNDLED = Path(__file__).resolve().parents[3] / "scripts/data/bybit/linear_instruments.json"


def read_markets(path: str | Path = BUNDLED) -> dict[str, MarketSpec]:
    """Unified symbol -> its rules, from a saved instruments-info response."""
    try:
        body = orjson.loads(Path(path).read_bytes())
        result = body["result"]
        category = result.get("category")
        rows = result["list"]
    except (OSError, orjson.JSONDecodeError, KeyError, TypeError) as exc:
        raise ConfigError(f"{path}: not a Bybit instruments-info response ({exc})") from None
    if category != "linear":
        raise ConfigError(f"{path}: category {category!r}: only linear listings are read")
    out: dict[str, MarketSpec] = {}
    for r in rows:
        if r.get("contractType") != "LinearPerpetual" or r.get("status") != "Trading":
            continue  # a dated future shares its base/quote:settle with the perpetual
        try:
            base, quote, settle = r["baseCoin"], r["quoteCoin"], r.get("settleCoin") or r[
                "quoteCoin"]
            lot, price = r["lotSizeFilter"], r["priceFilter"]
            out[f"{base}/{quote}:{settle}"] = MarketSpec(
                symbol=f"{base}/{quote}:{settle}", market_id=r["symbol"], kind="linear",
                base=base, quote=quote, settle=settle, amount_step=Decimal(lot["qtyStep"]),
                price_tick=Decimal(price["tickSize"]), min_amount=Decimal(lot["minOrderQty"]),
                max_amount=Decimal(lot["maxOrderQty"]),
                min_notional=Decimal(lot.get("minNotionalValue") or 0))
        except (KeyError, TypeError, InvalidOperation) as exc:
            raise ConfigError(f"{path}: instrument {r.get('symbol')!r}: missing or bad "
                              f"field ({exc!r})") from None
    if not out:
        raise ConfigError(f"{path}: no instruments")
    return out
