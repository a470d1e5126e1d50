"""Regime matrix (seed 002): named market regimes, each a set of active signals, mapped to how
each asset's target exposure is held: a spot share and a net futures exposure, both fractions
of the asset's target exposure (`futures` below zero is a short: with `spot_share` 1 and
`futures` −1.4 the book is net short 40% of the target, within the leverage cap the strategy and
the risk guard enforce). A regime may also replace the target weights (`weights`): a
correlation breach moves to a diversifying target instead of rebalancing to the same one.

Precedence: the first regime in the list whose signals are all active wins; with none, the
baseline. A regime, once entered, is held at least `min_hold_ns` before another one is taken
(the baseline included), so one noisy bar cannot flip the book back and forth.

The older form, `perp_share` (the fraction held on the perp) and `hedge_ratio` (shorted on
top), is still read: spot share 1 − perp_share, futures perp_share − hedge_ratio.
"""

from __future__ import annotations

from typing import Literal

import msgspec

from engine.core.errors import ConfigError


class Regime(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    name: str
    when: tuple[str, ...] = ()
    spot_share: float | None = None  # of the asset's target exposure, held in spot
    futures: float | None = None  # net futures exposure, of the target exposure (< 0: short)
    perp_share: float = 0.0  # older form: fraction held on the perp
    hedge_ratio: float = 0.0  # older form: fraction shorted on the perp on top
    weights: dict[str, float] | None = None  # target weights while in this regime
    # where the futures exposure is held: the asset's perpetual, or its nearest dated contract
    # outside its roll window (a cash-and-carry: long spot, short the quarterly)
    futures_on: Literal["perp", "dated"] = "perp"

    def mix(self) -> tuple[float, float]:
        """(spot share, net futures) of the target exposure."""
        if self.spot_share is not None or self.futures is not None:
            return (self.spot_share if self.spot_share is not None else 1.0,
                    self.futures if self.futures is not None else 0.0)
        return 1.0 - self.perp_share, self.perp_share - self.hedge_ratio


MAX_FUTURES = 3.0  # |futures| at most this many times the target exposure


class RegimeMatrix:
    def __init__(self, regimes: list[Regime], baseline: Regime, signals: set[str],
                 min_hold_ns: int = 0, assets: set[str] | None = None) -> None:
        names = [r.name for r in [*regimes, baseline]]
        if len(set(names)) != len(names):
            raise ConfigError(f"regime names must be unique, got {names}")
        for r in [*regimes, baseline]:
            if not 0.0 <= r.perp_share <= 1.0:
                raise ConfigError(f"regime {r.name}: perp_share must be in [0, 1]")
            if not 0.0 <= r.hedge_ratio <= MAX_FUTURES:
                raise ConfigError(f"regime {r.name}: hedge_ratio must be in [0, {MAX_FUTURES}]")
            if (r.spot_share is not None or r.futures is not None) and (r.perp_share or
                                                                      r.hedge_ratio):
                raise ConfigError(f"regime {r.name}: give spot_share and futures, or "
                                  "perp_share and hedge_ratio, not both")
            spot, fut = r.mix()
            if not 0.0 <= spot <= 1.0:
                raise ConfigError(f"regime {r.name}: spot_share must be in [0, 1], got {spot}")
            if abs(fut) > MAX_FUTURES:
                raise ConfigError(f"regime {r.name}: futures must be within ±{MAX_FUTURES}, "
                                  f"got {fut}")
            missing = set(r.when) - signals
            if missing:
                raise ConfigError(f"regime {r.name}: unknown signals {sorted(missing)}")
            if r.weights is not None and assets is not None and set(r.weights) - assets:
                raise ConfigError(f"regime {r.name}: weights for unknown assets "
                                  f"{sorted(set(r.weights) - assets)}")
        if min_hold_ns < 0:
            raise ConfigError(f"regime min_hold must not be negative, got {min_hold_ns}")
        self.regimes, self.baseline = regimes, baseline
        self.uses_dated = any(r.futures_on == "dated" for r in [*regimes, baseline])
        self.current = baseline
        self.min_hold_ns = min_hold_ns
        self.since: int | None = None  # when the current regime was entered

    def select(self, active: set[str]) -> Regime:
        for r in self.regimes:
            if r.when and all(s in active for s in r.when):
                return r
        return self.baseline

    def update(self, active: set[str], now: int = 0) -> Regime | None:
        """The new regime when it changed, else None (also while the current one has not
        been held `min_hold_ns` yet)."""
        r = self.select(active)
        if r.name == self.current.name:
            return None
        if self.since is not None and now - self.since < self.min_hold_ns:
            return None
        self.current = r
        self.since = now
        return r

    def legs(self, regime: Regime, exposure: float) -> tuple[float, float]:
        """(spot, perp) notional holding `exposure` under `regime`."""
        spot, fut = regime.mix()
        return exposure * spot, exposure * fut
