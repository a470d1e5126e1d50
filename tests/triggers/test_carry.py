"""The hedge moved between a perpetual and a dated contract by carry (engine/triggers/dated.py),
on hand-written prices and funding: the arithmetic of the comparison, its switch cost, its
horizon and the roll window. The recorded case (the COIN-M minute, perp into the quarterly and
back) is in tests/execution/test_roll_and_delivery.py and tests/live/test_paper_live.py."""

from __future__ import annotations

import pytest

from engine.core.clock import ReplayClock
from engine.core.errors import ConfigError
from engine.model import PortfolioUpdate
from engine.node.build import build
from engine.node.config import parse_config

DAY = 86_400 * 10**9
PERP, Q = "BTC/USDT:USDT", "BTC/USDT:USDT-250627"

CFG = """
[account.futures]
USDT = "20000"
[account.positions."BTC/USDT:USDT"]
qty = "-0.2"
entry_price = "50000"
[[instruments]]
symbol = "BTC/USDT:USDT"
leverage = 5
[[instruments]]
symbol = "BTC/USDT:USDT-250627"
leverage = 5
[universe.BTC]
perp = "BTC/USDT:USDT"
[strategy]
kind = "fixed_weights"
weights = { BTC = 0.0 }
weights_sum = 0.0
leg = "perp"
[triggers.carry]
horizon_days = 30
switch_cost_bps = 10
expected_funding = { "BTC/USDT:USDT" = 0.0001 }
"""


def _setup(cfg_text=CFG, days_to_expiry=91.0, basis=0.02):
    """The perp at 50,000, the quarterly `basis` above it, `days_to_expiry` before its
    expiry (exchange time)."""
    clock = ReplayClock()
    portfolio, _, stats, trigger = build(parse_config(cfg_text, "carry.toml"), clock)
    now = portfolio.instruments[Q].expiry_ns - int(days_to_expiry * DAY)
    portfolio.on_price(PERP, 50000.0, now)
    portfolio.on_price(Q, 50000.0 * (1 + basis), now)

    def update(dt_ns=0):
        clock.advance_to(now + dt_ns)
        return trigger.on_update(PortfolioUpdate(ts_event=now + dt_ns, ts_recv=now + dt_ns,
                                                 cause="price", assets=("BTC",), nav=1.0))
    return portfolio, stats, trigger, update


def test_a_short_hedge_stays_on_the_perp_while_its_funding_earns_more_than_the_basis():
    _, _, trigger, update = _setup()
    # basis 2% over 91 days: 8.02%/yr; funding 0.01% per 8 h: 10.95%/yr to the short
    assert update() is None
    assert trigger.carry.yields[PERP] == pytest.approx(
        {PERP: 0.0001 * 3 * 365, Q: 0.02 * 365 / 91})


def test_it_moves_into_the_quarterly_once_the_gain_over_the_horizon_beats_the_switch_cost():
    text = CFG.replace("0.0001 }", "0.00005 }")  # 5.475%/yr
    portfolio, _, _, update = _setup(text)
    intent = update()
    gain = (0.02 * 365 / 91 - 0.00005 * 3 * 365) * 30 / 365  # 0.209% over 30 days
    assert intent.rule == "carry" and f"{gain:+.3%} over 30.0 days" in intent.reason
    # a calendar spread: the perp to zero, its notional into the quarterly
    assert {t.symbol: t.notional for t in intent.targets} == {
        PERP: 0.0, Q: pytest.approx(-0.2 * 50000)}
    # not decided again while the move may be working (the perp is still held)
    assert update(2 * 10**9) is None
    # a higher switch cost than the gain: no move
    _, _, _, update = _setup(text.replace("switch_cost_bps = 10", "switch_cost_bps = 25"))
    assert update() is None


def test_the_horizon_is_cut_at_the_quarterlys_roll_date_and_inside_it_it_is_never_chosen():
    text = CFG.replace("0.0001 }", "0.00005 }")
    # 13 days to expiry, rolled 3 days before: 10 days held at most, a gain of
    # (8.02% − 5.475%) × 10 / 365 = 0.07% < 0.10%
    _, _, trigger, update = _setup(text, days_to_expiry=13, basis=0.02 * 13 / 91)
    assert update() is None
    assert trigger.carry.yields[PERP][Q] == pytest.approx(0.02 * 365 / 91)
    # 2 days to expiry: inside its roll window, not a candidate however rich
    _, _, trigger, update = _setup(text, days_to_expiry=2, basis=0.01)
    assert update() is None and PERP not in trigger.carry.yields


