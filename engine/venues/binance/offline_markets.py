"""What ccxt's Binance `parse_market` needs to run on a recorded exchangeInfo without the
network: the spot parser looks each pair up in the margin pair lists that `load_markets`
fetches from `/sapi` first; offline there are none (no pair is marked as marginable)."""

OPTIONS = {
    "binance": {"crossMarginPairsData": [], "isolatedMarginPairsData": []},
}


def offline_options(exchange: str) -> dict:
    return OPTIONS.get(exchange, {})
