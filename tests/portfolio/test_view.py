"""The strategies' read-only view of the portfolio: live, unwritable, the snapshot's fields,
on a hand-made book (`mixed_book`: spot, a linear perp, an inverse dated contract, COIN-M
coins)."""

from __future__ import annotations

from decimal import Decimal as D

import msgspec
import pytest

from engine.model import Fill
from engine.portfolio.state import Portfolio, PortfolioSnapshot
from engine.portfolio.view import PortfolioView
from tests.portfolio.test_state import mixed_book

_n = 0


def _fill(sym: str, side: str, qty: str, price: str, fee: str = "0", fee_ccy: str = "") -> Fill:
    global _n
    _n += 1
    return Fill(exchange="binanceusdm", symbol=sym, ts_event=_n, ts_recv=_n, order_id="o",
                trade_id=f"v{_n}", side=side, qty=D(qty), price=D(price), fee=D(fee),
                fee_currency=fee_ccy)


def _book() -> Portfolio:
    p = mixed_book()
    p.on_fill(_fill("BTC/USDT:USDT", "sell", "0.2", "60010", fee="4.8", fee_ccy="USDT"))
    p.on_fill(_fill("ETH/USD:ETH", "sell", "40", "3000", fee="0.0002", fee_ccy="ETH"))
    return p


def test_the_view_has_every_field_of_the_snapshot():
    names = {f.name for f in msgspec.structs.fields(PortfolioSnapshot)}
    missing = {n for n in names if not isinstance(getattr(PortfolioView, n, None), property)}
    assert not missing


def test_the_view_reads_the_portfolio_as_it_is_now_and_a_snapshot_stays_as_it_was():
    p = _book()
    view = p.view()
    before = p.snapshot()
    assert msgspec.structs.asdict(view.snapshot()) == msgspec.structs.asdict(before)
    assert view.weights == pytest.approx(p.weights(), rel=0, abs=0)
    p.on_price("BTC/USDT", 66000.0)
    p.on_fill(_fill("BTC/USDT", "buy", "0.1", "66000", fee="6.6", fee_ccy="USDT"))
    # the view moved with the portfolio, without being taken again
    assert view.nav == p.nav != before.nav
    assert view.spot_value["BTC"] == pytest.approx(0.6 * 66000.0)
    assert view.holdings["BTC"] == 0.6 and view.prices["BTC"] == 66000.0
    assert view.fees == pytest.approx(before.fees + 6.6)
    # the snapshot did not: its tables are copies, not the portfolio's own
    assert before.spot_value["BTC"] == pytest.approx(0.5 * 60000.0)
    assert before.holdings["BTC"] == 0.5 and before.prices["BTC"] == 60000.0
    assert before.wallets["spot"]["USDT"] == 20000.0


def test_nothing_can_be_written_through_the_view():
    view = _book().view()
    for table in (view.spot_value, view.prices, view.holdings, view.coinm):
        with pytest.raises(TypeError):
            table["BTC"] = 1.0  # type: ignore[index]
    with pytest.raises(AttributeError):
        view.nav = 0.0  # type: ignore[misc]
    with pytest.raises(AttributeError):
        view.cash_extra = 1  # type: ignore[attr-defined]
