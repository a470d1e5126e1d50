"""Risk-based allocations: inverse volatility, equal risk contribution, volatility targeting, and
the BTC anchor (alts hedged with BTC perps by rolling beta)."""

from __future__ import annotations

import math

from engine.core.errors import ConfigError
from engine.portfolio.view import PortfolioView
from engine.portfolio.stats import MarketStats
from strategies.base import AssetLegs, Strategy, coinm_value, normalise


def erc_weights(cov: list[list[float]], iterations: int = 500, tol: float = 1e-10) -> list[float]:
    """Long-only equal-risk-contribution weights (sum 1) by the fixed-point iteration
    w_i ∝ 1 / (Σ w)_i, started from inverse volatility."""
    n = len(cov)
    w = [1.0 / math.sqrt(cov[i][i]) if cov[i][i] > 0 else 0.0 for i in range(n)]
    s = sum(w)
    if s <= 0:
        return [1.0 / n] * n
    w = [x / s for x in w]
    for _ in range(iterations):
        sigma_w = [sum(cov[i][j] * w[j] for j in range(n)) for i in range(n)]
        new = [math.sqrt(w[i] / sigma_w[i]) if sigma_w[i] > 0 else 0.0 for i in range(n)]
        s = sum(new)
        new = [x / s for x in new]
        if max(abs(a - b) for a, b in zip(new, w)) < tol:
            return new
        w = new
    return w


def risk_contributions(w: list[float], cov: list[list[float]]) -> list[float]:
    n = len(w)
    sigma_w = [sum(cov[i][j] * w[j] for j in range(n)) for i in range(n)]
    return [w[i] * sigma_w[i] for i in range(n)]


class RiskParity(Strategy):
    """`inverse_vol`: weights ∝ 1/σ; `erc`: equal risk contribution under the covariance.

    Falls back to equal weights until every asset has `min_returns` sampled returns.
    """

    name = "risk_parity"

    def __init__(self, universe: dict[str, AssetLegs], method: str = "inverse_vol",
                 gross: float = 1.0, window: int | None = None, min_returns: int = 20,
                 leg: str = "spot", max_gross_leverage: float = 1.0) -> None:
        super().__init__(universe, leg, max_gross_leverage)
        if method not in ("inverse_vol", "erc"):
            raise ConfigError(f"method must be inverse_vol or erc, got {method!r}")
        self.method, self.gross, self.window, self.min_returns = method, gross, window, min_returns

    def target_weights(self, view: PortfolioView, stats: MarketStats) -> dict[str, float]:
        assets = self.assets
        rows = stats.aligned(assets, self.window)
        if rows is None or len(rows[0]) < self.min_returns:
            return {a: self.gross / len(assets) for a in assets}
        if self.method == "inverse_vol":
            vols = [stats.vol(a, len(rows[0])) or 0.0 for a in assets]
            raw = {a: (1.0 / v if v > 0 else 0.0) for a, v in zip(assets, vols)}
            return normalise(raw, self.gross)
        cov = stats.covariance(assets, len(rows[0]))
        w = erc_weights(cov)
        return {a: self.gross * x for a, x in zip(assets, w)}


class VolTarget(Strategy):
    """Scale another strategy's weights down when the portfolio's realised volatility under them
    exceeds `target_vol` (never up)."""

    name = "vol_target"

    def __init__(self, base: Strategy, target_vol: float, window: int | None = None,
                 min_returns: int = 20) -> None:
        super().__init__(base.universe, base.leg, base.max_gross_leverage)
        if target_vol <= 0:
            raise ConfigError(f"target_vol must be positive, got {target_vol}")
        self.base, self.target_vol, self.window, self.min_returns = (base, target_vol, window,
                                                                    min_returns)

    def realised_vol(self, weights: dict[str, float], stats: MarketStats) -> float | None:
        assets = list(weights)
        rows = stats.aligned(assets, self.window)
        if rows is None or len(rows[0]) < self.min_returns:
            return None
        cov = stats.covariance(assets, len(rows[0]))
        w = [weights[a] for a in assets]
        var = sum(w[i] * cov[i][j] * w[j] for i in range(len(w)) for j in range(len(w)))
        return math.sqrt(var) if var > 0 else 0.0

    def target_weights(self, view: PortfolioView, stats: MarketStats) -> dict[str, float]:
        w = self.base.target_weights(view, stats)
        vol = self.realised_vol(w, stats)
        if vol is None or vol <= self.target_vol:
            return w
        k = self.target_vol / vol
        return {a: x * k for a, x in w.items()}

    def legs(self, exposures, view, stats):
        return self.base.legs(exposures, view, stats)


class BtcAnchor(Strategy):
    """Hold alts at their weights on spot and hedge their beta to BTC with a BTC perp.

    The BTC perp's target is `btc_weight × NAV − Σ β_alt × alt exposure` (minus BTC spot):
    the book's net BTC-equivalent exposure stays at the BTC weight.
    """

    name = "btc_anchor"

    def __init__(self, universe: dict[str, AssetLegs], weights: dict[str, float],
                 anchor: str = "BTC", window: int | None = None, min_returns: int = 20,
                 default_beta: float = 1.0, max_gross_leverage: float = 2.0) -> None:
        super().__init__(universe, "spot", max_gross_leverage, check_legs=False)
        if anchor not in universe or universe[anchor].perp is None:
            raise ConfigError(f"anchor {anchor} needs a perp instrument in the universe")
        self.weights, self.anchor = dict(weights), anchor
        self.window, self.min_returns, self.default_beta = window, min_returns, default_beta

    def target_weights(self, view, stats):
        return dict(self.weights)

    def betas(self, stats: MarketStats) -> dict[str, float]:
        out = {}
        for a in self.universe:
            if a == self.anchor:
                continue
            rows = stats.aligned([a, self.anchor], self.window)
            b = stats.beta(a, self.anchor, self.window) if (
                rows is not None and len(rows[0]) >= self.min_returns) else None
            out[a] = self.default_beta if b is None else b
        return out

    def legs(self, exposures, view, stats):
        out: dict[str, float] = {}
        betas = self.betas(stats)
        hedge = 0.0
        for a, target in exposures.items():
            if a == self.anchor:
                continue
            l = self.universe[a]
            out[l.spot or l.perp] = target
            hedge += betas[a] * target
        anchor = self.universe[self.anchor]
        btc_spot = view.spot_value.get(self.anchor, 0.0)
        if anchor.spot:
            out[anchor.spot] = btc_spot
        out[anchor.perp] = (exposures.get(self.anchor, 0.0) - btc_spot
                            - coinm_value(view, self.anchor) - hedge)
        return out
