"""Regime matrix: named market regimes, each a set of active signals, mapped to a spot-vs-perp
mix and a hedge ratio. The first regime whose signals are all active wins; with none, the
baseline applies (the exit rule back to the baseline is simply its conditions clearing)."""

from __future__ import annotations

import msgspec

from engine.core.errors import ConfigError


class Regime(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    name: str
    when: tuple[str, ...] = ()
    perp_share: float = 0.0   # fraction of each asset's net exposure held on its perp
    hedge_ratio: float = 0.0  # fraction of the exposure shorted on the perp on top


class RegimeMatrix:
    def __init__(self, regimes: list[Regime], baseline: Regime, signals: set[str]) -> None:
        for r in [*regimes, baseline]:
            if not 0.0 <= r.perp_share <= 1.0:
                raise ConfigError(f"regime {r.name}: perp_share must be in [0, 1]")
            if not 0.0 <= r.hedge_ratio <= 1.0:
                raise ConfigError(f"regime {r.name}: hedge_ratio must be in [0, 1]")
            missing = set(r.when) - signals
            if missing:
                raise ConfigError(f"regime {r.name}: unknown signals {sorted(missing)}")
        self.regimes, self.baseline = regimes, baseline
        self.current = baseline

    def select(self, active: set[str]) -> Regime:
        for r in self.regimes:
            if r.when and all(s in active for s in r.when):
                return r
        return self.baseline

    def update(self, active: set[str]) -> Regime | None:
        """The new regime when it changed, else None."""
        r = self.select(active)
        if r.name != self.current.name:
            self.current = r
            return r
        return None

    def legs(self, regime: Regime, exposure: float) -> tuple[float, float]:
        """(spot, perp) notional holding `exposure` under `regime`."""
        spot = exposure * (1.0 - regime.perp_share)
        perp = exposure * regime.perp_share - exposure * regime.hedge_ratio
        return spot, perp
