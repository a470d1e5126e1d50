"""Parent orders, their child orders, and the path every child takes: guard → broker.

An intent becomes a plan (market units, reduce-first), each planned order a parent executed
by TWAP or VWAP. At each slice time the parent releases its slice; what the earlier children
did not fill is sent again with it. Children are marketable limits (IOC, capped at
`max_slippage_bps` from the arrival mid) or passive-then-cross (post-only at the touch, then
cancelled and crossed after `passive_timeout_s`; re-posted when the touch moves away for
longer than `stale_child_s`). The risk guard sees every child first; a refusal pauses the
parent (it retries every `retry_s`) or aborts it, as configured. A new intent aborts running
parents before planning afresh; an abort cancels the open child and leaves everything
consistent (what filled stays filled, the rest is reported unfilled).

Each parent reports implementation shortfall against its arrival mid (bps, positive = cost),
fees and fill ratio.
"""

from __future__ import annotations

import hashlib
import logging
from decimal import ROUND_CEILING, Decimal
from typing import Callable

import msgspec

from engine.core.numeric import to_decimal
from engine.execution.markets import MarketSpec
from engine.execution.pacing import NetPath
from engine.execution.planner import PlannedOrder, Planner
from engine.execution.schedules import profile_from_trades, twap_schedule, vwap_schedule
from engine.execution.transfers import TransferPolicy
from engine.model.events import Fill, RebalanceIntent, Transfer
from engine.model.orders import POST_ONLY_WOULD_TAKE, OrderRequest, OrderUpdate, TransferRequest
from engine.portfolio.state import Portfolio
from engine.risk.guard import RiskGuard

log = logging.getLogger("engine.execution")

_BPS = Decimal(10000)


