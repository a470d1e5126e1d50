"""The risk guard: every order passes `check` before it leaves.

Trading states: ACTIVE (all orders), REDUCING (only orders that shrink a position), HALTED
(nothing). The state follows from the conditions in force: a kill, or a hold (a live run not
yet reconciled with its venue) → HALTED; a stale price feed
or margin utilisation above `reduce_above_utilisation` → REDUCING; none → ACTIVE. Every change
is logged and kept as a `RiskStateChange` for the journal.
"""

from __future__ import annotations

import logging
import signal
from decimal import Decimal
from typing import Callable

from engine.model.orders import OrderRequest, RiskStateChange
from engine.portfolio.state import Portfolio
from engine.risk.checks import RiskLimits, Verdict, check_limits, order_sides, reduces_position

log = logging.getLogger("engine.risk")

ACTIVE, REDUCING, HALTED = "ACTIVE", "REDUCING", "HALTED"


class RiskGuard:
    def __init__(self, portfolio: Portfolio, limits: RiskLimits, *,
                 prices: dict[str, float], price_ts: dict[str, int],
                 price_delay: dict[str, int] | None = None,
                 book_faults: dict[str, str] | None = None,
                 book_valid: Callable[[str], bool] | None = None,
                 on_change: Callable[[RiskStateChange], None] | None = None) -> None:
        self.portfolio, self.limits = portfolio, limits
        self.prices, self.price_ts = prices, price_ts
        # symbol -> ns its latest quote was late by exchange time (engine.risk.quote_delay)
        self.price_delay = price_delay if price_delay is not None else {}
        self.book_faults = book_faults if book_faults is not None else {}  # symbol -> where
        self._faults_killed: set[tuple[str, str]] = set()  # faults a kill was made for
        self.book_valid = book_valid or (lambda s: True)
        self.on_change = on_change
        # called with ("kill" | "resume", reason, now): the journal keeps every one
        self.on_kill: Callable[[str, str, int], None] | None = None
        self.state = ACTIVE
        self.conditions: dict[str, str] = {}  # condition -> reason
        self.history: list[RiskStateChange] = []
        self.refused: dict[str, int] = {}

    # -- state ----------------------------------------------------------------------------
    def _set(self, key: str, reason: str | None, now: int) -> None:
        if reason is None:
            self.conditions.pop(key, None)
        else:
            self.conditions[key] = reason
        if "kill" in self.conditions or any(k.startswith("hold:") for k in self.conditions):
            new = HALTED
        elif self.conditions:
            new = REDUCING
        else:
            new = ACTIVE
        if new != self.state:
            why = "; ".join(f"{k}: {v}" for k, v in self.conditions.items()) or f"{key} cleared"
            ch = RiskStateChange(ts=now, old=self.state, new=new, reason=why)
            self.history.append(ch)
            log.warning("risk state %s -> %s (%s)", self.state, new, why)
            self.state = new
            if self.on_change is not None:
                self.on_change(ch)

    def kill(self, reason: str, now: int) -> None:
        """Kill switch: HALTED until `reset_kill` (journaled through `on_kill`)."""
        if "kill" in self.conditions:
            reason = f"{self.conditions['kill']}; {reason}"
        self._set("kill", reason, now)
        if self.on_kill is not None:
            self.on_kill("kill", reason, now)

    def reset_kill(self, reason: str, now: int) -> None:
        """A person resumes trading after a kill."""
        if "kill" not in self.conditions:
            return
        self._set("kill", None, now)
        if self.on_kill is not None:
            self.on_kill("resume", reason, now)

    def restore_kill(self, reason: str | None, now: int) -> None:
        """A journaled kill (reason) or resume (None) applied again when a run restarts: the
        state it left, not a new kill."""
        self._set("kill", reason, now)

    def hold(self, what: str, reason: str | None, now: int) -> None:
        """HALTED while `what` holds (not a kill: it clears by itself), e.g. a live run before
        its first reconciliation with the venue."""
        self._set(f"hold:{what}", reason, now)

    @property
    def killed(self) -> bool:
        return "kill" in self.conditions

    def install_kill_signal(self, loop, now: Callable[[], int], sig: int = signal.SIGUSR2) -> None:
        """Halt on `sig` (default SIGUSR2), e.g. `kill -USR2 <pid>`."""
        loop.add_signal_handler(sig, lambda: self.kill(f"signal {signal.Signals(sig).name}",
                                                        now()))

    def update(self, now: int, symbols: list[str] | None = None) -> None:
        """Re-evaluate the conditions that do not need an order: feed ages and margin."""
        max_age = int(self.limits.max_price_age_s * 1e9)
        stale = sorted(s for s in (symbols or self.price_ts)
                       if now - self.price_ts.get(s, now) > max_age)
        self._set("stale_feed", f"no price for > {self.limits.max_price_age_s}s on "
                  f"{', '.join(stale)}" if stale else None, now)
        faults = self.book_faults
        if faults:
            why = "; ".join(f"{s} book invalid ({r})" for s, r in sorted(faults.items()))
            if self.limits.on_data_fault == "halt":
                # once per fault: a person who resumed while a book is still dead has chosen
                # to trade on (the others); only a new fault kills again
                new = set(faults.items()) - self._faults_killed
                if new:
                    self._faults_killed |= new
                    self.kill(f"data fault: {why}", now)
            else:
                self._set("data_fault", why, now)
        elif "data_fault" in self.conditions:
            self._set("data_fault", None, now)
        max_delay = self.limits.max_quote_delay_ms * 1e6
        late = sorted(s for s, d in self.price_delay.items() if d > max_delay)
        self._set("delayed_quotes", "quotes late by exchange time (> "
                  f"{self.limits.max_quote_delay_ms:g} ms over the feed's usual latency) on "
                  f"{', '.join(late)}" if late else None, now)
        thr = self.limits.reduce_above_utilisation
        util = self.portfolio.margin_utilisation
        self._set("margin", f"utilisation {util:.4f} > {thr}" if thr is not None and util > thr
                  else None, now)

    # -- orders ---------------------------------------------------------------------------
    def check(self, order: OrderRequest, pending: dict[str, Decimal], now: int) -> Verdict:
        """May `order` leave, given everything else still pending (signed amounts per symbol,
        open orders and unfilled parent remainders, not including `order`)?"""
        v = self._check(order, pending, now)
        if not v.ok:
            self.refused[v.rule] = self.refused.get(v.rule, 0) + 1
        return v

    def _check(self, order: OrderRequest, pending: dict[str, Decimal], now: int) -> Verdict:
        if self.state == HALTED:
            return Verdict(ok=False, rule="halted", reason="; ".join(
                v for k, v in self.conditions.items() if k == "kill" or k.startswith("hold:"))
                or "halted")
        sym = order.symbol
        if not self.book_valid(sym):
            return Verdict(ok=False, rule="book_invalid",
                           reason=f"{sym} book is resyncing: no orders until it is valid")
        inst = self.portfolio.instruments.get(sym)
        if inst is None:
            return Verdict(ok=False, rule="unknown_symbol", reason=f"{sym} is not tradable here")
        signed = order.qty if order.side == "buy" else -order.qty
        sides = order_sides(self.portfolio, pending, self.prices, sym, inst.base, signed)
        reduces = reduces_position(*sides.position)
        if self.state == REDUCING and not reduces:
            return Verdict(ok=False, rule="reducing_only",
                           reason="risk state REDUCING: only orders that shrink a position "
                                  f"({'; '.join(self.conditions.values())})")
        age = now - self.price_ts.get(sym, -(1 << 62))
        if age > self.limits.max_price_age_s * 1e9 and not reduces:
            self._set("stale_feed", f"price of {sym} is {age / 1e9:.1f}s old", now)
            return Verdict(ok=False, rule="stale_price",
                           reason=f"price of {sym} is {age / 1e9:.1f}s old "
                                  f"(max {self.limits.max_price_age_s}s)")
        late = self.price_delay.get(sym, 0)
        if late > self.limits.max_quote_delay_ms * 1e6 and not reduces:
            self._set("delayed_quotes", f"quote of {sym} is {late / 1e6:.0f} ms late by "
                      "exchange time", now)
            return Verdict(ok=False, rule="delayed_quote",
                           reason=f"quote of {sym} is {late / 1e6:.0f} ms later than its "
                                  f"feed's usual latency (max {self.limits.max_quote_delay_ms:g}"
                                  " ms)")
        mid = self.prices.get(sym)
        notional = float(order.qty) * (mid or 0.0) * (1.0 if inst.kind != "inverse"
                                                       else float(inst.contract_size) / (mid or 1))
        return check_limits(self.limits, sides, sym, inst.base, notional,
                            float(order.price) if order.price is not None else None, mid,
                            reduces)
