"""Live runs and their venue: the start from what the venue holds, reconciliation while the
run goes on, and funding as the venue charged it.

- Start: a fresh live run reads the venue's wallet and positions before any order; the
  config's [account] is a check only (a difference refuses to start, or is adopted).
- Reconciliation: whenever nothing is in flight, the venue's positions (REST) and wallet
  (user-data stream) must equal ours; the first agreement lifts the guard's hold (no order
  before it), a difference on two checks in a row (one could be a message still on its way)
  kills trading with both views.
- Funding: the fees of the venue's income history are booked into the portfolio and the
  journal (deriving them from the rate stream drifts from the venue when a fill lands between
  its settlement and ours).
"""

from __future__ import annotations

import asyncio
import logging
from decimal import Decimal

from engine.core.errors import ConfigError, VenueUnavailable
from engine.model.events import FundingPayment

log = logging.getLogger("engine.run")


class VenueSync:
    def __init__(self, session, cfg, cfg_path: str, adopt: bool = False) -> None:
        self.session, self.cfg, self.cfg_path, self.adopt = session, cfg, cfg_path, adopt
        self.rec = None  # the run's Recorder, once the journal is open
        self.reconciliations = 0  # checks made (agreeing or not)
        self.cash_reconciled = 0  # checks where the venue's wallet equalled our cash
        self.start: dict = {}  # what the venue held at the start

    async def start_from_venue(self) -> None:
        """The venue's wallet and positions (with its entry prices) become the start; where
        they differ from [account], refuse (exit 2) naming each difference unless adopting."""
        s, acct, tol = self.session, self.cfg.account, self.cfg.live.cash_tolerance
        symbols = sorted(s.portfolio.perps)
        cash, positions = await s.broker.venue_account(symbols)
        diffs = []
        for sym in symbols:
            ours = acct.positions[sym].qty if sym in acct.positions else Decimal(0)
            if positions[sym][0] != ours:
                diffs.append(f"{sym} position: config {ours}, venue {positions[sym][0]}")
        has_perps = bool(s.portfolio.perps)
        futures = acct.by_wallet(has_perps)[2]  # the venue's futures wallet is compared
        for ccy in sorted(set(futures) | set(cash)):
            ours, theirs = Decimal(futures.get(ccy, 0)), cash.get(ccy, Decimal(0))
            if ccy in s.portfolio.stables and abs(ours - theirs) > tol:
                diffs.append(f"{ccy} wallet: config {ours}, venue {theirs}")
        spot = {}
        if getattr(s.broker, "spot_ex", None) is not None:
            venue_spot = await s.broker.venue_spot_wallet()
            s.broker.venue_spot.update(venue_spot)  # the stream tells only what changes
            spot_cash, coins, _ = acct.by_wallet(has_perps)
            ours = {**spot_cash, **coins}
            for a in sorted(self.spot_assets()):
                mine, theirs = Decimal(ours.get(a, 0)), venue_spot.get(a, Decimal(0))
                spot[a] = theirs
                if abs(mine - theirs) > (tol if a in s.portfolio.stables else 0):
                    diffs.append(f"{a} spot wallet: config {mine}, venue {theirs}")
        coinm = {}
        one_client = getattr(getattr(s.broker, "vo", None), "ONE_CLIENT", False)
        if getattr(s.broker, "coinm_ex", None) is not None or (one_client and self.coinm_coins()):
            # Binance: the COIN-M wallets by their own client; a venue whose one account holds
            # every coin (OKX): the coins of its inverse contracts, from that account
            venue_coinm = await s.broker.venue_coinm_wallet() if not one_client else {
                c: q for c, q in cash.items() if c not in s.portfolio.stables}
            s.broker.venue_coinm.update(venue_coinm)  # the stream tells only what changes
            for coin in sorted(set(acct.coinm) | self.coinm_coins()):
                mine, theirs = Decimal(acct.coinm.get(coin, 0)), venue_coinm.get(coin,
                                                                                  Decimal(0))
                coinm[coin] = theirs
                if abs(mine - theirs) > self.cfg.live.coin_tolerance:
                    diffs.append(f"{coin} COIN-M wallet: config {mine}, venue {theirs}")
        self.start = {"cash": {k: str(v) for k, v in cash.items()},
                      "spot": {k: str(v) for k, v in spot.items()},
                      "coinm": {k: str(v) for k, v in coinm.items()},
                      "positions": {k: str(q) for k, (q, _) in positions.items()},
                      "differences": diffs}
        if diffs and not self.adopt:
            raise ConfigError(f"{self.cfg_path}: the venue's account differs from [account]: "
                              f"{'; '.join(diffs)}. Fix [account], or start with "
                              "--adopt-venue to trade from what the venue holds")
        if diffs:
            log.warning("adopting the venue's account: %s", "; ".join(diffs))
        for ccy, amount in cash.items():
            if ccy in s.portfolio.stables:
                s.portfolio.set_cash(ccy, amount)
        for a, amount in spot.items():
            if a in s.portfolio.stables:
                s.portfolio.set_cash(a, amount, wallet="spot")
            else:
                s.portfolio.set_holding(a, amount)
        for coin, amount in coinm.items():
            s.portfolio.set_coinm(coin, amount)
        for sym, (qty, entry) in positions.items():
            s.portfolio.seed_position(sym, qty, entry if qty else Decimal(0))

    def coinm_coins(self) -> set[str]:
        """The COIN-M wallets this run cares about: the coins of its inverse contracts."""
        return {p.asset for p in self.session.portfolio.perps.values() if p.coinm}

    def coinm_differences(self) -> dict[str, tuple[str, str]]:
        """Our COIN-M wallets against the venue's, as its stream last told them."""
        s = self.session
        ours = self.coinm_coins()
        out = {}
        tol = self.cfg.live.coin_tolerance
        for coin, theirs in getattr(s.broker, "venue_coinm", {}).items():
            mine = s.portfolio.wallets["coinm"].get(coin, Decimal(0))
            if coin in ours and abs(mine - theirs) > tol:
                out[coin] = (str(mine), str(theirs))
        return out

    def spot_assets(self) -> set[str]:
        """The spot wallet's assets this run cares about: the coins and quotes of its spot
        instruments, what [account] puts in the spot wallet, the transfer asset."""
        s = self.session
        out = {a for a in (*s.portfolio.wallets["spot"], *s.portfolio.holdings)}
        for inst in s.portfolio.instruments.values():
            if inst.kind == "spot":
                out |= {inst.base, inst.quote}
        if self.cfg.accounts.enabled:
            out.add(self.cfg.accounts.asset)
        return out

    def spot_differences(self, tol: Decimal) -> dict[str, tuple[str, str]]:
        """Our spot wallet against the venue's, as its stream last told it (assets it named)."""
        s = self.session
        out = {}
        ours = self.spot_assets()  # once, not per asset
        for a, theirs in getattr(s.broker, "venue_spot", {}).items():
            if a not in ours:
                continue
            mine = (s.portfolio.wallets["spot"].get(a, Decimal(0)) if a in s.portfolio.stables
                    else s.portfolio.holdings.get(a, Decimal(0)))
            if abs(mine - theirs) > (tol if a in s.portfolio.stables else 0):
                out[a] = (str(mine), str(theirs))
        return out

    async def reconcile_loop(self, symbols: list[str], clock) -> None:
        every = self.cfg.live.reconcile_every_s
        tol = self.cfg.live.cash_tolerance
        s = self.session
        strikes = 0
        first = True
        while True:
            if not first:
                await asyncio.sleep(every)  # the reconciliation cadence, in wall time
            first = False
            if s.broker.in_flight or s.execution.outbox or s.execution.transfer_in_flight:
                continue
            try:
                venue = await s.broker.venue_positions(symbols)
            except VenueUnavailable as exc:  # transient after retries: next round
                log.warning("position reconciliation failed: %s", exc)
                continue
            if s.broker.in_flight:
                continue
            # take in fills that arrived meanwhile, at the engine's clock (which trails the
            # wall clock by the feed's queue when the machine is busy)
            now = s.clock.now_ns() or clock.now_ns()  # (wall time before the first event)
            s.execution.poll_broker(now)
            if s.broker.funding_fees:
                self.book_funding()
            self.reconciliations += 1
            diff = {sym: (str(s.portfolio.perps[sym].qty), str(q)) for sym, q in venue.items()
                    if sym in s.portfolio.perps and s.portfolio.perps[sym].qty != q}
            cash = {}
            for ccy, wb in ({} if s.broker.funding_pending else s.broker.venue_cash).items():
                ours = s.portfolio.wallets["futures"].get(ccy)
                if ours is not None and abs(ours - wb) > tol:
                    cash[ccy] = (str(ours), str(wb))
            cash.update({f"spot {a}": d for a, d in self.spot_differences(tol).items()})
            if not s.broker.funding_pending:
                cash.update({f"COIN-M {c}": d for c, d in self.coinm_differences().items()})
            if not diff and not cash:
                strikes = 0
                s.guard.hold("venue", None, now)  # trading may start (once)
                self.cash_reconciled += bool(s.broker.venue_cash) and not s.broker.funding_pending
                continue
            strikes += 1
            log.warning("venue disagrees (ours, venue): positions %s, cash %s (check %d)",
                        diff, cash, strikes)
            if strikes >= 2:
                what = "position" if diff else "cash"
                s.guard.kill(f"{what} mismatch with the venue (ours, venue): "
                             f"positions {diff}, cash {cash}", now)

    def book_funding(self, skip: set | None = None) -> int:
        """The funding fees the venue charged into the portfolio and the journal; `skip` holds
        (symbol, ts) pairs already journaled."""
        s = self.session
        fees, s.broker.funding_fees = s.broker.funding_fees, []
        n = 0
        for sym, ts, amount, _ in fees:
            if sym not in s.portfolio.perps:
                log.warning("funding fee for %s, not an instrument of this run: %s", sym, amount)
                continue
            if skip and (sym, ts) in skip:
                continue
            s.pipeline.on_account(FundingPayment(exchange=self.cfg.markets.exchange, symbol=sym,
                                                 ts_event=ts, ts_recv=ts, amount=amount))
            hist = s.pipeline.stats.funding.get(sym)
            if self.rec:
                self.rec.funding(sym, ts, hist[-1] if hist else 0.0, amount,
                                 s.portfolio.sleeve_of.get(sym, sym))
            n += 1
        return n

    async def funding_while_down(self, j, run_id: str) -> int:
        """A resumed live run: the fees charged while the engine was down (from the last one
        journaled, or the run's start), those not journaled yet."""
        done = {(sym, ts) for sym, ts in await j.fetchall(
            "SELECT symbol, ts FROM funding WHERE run_id=?", (run_id,))}
        (since,) = await j.fetchone(
            "SELECT COALESCE((SELECT MAX(ts) FROM funding WHERE run_id=?), "
            "(SELECT started_ns FROM runs WHERE run_id=?))", (run_id, run_id))
        await self.session.broker.poll_funding(since // 1_000_000)
        return self.book_funding(skip=done)
