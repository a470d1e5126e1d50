"""A run's journaled money, handed back in order: its fills, then the funding it was paid or
charged, then the transfers between its wallets that were done (`apply_ledger`). A restart rebuilds its portfolio this way through the pipeline;
`report` builds a fresh one to check the journal on its own."""

from __future__ import annotations

from decimal import Decimal
from typing import Callable

from engine.journal.store import Journal
from engine.model.events import Fill, FundingPayment, Transfer
from engine.portfolio.state import fee_in_quote


async def apply_ledger(j: Journal, run_id: str,
                       book: Callable[[Fill | FundingPayment | Transfer], object]) -> Decimal:
    """Hand the run's journaled fills and funding, in order, to `book` (a pipeline's
    `on_account`, or a fresh portfolio's `apply` for a report); returns the fees (in quote)."""
    fees = Decimal(0)
    for (exch, sym, tid, oid, side, qty, price, fee, ccy, liq, ts) in await j.fetchall(
            "SELECT exchange, symbol, trade_id, order_id, side, qty, price, fee, fee_currency, "
            "liquidity, ts FROM fills WHERE run_id=? ORDER BY ts, rowid", (run_id,)):
        f = Fill(exchange=exch, symbol=sym, ts_event=ts, ts_recv=ts, order_id=oid,
                 trade_id=tid, side=side, qty=Decimal(qty), price=Decimal(price),
                 fee=Decimal(fee), fee_currency=ccy, liquidity=liq)
        book(f)
        fees += fee_in_quote(f)
    for sym, amount, ts in await j.fetchall("SELECT symbol, amount, ts FROM funding "
                                            "WHERE run_id=? ORDER BY ts", (run_id,)):
        book(FundingPayment(exchange="journal", symbol=sym, ts_event=ts, ts_recv=ts,
                            amount=Decimal(amount)))
    for tid, asset, amount, src, dst, ts in await j.fetchall(
            "SELECT transfer_id, asset, amount, from_wallet, to_wallet, updated_ns FROM "
            "transfers WHERE run_id=? AND status='done' ORDER BY updated_ns, rowid", (run_id,)):
        book(Transfer(transfer_id=tid, asset=asset, amount=Decimal(amount), from_wallet=src,
                      to_wallet=dst, status="done", ts=ts))
    return fees
