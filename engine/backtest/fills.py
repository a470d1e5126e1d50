"""Bar fills: an intent's legs traded at the bar's close with the configured costs.

Each leg's change (target notional − current) becomes one order of `|change| / close` units,
rounded down to `qty_decimals`, skipped under `min_notional`. Reducing orders go first so
their proceeds pay for the rest; a spot buy larger than the cash left is cut to what the cash
pays, fee included. Every order passes the same risk guard as live (margin cap, leverage,
position and notional limits); a refusal is counted, never silently retried. The fill price is
close × (1 ± slippage), the fee `fee_bps` of the filled notional, both exact Decimals booked
by the same portfolio code as live fills.
"""

from __future__ import annotations

from decimal import ROUND_DOWN, Decimal
from typing import Callable

from engine.core.numeric import to_decimal
from engine.model.events import Fill, RebalanceIntent
from engine.model.orders import OrderRequest
from engine.portfolio.state import Portfolio
from engine.risk.guard import RiskGuard

_BPS = Decimal(10_000)
_CENT8 = Decimal("0.00000001")
_ZERO = Decimal(0)


class BarFiller:
    def __init__(self, portfolio: Portfolio, guard: RiskGuard, prices: dict[str, float],
                 fee_bps: float, slippage_bps: float, qty_decimals: int,
                 min_notional: float, *, book_fill: Callable[[Fill], object]) -> None:
        self.portfolio, self.guard, self.prices = portfolio, guard, prices
        self.book_fill = book_fill  # the pipeline: the portfolio's one writer
        self.fee = to_decimal(fee_bps) / _BPS
        slip = to_decimal(slippage_bps) / _BPS
        # price multipliers, taken once (exact: the same Decimals each order computed)
        self._buy_at, self._sell_at, self._with_fee = 1 + slip, 1 - slip, 1 + self.fee
        self.step = Decimal(1).scaleb(-qty_decimals)
        self.min_notional = min_notional
        self.fills = 0
        self.traded = 0.0  # Σ |qty × close|, quote currency
        self.fees = Decimal(0)
        self.slippage = Decimal(0)  # Σ qty × |fill price − close|
        self.refused: dict[str, int] = {}
        self._seq = 0

    def execute(self, intent: RebalanceIntent, now: int) -> int:
        """Trade the intent at the current closes; returns the number of fills."""
        p = self.portfolio
        insts, prices, min_notional = p.instruments, self.prices, self.min_notional
        orders: list[tuple[bool, str, str, Decimal, Decimal]] = []
        for leg in intent.targets:
            sym = leg.symbol
            px = prices.get(sym)
            if not px:
                continue
            inst = insts[sym]
            spot = inst.kind == "spot"
            change = leg.notional - (p.spot_value(inst.base) if spot else p.perp_notional(sym))
            if abs(change) < min_notional:
                continue
            close = to_decimal(px)
            qty = (to_decimal(abs(change)) / close).quantize(self.step, rounding=ROUND_DOWN)
            if qty <= 0:
                continue
            side = "buy" if change > 0 else "sell"
            held = p.holdings.get(inst.base, _ZERO) if spot else p.perps[sym].qty
            reduces = (held > 0 and side == "sell") or (held < 0 and side == "buy")
            orders.append((not reduces, sym, side, qty, close))
        orders.sort(key=lambda o: o[0])  # reducing first
        done = 0
        for _, sym, side, qty, close in orders:
            price = close * (self._buy_at if side == "buy" else self._sell_at)
            price = price.quantize(_CENT8)
            inst = p.instruments[sym]
            if inst.kind == "spot" and side == "buy":
                cash = p.cash_in(inst.quote)
                afford = (cash / (price * self._with_fee)).quantize(self.step,
                                                                   rounding=ROUND_DOWN)
                qty = min(qty, afford)
                if qty <= 0 or float(qty * close) < self.min_notional:
                    continue
            self._seq += 1
            cid = f"bt-{self._seq}"
            order = OrderRequest(client_order_id=cid, parent_id=intent.intent_id, symbol=sym,
                                 side=side, qty=qty, price=price, tif="IOC", ts_created=now)
            verdict = self.guard.check(order, {}, now)
            if not verdict.ok:
                self.refused[verdict.rule] = self.refused.get(verdict.rule, 0) + 1
                continue
            fee = (qty * price * self.fee).quantize(_CENT8)
            self.book_fill(Fill(exchange="backtest", symbol=sym, ts_event=now, ts_recv=now,
                                order_id=cid, trade_id=cid, side=side, qty=qty, price=price,
                                fee=fee, fee_currency=inst.settle or inst.quote,
                                liquidity="taker"))
            self.fills += 1
            done += 1
            self.traded += float(qty * close)
            self.fees += fee
            self.slippage += qty * abs(price - close)
        return done
