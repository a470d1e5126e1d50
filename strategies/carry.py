"""Carry switch: hold exposure as spot instead of perp while funding or basis stays rich."""

from __future__ import annotations

from engine.core.errors import ConfigError
from engine.portfolio.view import PortfolioView
from engine.portfolio.stats import MarketStats
from strategies.base import Strategy


class CarrySwitch(Strategy):
    """Wraps a base strategy whose exposure normally sits on perps.

    When an asset's perp funding has been above `funding_threshold` for `streak` settlements in
    a row, or its annualised basis is above `basis_threshold`, the same net exposure is held as
    spot long + `rich_perp_fraction` of it on the perp; with `neutral_fraction` > 0 a neutral
    sleeve (spot long + equal short perp, `neutral_fraction` × NAV) is added to earn the funding.
    It switches back once funding has been at or below the threshold for `streak` settlements
    and the basis is below its threshold. Funding on a perp accrues to sleeve `carry:<asset>`
    while switched, `core:<asset>` otherwise.
    """

    name = "carry_switch"

    def __init__(self, base: Strategy, funding_threshold: float = 0.0001, streak: int = 3,
                 basis_threshold: float | None = None, rich_perp_fraction: float = 0.0,
                 neutral_fraction: float = 0.0, periods_per_year: float = 3 * 365) -> None:
        super().__init__(base.universe, "perp", base.max_gross_leverage)
        for a, l in base.universe.items():
            if l.spot is None or l.perp is None:
                raise ConfigError(f"carry switch needs spot and perp for {a}")
        if streak < 1:
            raise ConfigError(f"streak must be >= 1, got {streak}")
        if not 0.0 <= rich_perp_fraction <= 1.0:
            raise ConfigError(f"rich_perp_fraction must be in [0, 1], got {rich_perp_fraction}")
        self.base = base
        self.funding_threshold, self.streak = funding_threshold, streak
        self.basis_threshold = basis_threshold
        self.rich_perp_fraction, self.neutral_fraction = rich_perp_fraction, neutral_fraction
        self.periods_per_year = periods_per_year
        self.rich: dict[str, bool] = {a: False for a in base.universe}

    def update_regime(self, stats: MarketStats) -> dict[str, bool]:
        for a, l in self.universe.items():
            hist = list(stats.funding.get(l.perp, ()))
            basis = stats.basis(a)
            basis_rich = (self.basis_threshold is not None and basis is not None
                          and basis * self.periods_per_year > self.basis_threshold)
            rich_streak = stats.funding_streak(l.perp, self.funding_threshold) >= self.streak
            if not self.rich[a]:
                self.rich[a] = rich_streak or basis_rich
            else:
                calm = (len(hist) >= self.streak
                        and all(r <= self.funding_threshold for r in hist[-self.streak:]))
                if calm and not basis_rich:
                    self.rich[a] = False
        return dict(self.rich)

    def target_weights(self, view: PortfolioView, stats: MarketStats) -> dict[str, float]:
        self.update_regime(stats)
        return self.base.target_weights(view, stats)

    def legs(self, exposures, view, stats):
        out: dict[str, float] = {}
        for a, target in exposures.items():
            l = self.universe[a]
            if self.rich[a]:
                perp = target * self.rich_perp_fraction
                spot = target - perp
                neutral = self.neutral_fraction * view.nav
                out[l.spot] = spot + neutral
                out[l.perp] = perp - neutral
            else:
                out[l.spot] = 0.0
                out[l.perp] = target
        return out

    def sleeves(self, view, stats):
        return {l.perp: ("carry:" if self.rich[a] else "core:") + a
                for a, l in self.universe.items()}
