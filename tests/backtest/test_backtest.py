"""Bar backtests checked by hand on the real recorded bars: the arithmetic of buy-and-hold, one
calendar rebalance, funding on a held perp; missing data reported; the CLI's report and JSON."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from decimal import ROUND_DOWN, Decimal

import pyarrow as pa
import pyarrow.feather as feather
import pytest

from engine.backtest.data import load_bar_data
from engine.backtest.run import run_policy
from engine.backtest.sweep import expand_policies
from engine.core.errors import ConfigError
from engine.node.config import load_config
from tests.conftest import ROOT, SHARED, shared

DAILY = ROOT / "scripts" / "data" / "oraculo-de-bitcoin"
PERP = SHARED / "shin-ltp-freqtrade" / "user_data" / "data" / "binance" / "futures"
DAY_NS = 86400 * 10**9


def _closes(path) -> dict[int, float]:
    """Bar close by close time (open + 1 day), read straight from the file."""
    t = feather.read_table(str(path))
    opens = t.column("date").cast(pa.timestamp("ns", tz="UTC")).cast(pa.int64()).to_pylist()
    return dict(zip((o + DAY_NS for o in opens), t.column("close").to_pylist()))


def _spot_config(tmp_path, body: str, fee=0.0, slip=0.0, start=None, end=None) -> str:
    window = (f'start = "{start}"\n' if start else "") + (f'end = "{end}"\n' if end else "")
    text = f"""
[account]
cash = {{ USDT = "100000" }}
[[instruments]]
symbol = "BTC/USDT"
[[instruments]]
symbol = "ETH/USDT"
[universe.BTC]
spot = "BTC/USDT"
[universe.ETH]
spot = "ETH/USDT"
[strategy]
kind = "fixed_weights"
weights = {{ BTC = 0.5, ETH = 0.5 }}
[stats]
sample_seconds = 86400
[risk]
max_gross_leverage = 1.05
[backtest]
fee_bps = {fee}
slippage_bps = {slip}
qty_decimals = 8
min_notional = 1
{window}
[backtest.bars]
"BTC/USDT" = "{DAILY / 'BTC_USDT-1d.feather'}"
"ETH/USDT" = "{DAILY / 'ETH_USDT-1d.feather'}"
{body}
"""
    p = tmp_path / "bt.toml"
    p.write_text(text)
    return str(p)


def _run(path: str, name: str):
    cfg = load_config(path)
    data = load_bar_data(cfg.backtest, path)
    pol = {p.name: p for p in expand_policies(cfg)}[name]
    return run_policy(cfg, pol, data, cfg.backtest), data


def _q(x: Decimal, places: str = "0.00000001") -> Decimal:
    return x.quantize(Decimal(places), rounding=ROUND_DOWN)


def test_two_asset_buy_and_hold_is_the_price_ratio_arithmetic(tmp_path):
    path = _spot_config(tmp_path, '[[backtest.policies]]\nname = "buy_and_hold"')
    res, data = _run(path, "buy_and_hold")
    btc, eth = _closes(DAILY / "BTC_USDT-1d.feather"), _closes(DAILY / "ETH_USDT-1d.feather")
    t0, t1 = res.ts[0], res.ts[-1]
    qb = _q(Decimal(50000) / Decimal(repr(btc[t0])))
    qe = _q(Decimal(50000) / Decimal(repr(eth[t0])))
    cash = Decimal(100000) - qb * Decimal(repr(btc[t0])) - qe * Decimal(repr(eth[t0]))
    end = cash + qb * Decimal(repr(btc[t1])) + qe * Decimal(repr(eth[t1]))
    assert res.metrics["end_nav"] == pytest.approx(float(end), abs=0.01)
    # and, up to the unspent rounding cash, half in each at the start is the mean price ratio
    ratio = 0.5 * btc[t1] / btc[t0] + 0.5 * eth[t1] / eth[t0]
    assert res.nav[-1] / 100000 == pytest.approx(ratio, rel=1e-7)
    assert res.metrics["rebalances"] == 0 and res.metrics["fees"] == 0
    assert len(res.nav) == len(data.groups) == 1825 - 1 + 1  # every day of the window


def test_one_calendar_rebalance_matches_a_hand_computation(tmp_path):
    every = 30 * DAY_NS  # schedule slots are multiples of 30 days since the epoch
    boundary = (1_614_556_800 * 10**9 // every + 1) * every  # the first after 2021-03-01
    from datetime import datetime, timezone

    def iso(ns):
        return datetime.fromtimestamp(ns / 1e9, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S")

    path = _spot_config(tmp_path, '[[backtest.policies]]\nname = "monthly"\n'
                        "schedule_minutes = 43200", fee=10, slip=5,
                        start=iso(boundary - 12 * DAY_NS), end=iso(boundary + 8 * DAY_NS))
    res, _ = _run(path, "monthly")
    assert res.metrics["rebalances"] == 1
    (t_reb,) = res.rebalance_ts
    assert t_reb == boundary  # the first close in the new 30-day slot
    px = {"BTC": _closes(DAILY / "BTC_USDT-1d.feather"),
          "ETH": _closes(DAILY / "ETH_USDT-1d.feather")}
    fee, slip = Decimal("0.001"), Decimal("0.0005")
    cash, qty, fees = Decimal(100000), {"BTC": Decimal(0), "ETH": Decimal(0)}, Decimal(0)

    def trade(t):
        nonlocal cash, fees
        nav = float(cash) + sum(float(qty[a]) * px[a][t] for a in qty)
        orders = []
        for a in qty:
            change = 0.5 * nav - float(qty[a]) * px[a][t]
            close = Decimal(repr(px[a][t]))
            orders.append((change > 0, a, _q(Decimal(repr(abs(change))) / close), close))
        for buy, a, q, close in sorted(orders):  # sells first
            price = _q(close * (1 + slip) if buy else close * (1 - slip))
            if buy:
                q = min(q, _q(cash / (price * (1 + fee))))
            f = _q(q * price * fee)
            cash += -(q * price) - f if buy else q * price - f
            qty[a] += q if buy else -q
            fees += f

    trade(res.ts[0])
    trade(t_reb)
    t1 = res.ts[-1]
    end = cash + sum(qty[a] * Decimal(repr(px[a][t1])) for a in qty)
    assert res.metrics["end_nav"] == pytest.approx(float(end), abs=0.02)
    assert res.metrics["fees"] == pytest.approx(float(fees), abs=1e-6)


def test_funding_on_a_held_perp_is_the_recorded_rates_times_notional(tmp_path):
    folder = PERP.relative_to(SHARED).parts  # skipped when ../shared is not beside us
    rates_f, mark_f, _ = (shared(*folder, f"BTC_USDT_USDT-{name}.feather") for name in (
        "8h-funding_rate", "8h-mark", "1h-futures"))
    text = f"""
