"""Binance (spot, USD-M, COIN-M): frame decoders (`frames`, the busiest compiled in `_frames`),
unified symbols, request weights and rate limits, error codes, user-data fields."""
