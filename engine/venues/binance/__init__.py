"""Binance USD-M: request weights and rate limits, error codes."""
