"""Fixed target weights, equal notional, and core–satellite (spot core, perp overlay)."""

from __future__ import annotations

from engine.core.errors import ConfigError
from engine.portfolio.view import PortfolioView
from engine.portfolio.stats import MarketStats
from strategies.base import AssetLegs, Strategy


class FixedWeights(Strategy):
    """Constant target net weights per underlying (e.g. 60/40 BTC/ETH)."""

    name = "fixed_weights"
    reads_stats = False

    def __init__(self, universe: dict[str, AssetLegs], weights: dict[str, float],
                 leg: str = "spot", max_gross_leverage: float = 1.0,
                 weights_sum: float | None = None) -> None:
        super().__init__(universe, leg, max_gross_leverage)
        unknown = set(weights) - set(universe)
        if unknown:
            raise ConfigError(f"weights name assets not in the universe: {sorted(unknown)}")
        if weights_sum is not None and abs(sum(weights.values()) - weights_sum) > 1e-9:
            raise ConfigError(f"weights sum to {sum(weights.values()):g}, "
                              f"declared weights_sum is {weights_sum:g}")
        self.weights = dict(weights)

    def target_weights(self, view: PortfolioView, stats: MarketStats) -> dict[str, float]:
        return dict(self.weights)


class EqualNotional(Strategy):
    """The same notional in every underlying, `gross` × NAV in all."""

    name = "equal_notional"
    reads_stats = False

    def __init__(self, universe: dict[str, AssetLegs], gross: float = 1.0, leg: str = "spot",
                 max_gross_leverage: float = 1.0) -> None:
        super().__init__(universe, leg, max_gross_leverage)
        if gross <= 0:
            raise ConfigError(f"gross must be positive, got {gross}")
        self.gross = gross

    def target_weights(self, view: PortfolioView, stats: MarketStats) -> dict[str, float]:
        n = len(self.universe)
        return {a: self.gross / n for a in self.universe}


class CoreSatellite(FixedWeights):
    """Spot holdings are the core and are never traded; the perp overlay closes the gap.

    With BTC spot worth $42,000 and a 35% target of a $103,000 NAV ($36,050), the $5,950
    excess is hedged with a $5,950 short BTC perp instead of selling spot.
    """

    name = "core_satellite"

    def __init__(self, universe: dict[str, AssetLegs], weights: dict[str, float],
                 max_gross_leverage: float = 2.0, weights_sum: float | None = None) -> None:
        super().__init__(universe, weights, leg="perp", max_gross_leverage=max_gross_leverage,
                         weights_sum=weights_sum)
