"""Bybit v5: `orderbook.<depth>.<symbol>` frames and the book's own sequence rules."""
