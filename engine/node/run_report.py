"""What a run reports, re-derived where it can be from the journal alone (what a restart, an
audit or `engine report` sees)."""

from __future__ import annotations

import logging
from decimal import Decimal

import orjson

from engine.journal.ledger import apply_ledger
from engine.journal.store import Journal
from engine.core.clock import utc_text
from engine.node.bars_wiring import bars_report
from engine.node.build import build_portfolio
from engine.node.config import EngineConfig
from engine.portfolio.state import fee_in_quote

log = logging.getLogger("engine.run")


def weighted_shortfall(reports) -> float | None:
    num = den = 0.0
    for r in reports:
        if r.shortfall_bps is None or r.avg_price is None:
            continue
        w = float(r.filled_qty * r.avg_price)
        num += r.shortfall_bps * w
        den += w
    return round(num / den, 4) if den else None


async def journal_summary(j: Journal, run_id: str, cfg: EngineConfig) -> dict:
    """Figures re-derived from the journal alone: what a restart, an audit or `report` sees."""
    (subs, distinct) = await j.fetchone(
        "SELECT COUNT(*), COUNT(DISTINCT client_order_id) FROM submissions WHERE run_id=?",
        (run_id,))
    (n_fills,) = await j.fetchone("SELECT COUNT(*) FROM fills WHERE run_id=?", (run_id,))
    (n_dec,) = await j.fetchone("SELECT COUNT(*) FROM decisions WHERE run_id=?", (run_id,))
    (n_par,) = await j.fetchone("SELECT COUNT(*) FROM parents WHERE run_id=?", (run_id,))
    (attempts,) = await j.fetchone("SELECT COUNT(*) FROM attempts WHERE run_id=?", (run_id,))
    (n_tr,) = await j.fetchone("SELECT COUNT(*) FROM transfers WHERE run_id=? AND "
                               "status='done'", (run_id,))
    p = build_portfolio(cfg)
    fees = await apply_ledger(j, run_id, p.apply)
    last = await j.fetchone("SELECT payload FROM portfolio_snapshots WHERE run_id=? "
                            "ORDER BY ts DESC LIMIT 1", (run_id,))
    return {
        "journal_submissions": subs,
        "journal_submissions_unique": subs == distinct,
        "journal_fills": n_fills,
        "journal_intents": n_dec,
        "journal_parents": n_par,
        "journal_attempts": attempts,
        "journal_fees": str(fees),
        "journal_positions": {s: str(x.qty) for s, x in p.perps.items()},
        "journal_holdings": {a: str(q) for a, q in p.holdings.items()},
        "journal_cash": str(sum(p.cash.values(), Decimal(0))),
        "journal_transfers": n_tr,
        "journal_wallets": {w: {a: str(q) for a, q in p.wallets[w].items()}
                            for w in ("spot", "futures", "coinm") if w in p.wallets
                            and (w != "coinm" or p.wallets[w])},
        "journal_final_weights": ({a: round(w, 6) for a, w in
                                   orjson.loads(last[0])["weights"].items()} if last else {}),
    }


def accounts(portfolio, fills) -> dict:
    """Each wallet as on the venue: the spot wallet's assets, the futures wallet's balance
    and margin utilisation, and the fees each paid per currency (a spot buy may pay in the
    coin it bought)."""
    fees: dict[str, dict[str, Decimal]] = {"spot": {}, "futures": {}, "coinm": {}}
    for f in fills:
        if not f.fee:
            continue
        kind = portfolio.instruments[f.symbol].kind
        per = fees["spot" if kind == "spot" else
                   "coinm" if portfolio.perps[f.symbol].coinm else "futures"]
        ccy = f.fee_currency or portfolio.instruments[f.symbol].quote
        per[ccy] = per.get(ccy, Decimal(0)) + f.fee
    spot = {a: str(q) for a, q in portfolio.wallets["spot"].items()}
    spot.update({a: str(q) for a, q in portfolio.holdings.items()})
    im, mb = portfolio.initial_margin, portfolio.margin_balance
    out = {"spot": spot, "spot_fees": {c: str(v) for c, v in fees["spot"].items()},
           "futures": {"wallet": str(sum(portfolio.wallets["futures"].values(), Decimal(0))),
                       "margin_balance": round(mb, 6),
                       "margin_utilisation": round(_utilisation(im, mb), 6),
                       "fees": {c: str(v) for c, v in fees["futures"].items()}}}
    coinm = portfolio.coinm_accounts()
    if coinm:  # one margin account per coin, as on the venue
        out["coinm"] = {coin: {"wallet": str(portfolio.wallets["coinm"].get(coin, Decimal(0))),
                               "margin_balance": round(cb, 6),
                               "margin_utilisation": round(_utilisation(cim, cb), 6),
                               "fees": str(fees["coinm"].get(coin, Decimal(0)))}
                        for coin, (cim, cb) in sorted(coinm.items())}
    return out


def _utilisation(im: float, balance: float) -> float:
    return 0.0 if im == 0 else (im / balance if balance > 0 else float("inf"))


def rolls(s, reports) -> list[dict]:
    """Each calendar spread (a roll before expiry, a carry move): its legs (filled, average
    price, shortfall against the arrival mid) and the spread cost, Σ shortfall × filled
    notional, in quote."""
    out = []
    for intent in s.pipeline.intents:
        if intent.rule not in ("roll", "carry"):
            continue
        legs, cost = {}, 0.0
        for r in reports:
            if r.intent_id != intent.intent_id:
                continue
            notional = (float(s.markets[r.symbol].notional(r.filled_qty, r.avg_price))
                        if r.avg_price is not None else 0.0)
            cost += (r.shortfall_bps or 0.0) * notional / 1e4
            legs[r.symbol] = {"side": r.side, "filled": str(r.filled_qty),
                              "avg_price": str(r.avg_price) if r.avg_price is not None else None,
                              "shortfall_bps": r.shortfall_bps, "state": r.state}
        out.append({"intent": intent.intent_id, "rule": intent.rule, "reason": intent.reason,
                    "legs": legs,
                    "spread_cost": round(cost, 6)})
    return out