def test_the_venues_funding_rate_replaces_the_expected_one_and_a_long_hedge_pays_it():
    portfolio, stats, trigger, update = _setup(CFG.replace('qty = "-0.2"', 'qty = "0.2"'))
    # a long pays a positive rate and the basis: with the expected 0.01% the perp costs
    # 10.95%/yr, the quarterly 8.02%/yr: the long moves into the quarterly
    intent = update()
    assert intent is not None and {t.symbol: t.notional for t in intent.targets}[Q] > 0
    portfolio, stats, trigger, update = _setup(CFG.replace('qty = "-0.2"', 'qty = "0.2"'))
    stats.predicted_funding[PERP] = 0.00002  # the mark price stream's: 2.19%/yr
    assert update() is None
    assert trigger.carry.yields[PERP][PERP] == pytest.approx(-0.00002 * 3 * 365)


def test_without_any_funding_rate_the_hedge_is_left_where_it_is():
    _, _, trigger, update = _setup(CFG.replace(
        'expected_funding = { "BTC/USDT:USDT" = 0.0001 }', ""))
    assert update() is None and trigger.carry.yields == {}


def test_expected_funding_must_name_a_declared_perpetual():
    bad = CFG.replace('{ "BTC/USDT:USDT" = 0.0001 }', '{ "ETH/USDT:USDT" = 0.0001 }')
    with pytest.raises(ConfigError, match=r"expected_funding: \['ETH/USDT:USDT'\] are not"):
        build(parse_config(bad, "carry.toml"), ReplayClock())


def test_no_carry_move_while_a_rebalance_is_working():
    text = CFG.replace("0.0001 }", "0.00005 }")
    _, _, trigger, update = _setup(text)
    working = [True]
    trigger.busy = lambda: working[0]
    assert update() is None  # the executor is busy: a new intent would abort its rebalance
    working[0] = False
    assert update(2 * 10**9).rule == "carry"


REGIME_CFG = """
[account.spot]
USDT = "100000"
BTC = "1"
[account.futures]
USDT = "20000"
[account.positions."BTC/USDT:USDT-250627"]
qty = "-0.6"
entry_price = "50000"
[[instruments]]
symbol = "BTC/USDT"
[[instruments]]
symbol = "BTC/USDT:USDT"
leverage = 5
[[instruments]]
symbol = "BTC/USDT:USDT-250627"
leverage = 5
[universe.BTC]
spot = "BTC/USDT"
perp = "BTC/USDT:USDT"
[strategy]
kind = "fixed_weights"
weights = { BTC = 0.3 }
weights_sum = 0.3
[triggers.regimes.baseline]
name = "hedged"
spot_share = 1.0
futures = -1.0
[triggers.carry]
expected_funding = { "BTC/USDT:USDT" = -0.0001 }
"""


def test_a_regimes_futures_leg_counts_the_quarterly_carry_moved_it_into():
    """The regime wants spot 30% of NAV and as much short; carry holds the short on the
    quarterly: the regime's next decision keeps it there (the perp takes only the rest), it
    does not double the hedge."""
    clock = ReplayClock()
    portfolio, _, _, trigger = build(parse_config(REGIME_CFG, "regime.toml"), clock)
    now = portfolio.instruments[Q].expiry_ns - 91 * DAY
    for sym, px in (("BTC/USDT", 50000.0), (PERP, 50000.0), (Q, 51000.0)):
        portfolio.on_price(sym, px, now)
    clock.advance_to(now)
    intent = trigger.force("schedule", "calendar", now)
    legs = {t.symbol: t.notional for t in intent.targets}
    e = 0.3 * portfolio.nav
    assert legs["BTC/USDT"] == pytest.approx(e)
    # the futures leg is −e in all: the quarterly's −0.6 × 51,000 and the perp the rest
    assert legs[PERP] + portfolio.perps[Q].notional == pytest.approx(-e)


def test_carry_and_regimes_that_place_dated_contracts_are_refused_together():
    bad = REGIME_CFG.replace('futures = -1.0\n', 'futures = -1.0\nfutures_on = "dated"\n')
    with pytest.raises(ConfigError, match=r"\$\.triggers\.carry`: carry moves the hedge"):
        parse_config(bad, "regime.toml")
