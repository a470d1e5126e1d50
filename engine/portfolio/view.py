"""A strategy's read-only view of the live portfolio.

Strategies and the trigger actor read the portfolio through `PortfolioView`, never through the
`Portfolio` itself (whose one writer is the pipeline). The view holds no copy: each read is
computed, or handed out as a read-only mapping, at the moment it is made. A decision runs
synchronously between two events, so every read of one decision sees the same state; keep
`snapshot()` (a frozen copy) for anything that must outlive the decision.

Each figure is computed here once, for the view and the snapshot alike: `Portfolio.snapshot()`
is this view frozen, so a strategy reads the same bits from either.
"""

from __future__ import annotations

from decimal import Decimal
from types import MappingProxyType
from typing import TYPE_CHECKING, Mapping

from engine.model.orders import FUTURES_WALLET, WALLETS

if TYPE_CHECKING:
    from engine.portfolio.state import Portfolio, PortfolioSnapshot

_ZERO = Decimal(0)


# the figures derived from others: the properties and `snapshot` both take them from here
def _weights(exposure: dict[str, float], nav: float) -> dict[str, float]:
    return {a: (v / nav if nav > 0 else 0.0) for a, v in exposure.items()}


def _net_leverage(exposure: dict[str, float], nav: float) -> float:
    return sum(exposure.values()) / nav if nav > 0 else float("inf")


def _total(values) -> float:
    """Added up in order from 0.0 (as `sum` of floats was before Python 3.12 compensated it)."""
    total = 0.0
    for v in values:
        total += v
    return total


def _distance(margin_balance: float, maintenance: float, gross_perp: float) -> float | None:
    return (margin_balance - maintenance) / gross_perp if gross_perp else None


class PortfolioView:
    """The fields of `PortfolioSnapshot`, read from the live portfolio when asked for.
    Mappings are read-only windows (`MappingProxyType`) on the portfolio's own tables where
    it keeps one, else fresh dicts."""

    __slots__ = ("_p",)

    def __init__(self, portfolio: Portfolio) -> None:
        self._p = portfolio  # read here only; the portfolio's package owns its tables

    @property
    def ts(self) -> int:
        return self._p.ts

    @property
    def nav(self) -> float:
        return self._p.nav

    @property
    def cash(self) -> float:
        return self._p.cash_value

    @property
    def spot_value(self) -> Mapping[str, float]:
        return MappingProxyType(self._p._spot_val)

    @property
    def perp_notional(self) -> dict[str, float]:
        return {s: p.notional for s, p in self._p.perps.items()}

    @property
    def exposure(self) -> dict[str, float]:
        p = self._p
        return {a: p.exposure(a) for a in p.assets}

    @property
    def weights(self) -> dict[str, float]:
        return _weights(self.exposure, self._p.nav)

    @property
    def prices(self) -> Mapping[str, float]:
        return MappingProxyType(self._p.px)

    @property
    def gross_leverage(self) -> float:
        return self._p.gross_leverage()

    @property
    def net_leverage(self) -> float:
        return _net_leverage(self.exposure, self._p.nav)

    @property
    def unrealized_pnl(self) -> float:
        return self._p.unrealized_pnl

    @property
    def realized_pnl(self) -> float:
        p = self._p
        return float(p.spot_realized) + sum(
            float(q.realized) * (1.0 if q.linear else p.px.get(q.asset, 0.0))
            for q in p.perps.values())

    @property
    def initial_margin(self) -> float:
        return self._p._sum_im

    @property
    def maintenance_margin(self) -> float:
        return self._p._sum_mm

    @property
    def margin_balance(self) -> float:
        """USD-M's and every COIN-M account's, in quote."""
        p = self._p
        return p.margin_balance + sum(b for _, b in p.coinm_accounts().values())

    @property
    def margin_utilisation(self) -> float:
        return self._p.margin_utilisation

    @property
    def distance_to_liquidation(self) -> float | None:
        p = self._p
        return _distance(self.margin_balance, p._sum_mm, p._sum_abs_perp)

    @property
    def fees(self) -> float:
        """Fees paid, in quote (coins at their current price)."""
        p = self._p
        stable = sum((v for k, v in p.fees_paid.items() if k in p.stables), _ZERO)
        return float(stable) + sum(float(v) * p.px.get(k, 0.0)
                                   for k, v in p.fees_paid.items() if k not in p.stables)

    @property
    def funding_by_sleeve(self) -> dict[str, float]:
        """Funding received (+) or paid (−) per sleeve, in quote (coin-margined sleeves at
        their coin's current price)."""
        p = self._p
        out: dict[str, float] = {}
        for sleeve, amt in p.funding_by_sleeve.items():
            sym = next((s for s, v in p.sleeve_of.items() if v == sleeve), sleeve)
            q = p.perps.get(sym)
            ccy_px = 1.0 if q is None or q.linear else p.px.get(q.asset, 0.0)
            out[sleeve] = float(amt) * ccy_px
        return out

    @property
    def funding(self) -> float:
        return _total(self.funding_by_sleeve.values())

    @property
    def positions(self) -> dict[str, float]:
        return {s: q.qty_f for s, q in self._p.perps.items()}

    @property
    def holdings(self) -> Mapping[str, float]:
        return MappingProxyType(self._p._hold_f)

    @property
    def wallets(self) -> dict[str, dict[str, float]]:
        p = self._p
        return {w: {c: float(a) for c, a in p.wallets[w].items()}
                for w in ((FUTURES_WALLET,) if p.pooled else WALLETS)}

    @property
    def coinm(self) -> Mapping[str, float]:
        return MappingProxyType(self._p._cm_f)

    @property
    def basis(self) -> dict[str, float]:
        return self._p.dated_basis()

    def snapshot(self) -> PortfolioSnapshot:
        """This instant, frozen (copies of every table)."""
        from engine.portfolio.state import PortfolioSnapshot

        p = self._p
        exposure, nav, sleeves, mb = (self.exposure, self.nav, self.funding_by_sleeve,
                                      self.margin_balance)
        return PortfolioSnapshot(
            ts=self.ts, nav=nav, cash=self.cash,
            spot_value=dict(self.spot_value),
            perp_notional=self.perp_notional,
            exposure=exposure,
            weights=_weights(exposure, nav),
            prices=dict(self.prices),
            gross_leverage=self.gross_leverage,
            net_leverage=_net_leverage(exposure, nav),
            unrealized_pnl=self.unrealized_pnl, realized_pnl=self.realized_pnl,
            initial_margin=self.initial_margin, maintenance_margin=self.maintenance_margin,
            margin_balance=mb, margin_utilisation=self.margin_utilisation,
            distance_to_liquidation=_distance(mb, p._sum_mm, p._sum_abs_perp),
            fees=self.fees, funding=_total(sleeves.values()), funding_by_sleeve=sleeves,
            positions=self.positions, holdings=dict(self.holdings), wallets=self.wallets,
            coinm=dict(self.coinm), basis=self.basis)
