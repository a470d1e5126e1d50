"""The legs of one underlying paced together (pure, no I/O).

A rebalance that moves one underlying through several legs (sell spot BTC and buy the BTC perp,
or short the perp while buying spot) changes its net exposure by the sum of their fills. The
legs run as separate TWAPs; were one to run ahead of another (a paused leg, a thin book), the
net would leave the straight path from its start to its target, which is risk nobody asked
for. `NetPath` keeps, per underlying, the net change in base units so far and what the
children in flight may still add, and says how much the next child of a leg may move it:
never so far that, if every child in flight in that direction filled and none in the other,
the net would stand more than `limit` outside the segment [start, target].

Base units for every kind: spot and linear amounts are base; an inverse contract is
`contract_size / price` of base.
"""

from __future__ import annotations

from decimal import Decimal

_ZERO = Decimal(0)


class NetPath:
    __slots__ = ("target", "price", "limit", "done", "up", "down")

    def __init__(self, target: Decimal, price: float, limit: Decimal) -> None:
        self.target = target  # the plan's net change, base units, signed
        self.price = price  # reference price (quote per base), to express it as notional
        self.limit = limit  # how far outside [0, target] the net may stand, base units
        self.done = _ZERO  # net change filled so far
        self.up = _ZERO  # what buy children in flight may still add (≥ 0)
        self.down = _ZERO  # what sell children in flight may still take (≤ 0)

    def room(self, buying: bool) -> Decimal:
        """How much (≥ 0, base units) the next child in this direction may move the net."""
        lo, hi = (self.target, _ZERO) if self.target < 0 else (_ZERO, self.target)
        if buying:
            return max(_ZERO, hi + self.limit - (self.done + self.up))
        return max(_ZERO, (self.done + self.down) - (lo - self.limit))

    def sent(self, signed: Decimal) -> None:
        if signed > 0:
            self.up += signed
        else:
            self.down += signed

    def filled(self, signed: Decimal, in_flight: Decimal) -> Decimal:
        """A fill of `signed` base units of a child with `in_flight` still unfilled (same
        sign); returns what that child has left in flight."""
        self.done += signed
        take = signed if abs(signed) <= abs(in_flight) else in_flight
        self._release(take)
        return in_flight - take

    def ended(self, in_flight: Decimal) -> None:
        """A child ended with `in_flight` unfilled: it will not move the net any more."""
        self._release(in_flight)

    def _release(self, signed: Decimal) -> None:
        if signed > 0:
            self.up = max(_ZERO, self.up - signed)
        elif signed < 0:
            self.down = min(_ZERO, self.down - signed)

    def off(self) -> Decimal:
        """How far (base units, ≥ 0) the filled net stands outside [0, target]."""
        lo, hi = (self.target, _ZERO) if self.target < 0 else (_ZERO, self.target)
        if self.done < lo:
            return lo - self.done
        if self.done > hi:
            return self.done - hi
        return _ZERO
