"""What happened lately, for a person watching the run: the last fills, transfers and alerts.
Bounded, so a run of a month keeps the same few hundred rows; the journal keeps them all."""

from __future__ import annotations

from collections import deque

from engine.model.events import Fill, Transfer

KEEP = 50


class RecentActivity:
    """Written by the run loop (fills, transfers) and the alerter (alerts); read by the status
    page. Rows are plain dicts of text and numbers, ready to be sent."""

    def __init__(self, keep: int = KEEP) -> None:
        self.fills: deque[dict] = deque(maxlen=keep)
        self.transfers: deque[dict] = deque(maxlen=keep)
        self.alerts: deque[dict] = deque(maxlen=keep)

    def fill(self, f: Fill) -> None:
        self.fills.append({"ts": f.ts_recv, "symbol": f.symbol, "side": f.side,
                           "qty": str(f.qty), "price": str(f.price), "fee": str(f.fee),
                           "fee_currency": f.fee_currency, "liquidity": f.liquidity,
                           "order_id": f.order_id})

    def transfer(self, t: Transfer) -> None:
        self.transfers.append({"ts": t.ts, "asset": t.asset, "amount": str(t.amount),
                               "from": t.from_wallet, "to": t.to_wallet, "status": t.status,
                               "reason": t.reason})

    def alert(self, ts: int, kind: str, text: str) -> None:
        self.alerts.append({"ts": ts, "kind": kind, "text": text})
