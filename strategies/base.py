"""The strategy contract: portfolio state and market statistics in, target exposures out.

A strategy decides *target net weights per underlying* (`target_weights`) and *which leg carries
them* (`legs`: target signed notional per instrument). `allocate` joins the two and enforces the
strategy's gross-leverage cap by scaling every leg down together, so no strategy ever asks for
more than `max_gross_leverage × NAV` in Σ|leg notional|. Pure and synchronous.

The portfolio comes as a read-only `PortfolioView` (live, read during the decision); a frozen
`PortfolioSnapshot` has the same fields and reads the same, for tests and reports.
"""

from __future__ import annotations

import msgspec

from engine.core.errors import ConfigError
from engine.portfolio.view import PortfolioView
from engine.portfolio.stats import MarketStats


class AssetLegs(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """The instruments that can carry one underlying's exposure."""

    spot: str | None = None
    perp: str | None = None


class Allocation(msgspec.Struct, frozen=True, kw_only=True):
    weights: dict[str, float]
    legs: dict[str, float]
    sleeves: dict[str, str] = {}
    scale: float = 1.0
    note: str = ""


LEG_POLICIES = ("spot", "perp")


class Strategy:
    """Base class. Subclasses implement `target_weights`; some override `legs`."""

    name = "strategy"
    # whether `target_weights` or `legs` read the market statistics (a bar backtest may skip
    # bars between decisions only for a strategy whose targets stay put without them)
    reads_stats = True

    def __init__(self, universe: dict[str, AssetLegs], leg: str = "spot",
                 max_gross_leverage: float = 1.0, check_legs: bool = True) -> None:
        if leg not in LEG_POLICIES:
            raise ConfigError(f"leg must be one of {LEG_POLICIES}, got {leg!r}")
        if max_gross_leverage <= 0:
            raise ConfigError(f"max_gross_leverage must be positive, got {max_gross_leverage}")
        for asset, l in universe.items():
            if l.spot is None and l.perp is None:
                raise ConfigError(f"asset {asset}: needs a spot or a perp instrument")
            if not check_legs:
                continue
            if leg == "spot" and l.spot is None:
                raise ConfigError(f"asset {asset}: leg 'spot' needs a spot instrument")
            if leg == "perp" and l.perp is None:
                raise ConfigError(f"asset {asset}: leg 'perp' needs a perp instrument")
        self.universe = universe
        self.leg = leg
        self.max_gross_leverage = max_gross_leverage

    @property
    def assets(self) -> list[str]:
        return list(self.universe)

    def target_weights(self, view: PortfolioView, stats: MarketStats) -> dict[str, float]:
        raise NotImplementedError

    def legs(self, exposures: dict[str, float], view: PortfolioView, stats: MarketStats
             ) -> dict[str, float]:
        """Place each underlying's target exposure on its legs.

        `spot`: the spot leg takes the change, perp legs stay as they are. `perp`: spot holdings
        stay (a core), the perp leg is set to target − spot value (an overweight asset gets a
        short perp, an underweight one a long perp).
        """
        out: dict[str, float] = {}
        # each table read once: a view computes it on every read
        perps, spot_value, coinm, prices = (view.perp_notional, view.spot_value, view.coinm,
                                            view.prices)
        for asset, target in exposures.items():
            l = self.universe[asset]
            perp_now = perps.get(l.perp, 0.0) if l.perp else 0.0
            # coins in the COIN-M wallet are held coin (its inverse perps' margin), and dated
            # contracts are rolled, not traded, by the strategy: the legs carry the rest
            target -= _coinm_value(coinm, prices, asset) + _dated_sum(perps, asset)
            spot_now = spot_value.get(asset, 0.0)
            if self.leg == "spot" and l.spot is not None:
                out[l.spot] = target - perp_now
                if l.perp:
                    out[l.perp] = perp_now
            else:
                if l.spot:
                    out[l.spot] = spot_now
                out[l.perp] = target - spot_now
        return out

    def sleeves(self, view: PortfolioView, stats: MarketStats) -> dict[str, str]:
        return {}

    def allocate(self, view: PortfolioView, stats: MarketStats,
                 weights: dict[str, float] | None = None) -> Allocation:
        w = self.target_weights(view, stats) if weights is None else weights
        nav = view.nav
        legs = self.legs({a: w.get(a, 0.0) * nav for a in self.universe}, view, stats)
        gross = sum(abs(v) for v in legs.values())
        cap = self.max_gross_leverage * nav
        scale = 1.0
        if nav <= 0:
            legs = {s: 0.0 for s in legs}
            scale = 0.0
        elif gross > cap:
            scale = cap / gross
            legs = {s: v * scale for s, v in legs.items()}
        return Allocation(weights=w, legs=legs, sleeves=self.sleeves(view, stats), scale=scale)


def coinm_value(view: PortfolioView, asset: str) -> float:
    """Value of `asset` held in the COIN-M wallet (part of its net exposure)."""
    return _coinm_value(view.coinm, view.prices, asset)


def _coinm_value(coinm, prices, asset: str) -> float:
    q = coinm.get(asset)
    return q * prices.get(asset, 0.0) if q else 0.0


def dated_notional(view: PortfolioView, asset: str) -> float:
    """Net notional of `asset`'s dated contracts (`BTC/USDT:USDT-250627`)."""
    return _dated_sum(view.perp_notional, asset)


def _dated_sum(perp_notional, asset: str) -> float:
    if not perp_notional:  # spot alone: no generator to run
        return 0.0
    return sum(v for sym, v in perp_notional.items()
               if sym.startswith(asset + "/") and "-" in sym.partition(":")[2])


def normalise(raw: dict[str, float], gross: float) -> dict[str, float]:
    total = sum(raw.values())
    if total <= 0:
        return {a: 0.0 for a in raw}
    return {a: gross * v / total for a, v in raw.items()}
