"""Target notionals → orders in each market's own units (pure).

For each leg of an intent the planner takes the difference between the target and the current
position, converts it to the market's amount (base units, or contracts for inverse), rounds it
down to the lot step (snapping an amount a hair under a lot boundary up to it: floating-point
targets must not lose a lot), and drops what the exchange would refuse (below minimum amount or
notional). What could not be ordered is kept in `carry` per symbol and reported: the target is
kept too, so the next plan picks it up again: a small delta is deferred, never lost.

Orders are sequenced so transient exposure stays bounded: orders that shrink a position (or
sell spot) go first, then the ones that grow one; larger first within each group.
"""

from __future__ import annotations

from decimal import Decimal

import msgspec

from engine.core.numeric import to_decimal
from engine.execution.markets import MarketSpec
from engine.model.events import RebalanceIntent
from engine.portfolio.state import Portfolio


class PlannedOrder(msgspec.Struct, frozen=True, kw_only=True):
    symbol: str
    side: str
    qty: Decimal  # positive, market units, on the lot step
    ref_price: Decimal
    notional: Decimal
    reduces: bool


class Plan(msgspec.Struct, frozen=True, kw_only=True):
    orders: tuple[PlannedOrder, ...]
    carry: dict[str, Decimal]  # signed amount per symbol that could not be ordered yet
    skipped: dict[str, str]  # symbol -> why nothing was ordered


class Planner:
    def __init__(self, markets: dict[str, MarketSpec]) -> None:
        self.markets = markets
        self.carry: dict[str, Decimal] = {}

    def current_amount(self, portfolio: Portfolio, spec: MarketSpec) -> Decimal:
        if spec.kind == "spot":
            return portfolio.holdings.get(spec.base, Decimal(0))
        return portfolio.perps[spec.symbol].qty

    def plan(self, intent: RebalanceIntent, portfolio: Portfolio,
             prices: dict[str, float]) -> Plan:
        orders: list[PlannedOrder] = []
        skipped: dict[str, str] = {}
        for leg in intent.targets:
            spec = self.markets.get(leg.symbol)
            if spec is None:
                skipped[leg.symbol] = "no market rules for this symbol"
                continue
            px = prices.get(leg.symbol)
            if not px:
                skipped[leg.symbol] = "no price"
                continue
            price = to_decimal(px)
            current = self.current_amount(portfolio, spec)
            target = spec.amount_for(Decimal(repr(leg.notional)), price)
            delta = target - current
            qty = spec.snap_amount(abs(delta))
            side = "buy" if delta > 0 else "sell"
            why = (spec.tradable(qty, price) if qty else
                   f"amount {abs(delta):.8f} below minimum {spec.min_amount} "
                   f"(lot {spec.amount_step})")
            if why is not None:
                self.carry[leg.symbol] = delta
                skipped[leg.symbol] = why
                continue
            self.carry[leg.symbol] = delta - (qty if side == "buy" else -qty)
            reduces = current != 0 and (current > 0) != (side == "buy") and qty <= abs(current)
            orders.append(PlannedOrder(symbol=leg.symbol, side=side, qty=qty, ref_price=price,
                                       notional=spec.notional(qty, price), reduces=reduces))
        orders.sort(key=lambda o: (not o.reduces, -o.notional))
        return Plan(orders=tuple(orders), carry=dict(self.carry), skipped=skipped)
