"""When and how much to move between the spot and the futures wallet (pure, no I/O).

On the venue the two wallets are separate: perp margin comes from the futures wallet only, and
a spot buy is paid from the spot wallet only. A rebalance that grows perps can need margin the
futures wallet lacks while the spot wallet holds idle stablecoins (or the other way round for
spot buys). The execution engine asks this policy before each child leaves; the transfer it
returns goes first, and the child waits for it. The amounts are exact (`Decimal`, cents).

Utilisation is kept inside a band, [`return_below`, `top_up_above`], and every transfer aims
at `margin_target` inside it, so that one transfer is not soon undone by the next:
- before a child: a perp child whose plan (every running parent's unfilled rest plus this
  child, at current prices) would take margin utilisation above `top_up_above` tops the
  futures wallet up to `margin_target`, from what the spot wallet can spare; a spot buy the
  spot wallet cannot pay draws what the plan lacks from the futures wallet, never taking it
  above `margin_target`.
- after a rebalance: a futures wallet left below `return_below` sends its excess over
  `margin_target` back to the spot wallet.
- while idle: utilisation above `top_up_above` (prices moved against the perps) is topped up
  to `margin_target`.
"""

from __future__ import annotations

from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal
from typing import Annotated

import msgspec

from engine.model.orders import FUTURES_WALLET, SPOT_WALLET, TransferRequest
from engine.portfolio.state import Portfolio
from engine.risk.checks import project

_CENT = Decimal("0.01")
# what a spot buy may cost beyond qty × price, kept free for its fee: 0.2% covers every spot
# fee tier up to 20 bps (Binance's base tier is 10)
SPOT_FEE_ALLOWANCE = Decimal("0.002")
Fraction = Annotated[float, msgspec.Meta(gt=0, lt=1)]


class AccountsCfg(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Transfers between the spot and the futures wallet (off unless `max_transfer` is set).

    Each transfer moves at most `max_transfer` and at least `min_transfer` of `asset`."""

    max_transfer: Decimal | None = None
    asset: str = "USDT"
    margin_target: Fraction = 0.5
    top_up_above: Annotated[float, msgspec.Meta(gt=0, le=1)] = 0.6
    return_below: Annotated[float, msgspec.Meta(ge=0, lt=1)] = 0.4
    min_transfer: Decimal = Decimal("10")

    @property
    def enabled(self) -> bool:
        return self.max_transfer is not None


def _down(x: Decimal) -> Decimal:
    return x.quantize(_CENT, rounding=ROUND_FLOOR)


class TransferPolicy:
    def __init__(self, cfg: AccountsCfg) -> None:
        self.cfg = cfg

    def _request(self, amount: Decimal, src: str, dst: str, why: str, now: int
                 ) -> TransferRequest | None:
        """The request (its id is the caller's to give), or None below `min_transfer`."""
        cfg = self.cfg
        amount = _down(min(amount, cfg.max_transfer))
        if amount <= 0 or amount < cfg.min_transfer:
            return None
        return TransferRequest(transfer_id="", asset=cfg.asset, amount=amount,
                               from_wallet=src, to_wallet=dst, reason=why, ts_created=now)

    def _spot_free(self, p: Portfolio, pending: dict[str, Decimal],
                   prices: dict[str, float]) -> Decimal:
        """Stablecoins of the spot wallet that no pending spot buy will need."""
        need = Decimal(0)
        for sym, q in pending.items():
            inst = p.instruments.get(sym)
            if inst is not None and inst.kind == "spot" and q > 0 and inst.quote == self.cfg.asset:
                need += q * Decimal(repr(prices.get(sym) or 0.0)) * (1 + SPOT_FEE_ALLOWANCE)
        return p.wallets[SPOT_WALLET].get(self.cfg.asset, Decimal(0)) - need

    def _futures_spare(self, p: Portfolio, im: float) -> Decimal:
        """What the futures wallet can give and still margin `im` at `margin_target`."""
        keep = im / self.cfg.margin_target
        spare = Decimal(repr(p.margin_balance - keep))
        return min(spare, p.wallets[FUTURES_WALLET].get(self.cfg.asset, Decimal(0)))

    def top_up(self, p: Portfolio, pending: dict[str, Decimal], prices: dict[str, float],
               now: int, why: str) -> TransferRequest | None:
        """Spot → futures when the projected utilisation exceeds `top_up_above`: enough to
        bring it to `margin_target`, as far as the spot wallet can spare."""
        proj = project(p, pending, prices)
        if proj.usdm_utilisation <= self.cfg.top_up_above:  # COIN-M margin is coin, not USDT
            return None
        need = Decimal(repr(proj.initial_margin / self.cfg.margin_target
                            - proj.margin_balance)).quantize(_CENT, rounding=ROUND_CEILING)
        need = max(need, self.cfg.min_transfer)
        return self._request(min(need, self._spot_free(p, pending, prices)), SPOT_WALLET,
                             FUTURES_WALLET, why, now)

    def for_spot_buy(self, p: Portfolio, cost: Decimal, pending: dict[str, Decimal],
                     prices: dict[str, float], now: int) -> TransferRequest | None:
        """Futures → spot when the spot wallet cannot pay a buy costing `cost`: what the
        plan's spot buys lack (at least this buy's shortfall), within what the futures
        wallet can spare at `margin_target` after the plan."""
        have = p.wallets[SPOT_WALLET].get(self.cfg.asset, Decimal(0))
        short_now = cost * (1 + SPOT_FEE_ALLOWANCE) - have
        if short_now <= 0:
            return None
        short_plan = -self._spot_free(p, pending, prices)
        need = max(short_now, short_plan).quantize(_CENT, rounding=ROUND_CEILING)
        need = max(need, self.cfg.min_transfer)
        spare = self._futures_spare(p, project(p, pending, prices).initial_margin)
        return self._request(min(need, spare), FUTURES_WALLET, SPOT_WALLET,
                             "spot buy needs the spot wallet's quote", now)

    def excess(self, p: Portfolio, now: int) -> TransferRequest | None:
        """Futures → spot after a rebalance left utilisation below `return_below`: what the
        futures wallet holds beyond margining its positions at `margin_target`."""
        if p.usdm_utilisation >= self.cfg.return_below:
            return None
        return self._request(self._futures_spare(p, p.initial_margin), FUTURES_WALLET,
                             SPOT_WALLET, "futures wallet above its margin need", now)