def dead_books(pipeline) -> dict[str, str]:
    out = {}
    for sym, sync in sorted(pipeline.books.syncs.items()):
        if sync.valid:
            continue
        where = pipeline.book_faults.get(sym)
        out[sym] = f"{where}; never resynced" if where else "never synced (no usable snapshot)"
    return out


async def run_summary(run) -> dict:
    """The run's report (`engine run` prints it): what the run's objects hold, then, with a
    journal, the figures re-derived from the journal alone."""
    s = run.session
    cfg = run.cfg
    reports = s.execution.reports()
    fills = [f for f, _ in s.broker.fill_log]
    weights = {a: round(w, 6) for a, w in s.portfolio.weights().items()}
    out = {
        "run_id": run.run_id,
        "mode": run.mode,
        "events": run.state.events,
        "stopped": run.state.stopped,
        "intents": len(s.pipeline.intents),
        "parents": len(reports),
        "children": len(s.execution.sent),
        "fills": len(fills),
        "fees": str(sum((fee_in_quote(f, s.portfolio.stables) for f in fills), Decimal(0))),
        "shortfall_bps": weighted_shortfall(reports),
        "final_weights": weights,
        # net exposure per underlying (spot + perp) / NAV: what the targets are on
        "net_weights": dict(weights),
        "spot_start": dict(run.spot_start),
        "spot_end": {a: str(q) for a, q in s.portfolio.holdings.items()},
        "target_weights": dict(s.trigger.targets or {}),
        "max_margin_utilisation": round(run.state.max_margin_utilisation, 6),
        "positions": {sym: str(p.qty) for sym, p in s.portfolio.perps.items()},
        "holdings": {a: str(q) for a, q in s.portfolio.holdings.items()},
        "cash": str(sum(s.portfolio.cash.values(), Decimal(0))),
        "accounts": accounts(s.portfolio, fills),
        # transfers between the wallets that were done (failed ones are in transfer_log)
        "transfers": sum(1 for t in s.execution.transfer_log if t.status == "done"),
        "transfer_log": [{"id": t.transfer_id, "amount": str(t.amount), "asset": t.asset,
                          "from": t.from_wallet, "to": t.to_wallet, "status": t.status,
                          "why": s.execution.transfer_why.get(t.transfer_id, ""),
                          "reason": t.reason} for t in s.execution.transfer_log],
        "risk_state": s.guard.state,
        "halted_at_start": run.halted_at_start,
        "failure": None if run.failure is None else str(run.failure),
        "journal": run.journal_path,
        "recovered_orders": run.recovered_orders,
        "new_orders": run.new_orders,
        # live: the worst time from a child's release to its request leaving (budget wait)
        "max_child_send_delay_ms": round(getattr(s.broker, "max_send_delay_ns", 0) / 1e6, 3),
        "twaps_stretched": len(s.execution.stretched),
        # worst distance of an underlying's net exposure from its start → target path while
        # its legs executed, as a fraction of NAV
        "max_transient_deviation": round(s.execution.max_transient_deviation, 6),
        # the limit the legs were paced to (largest, fraction of NAV), and how often a child
        # was cut or held so that a leg would not run ahead of the others
        "max_transient_limit": round(s.execution.max_transient_limit, 6),
        "paced_holds": s.execution.paced_holds,
        # books invalid at the end: where each died (a gap no later snapshot repaired)
        "dead_books": dead_books(s.pipeline),
        # replay: per symbol, book tops compared with the venue's bookTicker and agreeing
        "books_verified": s.pipeline.books_verified(),
        # calendar spreads, rolls before expiry and carry moves (each leg's fills and the
        # spread it cost), and dated contracts delivered at expiry
        "rolls": rolls(s, reports),
        "deliveries": list(s.deliveries),
        # [bars]: per asset, the history it started from and the bars built from trades
        "bars": bars_report(s.pipeline, s.bars_warmed),
        # every entry and exit of the signal rules, at the close of the bar they looked at
        "signal_log": [{"ts": utc_text(ts), "rule": rule, "edge": edge,
                        "value": None if v is None else round(v, 6)}
                       for ts, rule, edge, v in s.trigger.signal_log],
        # instruments of the run that got no market data at all
        "no_data": sorted(sym for sym in s.portfolio.instruments if sym not in s.pipeline.prices),
        # parents not done when the run ended (stopped, or cancelled at shutdown)
        "unfinished_parents": [
            {"parent_id": r.parent_id, "symbol": r.symbol, "side": r.side, "state": r.state,
             "filled": str(r.filled_qty), "target": str(r.target_qty), "reason": r.reason}
            for r in reports if r.state != "done"],
    }
    for sym in out["no_data"]:
        log.warning("no data for %s in this run: it was neither priced nor traded", sym)
    for sym, where in out["dead_books"].items():
        log.warning("%s book dead at the end: %s", sym, where)
    if run.journal is not None:
        out.update(await journal_summary(run.journal, run.run_id, cfg))
        out["client_order_ids_unique"] = out["journal_submissions_unique"]
    else:
        ids = [o.client_order_id for o in s.execution.sent]
        out["client_order_ids_unique"] = len(ids) == len(set(ids))
    return out
