"""Restart of a paper or live run on its journal (the market cannot be replayed there; a
replay rebuilds by replaying its input, see `engine.node.runner`)."""

from __future__ import annotations

import logging
import time
from decimal import Decimal

from engine.core.errors import FatalError
from engine.journal.ledger import apply_ledger
from engine.journal.store import Journal
from engine.model.events import Transfer
from engine.model.orders import OrderUpdate, TransferRequest

log = logging.getLogger("engine.run")


async def resume_outside(j: Journal, s, run_id: str, mode: str, rec, venue) -> dict:
    """Restart of a paper or live run (the market cannot be replayed): the portfolio is the
    journal's fills and funding on top of the configured start; every order the journal
    leaves unfinished is settled with the venue (live: looked up by its client id; its
    fills taken in, cancelled if still open, marked unsent if it never arrived) or dropped
    (paper: the simulated exchange died with the process); running parents end as aborted.
    Journal rows are written in order by one writer, so an order whose final state is
    durable has its fills durable too: only unfinished orders can hide fills. Live, the
    venue's positions must then equal ours, or the engine refuses to start."""
    now = time.time_ns()
    await apply_ledger(j, run_id, s.pipeline.on_account)
    rows = await j.fetchall(
        "SELECT client_order_id, symbol, side, status FROM orders WHERE run_id=? AND status "
        "NOT IN ('filled','expired','canceled','rejected','refused','unsent')",
        (run_id,))
    settled: dict[str, str] = {}
    for cid, sym, side, _ in rows:
        if mode == "paper":
            settled[cid] = "canceled"
            rec.order_update(OrderUpdate(client_order_id=cid, symbol=sym, status="canceled",
                                         ts=now, reason="paper exchange restarted"))
        else:
            settled[cid] = await s.broker.recover(cid, sym, side)
    # a transfer asked for but never answered: live, the venue's history says whether it
    # happened; paper, the simulated exchange died with the process, so it never did
    transfers: dict[str, str] = {}
    if mode == "live":  # venue transfers already ours are never matched to another
        s.broker.claim_transfers(v for (v,) in await j.fetchall(
            "SELECT venue_id FROM transfers WHERE run_id=? AND status='done'", (run_id,)))
    for tid, asset, amount, src, dst, created in await j.fetchall(
            "SELECT transfer_id, asset, amount, from_wallet, to_wallet, created_ns FROM "
            "transfers WHERE run_id=? AND status='requested'", (run_id,)):
        if mode == "live":
            t = await s.broker.recover_transfer(TransferRequest(
                transfer_id=tid, asset=asset, amount=Decimal(amount), from_wallet=src,
                to_wallet=dst, ts_created=created))
        else:
            t = Transfer(transfer_id=tid, asset=asset, amount=Decimal(amount), from_wallet=src,
                         to_wallet=dst, status="failed", ts=now,
                         reason=f"{mode} exchange restarted")
        rec.transfer_settled(t)
        s.pipeline.on_account(t)
        transfers[tid] = t.status
    s.execution.poll_broker(now)  # recovered fills and ends: into the portfolio and journal
    j.write("UPDATE parents SET state='aborted', reason='engine restarted' "
            "WHERE run_id=? AND state IN ('running','paused')", (run_id,))
    resumed = {"unfinished_orders": settled, "unfinished_transfers": transfers,
               "positions": {k: str(p.qty) for k, p in s.portfolio.perps.items()},
               "cash": {k: str(v) for k, v in s.portfolio.cash.items()},
               "wallets": {w: {k: str(v) for k, v in s.portfolio.wallets[w].items()}
                           for w in ("spot", "futures")}}
    log.warning("resumed %s run %s: %d unfinished orders settled %s", mode,
                run_id, len(settled), settled)
    if mode == "live":
        resumed["funding_booked"] = await venue.funding_while_down(j, run_id)
        if getattr(s.broker, "spot_ex", None) is not None:  # the spot stream tells changes
            s.broker.venue_spot.update(await s.broker.venue_spot_wallet())
        if getattr(s.broker, "coinm_ex", None) is not None:
            s.broker.venue_coinm.update(await s.broker.venue_coinm_wallet())
        theirs = await s.broker.venue_positions(sorted(s.portfolio.perps))
        diff = {k: (str(s.portfolio.perps[k].qty), str(q)) for k, q in theirs.items()
                if s.portfolio.perps[k].qty != q}
        if diff:
            await j.flush()
            raise FatalError(f"positions at the venue differ from the journal's after "
                             f"settling unfinished orders (ours, venue): {diff}; "
                             "settle them by hand before restarting")
    await j.flush()
    return resumed
