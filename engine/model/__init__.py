"""Every event type of the engine, in one place (see `events`)."""

from engine.model.orders import OrderRequest, OrderUpdate, RiskStateChange, TransferRequest
from engine.model.events import (
    Bar,
    BestBidAsk,
    BookDelta,
    BookSnapshot,
    BookStatus,
    Fill,
    FundingPayment,
    FundingRate,
    LegTarget,
    Level,
    MarketEvent,
    MarkPrice,
    PortfolioUpdate,
    RebalanceIntent,
    Trade,
    Transfer,
)

__all__ = [
    "OrderRequest",
    "OrderUpdate",
    "RiskStateChange",
    "Bar",
    "BestBidAsk",
    "BookDelta",
    "BookSnapshot",
    "BookStatus",
    "Fill",
    "FundingPayment",
    "FundingRate",
    "LegTarget",
    "Level",
    "MarketEvent",
    "MarkPrice",
    "PortfolioUpdate",
    "RebalanceIntent",
    "Trade",
    "Transfer",
    "TransferRequest",
]
