"""Portfolio state: positions, marks, exposures, margin and funding (pure reducer + actor)."""

from engine.portfolio.instruments import Instrument, LeverageTier
from engine.portfolio.state import Portfolio, PortfolioSnapshot

__all__ = ["Instrument", "LeverageTier", "Portfolio", "PortfolioSnapshot"]
