"""One package per venue (binance, bybit, okx): its decoders, book rules, symbols, market rules,
error codes, user data and how it takes orders. The rest of the engine reaches a venue's parts
by its name, through `orders_of`."""

from __future__ import annotations

import importlib
from types import ModuleType

VENUES = ("binance", "bybit", "okx")


def orders_of(venue: str) -> ModuleType:
    """The venue's order module (`engine/venues/<venue>/orders.py`): client-id parameters,
    codes, user-data reader, request costs, client options, the key's permission check."""
    if venue not in VENUES:
        raise ValueError(f"unknown venue {venue!r}: expected one of {VENUES}")
    return importlib.import_module(f"engine.venues.{venue}.orders")
