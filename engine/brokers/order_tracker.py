"""What the engine knows of each live order, whatever told it: the REST answer of the order,
the user-data stream (fills, order ends), a lookup by client id, a cancel's answer.

Pure and synchronous: every method takes what was learnt and returns the events to hand to
the execution engine. Two rules keep it honest however the sources interleave:
- a fill is taken once, by its trade id (the stream and REST both report it);
- an order's final state is handed on once, and only after the fills it reports: execution
  must never see "filled" before the fill itself, or it would send the quantity again.
"""

from __future__ import annotations

from decimal import Decimal

from engine.model.events import Fill
from engine.model.orders import OrderRequest, OrderUpdate

_ZERO = Decimal(0)
FINAL = ("filled", "expired", "canceled", "rejected", "unsent")


class OrderTracker:
    def __init__(self) -> None:
        self.submitted: dict[str, OrderRequest] = {}  # every order sent, by client id
        self.resting: dict[str, OrderRequest] = {}  # accepted at the venue, not ended yet
        self._filled: dict[str, Decimal] = {}  # client id -> quantity of fills handed on
        self._held: dict[str, tuple[str, str, Decimal]] = {}  # final states awaiting fills
        self._final: set[str] = set()
        self._seen_trades: set[tuple[str, str]] = set()

    def submit(self, order: OrderRequest) -> None:
        self.submitted[order.client_order_id] = order

    def filled(self, cid: str) -> Decimal:
        return self._filled.get(cid, _ZERO)

    def is_final(self, cid: str) -> bool:
        return cid in self._final

    def fill(self, f: Fill) -> list[Fill | OrderUpdate]:
        """A fill from any source: [] when its trade id was seen, else the fill and the order's
        final state if that was waiting for it."""
        key = (f.symbol, f.trade_id)  # Binance numbers trades per symbol
        if key in self._seen_trades:
            return []
        self._seen_trades.add(key)
        self._filled[f.order_id] = self._filled.get(f.order_id, _ZERO) + f.qty
        out: list[Fill | OrderUpdate] = [f]
        held = self._held.get(f.order_id)
        if held is not None:
            out += self.end(f.order_id, *held, now=f.ts_recv)
        return out

    def accepted(self, order: OrderRequest, filled: Decimal, now: int) -> list[OrderUpdate]:
        """The venue holds the order open (partly filled by `filled`)."""
        cid = order.client_order_id
        if cid in self._final:
            return []
        self.resting[cid] = order
        return [OrderUpdate(client_order_id=cid, symbol=order.symbol, status="accepted", ts=now,
                            filled_qty=filled)]

    def end(self, cid: str, symbol: str, status: str, filled: Decimal, now: int
            ) -> list[OrderUpdate]:
        """The order ended at the venue with `filled` in all: handed on once its fills are."""
        if cid in self._final:
            return []
        if self._filled.get(cid, _ZERO) < filled:
            self._held[cid] = (symbol, status, filled)
            return []
        self._held.pop(cid, None)
        self._final.add(cid)
        self.resting.pop(cid, None)
        return [OrderUpdate(client_order_id=cid, symbol=symbol, status=status, ts=now,
                            filled_qty=filled)]

    def refused(self, cid: str, symbol: str, status: str, code: int, reason: str, now: int,
                refusal: str = "") -> list[OrderUpdate]:
        """Rejected (or never arrived): final at once, no fill can follow."""
        if cid in self._final:
            return []
        self._final.add(cid)
        self.resting.pop(cid, None)
        return [OrderUpdate(client_order_id=cid, symbol=symbol, status=status, ts=now,
                            code=code, reason=reason, refusal=refusal)]

    def to_cancel(self, cid: str) -> OrderRequest | None:
        """The order a cancel is for: resting, or sent with no final state known (its answer
        lost: it may rest at the venue all the same). None once it ended."""
        if cid in self._final:
            return None
        o = self.resting.pop(cid, None)
        return o if o is not None else self.submitted.get(cid)
