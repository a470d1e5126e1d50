"""Binance market ids to unified ccxt-style symbols, without a network call.

`BTCUSDT` is spot `BTC/USDT` or the USD-M perp `BTC/USDT:USDT` depending on the stream's market,
so the market kind is always given by the caller (as ccxt does with the client's URL).
"""

from __future__ import annotations

from engine.core.errors import DecodeError

SPOT = "spot"
USDM = "usdm"
COINM = "coinm"
MARKETS = (SPOT, USDM, COINM)

EXCHANGE_ID = {SPOT: "binance", USDM: "binanceusdm", COINM: "binancecoinm"}

# Longest first so that e.g. FDUSD wins over USD.
_QUOTES = sorted(
    ["USDT", "USDC", "FDUSD", "BUSD", "TUSD", "USDP", "DAI", "BTC", "ETH", "BNB", "EUR", "TRY",
     "BRL", "JPY", "GBP", "AUD", "USD"],
    key=len,
    reverse=True,
)


def split_pair(pair: str) -> tuple[str, str]:
    """`BTCUSDT` -> (`BTC`, `USDT`)."""
    for quote in _QUOTES:
        if pair.endswith(quote) and len(pair) > len(quote):
            return pair[: -len(quote)], quote
    raise DecodeError("unknown_symbol", f"cannot split {pair!r} into base and quote")


def unified_symbol(market_id: str, market: str) -> str:
    """Unified symbol of a Binance market id on the given market kind.

    >>> unified_symbol("BTCUSDT", "usdm"), unified_symbol("BTCUSD_PERP", "coinm")
    ('BTC/USDT:USDT', 'BTC/USD:BTC')
    """
    mid = market_id.upper()
    if market == SPOT:
        base, quote = split_pair(mid)
        return f"{base}/{quote}"
    if market == USDM:
        pair, _, expiry = mid.partition("_")
        base, quote = split_pair(pair)
        return f"{base}/{quote}:{quote}" + (f"-{expiry}" if expiry else "")
    if market == COINM:
        pair, _, contract = mid.partition("_")
        base, quote = split_pair(pair)
        suffix = "" if contract in ("", "PERP") else f"-{contract}"
        return f"{base}/{quote}:{base}{suffix}"
    raise DecodeError("unknown_market", f"market kind {market!r} (expected one of {MARKETS})")
