"""Paper broker: fills child orders against the local L2 book as the exchange would.

- An order reaches the book `latency_ns` after it is sent (replay clock), as does a cancel.
- Marketable orders walk the book level by level up to their limit; the liquidity they take is
  remembered per price level until the feed next updates that level, so a second order in the
  same book state does not get it again. IOC remainders expire.
- Post-only (GTX) orders that would take are rejected; resting orders join the back of their
  level's queue and fill when recorded trades consume the queue ahead of them (a trade through
  their price fills them outright). Cancels of the level ahead shrink the queue.
- The venue's rejections, with Binance's codes: duplicate client id (-4116), amount precision
  (-1111), amount below minimum (-4003), notional below minimum unless reduce-only (-4164),
  reduce-only that would grow the position (-2022), insufficient margin (-2019), post-only that
  would take (-5022).
- Transfers between our spot and futures wallets settle `latency_ns` after they are asked
  for, in order with the orders, or fail (nothing moves) when the source wallet cannot spare
  the amount: the spot wallet what resting buys do not lock, the futures wallet its available
  margin (Binance's -5013, "Asset transfer failed: insufficient balance").
- Fees from the schedule (taker for what takes, maker for what rests), in the settle currency,
  rounded to 1e-8 like Binance.
"""

from __future__ import annotations

import heapq
from decimal import ROUND_HALF_UP, Decimal

import msgspec

from engine.book.manager import BookManager
from engine.core.numeric import to_decimal
from engine.execution.markets import MarketSpec
from engine.model.events import BookDelta, Fill, Trade, Transfer
from engine.model.orders import (COINM_WALLET, FUTURES_WALLET, POST_ONLY_WOULD_TAKE,
                                 SPOT_WALLET, OrderRequest, OrderUpdate, TransferRequest)
from engine.portfolio.state import Portfolio

_FEE_Q = Decimal("1e-8")
_BPS = Decimal(10000)


