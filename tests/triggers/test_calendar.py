"""Calendar rebalancing means what a person means: the first bar of each calendar month (the
1st, 00:00 UTC), of each week (Monday) or day; fixed intervals ("30d") stay epoch slots."""

from __future__ import annotations

import time

import pytest

from engine.backtest.data import load_bar_data
from engine.backtest.run import run_policy
from engine.core.errors import ConfigError
from engine.node.config import PolicyCfg, load_config, parse_config
from engine.triggers.calendar import DAY_NS, period_of
from engine.triggers.rules import Schedule
from tests.conftest import ROOT, shared

DAILY = str(ROOT / "configs" / "backtest_daily.toml")
HOURLY = str(ROOT / "configs" / "backtest.toml")


def _utc(ns: int) -> time.struct_time:
    return time.gmtime(ns // 10**9)


@pytest.fixture(scope="module")
def daily():
    cfg = load_config(DAILY)
    return cfg, load_bar_data(cfg.backtest, DAILY)


@pytest.mark.parametrize("every,first_of", [
    ("month", lambda t: t.tm_mday == 1),
    ("week", lambda t: t.tm_wday == 0),  # Monday
])
def test_calendar_policies_rebalance_on_the_first_close_of_each_period(daily, every, first_of):
    cfg, data = daily
    res = run_policy(cfg, PolicyCfg(name=f"calendar_{every}", schedule=every), data,
                     cfg.backtest)
    days = [_utc(ts) for ts in res.rebalance_ts]
    assert days and all(first_of(t) and (t.tm_hour, t.tm_min) == (0, 0) for t in days), \
        [time.strftime("%Y-%m-%d %a", t) for t in days if not first_of(t)][:5]
    # one per period from the second period of the data on, none missed
    periods = sorted({period_of(every).slot(ts) for ts in res.ts})
    assert len(res.rebalance_ts) == len(periods) - 1


def test_monthly_on_the_hourly_bars_is_the_1st_at_midnight():
    shared("oraculo-de-bitcoin")  # the hourly bars live in ../shared/data: skipped without it
    cfg = load_config(HOURLY)
    data = load_bar_data(cfg.backtest, HOURLY)
    res = run_policy(cfg, PolicyCfg(name="m", schedule="month"), data, cfg.backtest)
    assert res.rebalance_ts
    for ts in res.rebalance_ts:
        t = _utc(ts)
        assert (t.tm_mday, t.tm_hour, t.tm_min) == (1, 0, 0), time.asctime(t)


def test_a_fixed_30d_interval_keeps_epoch_slots():
    s = Schedule(every="30d")
    assert s.slot_of(30 * DAY_NS - 1) == 0 and s.slot_of(30 * DAY_NS) == 1
    s.check(0)
    assert not s.check(29 * DAY_NS) and s.check(30 * DAY_NS)


def test_week_and_month_boundaries_by_hand():
    week = period_of("week")
    mon = 4 * DAY_NS  # 1970-01-05 was a Monday
    assert week.slot(mon - 1) == 0 and week.slot(mon) == 1
    assert week.slot(mon + 7 * DAY_NS - 1) == 1
    assert week.next_start(mon - 1) == mon and week.next_start(mon) == mon + 7 * DAY_NS
    month = period_of("month")
    feb_1_2024 = 1706745600 * 10**9
    assert month.slot(feb_1_2024 - 1) + 1 == month.slot(feb_1_2024)
    assert month.slot(feb_1_2024 + 28 * DAY_NS) == month.slot(feb_1_2024)  # Feb 29th (leap)
    assert month.next_start(feb_1_2024 - 1) == feb_1_2024
    assert month.next_start(feb_1_2024) == feb_1_2024 + 29 * DAY_NS  # March 1st
    assert period_of("1d").next_start(DAY_NS + 5) == 2 * DAY_NS


def test_capital_m_is_not_a_minute():
    with pytest.raises(ValueError, match="not a period"):
        period_of("1M")
    assert period_of("90m").step_ns == 90 * 60 * 10**9


def test_bad_periods_are_one_line_naming_the_field():
    text = (ROOT / "configs" / "risk_parity.toml").read_text()
    with pytest.raises(ConfigError, match=r"at `\$\.triggers\.schedule\.every`: 'fortnight' is "
                                          r"not a period"):
        parse_config(text.replace('every = "week"', 'every = "fortnight"'))
    with pytest.raises(ConfigError, match=r"at `\$\.triggers\.schedule`: give every"):
        parse_config(text.replace('every = "week"', 'every = "week"\nevery_minutes = 60'))