[account]
cash = {{ USDT = "100000" }}
[[instruments]]
symbol = "BTC/USDT:USDT"
leverage = 5
[universe.BTC]
perp = "BTC/USDT:USDT"
[strategy]
kind = "fixed_weights"
weights = {{ BTC = 1.0 }}
leg = "perp"
[backtest]
start = "2024-02-21T08:00:00"
end = "2024-06-01T00:00:00"
fee_bps = 0
slippage_bps = 0
qty_decimals = 3
[backtest.bars]
"BTC/USDT:USDT" = "{PERP / 'BTC_USDT_USDT-1h-futures.feather'}"
[backtest.funding."BTC/USDT:USDT"]
rates = "{rates_f}"
mark = "{mark_f}"
[[backtest.policies]]
name = "buy_and_hold"
"""
    path = tmp_path / "perp.toml"
    path.write_text(text)
    res, data = _run(str(path), "buy_and_hold")
    t0, t1 = res.ts[0], res.ts[-1]
    bars = feather.read_table(str(PERP / "BTC_USDT_USDT-1h-futures.feather"))
    opens = bars.column("date").cast(pa.timestamp("ns", tz="UTC")).cast(pa.int64()).to_pylist()
    close0 = dict(zip((o + 3600 * 10**9 for o in opens), bars.column("close").to_pylist()))[t0]
    q = _q(Decimal(100000) / Decimal(repr(close0)), "0.001")
    ft = feather.read_table(str(rates_f))
    mt = feather.read_table(str(mark_f))

    def col(t, c):
        return t.column(c).to_pylist()

    fts = ft.column("date").cast(pa.timestamp("ns", tz="UTC")).cast(pa.int64()).to_pylist()
    mts = mt.column("date").cast(pa.timestamp("ns", tz="UTC")).cast(pa.int64()).to_pylist()
    mark = dict(zip(mts, col(mt, "open")))
    expected = Decimal(0)
    n = 0
    for ts, rate in zip(fts, col(ft, "open")):
        if t0 < ts <= t1:
            m = mark.get(ts) or next(v for k, v in mark.items() if abs(k - ts) <= 60 * 10**9)
            expected += -q * Decimal(repr(m)) * Decimal(repr(rate))
            n += 1
    assert n > 250  # about 3 settlements a day for 100 days
    assert res.metrics["funding"] == pytest.approx(float(expected), abs=1e-6)
    assert res.metrics["funding_by_sleeve"]["BTC/USDT:USDT"] == pytest.approx(float(expected),
                                                                              abs=1e-6)
    assert data.funding[0].covered_fraction > 0.99 and not data.funding[0].gaps
    assert len(res.funding_ts) == n  # one per settlement inside the window


def test_missing_and_unreadable_bars_are_reported_never_filled(tmp_path):
    t = feather.read_table(str(DAILY / "ETH_USDT-1d.feather"))
    rows = t.to_pylist()
    del rows[100]  # a missing day
    rows[200]["close"] = float("nan")  # an unreadable one
    broken = tmp_path / "ETH_USDT-1d.feather"
    feather.write_feather(pa.Table.from_pylist(rows, schema=t.schema), str(broken))
    path = _spot_config(tmp_path, '[[backtest.policies]]\nname = "buy_and_hold"')
    text = open(path).read().replace(str(DAILY / "ETH_USDT-1d.feather"), str(broken))
    open(path, "w").write(text)
    cfg = load_config(path)
    data = load_bar_data(cfg.backtest, path)
    rep = data.report()["instruments"]["ETH/USDT"]
    assert rep["bad_rows"] == 1 and rep["missing_bars"] == 2
    assert rep["missing_sample_ns"] == sorted(rep["missing_sample_ns"])
    assert data.report()["instruments"]["BTC/USDT"]["missing_bars"] == 0
    # the two moments still happen (BTC has them); ETH's last price stands, none is made up
    res, _ = _run(path, "buy_and_hold")
    assert len(res.ts) == 1825 and all(math.isfinite(v) for v in res.nav)


def test_bad_backtest_config_is_explained(tmp_path):
    path = _spot_config(tmp_path, '[[backtest.policies]]\nname = "x"')
    text = open(path).read()
    bad = tmp_path / "bad.toml"
    bad.write_text(text.replace('"ETH/USDT" = "', '"DOGE/USDT" = "'))
    with pytest.raises(ConfigError, match="backtest.bars.DOGE/USDT"):
        load_config(str(bad))
    bad.write_text(text.replace("ETH_USDT-1d.feather", "NOPE-1d.feather"))
    cfg = load_config(str(bad))
    with pytest.raises(ConfigError, match="not found"):
        load_bar_data(cfg.backtest, str(bad))


def test_cli_table_html_and_json(tmp_path):
    html = tmp_path / "r.html"
    out = subprocess.run(
        [sys.executable, "-m", "engine", "backtest", "--config",
         str(ROOT / "configs" / "backtest_daily.toml"), "--workers", "2", "--html", str(html),
         "--json"], cwd=str(ROOT), capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    doc = json.loads(out.stdout.strip().splitlines()[-1])
    pols = doc["policies"]
    assert {"buy_and_hold", "calendar_weekly", "band_abs_5pct_target", "band_abs_5pct_edge",
            "risk_parity_weekly", "vol_target_40pct_weekly", "band_abs_1pct_target"} <= set(pols)
    for m in pols.values():
        for k in ("cagr", "max_drawdown", "turnover", "rebalances", "fees", "funding",
                  "tracking_error", "time_in_band", "sharpe", "sortino"):
            assert k in m
    # tighter bands trade more and stay closer to target
    assert pols["band_abs_1pct_target"]["rebalances"] > pols["band_abs_3pct_target"][
        "rebalances"] > pols["band_abs_10pct_target"]["rebalances"]
    assert pols["band_abs_1pct_target"]["tracking_error"] < pols["buy_and_hold"]["tracking_error"]
    assert "Threshold rebalancing" in out.stdout
    text = html.read_text()
    assert text.count("data:image/png;base64,") >= 3 and "max drawdown" in text


def test_ray_address_without_ray_installed_is_a_clear_error(tmp_path):
    pytest.importorskip("engine")
    try:
        import ray  # noqa: F401
        pytest.skip("ray is installed here")
    except ImportError:
        pass
    path = _spot_config(tmp_path, '[[backtest.policies]]\nname = "buy_and_hold"')
    text = open(path).read().replace("[backtest]\n", '[backtest]\nray_address = "auto"\n')
    open(path, "w").write(text)
    out = subprocess.run([sys.executable, "-m", "engine", "backtest", "--config", path,
                          "--no-html"], cwd=str(ROOT), capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 2 and "Ray is not installed" in out.stderr


def test_costs_calibrated_on_the_tick_replay(capsys):
    """The demo capture's paper fills all take liquidity: the measured fee is the configured
    taker rate, and the slippage is the parents' fill-weighted shortfall."""
    sys.path.insert(0, str(ROOT / "scripts"))
    from calibrate_costs import main

    assert main(["--json"]) == 0
    doc = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert doc["fills"] > 0 and doc["fee_bps"] == pytest.approx(5.0, abs=1e-6)
    per = doc["per_symbol"]
    weighted = sum(v["slippage_bps"] * v["notional"] for v in per.values()) / doc["notional"]
    assert doc["slippage_bps"] == pytest.approx(weighted, abs=1e-3) and doc["slippage_bps"] > 0
