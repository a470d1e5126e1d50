"""The trigger actor: owns the rules' state, reacts to portfolio updates, emits intents.

On the hot path the feed's task calls `on_update` directly (an asyncio queue hop costs more
than the whole evaluation); `run` serves the same actor from a bounded queue where the producer
lives in another task. Target weights are cached, marked stale when their inputs change (bars,
funding, fills, samples) and recomputed only when a rule needs them: a price tick costs one
drift check over the weights, and a calendar policy computes its targets once per rebalance.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Callable, Iterable

from engine.core.clock import Clock
from engine.model.events import LegTarget, PortfolioUpdate, RebalanceIntent
from engine.portfolio.state import Portfolio
from engine.portfolio.stats import MarketStats
from engine.triggers.dated import CarryChooser, RollRule
from engine.triggers.regime import Regime, RegimeMatrix
from engine.triggers.rules import DriftBand, Schedule, Signal
from strategies.base import Strategy, coinm_value, dated_notional

log = logging.getLogger("engine.triggers")

_SLOW_CAUSES = frozenset({"bar", "funding", "fill", "sample"})


class TriggerActor:
    def __init__(self, portfolio: Portfolio, strategy: Strategy, stats: MarketStats, clock: Clock,
                 *, drift: DriftBand | None = None, schedule: Schedule | None = None,
                 signals: Iterable[Signal] = (), regimes: RegimeMatrix | None = None,
                 sink: Callable[[RebalanceIntent], None] | None = None,
                 roll: RollRule | None = None, carry: CarryChooser | None = None) -> None:
        self.portfolio, self.strategy, self.stats, self.clock = portfolio, strategy, stats, clock
        self.drift, self.schedule = drift, schedule
        self.signals = list(signals)
        self.regimes = regimes
        self.sink = sink
        self.targets: dict[str, float] | None = None
        self._stale = True
        self.fired = 0
        self._seq = 0
        # what the strategy reads: a live read-only view, no copy (a decision runs between
        # two events, so the targets and the intent of one decision read the same state)
        self.view = portfolio.view()
        # (ts, signal, "entry" | "exit", value): every edge of every signal rule
        self.signal_log: list[tuple[int, str, str, float | None]] = []
        # dated contracts rolled before expiry; the hedge moved between perpetual and dated
        # contracts by carry (engine/triggers/dated.py): checked once a second
        self.roll, self.carry = roll, carry
        self._next_calendar_check = 0
        # whether the executor is working a rebalance (the session wires its own in)
        self.busy: Callable[[], bool] = lambda: False

    # -- hot path -------------------------------------------------------------------------
    def on_update(self, upd: PortfolioUpdate) -> RebalanceIntent | None:
        now = self.clock.now_ns()
        if upd.cause in _SLOW_CAUSES:
            self._stale = True
        # rolls and carry moves wait while a rebalance works (a new intent would abort it)
        if (self.roll is not None or self.carry is not None) \
                and now >= self._next_calendar_check and not self.busy():
            self._next_calendar_check = now + 1_000_000_000
            intent = self._calendar(upd, now)
            if intent is not None:
                return intent
        if upd.cause in _SLOW_CAUSES and (self.signals or self.regimes):
            intent = self._signals(upd, now)
            if intent is not None:
                return intent
        if self.schedule is not None and self.schedule.check(now):
            return self._fire("schedule", "calendar rebalance", self.current_targets(), upd,
                              now)
        if self.drift is not None:
            p = self.portfolio
            breach = self.drift.check(p.weights(), self.current_targets(), p.nav, now)
            if breach is not None:
                return self._fire(breach.rule, breach.reason, breach.weights, upd, now)
        return None

    def force(self, rule: str, reason: str, ts: int) -> RebalanceIntent:
        """An intent to the current targets now, whatever the rules say (a backtest's initial
        allocation, an operator's command)."""
        self.refresh_targets()
        upd = PortfolioUpdate(ts_event=ts, ts_recv=ts, cause="command", assets=(),
                              nav=self.portfolio.nav)
        return self._fire(rule, reason, self.targets, upd, self.clock.now_ns())

    def rebalanced(self) -> None:
        """The last intent has been carried out in full."""
        if self.drift is not None:
            self.drift.rearm()

    def current_targets(self) -> dict[str, float]:
        if self._stale or self.targets is None:
            self.refresh_targets()
        return self.targets

    def refresh_targets(self) -> None:
        override = self.regimes.current.weights if self.regimes is not None else None
        self.targets = (dict(override) if override is not None else
                        self.strategy.target_weights(self.view, self.stats))
        self._stale = False

    def _signals(self, upd: PortfolioUpdate, now: int) -> RebalanceIntent | None:
        fired = [s.name for s in self.signals if s.update(self.stats)]
        ts = upd.ts_event
        for s in self.signals:
            if s.name in fired or s.exited:
                self.signal_log.append((ts, s.name, "entry" if s.active else "exit", s.value))
        if self.regimes is not None:
            active = {s.name for s in self.signals if s.active}
            changed = self.regimes.update(active, upd.ts_event)
            if changed is not None:
                self._stale = True  # the regime may carry its own targets
                return self._fire("regime", f"regime → {changed.name} (active: "
                                  f"{', '.join(sorted(active)) or 'none'})",
                                  self.current_targets(), upd, now)
            return None
        if fired:
            return self._fire(fired[0], f"signal {', '.join(fired)}", self.current_targets(),
                              upd, now)
        return None

    def _calendar(self, upd: PortfolioUpdate, now: int) -> RebalanceIntent | None:
        """A roll due, else a carry move (exchange time says how near an expiry is)."""
        for rule in (self.roll, self.carry):
            spread = rule.decide(upd.ts_event, now) if rule is not None else None
            if spread is not None:
                return self._emit(spread.rule, spread.reason, spread.legs,
                                  dict(self.targets or {}), self.view, upd, now)
        return None

    # -- decisions ------------------------------------------------------------------------
    def _fire(self, rule: str, reason: str, weights: dict[str, float], upd: PortfolioUpdate,
              now: int) -> RebalanceIntent:
        view = self.view
        alloc = self.strategy.allocate(view, self.stats, weights)
        legs = dict(alloc.legs)
        if self.regimes is not None:
            legs = self._apply_regime(self.regimes.current, alloc.weights, view, legs,
                                      upd.ts_event)
            # a regime's hedge (net short included) stays within the strategy's leverage cap
            gross, cap = sum(abs(v) for v in legs.values()), \
                self.strategy.max_gross_leverage * view.nav
            if gross > cap > 0:
                legs = {sym: v * cap / gross for sym, v in legs.items()}
        return self._emit(rule, reason, legs, dict(alloc.weights), view, upd, now,
                          dict(alloc.sleeves))

    def _emit(self, rule: str, reason: str, legs: dict[str, float], target_weights: dict,
              view, upd: PortfolioUpdate, now: int, sleeves: dict | None = None
              ) -> RebalanceIntent:
        self._seq += 1
        intent = RebalanceIntent(
            intent_id=f"{rule}-{upd.ts_recv}-{self._seq}", rule=rule, reason=reason,
            ts_recv=upd.ts_recv, ts_decided=now,
            targets=tuple(LegTarget(symbol=s, notional=v) for s, v in legs.items()),
            nav=view.nav,
            weights=dict(view.weights), target_weights=target_weights,
            sleeves=sleeves or {})
        self.fired += 1
        if self.sink is not None:
            self.sink(intent)
        return intent

    def _apply_regime(self, regime: Regime, weights: dict[str, float], view,
                      legs: dict[str, float], market_ns: int) -> dict[str, float]:
        """Each asset's target exposure split into its spot and futures legs by `regime`.
        Where any regime holds futures on dated contracts, the regimes own the asset's dated
        contracts: the chosen one takes the futures leg, the others (and the perp) go to zero;
        otherwise dated contracts are the rolls' and count as held."""
        out = dict(legs)
        dated_owned = self.regimes.uses_dated
        for asset, l in self.strategy.universe.items():
            if l.spot is None or l.perp is None:
                continue
            held = coinm_value(view, asset)
            spot, fut = self.regimes.legs(regime, weights.get(asset, 0.0) * view.nav - held)
            # dated contracts not owned by the regimes (a roll's, a carry move's) carry part
            # of the futures leg: the perp takes the rest
            out[l.spot], out[l.perp] = spot, fut - (0.0 if dated_owned
                                                    else dated_notional(view, asset))
            if dated_owned:
                dated = [s for s, p in self.portfolio.perps.items()
                         if p.inst.is_dated and p.inst.perpetual == l.perp]
                for sym in dated:
                    out[sym] = 0.0
                chosen = self._dated_for(dated, market_ns, regime) \
                    if regime.futures_on == "dated" else None
                if chosen is not None:
                    out[l.perp], out[chosen] = 0.0, fut
                for sym in dated:  # nothing to trade on a contract neither held nor chosen
                    if sym != chosen and not view.perp_notional.get(sym):
                        del out[sym]
        return out

    def _dated_for(self, dated: list[str], market_ns: int, regime: Regime) -> str | None:
        """The contract of `dated` a regime's futures leg sits on: the one its `dated_basis`
        signal measures, else the nearest expiry; never one inside its roll window (None:
        none is, and the futures leg stays on the perp)."""
        roll_ns = self.roll.roll_ns if self.roll is not None else 0
        live = sorted((self.portfolio.perps[s].inst.expiry_ns, s) for s in dated
                      if market_ns < self.portfolio.perps[s].inst.expiry_ns - roll_ns
                      and self.portfolio.perps[s].mark)
        measured = {getattr(s, "symbol", None) for s in self.signals if s.name in regime.when}
        for _, sym in live:
            if sym in measured:
                return sym
        return live[0][1] if live else None

    # -- queue-fed actor ------------------------------------------------------------------
    async def run(self, inbox: asyncio.Queue, outbox: asyncio.Queue) -> None:
        """Consume updates until a None arrives; put each intent on `outbox` (bounded: a full
        outbox applies back-pressure instead of dropping an intent)."""
        while True:
            upd = await inbox.get()
            if upd is None:
                return
            intent = self.on_update(upd)
            if intent is not None:
                await outbox.put(intent)
