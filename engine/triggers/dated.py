"""Where each underlying's futures hedge sits: a dated contract rolled before it expires, and
the hedge moved between the perpetual and a dated contract by carry.

Both decide a calendar spread, the contract left to zero and the one entered by the same
notional: one rebalance whose two legs the executor paces together, so the underlying's net
exposure stays within one slice while the hedge moves.

Carry of a futures position held over a period h (a short earns, a long pays):
- perpetual: the funding, rate per interval × h / interval (a short receives a positive rate);
- dated: its basis b = F / S − 1 converging to zero at expiry, b × h / τ (τ: time to expiry),
  which is the annualised basis × h / 365 days.
The hedge moves to the contract that earns more once the gain over the holding period (the
`horizon`, capped by the time left before the dated contract's own roll) exceeds `switch_cost`,
the spread a switch pays on its two legs: the same margin keeps it from moving back and forth.
"""

from __future__ import annotations

from dataclasses import dataclass

from engine.core.clock import utc_text
from engine.portfolio.state import Portfolio
from engine.portfolio.stats import MarketStats

RETRY_NS = 300_000_000_000  # a move not done five minutes on is decided again
_YEAR_NS = 365 * 86_400 * 10**9


@dataclass(frozen=True)
class Spread:
    """A calendar spread decided: `legs` (symbol → target notional) and why."""

    rule: str  # "roll" | "carry"
    source: str
    into: str | None
    legs: dict[str, float]
    reason: str


class MovesPending:
    """Moves decided and not yet seen done: none is decided again for the same underlying
    (its perpetual names it) until the position is where it was sent, or `RETRY_NS` passed
    (refused, aborted, partly filled)."""

    def __init__(self) -> None:
        self.moves: dict[str, tuple[str, str | None, int]] = {}  # perp -> (from, into, when)

    def busy(self, portfolio: Portfolio, perp: str, now: int) -> bool:
        move = self.moves.get(perp)
        if move is None:
            return False
        source, _, when = move
        left = portfolio.perps.get(source)
        if (left is None or not left.qty) or now - when >= RETRY_NS:
            del self.moves[perp]
            return False
        return True

    def start(self, perp: str, source: str, into: str | None, now: int) -> None:
        self.moves[perp] = (source, into, now)


class RollRule:
    """A dated position `roll_ns` before its expiry (by exchange time) moves into its
    perpetual (`into = "perp"`) or the next dated contract of the underlying ("next")."""

    def __init__(self, portfolio: Portfolio, roll_ns: int, into: str,
                 pending: MovesPending) -> None:
        self.portfolio, self.roll_ns, self.into, self.pending = portfolio, roll_ns, into, pending

    def decide(self, market_ns: int, now: int) -> Spread | None:
        p = self.portfolio
        for sym, d in p.perps.items():
            inst = d.inst
            if not inst.is_dated or not d.qty or market_ns < inst.expiry_ns - self.roll_ns \
                    or self.pending.busy(p, inst.perpetual, now):
                continue
            into = self.target(sym)
            self.pending.start(inst.perpetual, sym, into, now)
            legs = {sym: 0.0}
            if into is not None:
                legs[into] = p.perps[into].notional + d.notional
            return Spread("roll", sym, into, legs,
                          f"{sym} expires {utc_text(inst.expiry_ns)}: rolled into "
                          f"{into or 'nothing (no contract to roll into is declared)'}")
        return None

    def target(self, sym: str) -> str | None:
        """The perpetual, or the next dated contract of the same underlying (the nearest later
        expiry), where declared."""
        perps = self.portfolio.perps
        inst = perps[sym].inst
        if self.into == "perp":
            return inst.perpetual if inst.perpetual in perps else None
        later = sorted((p.inst.expiry_ns, s) for s, p in perps.items()
                       if p.inst.is_dated and p.inst.perpetual == inst.perpetual
                       and p.inst.expiry_ns > inst.expiry_ns)
        return later[0][1] if later else None


class CarryChooser:
    """Keeps each underlying's futures hedge in whichever of its perpetual and dated contracts
    earns the most carry (module docstring). The perpetual's funding is the venue's predicted
    rate (mark price stream), else its last settled rate, else `expected_funding[perp]`; with
    none the hedge is left where it is. A dated contract inside its roll window (or past
    expiry) is never chosen."""

    def __init__(self, portfolio: Portfolio, stats: MarketStats, *, horizon_ns: int,
                 switch_cost: float, interval_hours: float, roll_ns: int | None,
                 expected_funding: dict[str, float], pending: MovesPending) -> None:
        self.portfolio, self.stats = portfolio, stats
        self.horizon_ns, self.switch_cost = horizon_ns, switch_cost
        self.interval_ns = int(interval_hours * 3600e9)
        self.roll_ns = roll_ns or 0
        self.expected_funding = expected_funding
        self.pending = pending
        # the last comparison per underlying (perp): {contract: carry per year}, for reports
        self.yields: dict[str, dict[str, float]] = {}

    def funding_rate(self, perp: str) -> float | None:
        rate = self.stats.predicted_funding.get(perp)
        if rate is None:
            settled = self.stats.funding.get(perp)
            rate = settled[-1] if settled else self.expected_funding.get(perp)
        return rate

    def decide(self, market_ns: int, now: int) -> Spread | None:
        p = self.portfolio
        basis = p.dated_basis(market_ns)
        for perp, pp in p.perps.items():
            if pp.inst.is_dated:
                continue
            group = {perp: pp.notional}
            dated = {}
            for sym, d in p.perps.items():
                if d.inst.is_dated and d.inst.perpetual == perp:
                    group[sym] = d.notional
                    if sym in basis and market_ns < d.inst.expiry_ns - self.roll_ns:
                        dated[sym] = d.inst.expiry_ns - self.roll_ns - market_ns
            net = sum(group.values())
            rate = self.funding_rate(perp)
            if not net or rate is None or not dated or self.pending.busy(p, perp, now):
                continue
            side = 1.0 if net > 0 else -1.0
            # carry per year earned by the hedge's side in each contract
            yields = {perp: -side * rate * _YEAR_NS / self.interval_ns}
            yields.update({sym: -side * basis[sym] for sym in dated})
            self.yields[perp] = yields
            source = max(group, key=lambda s: abs(group[s]))
            best = max(yields, key=yields.__getitem__)
            if best == source or source not in yields:
                continue
            held_ns = min([self.horizon_ns] + [dated[s] for s in (best, source) if s in dated])
            gain = (yields[best] - yields[source]) * held_ns / _YEAR_NS
            if gain <= self.switch_cost:
                continue
            self.pending.start(perp, source, best, now)
            legs = {source: 0.0, best: group[best] + group[source]}
            return Spread("carry", source, best, legs,
                          f"carry: {best} earns {yields[best]:+.2%}/yr against {source}'s "
                          f"{yields[source]:+.2%}/yr (funding {rate:+.4%} a "
                          f"{self.interval_ns / 3600e9:g} h interval), "
                          f"{gain:+.3%} over {held_ns / 86400e9:.1f} days: hedge moved")
        return None