class ExecConfig(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    algo: str = "twap"  # twap | vwap
    duration_s: float = 180.0
    slices: int = 12
    jitter: float = 0.0
    mode: str = "marketable"  # marketable | passive_then_cross
    max_slippage_bps: float = 10.0
    passive_timeout_s: float = 5.0
    stale_child_s: float = 2.0
    on_reject: str = "pause"  # pause | abort
    retry_s: float = 1.0
    deadline_s: float | None = None  # abort what is left after this (default: 2 × duration)
    vwap_window_s: float = 300.0
    # legs of one underlying paced together: its net exposure never stands more than this
    # (quote notional) off the path from start to target (default: one slice's notional)
    max_transient_exposure: float | None = None


class ParentReport(msgspec.Struct, frozen=True, kw_only=True):
    parent_id: str
    intent_id: str
    symbol: str
    side: str
    target_qty: Decimal
    filled_qty: Decimal
    avg_price: Decimal | None
    arrival_mid: Decimal
    shortfall_bps: float | None
    fees: Decimal
    fill_ratio: float
    children: int
    rejects: int
    state: str
    reason: str


class Parent:
    __slots__ = ("parent_id", "intent_id", "symbol", "side", "target", "filled", "cost", "fees",
                 "arrival_mid", "schedule", "released", "next_slice", "child", "child_qty",
                 "child_sent", "child_price", "crossing", "state", "reason", "children",
                 "rejects", "retry_at", "start", "deadline", "spec", "intent_ts", "first_sent",
                 "cancelling")

    def __init__(self, parent_id: str, intent_id: str, o: PlannedOrder, spec: MarketSpec,
                 schedule: list[tuple[int, Decimal]], start: int, deadline: int) -> None:
        self.parent_id, self.intent_id, self.symbol, self.side = (parent_id, intent_id,
                                                                  o.symbol, o.side)
        self.spec = spec
        self.target = o.qty
        self.filled = Decimal(0)
        self.cost = Decimal(0)
        self.fees = Decimal(0)
        self.arrival_mid = o.ref_price
        self.schedule = schedule
        self.released = Decimal(0)
        self.next_slice = 0
        self.child: str | None = None
        self.child_qty = Decimal(0)
        self.child_sent = 0
        self.child_price: Decimal | None = None
        self.crossing = False
        self.state = "running"  # running | paused | done | aborted
        self.reason = ""
        self.children = 0
        self.rejects = 0
        self.retry_at = 0
        self.start, self.deadline = start, deadline
        self.intent_ts = start
        self.cancelling = False
        self.first_sent: int | None = None

    @property
    def remaining(self) -> Decimal:
        return self.target - self.filled

    @property
    def signed_remaining(self) -> Decimal:
        return self.remaining if self.side == "buy" else -self.remaining

    @property
    def active(self) -> bool:
        return self.state in ("running", "paused")

    def report(self) -> ParentReport:
        avg = self.cost / self.filled if self.filled else None
        sf = None
        if avg is not None and self.arrival_mid:
            sign = 1 if self.side == "buy" else -1
            sf = float((avg - self.arrival_mid) / self.arrival_mid * _BPS) * sign
        return ParentReport(
            parent_id=self.parent_id, intent_id=self.intent_id, symbol=self.symbol,
            side=self.side, target_qty=self.target, filled_qty=self.filled, avg_price=avg,
            arrival_mid=self.arrival_mid, shortfall_bps=sf, fees=self.fees,
            fill_ratio=float(self.filled / self.target) if self.target else 1.0,
            children=self.children, rejects=self.rejects, state=self.state, reason=self.reason)


def client_order_id(parent_id: str, n: int) -> str:
    """Deterministic, ≤ 36 chars, Binance's alphabet: the same parent and child number always
    give the same id, so a restarted engine can tell what it already sent."""
    return f"{parent_id}-{n}"


# Children may use this share of the venue's sustained order rate: the rest is headroom for
# re-sent slices (an IOC that expired), passive re-posts and other parents' children.
ORDER_BUDGET_SHARE = 0.5


def fit_duration_ns(children: int, duration_ns: int, orders_per_s: float | None) -> int:
    """The shortest duration ≥ `duration_ns` over which `children` orders stay within the
    share of the venue's order rate (no budget known: unchanged)."""
    if not orders_per_s or children <= 0:
        return duration_ns
    need = int(children / (orders_per_s * ORDER_BUDGET_SHARE) * 1e9)
    return max(duration_ns, need)


def _base(spec: MarketSpec, qty: Decimal, price: Decimal) -> Decimal:
    """`qty` of this market in base units (an inverse contract is size / price of base)."""
    return spec.notional(qty, price) / price


def _smallest_order(spec: MarketSpec, price: Decimal) -> Decimal:
    """The smallest amount the venue takes at `price` (lot, minimum amount and notional)."""
    need = max(spec.amount_step, spec.min_amount)
    if spec.min_notional:
        need = max(need, spec.amount_for(spec.min_notional, price))
    step = spec.amount_step
    return (need / step).to_integral_value(rounding=ROUND_CEILING) * step  # up to the lot


def parent_id_for(intent_id: str, symbol: str) -> str:
    h = hashlib.blake2b(f"{intent_id}|{symbol}".encode(), digest_size=8).hexdigest()
    return f"bl{h}"


class ExecutionEngine:
    def __init__(self, portfolio: Portfolio, markets: dict[str, MarketSpec], guard: RiskGuard,
                 broker, cfg: ExecConfig, prices: dict[str, float],
                 books=None, trades: dict[str, list[tuple[int, float]]] | None = None,
                 *, book_fill: Callable[[Fill], object],
                 transfers: TransferPolicy | None = None) -> None:
        if cfg.algo not in ("twap", "vwap"):
            raise ValueError(f"algo must be twap or vwap, got {cfg.algo!r}")
        if cfg.mode not in ("marketable", "passive_then_cross"):
            raise ValueError(f"mode must be marketable or passive_then_cross, got {cfg.mode!r}")
        if cfg.on_reject not in ("pause", "abort"):
            raise ValueError(f"on_reject must be pause or abort, got {cfg.on_reject!r}")
        self.portfolio, self.markets, self.guard, self.broker = portfolio, markets, guard, broker
        self.cfg, self.prices, self.books = cfg, prices, books
        self.trades = trades if trades is not None else {}
        self.planner = Planner(markets)
        self.parents: dict[str, Parent] = {}
        self._active: dict[str, Parent] = {}  # the running and paused ones, driven each tick
        self._by_child: dict[str, str] = {}
        # fills go to the portfolio's one writer (the pipeline); this engine only reads it
        self.book_fill = book_fill
        self.on_event: Callable[[Fill | OrderUpdate], None] | None = None  # journal hook
        self.sent: list[OrderRequest] = []
        self.updates: list[OrderUpdate] = []
        self.first_child_latency: list[int] = []
        # Children accepted by the guard wait here until `dispatch`: the caller makes them
        # durable (journal) before they leave.
        self.outbox: list[OrderRequest] = []
        self.dirty: set[str] = set()  # parents whose state changed since the last `take_dirty`
        self.stretched: list[tuple[str, int, int]] = []  # (intent, planned ns, stretched ns)
        # Net exposure per underlying while an intent executes (legs of one underlying paced
        # together, see `pacing`); its worst distance from the path start → target as a
        # fraction of NAV, and the largest limit it was held to (fraction of NAV at the plan)
        self._paths: dict[str, dict[str, NetPath]] = {}
        self._child_flight: dict[str, tuple[NetPath, Decimal]] = {}  # cid -> (path, unfilled)
        self.max_transient_deviation = 0.0
        self.max_transient_limit = 0.0
        self.paced_holds = 0  # children held back or cut so a leg would not run ahead
        # Transfers between the spot and futures wallets (None: off). At most one is in
        # flight; children wait for it. Requests wait in `transfer_outbox` until durable.
        self.transfers = transfers
        self.transfer_outbox: list[TransferRequest] = []
        self.transfer_in_flight: TransferRequest | None = None
        self.transfer_log: list[Transfer] = []  # every settled one, done or failed
        self.transfer_why: dict[str, str] = {}  # transfer id -> why it was asked for
        self._transfer_seq = 0
        self._transfer_retry_at = 0
        self._transfer_failures = 0  # in a row, for the back-off
        self._return_due = False  # a rebalance ended: look for excess margin once idle

    # -- intents --------------------------------------------------------------------------
    def on_intent(self, intent: RebalanceIntent, now: int) -> list[Parent]:
        for p in list(self._active.values()):
            self.abort(p.parent_id, f"superseded by {intent.intent_id}", now)
        plan = self.planner.plan(intent, self.portfolio, self.prices)
        for sym, why in plan.skipped.items():
            log.info("intent %s: nothing to order on %s (%s)", intent.intent_id, sym, why)
        cfg = self.cfg
        dur = int(cfg.duration_s * 1e9)
        slack = int((cfg.deadline_s if cfg.deadline_s is not None
                     else 2 * cfg.duration_s) * 1e9) - dur
        fit = fit_duration_ns(len(plan.orders) * cfg.slices, dur,
                              getattr(self.broker, "orders_per_s", None))
        if fit > dur:
            log.warning("intent %s: %d children cannot fit %.1fs within the venue's order "
                        "budget; stretched to %.1fs", intent.intent_id,
                        len(plan.orders) * cfg.slices, dur / 1e9, fit / 1e9)
            self.stretched.append((intent.intent_id, dur, fit))
            dur = fit
        deadline = now + dur + slack
        out = []
        for i, o in enumerate(plan.orders):
            spec = self.markets[o.symbol]
            pid = parent_id_for(intent.intent_id, o.symbol)
            if cfg.algo == "twap":
                sched = twap_schedule(o.qty, now, dur, cfg.slices, spec.amount_step,
                                      spec.min_amount, cfg.jitter, seed=i)
            else:
                prof = profile_from_trades(self.trades.get(o.symbol, []), now,
                                           int(cfg.vwap_window_s * 1e9), cfg.slices)
                sched = vwap_schedule(o.qty, now, dur, prof, spec.amount_step, spec.min_amount)
            p = Parent(pid, intent.intent_id, o, spec, sched, now, deadline)
            p.intent_ts = intent.ts_recv
            self.parents[pid] = p
            self._active[pid] = p
            self.dirty.add(pid)
            out.append(p)
        self._paths = {intent.intent_id: self._net_paths(out)}  # earlier ones are over
        # every leg is scheduled before the first child leaves: the guard and the transfer
        # policy judge that child against the whole plan, not the legs scheduled so far
        for p in out:
            self._drive(p, now)
        return out

    def _net_paths(self, parents: list[Parent]) -> dict[str, NetPath]:
        """Per underlying with more than one leg: its planned net change (base units) and how
        far off the path it may stand: `max_transient_exposure`, or its largest slice."""
        legs: dict[str, list[Parent]] = {}
        for p in parents:
            legs.setdefault(p.spec.base, []).append(p)
        paths = {}
        nav = self.portfolio.nav
        for base, ps in legs.items():
            if len(ps) < 2:
                continue  # one leg moves along its own path
            ref = ps[0].arrival_mid
            target = sum((_base(p.spec, p.target, p.arrival_mid) * (1 if p.side == "buy" else -1)
                          for p in ps), Decimal(0))
            # never below the smallest order a leg can send, or that leg could never trade
            smallest = max(_base(p.spec, _smallest_order(p.spec, p.arrival_mid), p.arrival_mid)
                           for p in ps)
            if self.cfg.max_transient_exposure is not None:
                limit = Decimal(repr(self.cfg.max_transient_exposure)) / ref
                if limit < smallest:
                    log.warning("max_transient_exposure %s is below the smallest order of "
                                "%s's legs (%s); pacing to that", self.cfg.max_transient_exposure,
                                base, float(smallest * ref))
                    limit = smallest
            else:  # one slice of its largest leg
                limit = max(max(_base(p.spec, p.target, p.arrival_mid) / max(1, len(p.schedule))
                                for p in ps), smallest)
            paths[base] = NetPath(target, float(ref), limit)
            if nav > 0:
                self.max_transient_limit = max(self.max_transient_limit,
                                               float(limit * ref) / nav)
        return paths

    def _paced(self, p: Parent, qty: Decimal, price: Decimal) -> Decimal:
        """The child cut to what keeps its underlying's net within its limit of the path."""
        path = self._paths.get(p.intent_id, {}).get(p.spec.base)
        if path is None:
            return qty
        room = path.room(p.side == "buy")
        if _base(p.spec, qty, price) <= room:
            return qty
        self.paced_holds += 1
        return p.spec.round_amount(p.spec.amount_for(room * price, price))

    def pending(self, exclude_child_of: Parent | None = None) -> dict[str, Decimal]:
        """Signed amounts that may still fill: every active parent's unfilled rest."""
        out: dict[str, Decimal] = {}
        for p in self._active.values():
            if p.remaining > 0:
                out[p.symbol] = out.get(p.symbol, Decimal(0)) + p.signed_remaining
        return out

    # -- the clock --------------------------------------------------------------------------
    def on_time(self, now: int) -> None:
        for ev in self.broker.on_time(now):
            self._handle(ev, now)
        if self._active:
            for p in list(self._active.values()):
                if p.active:
                    self._drive(p, now)
        elif self.transfers is not None:
            self._idle_transfers(now)

    def poll_broker(self, now: int) -> None:
        """Take in what the broker has heard (fills, order ends) without driving any parent:
        for callers outside the event loop (reconciliation, shutdown), whose wall-clock `now`
        must not release a slice the engine's own clock has not reached."""
        for ev in self.broker.on_time(now):
            self._handle(ev, now)

    def on_broker_events(self, events, now: int) -> None:
        for ev in events:
            self._handle(ev, now)

    def _drive(self, p: Parent, now: int) -> None:
        cfg = self.cfg
        while p.next_slice < len(p.schedule) and p.schedule[p.next_slice][0] <= now:
            p.released += p.schedule[p.next_slice][1]
            p.next_slice += 1
        if p.remaining <= 0:
            self._finish(p, "done", "filled", now)
            return
        if now >= p.deadline:
            self.abort(p.parent_id, "deadline passed", now)
            return
        if p.child is not None:
            if p.child_price is not None and not p.cancelling:  # a passive child is resting
                age = now - p.child_sent
                if age >= cfg.passive_timeout_s * 1e9:
                    p.crossing = True
                    p.cancelling = True
                    self.broker.cancel(p.child, now)
                elif age >= cfg.stale_child_s * 1e9 and self._touch(p) != p.child_price:
                    p.cancelling = True
                    self.broker.cancel(p.child, now)
            return
        if now < p.retry_at:
            return
        due = min(p.released, p.target) - p.filled
        if p.next_slice >= len(p.schedule):
            due = p.remaining  # schedule over: whatever is left
        qty = p.spec.round_amount(due)
        if qty <= 0:
            return
        price = self._price(p)
        if price is None:
            return
        if p.spec.tradable(qty, price) is not None:
            if p.next_slice >= len(p.schedule) and p.spec.tradable(p.remaining, price):
                self._finish(p, "done", f"rest {p.remaining} below the exchange minimum", now)
            return
        paced = self._paced(p, qty, price)
        if paced != qty and (paced <= 0 or p.spec.tradable(paced, price) is not None):
            return  # the other legs of its underlying must catch up first
        qty = paced
        if self.transfers is not None and not self._funded(p, qty, price, now):
            return
        self._send(p, qty, price, now)

    def _touch(self, p: Parent) -> Decimal | None:
        sync = self.books.syncs.get(p.symbol) if self.books is not None else None
        if sync is None or not sync.valid:
            return None
        top = sync.book.top()
        if top is None:
            return None
        return to_decimal(top[0] if p.side == "buy" else top[2])

    def _price(self, p: Parent) -> Decimal | None:
        cfg = self.cfg
        if cfg.mode == "passive_then_cross" and not p.crossing:
            return self._touch(p)
        mid = p.arrival_mid
        slip = Decimal(repr(cfg.max_slippage_bps)) / _BPS
        limit = mid * (1 + slip) if p.side == "buy" else mid * (1 - slip)
        return p.spec.round_price(limit, p.side)

    def _send(self, p: Parent, qty: Decimal, price: Decimal, now: int) -> None:
        p.children += 1
        cid = client_order_id(p.parent_id, p.children)
        passive = self.cfg.mode == "passive_then_cross" and not p.crossing
        order = OrderRequest(client_order_id=cid, parent_id=p.parent_id, symbol=p.symbol,
                             side=p.side, qty=qty, price=price, tif="GTX" if passive else "IOC",
                             ts_created=now)
        pending = self.pending()
        pending[p.symbol] = pending.get(p.symbol, Decimal(0)) - (qty if p.side == "buy"
                                                                  else -qty)
        verdict = self.guard.check(order, pending, now)
        if not verdict.ok:
            p.rejects += 1
            upd = OrderUpdate(client_order_id=cid, symbol=p.symbol, status="rejected", ts=now,
                              reason=f"risk: {verdict.rule}: {verdict.reason}")
            self.updates.append(upd)
            if self.on_event is not None:
                self.on_event(upd)
            log.warning("child %s refused by risk guard: %s", cid, verdict.reason)
            self._rejected(p, verdict.rule, now)
            return
        p.child, p.child_qty, p.child_sent = cid, qty, now
        path = self._paths.get(p.intent_id, {}).get(p.spec.base)
        if path is not None:
            signed = _base(p.spec, qty, price) * (1 if p.side == "buy" else -1)
            path.sent(signed)
            self._child_flight[cid] = (path, signed)
        p.child_price = price if passive else None
        if p.state == "paused":
            p.state, p.reason = "running", ""
        self._by_child[cid] = p.parent_id
        self.dirty.add(p.parent_id)
        if p.first_sent is None:
            p.first_sent = now
            self.first_child_latency.append(now - p.intent_ts)
        self.outbox.append(order)

    # -- transfers between the wallets ---------------------------------------------------------
    def _next_transfer_id(self, now: int) -> str:
        self._transfer_seq += 1
        return f"tr-{now}-{self._transfer_seq}"

    def _funded(self, p: Parent, qty: Decimal, price: Decimal, now: int) -> bool:
        """Whether this child may leave now: no transfer is in flight, and none is needed
        first (if one is, it is queued and the child waits for its answer)."""
        if self.transfer_in_flight is not None:
            return False
        if now < self._transfer_retry_at or self.guard.state == "HALTED":
            # the last one failed, or nothing may trade (a kill, the venue not yet agreed):
            # the guard judges the child as it stands, and no money moves meanwhile
            return True
        # the plan as it stands: every running parent's unfilled rest (this child included)
        pending = self.pending()
        if p.spec.kind == "spot":
            if p.side != "buy":
                return True
            req = self.transfers.for_spot_buy(self.portfolio, qty * price, pending,
                                              self.prices, now)
        else:
            req = self.transfers.top_up(self.portfolio, pending, self.prices, now,
                                        f"margin for {p.parent_id} ({p.symbol})")
        if req is None:
            return True
        self._queue_transfer(req, now)
        return False

    def _queue_transfer(self, req: TransferRequest, now: int) -> None:
        req = msgspec.structs.replace(req, transfer_id=self._next_transfer_id(now))
        log.info("transfer %s: %s %s %s -> %s (%s)", req.transfer_id, req.amount, req.asset,
                 req.from_wallet, req.to_wallet, req.reason)
        self.transfer_in_flight = req
        self.transfer_why[req.transfer_id] = req.reason
        self.transfer_outbox.append(req)

    def _idle_transfers(self, now: int) -> None:
        """No parent running: return excess margin after a rebalance, top up when prices
        took utilisation above `top_up_above`."""
        if self.transfer_in_flight is not None or now < self._transfer_retry_at \
                or self.guard.state == "HALTED":
            return
        t = self.transfers
        req = None
        if self._return_due:
            self._return_due = False
            req = t.excess(self.portfolio, now)
        elif self.portfolio.usdm_utilisation > t.cfg.top_up_above:
            req = t.top_up(self.portfolio, {}, self.prices, now,
                           "utilisation above top_up_above")
        if req is not None:
            self._queue_transfer(req, now)

    def _transfer_settled(self, ev: Transfer, now: int) -> None:
        self.transfer_log.append(ev)
        if self.transfer_in_flight is not None and \
                self.transfer_in_flight.transfer_id == ev.transfer_id:
            self.transfer_in_flight = None
        if ev.status != "done":
            # back off, doubling up to a minute: a refusal that lasts (a restriction at the
            # venue) must not become a transfer request every second
            self._transfer_failures += 1
            wait = min(60.0, self.cfg.retry_s * 2 ** (self._transfer_failures - 1))
            log.warning("transfer %s failed (%s): no transfer for %.1fs", ev.transfer_id,
                        ev.reason, wait)
            self._transfer_retry_at = now + int(wait * 1e9)
        else:
            self._transfer_failures = 0

    def dispatch(self, now: int) -> list[OrderRequest]:
        """Send what the outboxes hold, transfers first (call once they are durable);
        returns the orders sent."""
        if self.transfer_outbox:
            reqs, self.transfer_outbox = self.transfer_outbox, []
            for req in reqs:
                self.broker.transfer(req, now)
        out, self.outbox = self.outbox, []
        for order in out:
            self.sent.append(order)
            self.broker.submit(order, now)
        if out or self.transfer_in_flight is not None:
            for ev in self.broker.on_time(now):  # zero latency: it reaches the book now
                self._handle(ev, now)
        return out

    def take_dirty(self) -> list[Parent]:
        ps = [self.parents[pid] for pid in self.dirty]
        self.dirty.clear()
        return ps

    def _rejected(self, p: Parent, rule: str, now: int) -> None:
        if self.cfg.on_reject == "abort":
            self.abort(p.parent_id, f"child refused: {rule}", now)
        else:
            p.state, p.reason = "paused", f"child refused: {rule}"
            p.retry_at = now + int(self.cfg.retry_s * 1e9)

    # -- broker events ------------------------------------------------------------------------
    def _handle(self, ev, now: int) -> None:
        if self.on_event is not None:
            self.on_event(ev)
        if type(ev) is Transfer:
            self.book_fill(ev)  # to the portfolio's one writer, like a fill
            self._transfer_settled(ev, now)
            return
        if isinstance(ev, Fill):
            pid = self._by_child.get(ev.order_id)
            self.book_fill(ev)
            if pid is None:
                return
            p = self.parents[pid]
            self.dirty.add(pid)
            p.filled += ev.qty
            p.cost += ev.qty * ev.price
            p.fees += ev.fee
            self._track_path(p, ev)
            return
        self.updates.append(ev)
        if ev.status in ("filled", "expired", "canceled", "rejected"):
            flight = self._child_flight.pop(ev.client_order_id, None)
            if flight is not None:
                flight[0].ended(flight[1])
        pid = self._by_child.get(ev.client_order_id)
        if pid is None:
            return
        p = self.parents[pid]
        if ev.client_order_id != p.child:
            return
        if ev.status == "cancel_rejected":
            return  # the order had already ended; its own final update says how
        if ev.status in ("filled", "expired", "canceled"):
            if p.child_price is None:
                p.crossing = False  # the crossing child is over: the next slice starts passive
            p.child = None
            p.child_price = None
            p.cancelling = False
            if p.remaining <= 0:
                self._finish(p, "done", "filled", now)
            elif ev.status == "expired" and p.active:
                # nothing more at our limit right now: try again after `retry_s`
                p.retry_at = now + int(self.cfg.retry_s * 1e9)
        elif ev.status == "rejected" and ev.refusal == POST_ONLY_WOULD_TAKE:
            # the touch moved through our post-only price: the market came to us, so the
            # next child crosses (as after a passive timeout); not a refusal of the parent
            p.child = None
            p.child_price = None
            p.cancelling = False
            p.crossing = True
        elif ev.status == "rejected":
            p.child = None
            p.child_price = None
            p.cancelling = False
            p.rejects += 1
            log.warning("child %s rejected by venue: %s %s", ev.client_order_id, ev.code,
                        ev.reason)
            if p.active:
                self._rejected(p, f"venue {ev.code}", now)

    def _track_path(self, p: Parent, f: Fill) -> None:
        flight = self._child_flight.get(f.order_id)
        if flight is None:
            return
        path, in_flight = flight
        base = _base(p.spec, f.qty, f.price)
        self._child_flight[f.order_id] = (path, path.filled(
            base if f.side == "buy" else -base, in_flight))
        off = path.off()
        nav = self.portfolio.nav
        if off and nav > 0:
            dev = float(off) * path.price / nav
            if dev > self.max_transient_deviation:
                self.max_transient_deviation = dev

    # -- ends -------------------------------------------------------------------------------
    def abort(self, parent_id: str, reason: str, now: int) -> None:
        """Stop a parent: cancel its open child; fills so far stay, the rest is unfilled."""
        p = self.parents[parent_id]
        if not p.active:
            return
        if p.child is not None:
            self.broker.cancel(p.child, now)
        self._finish(p, "aborted", reason, now)

    def abort_all(self, reason: str, now: int) -> None:
        for pid in list(self._active):
            self.abort(pid, reason, now)

    def _finish(self, p: Parent, state: str, reason: str, now: int) -> None:
        p.state, p.reason = state, reason
        self._active.pop(p.parent_id, None)
        if not self._active:
            self._return_due = True
        self.dirty.add(p.parent_id)
        log.info("parent %s %s %s: %s (%s/%s filled)", p.parent_id, p.side, p.symbol, state,
                 p.filled, p.target)

    def reports(self) -> list[ParentReport]:
        return [p.report() for p in self.parents.values()]

    def working_reports(self) -> list[ParentReport]:
        """The running and paused parents only (a status page's, read often on a long run)."""
        return [p.report() for p in self._active.values()]

    @property
    def busy(self) -> bool:
        return bool(self._active)
