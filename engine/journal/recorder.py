"""What the engine journals, as rows: one method per kind of record.

Rows are written with INSERT OR IGNORE (or an upsert for rows that evolve, like an order's
status), so re-running the same recorded input over an existing journal rewrites nothing and
duplicates nothing. A `submissions` row is written only when an order genuinely leaves for the
first time: the crash tests count those to prove no client order id is ever sent twice.
"""

from __future__ import annotations

from decimal import Decimal

import msgspec
import orjson

from engine.execution.engine import Parent
from engine.journal.store import Journal
from engine.model.events import Bar, Fill, RebalanceIntent, Transfer
from engine.model.orders import OrderRequest, OrderUpdate, RiskStateChange, TransferRequest
from engine.portfolio.state import PortfolioSnapshot


def _j(x) -> str:
    return orjson.dumps(x, default=str).decode()


class Recorder:
    def __init__(self, journal: Journal, run_id: str, attempt: int, risk_seq: int = 0,
                 kill_seq: int = 1) -> None:
        self.j, self.run_id, self.attempt = journal, run_id, attempt
        # a replayed run writes its risk changes again with the same numbers (ignored as
        # duplicates); paper and live runs go on from the journal's last one
        self._risk_seq = risk_seq
        self._kill_seq = kill_seq

    def kill_action(self, action: str, reason: str, ts: int) -> None:
        """A kill or a resume, in the order they happened (never overwritten)."""
        from engine.journal.kills import write_action

        write_action(self.j, self.run_id, self._kill_seq, ts, action, reason)
        self._kill_seq += 1

    def decision(self, i: RebalanceIntent) -> None:
        self.j.write(
            "INSERT OR IGNORE INTO decisions VALUES (?,?,?,?,?,?,?,?,?,?)",
            (i.intent_id, self.run_id, i.rule, i.reason, i.ts_recv, i.ts_decided, i.nav,
             _j([[t.symbol, t.notional] for t in i.targets]), _j(i.weights),
             _j(i.target_weights)))

    def order(self, o: OrderRequest, now: int, new: bool) -> None:
        self.j.write(
            "INSERT OR IGNORE INTO orders VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            (o.client_order_id, o.parent_id, self.run_id, o.symbol, o.side, str(o.qty),
             None if o.price is None else str(o.price), o.tif, int(o.reduce_only), o.ts_created,
             "sent", "0", "", 0, now))
        if new:
            self.j.write("INSERT INTO submissions VALUES (?,?,?,?)",
                         (o.client_order_id, self.run_id, self.attempt, now))

    def refused(self, u: OrderUpdate, o_parent: str, side: str) -> None:
        self.j.write(
            "INSERT OR IGNORE INTO orders VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            (u.client_order_id, o_parent, self.run_id, u.symbol, side, "0", None, "-", 0, u.ts,
             "refused", "0", u.reason, u.code, u.ts))

    def order_update(self, u: OrderUpdate) -> None:
        if u.status == "cancel_rejected":
            return
        self.j.write("UPDATE orders SET status=?, filled_qty=?, reason=?, code=?, updated_ns=? "
                     "WHERE client_order_id=? AND status NOT IN ('refused')",
                     (u.status, str(u.filled_qty), u.reason, u.code, u.ts, u.client_order_id))

    def fill(self, f: Fill) -> None:
        self.j.write("INSERT OR IGNORE INTO fills VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
                     (f.exchange, f.symbol, f.trade_id, self.run_id, f.order_id, f.side,
                      str(f.qty), str(f.price), str(f.fee), f.fee_currency, f.liquidity,
                      f.ts_recv))

    def transfer_request(self, t: TransferRequest, now: int) -> None:
        self.j.write("INSERT OR IGNORE INTO transfers VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
                     (t.transfer_id, self.run_id, t.asset, str(t.amount), t.from_wallet,
                      t.to_wallet, t.reason, "requested", "", "", t.ts_created, now))

    def transfer_settled(self, t: Transfer) -> None:
        self.j.write("UPDATE transfers SET status=?, detail=?, venue_id=?, updated_ns=? "
                     "WHERE transfer_id=? AND status='requested'",
                     (t.status, t.reason, t.venue_id, t.ts, t.transfer_id))

    def bar(self, b: Bar, origin: str) -> None:
        """A bar of `[bars]`: `history` (from the venue) or `built` (from trades)."""
        self.j.write("INSERT OR IGNORE INTO bars VALUES (?,?,?,?,?,?,?,?,?,?)",
                     (self.run_id, b.symbol, b.timeframe, b.ts_open, b.open, b.high, b.low,
                      b.close, b.volume, origin))

    def parent(self, p: Parent, now: int) -> None:
        r = p.report()
        self.j.write(
            "INSERT INTO parents VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?) ON CONFLICT(parent_id) "
            "DO UPDATE SET state=excluded.state, reason=excluded.reason, "
            "filled_qty=excluded.filled_qty, avg_price=excluded.avg_price, fees=excluded.fees, "
            "shortfall_bps=excluded.shortfall_bps, children=excluded.children, "
            "updated_ns=excluded.updated_ns",
            (r.parent_id, self.run_id, r.intent_id, r.symbol, r.side, str(r.target_qty),
             str(r.arrival_mid), r.state, r.reason, str(r.filled_qty),
             None if r.avg_price is None else str(r.avg_price), str(r.fees), r.shortfall_bps,
             r.children, now))

    def risk(self, c: RiskStateChange) -> None:
        self._risk_seq += 1
        self.j.write("INSERT OR IGNORE INTO risk_states VALUES (?,?,?,?,?,?)",
                     (self.run_id, c.ts, self._risk_seq, c.old, c.new, c.reason))

    def funding(self, symbol: str, ts: int, rate: float, amount: Decimal, sleeve: str) -> None:
        self.j.write("INSERT OR IGNORE INTO funding VALUES (?,?,?,?,?,?)",
                     (self.run_id, symbol, ts, rate, str(amount), sleeve))

    def snapshot(self, ts: int, snap: PortfolioSnapshot) -> None:
        self.j.write("INSERT OR IGNORE INTO portfolio_snapshots VALUES (?,?,?,?,?)",
                     (self.run_id, ts, snap.nav, snap.margin_utilisation,
                      msgspec.json.encode(snap).decode()))

    def checkpoint(self, index: int, ts: int, now: int) -> None:
        self.j.write("INSERT INTO checkpoints VALUES (?,?,?,?) ON CONFLICT(run_id) DO UPDATE "
                     "SET event_index=excluded.event_index, ts_recv=excluded.ts_recv, "
                     "updated_ns=excluded.updated_ns WHERE excluded.event_index > event_index",
                     (self.run_id, index, ts, now))
