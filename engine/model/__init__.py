"""Every event type of the engine, in one place (see `events`)."""

from engine.model.events import (
    Bar,
    BestBidAsk,
    BookDelta,
    BookSnapshot,
    BookStatus,
    FundingRate,
    Level,
    MarketEvent,
    MarkPrice,
    Trade,
)

__all__ = [
    "Bar",
    "BestBidAsk",
    "BookDelta",
    "BookSnapshot",
    "BookStatus",
    "FundingRate",
    "Level",
    "MarketEvent",
    "MarkPrice",
    "Trade",
]