class FeeSchedule(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    maker_bps: Decimal = Decimal("2")
    taker_bps: Decimal = Decimal("5")


SPOT_FEES = FeeSchedule(maker_bps=Decimal("10"), taker_bps=Decimal("10"))


class _Resting:
    __slots__ = ("order", "remaining", "queue_ahead", "placed")

    def __init__(self, order: OrderRequest, remaining: Decimal, queue_ahead: Decimal,
                 placed: int) -> None:
        self.order, self.remaining, self.queue_ahead, self.placed = (order, remaining,
                                                                     queue_ahead, placed)


class PaperBroker:
    def __init__(self, books: BookManager, markets: dict[str, MarketSpec], portfolio: Portfolio,
                 fees: FeeSchedule | None = None, latency_ns: int = 0,
                 exchange: str = "paper", spot_fees: FeeSchedule | None = None) -> None:
        self.books, self.markets, self.portfolio = books, markets, portfolio
        self.fees = fees or FeeSchedule()
        # Binance spot's base tier is 10 bps maker and taker (futures: 2 / 5)
        self.spot_fees = spot_fees or SPOT_FEES
        self.latency_ns = latency_ns
        self.exchange = exchange
        self.resting: dict[str, _Resting] = {}
        self.consumed: dict[str, dict[float, Decimal]] = {}
        self._inflight: list[tuple[int, int, str, object]] = []
        self._seq = 0
        self._trade_seq = 0
        self._seen_ids: set[str] = set()
        # (fill, its price was a book level; None for a delivery)
        self.fill_log: list[tuple[Fill, bool | None]] = []

    # -- commands -------------------------------------------------------------------------
    def submit(self, order: OrderRequest, now: int) -> None:
        self._seq += 1
        heapq.heappush(self._inflight, (now + self.latency_ns, self._seq, "new", order))

    def cancel(self, client_order_id: str, now: int) -> None:
        self._seq += 1
        heapq.heappush(self._inflight, (now + self.latency_ns, self._seq, "cancel",
                                        client_order_id))

    def transfer(self, req: TransferRequest, now: int) -> None:
        self._seq += 1
        heapq.heappush(self._inflight, (now + self.latency_ns, self._seq, "transfer", req))

    def open_orders(self) -> list[OrderRequest]:
        return [r.order for r in self.resting.values()]

    @property
    def in_flight(self) -> int:
        return len(self._inflight)

    # -- time and market data ---------------------------------------------------------------
    def on_time(self, now: int) -> list[Fill | OrderUpdate]:
        """Everything that reached the book by `now`, in the order it was sent."""
        out: list[Fill | OrderUpdate] = []
        q = self._inflight
        while q and q[0][0] <= now:
            at, _, kind, payload = heapq.heappop(q)
            if kind == "new":
                out.extend(self._arrive(payload, at))
            elif kind == "transfer":
                out.append(self._settle_transfer(payload, at))
            else:
                out.extend(self._cancel(payload, at))
        return out

    def on_delta(self, d: BookDelta) -> None:
        """The feed rewrote these levels: forget what we took there, shrink queues ahead."""
        taken = self.consumed.get(d.symbol)
        if taken:
            for p, _ in d.bids:
                taken.pop(p, None)
            for p, _ in d.asks:
                taken.pop(p, None)
        if self.resting:
            for r in self.resting.values():
                o = r.order
                if o.symbol != d.symbol:
                    continue
                px = float(o.price)
                for p, qty in (d.bids if o.side == "buy" else d.asks):
                    if p == px:
                        r.queue_ahead = min(r.queue_ahead, to_decimal(qty))

    def on_trade(self, t: Trade) -> list[Fill | OrderUpdate]:
        """Recorded trades fill resting orders once the queue ahead of them is gone."""
        out: list[Fill | OrderUpdate] = []
        if not self.resting:
            return out
        for cid in list(self.resting):
            r = self.resting[cid]
            o = r.order
            if o.symbol != t.symbol:
                continue
            price = o.price
            tp = to_decimal(t.price)
            hits = (o.side == "buy" and t.taker_side == "sell" and tp <= price) or (
                o.side == "sell" and t.taker_side == "buy" and tp >= price)
            if not hits:
                continue
            if tp != price:
                take = r.remaining  # traded through our price: everything at it is gone
            else:
                size = to_decimal(t.size)
                if size <= r.queue_ahead:
                    r.queue_ahead -= size
                    continue
                take = min(r.remaining, size - r.queue_ahead)
                r.queue_ahead = Decimal(0)
            take = self.markets[o.symbol].round_amount(take)
            if take <= 0:
                continue
            out.append(self._fill(o, take, price, maker=True, now=t.ts_recv, level=True))
            r.remaining -= take
            if r.remaining <= 0:
                del self.resting[cid]
                out.append(OrderUpdate(client_order_id=cid, symbol=o.symbol, status="filled",
                                       ts=t.ts_recv, filled_qty=o.qty))
            else:
                out.append(OrderUpdate(client_order_id=cid, symbol=o.symbol,
                                       status="partially_filled", ts=t.ts_recv,
                                       filled_qty=o.qty - r.remaining))
        return out

    # -- exchange behaviour ---------------------------------------------------------------
    def _reject(self, o: OrderRequest, now: int, code: int, msg: str,
                refusal: str = "") -> list[OrderUpdate]:
        return [OrderUpdate(client_order_id=o.client_order_id, symbol=o.symbol,
                            status="rejected", ts=now, reason=msg, code=code, refusal=refusal)]

    def _arrive(self, o: OrderRequest, now: int) -> list[Fill | OrderUpdate]:
        if o.client_order_id in self._seen_ids:
            return self._reject(o, now, -4116, "ClientOrderId is duplicated.")
        self._seen_ids.add(o.client_order_id)
        spec = self.markets.get(o.symbol)
        if spec is None:
            return self._reject(o, now, -1121, "Invalid symbol.")
        if o.qty <= 0 or o.qty < spec.min_amount:
            return self._reject(o, now, -4003, "Quantity less than minimum.")
        if spec.round_amount(o.qty) != o.qty:
            return self._reject(o, now, -1111, "Precision is over the maximum defined for "
                                               "this asset.")
        pos = self._position(spec)
        signed = o.qty if o.side == "buy" else -o.qty
        reduces = pos != 0 and (pos > 0) != (signed > 0) and abs(signed) <= abs(pos)
        if o.reduce_only and not reduces:
            return self._reject(o, now, -2022, "ReduceOnly Order is rejected.")
        sync = self.books.syncs.get(o.symbol)
        book = sync.book if sync is not None and sync.valid else None
        ref = o.price if o.price is not None else (
            to_decimal(book.mid()) if book is not None and book.top() else None)
        if ref is not None and spec.min_notional and not o.reduce_only and \
                spec.notional(o.qty, ref) < spec.min_notional:
            return self._reject(o, now, -4164, f"Order's notional must be no smaller than "
                                               f"{spec.min_notional} (unless you choose reduce only).")
        if spec.kind != "spot" and not reduces and ref is not None:
            need = self._initial_margin(spec, o.qty, ref)
            if need > self._available_margin(spec):
                return self._reject(o, now, -2019, "Margin is insufficient.")
        if spec.kind == "spot" and not self._spot_affordable(spec, o, ref):
            return self._reject(o, now, -2010, "Account has insufficient balance for requested "
                                               "action.")
        if book is None:
            return [OrderUpdate(client_order_id=o.client_order_id, symbol=o.symbol,
                                status="expired", ts=now, reason="paper: no synced book")]
        if o.tif == "GTX":
            top = book.top()
            if top is not None and ((o.side == "buy" and float(o.price) >= top[2]) or
                                    (o.side == "sell" and float(o.price) <= top[0])):
                return self._reject(o, now, -5022, "Due to the order could not be executed as "
                                    "maker, the Post Only order will be rejected.",
                                    refusal=POST_ONLY_WOULD_TAKE)
            level = (book.bids if o.side == "buy" else book.asks).get(float(o.price), 0.0)
            self.resting[o.client_order_id] = _Resting(o, o.qty, to_decimal(level) if level
                                                       else Decimal(0), now)
            return [OrderUpdate(client_order_id=o.client_order_id, symbol=o.symbol,
                                status="accepted", ts=now)]
        return self._take(o, book, now)

    def _take(self, o: OrderRequest, book, now: int) -> list[Fill | OrderUpdate]:
        out: list[Fill | OrderUpdate] = []
        remaining = o.qty
        taken = self.consumed.setdefault(o.symbol, {})
        limit = float(o.price) if o.price is not None else None
        for p, q in book.walk("ask" if o.side == "buy" else "bid"):
            if limit is not None and ((o.side == "buy" and p > limit) or
                                      (o.side == "sell" and p < limit)):
                break
            avail = to_decimal(q) - taken.get(p, Decimal(0))
            if avail <= 0:
                continue
            take = min(avail, remaining)
            taken[p] = taken.get(p, Decimal(0)) + take
            out.append(self._fill(o, take, to_decimal(p), maker=False, now=now, level=True))
            remaining -= take
            if remaining <= 0:
                break
        filled = o.qty - remaining
        status = "filled" if remaining <= 0 else ("expired" if o.tif == "IOC" else "expired")
        out.append(OrderUpdate(client_order_id=o.client_order_id, symbol=o.symbol,
                               status=status, ts=now, filled_qty=filled,
                               reason="" if remaining <= 0 else "IOC remainder expired"))
        return out

    def _cancel(self, cid: str, now: int) -> list[OrderUpdate]:
        r = self.resting.pop(cid, None)
        if r is None:
            return [OrderUpdate(client_order_id=cid, symbol="", status="cancel_rejected", ts=now,
                                reason="Unknown order sent.", code=-2011)]
        return [OrderUpdate(client_order_id=cid, symbol=r.order.symbol, status="canceled",
                            ts=now, filled_qty=r.order.qty - r.remaining)]

    def _fill(self, o: OrderRequest, qty: Decimal, price: Decimal, *, maker: bool, now: int,
              level: bool) -> Fill:
        spec = self.markets[o.symbol]
        fees = self.spot_fees if spec.kind == "spot" else self.fees
        bps = fees.maker_bps if maker else fees.taker_bps
        if spec.kind == "inverse":
            fee = (qty * spec.contract_size / price * bps / _BPS).quantize(_FEE_Q, ROUND_HALF_UP)
        else:
            fee = (qty * price * spec.contract_size * bps / _BPS).quantize(_FEE_Q, ROUND_HALF_UP)
        self._trade_seq += 1
        f = Fill(exchange=self.exchange, symbol=o.symbol, ts_event=now, ts_recv=now,
                 order_id=o.client_order_id, trade_id=f"{o.client_order_id}#{self._trade_seq}",
                 side=o.side, qty=qty, price=price, fee=fee, fee_currency=spec.settle,
                 liquidity="maker" if maker else "taker")
        self.fill_log.append((f, level))
        return f

    def deliver(self, symbol: str, price: Decimal, expiry_ns: int, now: int) -> Fill | None:
        """Cash-settle a dated contract at its expiry: the position closed at the delivery
        `price`, no fee (Binance charges none on delivery). Resting orders on it are gone."""
        p = self.portfolio.perps.get(symbol)
        for cid in [c for c, r in self.resting.items() if r.order.symbol == symbol]:
            self.resting.pop(cid)
        if p is None or p.qty == 0:
            return None
        spec = self.markets[symbol]
        f = Fill(exchange=self.exchange, symbol=symbol, ts_event=expiry_ns, ts_recv=now,
                 order_id=f"delivery:{symbol}", trade_id=f"delivery:{symbol}",
                 side="sell" if p.qty > 0 else "buy", qty=abs(p.qty), price=price,
                 fee=Decimal(0), fee_currency=spec.settle, liquidity="delivery")
        self.fill_log.append((f, None))  # None: a settlement, not a trade on the book
        return f

    # -- account --------------------------------------------------------------------------
    def _position(self, spec: MarketSpec) -> Decimal:
        if spec.kind == "spot":
            return self.portfolio.holdings.get(spec.base, Decimal(0))
        return self.portfolio.perps[spec.symbol].qty

    def _spot_affordable(self, spec: MarketSpec, o: OrderRequest, ref: Decimal | None) -> bool:
        """A spot wallet cannot go short or into debt: a sell needs the base asset held (less
        what resting sells already lock), a buy the quote for its limit price and the fee."""
        p = self.portfolio
        locked = Decimal(0)
        for r in self.resting.values():
            ro = r.order
            if ro.symbol == o.symbol and ro.side == o.side:
                locked += r.remaining if o.side == "sell" else r.remaining * ro.price
        if o.side == "sell":
            return o.qty + locked <= p.holdings.get(spec.base, Decimal(0))
        if ref is None:
            return True  # no price to judge by: the book decides (it expires without one)
        fee = self.spot_fees.taker_bps / _BPS
        cost = o.qty * ref * (1 + fee) + locked
        return cost <= p.wallets["spot"].get(spec.quote, Decimal(0))

    def _settle_transfer(self, req: TransferRequest, now: int) -> Transfer:
        """Done if the source wallet can spare the amount, else failed (nothing moves)."""
        p = self.portfolio
        if req.from_wallet == SPOT_WALLET and req.asset not in p.stables:  # a coin, to COIN-M
            locked = sum((r.remaining for r in self.resting.values()
                          if r.order.side == "sell" and self.markets[r.order.symbol].kind == "spot"
                          and self.markets[r.order.symbol].base == req.asset), Decimal(0))
            spare = p.holdings.get(req.asset, Decimal(0)) - locked
        elif req.from_wallet == SPOT_WALLET:
            locked = sum((r.remaining * r.order.price for r in self.resting.values()
                          if r.order.side == "buy" and self.markets[r.order.symbol].kind == "spot"
                          and self.markets[r.order.symbol].quote == req.asset), Decimal(0))
            spare = p.wallets[SPOT_WALLET].get(req.asset, Decimal(0)) - locked
        elif req.from_wallet == COINM_WALLET:
            inverse = next((m for m in self.markets.values() if m.base == req.asset
                            and m.symbol in p.perps and p.perps[m.symbol].coinm), None)
            free = self._available_margin(inverse) if inverse is not None else None
            px = Decimal(repr(p.px.get(req.asset, 0.0)))
            held = p.wallets[COINM_WALLET].get(req.asset, Decimal(0))
            spare = held if free is None else (min(held, free / px) if px > 0 else Decimal(0))
        else:
            spare = min(self._available_margin(),
                        self.portfolio.wallets[FUTURES_WALLET].get(req.asset, Decimal(0)))
        ok = req.amount <= spare
        return Transfer(transfer_id=req.transfer_id, asset=req.asset, amount=req.amount,
                        from_wallet=req.from_wallet, to_wallet=req.to_wallet,
                        status="done" if ok else "failed", ts=now,
                        reason="" if ok else f"-5013 Asset transfer failed: insufficient "
                                             f"balance ({req.from_wallet} can spare {spare})")

    def _initial_margin(self, spec: MarketSpec, qty: Decimal, price: Decimal) -> Decimal:
        lev = Decimal(repr(self.portfolio.instruments[spec.symbol].leverage))
        return spec.notional(qty, price) / lev

    def _available_margin(self, spec: MarketSpec | None = None) -> Decimal:
        """Free margin of the account `spec` trades in (the USD-M account; an inverse perp's
        coin account in the COIN-M wallet), in quote, net of resting orders' margin."""
        p = self.portfolio
        coin = spec.base if spec is not None and p.perps[spec.symbol].coinm else None
        resting = Decimal(0)
        for r in self.resting.values():
            other = self.markets[r.order.symbol]
            if other.kind == "spot":
                continue
            if (other.base if p.perps[other.symbol].coinm else None) == coin:
                resting += self._initial_margin(other, r.remaining, r.order.price)
        if coin is None:
            return Decimal(repr(p.margin_balance - p.initial_margin)) - resting
        im, balance = p.coinm_accounts().get(coin, (0.0, 0.0))
        return Decimal(repr(balance - im)) - resting
