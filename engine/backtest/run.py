"""One policy over the bars: the live pipeline (portfolio, statistics, strategy, trigger actor)
and risk guard, with bar fills in place of the exchange.

At the first moment every traded instrument has a price, the policy is allocated to its targets
(costs included), so every policy starts from the same book; from then on only its own rules
trade. All events of one timestamp are applied before the rules look (`evaluate` on the last),
so no rule sees half a moment. Figures kept per bar: NAV, tracking error to the current target
weights, time inside the band; weights are sampled (≤ ~2,000 points) for the plots.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from decimal import Decimal

import msgspec
import numpy as np

from engine.backtest import metrics as m
from engine.backtest.data import BarData
from engine.backtest.fills import BarFiller
from engine.backtest.skip_ahead import SkipAhead, refusal
from engine.core.clock import ReplayClock
from engine.model.events import FundingRate
from engine.node.build import build
from engine.node.config import (
    BacktestCfg,
    EngineConfig,
    PolicyCfg,
    ScheduleCfg,
    TriggersCfg,
)
from engine.node.pipeline import Pipeline
from engine.risk.guard import RiskGuard


@dataclass
class PolicyResult:
    name: str
    metrics: dict
    ts: list[int] = field(default_factory=list)
    nav: list[float] = field(default_factory=list)
    weights_ts: list[int] = field(default_factory=list)
    weights: list[dict[str, float]] = field(default_factory=list)
    rebalance_ts: list[int] = field(default_factory=list)
    funding_ts: list[int] = field(default_factory=list)
    funding_cum: list[float] = field(default_factory=list)
    # with `detail` (an export): weights at every bar, and every trade
    # (ts, symbol, side, qty, price, fee, fee currency), exact amounts as strings
    trades: list[tuple] = field(default_factory=list)
    # (ts, signal, "entry" | "exit", value): every edge of the policy's signal rules
    signal_log: list[tuple] = field(default_factory=list)
    # (ts, rule, target weights) of every rebalance the policy's rules decided
    decisions: list[tuple] = field(default_factory=list)
    # with signal rules: each asset's price at the sampled bars (`weights_ts`), for the plot
    # that marks the signals' entries and exits on it
    prices: dict[str, list[float]] = field(default_factory=dict)
    elapsed_s: float = 0.0
    # whether the bars between decisions were skipped (engine/backtest/skip_ahead.py)
    skip_ahead: bool = False


def policy_config(base: EngineConfig, pol: PolicyCfg, step_ns: int) -> EngineConfig:
    """The engine config one policy runs with: its strategy and its triggers only (signal
    rules and regimes included)."""
    own = base.triggers if pol.signals_from_triggers else None
    triggers = TriggersCfg(
        drift=pol.drift,
        schedule=ScheduleCfg(every=pol.schedule) if pol.schedule is not None else
        ScheduleCfg(every_minutes=pol.schedule_minutes) if pol.schedule_minutes else None,
        signals=list(own.signals) if own is not None else list(pol.signals),
        regimes=own.regimes if own is not None else pol.regimes)
    risk = msgspec.structs.replace(
        base.risk, max_price_age_s=max(base.risk.max_price_age_s, 1.5 * step_ns / 1e9))
    return msgspec.structs.replace(base, strategy=pol.strategy or base.strategy,
                                   triggers=triggers, risk=risk)


def run_policy(base: EngineConfig, pol: PolicyCfg, data: BarData, bt: BacktestCfg,
               detail: bool = False, skip_ahead: bool = True) -> PolicyResult:
    """`skip_ahead=False` takes every bar through the pipeline even where the bars between
    decisions could be skipped (the reference the skipping path is tested against)."""
    t0 = time.perf_counter()
    cfg = policy_config(base, pol, data.step_ns)
    clock = ReplayClock()
    # one cash pool: a bar backtest models no transfers between the spot and futures wallets
    portfolio, strategy, stats, trigger = build(cfg, clock, pooled=True)
    pipe = Pipeline(portfolio, stats, trigger, clock)
    guard = RiskGuard(portfolio, cfg.risk, prices=pipe.prices, price_ts=pipe.price_ts)
    res_trades: list[tuple] | None = [] if detail else None

    def book_fill(f):
        if res_trades is not None:
            res_trades.append((f.ts_event, f.symbol, f.side, str(f.qty), str(f.price), str(f.fee),
                               f.fee_currency))
        return pipe.on_account(f)

    filler = BarFiller(portfolio, guard, pipe.prices, bt.fee_bps, bt.slippage_bps,
                       bt.qty_decimals, bt.min_notional, book_fill=book_fill)
    # "in band" as the policy's own drift rule sees it; the configured default band otherwise
    band_of = trigger.drift.band if trigger.drift is not None else (
        lambda t: bt.band_for_metrics)
    res = PolicyResult(pol.name, {})
    ts_l, nav_l = res.ts, res.nav
    n_groups = data.timestamps
    every = 1 if detail else max(1, n_groups // 2000)  # weights kept every N bars
    st = _Tally()
    symbols = sorted(pipe.required)
    for sym, bars in data.warm.items():  # history before the window: statistics only
        inst = portfolio.instruments.get(sym)
        if inst is not None and pipe.bar_source.get(inst.base) == sym:
            for b in bars:
                stats.on_bar(inst.base, b.open, b.high, b.low, b.close)
    on_event = pipe.on_event
    regimes = trigger.regimes
    regime_bars: dict[str, int] = {}
    ts_arr = data.columns.ts

    def step(k: int, evs: list | None = None) -> None:
        """Bar group `k` through the full pipeline, then its metrics."""
        if evs is None:
            evs = data.group(k)
        ts = int(ts_arr[k])
        last = len(evs) - 1
        intent = None
        for i, ev in enumerate(evs):
            if type(ev) is FundingRate:
                got = on_event(ev, i == last)
                if ev.symbol in portfolio.perps:
                    st.funding += float(sum((a for _, a in pipe.take_funding()), Decimal(0)))
                    res.funding_ts.append(ts)
                    res.funding_cum.append(st.funding)
            else:
                got = on_event(ev, i == last)
            if got is not None:
                intent = got
        if not st.started:
            if not pipe.ready:
                return
            st.started = True
            guard.update(ts, symbols)
            filler.execute(pipe.force("initial", "initial allocation", ts), ts)
            st.initial_traded = filler.traded  # every policy pays this alike: not turnover
            # a rule that fired on the all-cash start (a drift band does) waits for its own
            # rebalance to re-arm: the initial allocation is that rebalance
            intent = None
            trigger.rebalanced()
        if intent is not None:
            guard.update(ts, symbols)
            res.decisions.append((ts, intent.rule, dict(intent.target_weights)))
            if filler.execute(intent, ts):
                st.rebalances += 1
                res.rebalance_ts.append(ts)
            trigger.rebalanced()
        nav = portfolio.nav
        ts_l.append(ts)
        nav_l.append(nav)
        w = portfolio.weights()
        tgt = trigger.targets or {}  # as last computed (a calendar policy: at its rebalance)
        dev = [abs(w.get(a, 0.0) - t) for a, t in tgt.items()]
        if dev:
            st.te_sum += math.sqrt(sum(d * d for d in dev))
            st.n_obs += 1
            if all(d <= band_of(t) + 1e-12 for d, t in zip(dev, tgt.values())):
                st.in_band += 1
        u = portfolio.margin_utilisation
        if u > st.max_util:
            st.max_util = u
        if regimes is not None:
            name = regimes.current.name
            regime_bars[name] = regime_bars.get(name, 0) + 1
        if k % every == 0:
            res.weights_ts.append(ts)
            res.weights.append(w)
            if trigger.signals:
                for a, sym in pipe.bar_source.items():
                    res.prices.setdefault(a, []).append(pipe.prices.get(sym, float("nan")))

    def tally(a: int, b: int, navs_weights, tgt: dict[str, float]) -> None:
        """Metrics of the bars [a, b) skipped between decisions (arrays, as `step` would)."""
        navs, wts = navs_weights
        ts_l.extend(ts_arr[a:b].tolist())
        nav_l.extend(navs.tolist())
        if tgt:
            col = {x: i for i, x in enumerate(ahead.assets)}
            cur = np.stack([wts[:, col[x]] if x in col else np.zeros(b - a) for x in tgt],
                           axis=1)
            dev = np.abs(cur - np.array(list(tgt.values())))
            st.te_sum += float(np.sqrt((dev * dev).sum(axis=1)).sum())
            st.n_obs += b - a
            bands = np.array([band_of(t) + 1e-12 for t in tgt.values()])
            st.in_band += int((dev <= bands).all(axis=1).sum())
        first = a + (-a) % every
        for k in range(first, b, every):
            res.weights_ts.append(int(ts_arr[k]))
            res.weights.append(dict(zip(ahead.assets, wts[k - a].tolist())))

    why_not = refusal(portfolio, trigger, data, detail) if skip_ahead else "not asked"
    res.skip_ahead = why_not is None
    if why_not is not None:
        for k, (_, evs) in enumerate(data.groups):
            step(k, evs)
    else:
        k = 0
        while k < n_groups and not st.started:
            step(k)
            k += 1
        ahead = SkipAhead(data, portfolio, pipe, trigger, feed_stats=strategy.reads_stats)
        ahead.run(k, step, tally)
    rebalances, initial_traded, funding = st.rebalances, st.initial_traded, st.funding
    te_sum, in_band, n_obs, max_util = st.te_sum, st.in_band, st.n_obs, st.max_util
    if res_trades is not None:
        res.trades = res_trades
    res.signal_log = list(trigger.signal_log)
    res.elapsed_s = time.perf_counter() - t0
    ppy = m.YEAR_NS / data.step_ns
    rets = m.returns(nav_l)
    mdd, mdd_ns = m.max_drawdown(nav_l, ts_l) if nav_l else (0.0, 0)
    years = (ts_l[-1] - ts_l[0]) / m.YEAR_NS if len(ts_l) > 1 else 0.0
    mean_nav = sum(nav_l) / len(nav_l) if nav_l else 0.0
    res.metrics = {
        "start_nav": round(nav_l[0], 2) if nav_l else None,
        "end_nav": round(nav_l[-1], 2) if nav_l else None,
        "total_return": round(nav_l[-1] / nav_l[0] - 1.0, 6) if nav_l else None,
        "cagr": round(m.cagr(nav_l, ts_l), 6),
        "volatility": round(m.volatility(rets, ppy), 6),
        "sharpe": round(m.sharpe(rets, ppy), 4),
        "sortino": round(m.sortino(rets, ppy), 4),
        "max_drawdown": round(mdd, 6),
        "max_drawdown_days": round(mdd_ns / 86400e9, 2),
        "rebalances": rebalances,
        # traded notional after the initial allocation / mean NAV, per year
        "turnover": round((filler.traded - initial_traded) / mean_nav / years, 4)
        if years and mean_nav else 0.0,
        "traded_notional": round(filler.traded, 2),
        "fees": float(filler.fees),
        "slippage": float(filler.slippage),
        "funding": round(funding, 6),
        "funding_by_sleeve": {k: float(v) for k, v in portfolio.funding_by_sleeve.items()},
        "tracking_error": round(te_sum / n_obs, 6) if n_obs else 0.0,
        "time_in_band": round(in_band / n_obs, 6) if n_obs else 0.0,
        "band": pol.drift.bands()[0] if pol.drift is not None else bt.band_for_metrics,
        "rel_band": pol.drift.bands()[1] if pol.drift is not None else None,
        "band_policy": pol.drift is not None,
        "max_margin_utilisation": round(max_util, 6),
        "refused_orders": dict(filler.refused),
        "fills": filler.fills,
        "signals": signal_counts(res.signal_log),
        # the share of bars spent in each regime of the policy's matrix
        "time_in_regime": {n: round(b / len(nav_l), 4) for n, b in regime_bars.items()}
        if nav_l else {},
        "bars": len(nav_l),
        "years": round(years, 4),
        "seconds": round(res.elapsed_s, 3),
    }
    return res


@dataclass
class _Tally:
    started: bool = False
    rebalances: int = 0
    initial_traded: float = 0.0
    funding: float = 0.0
    te_sum: float = 0.0
    in_band: int = 0
    n_obs: int = 0
    max_util: float = 0.0


def signal_counts(log: list[tuple]) -> dict[str, dict[str, int]]:
    """Entries and exits per signal rule."""
    out: dict[str, dict[str, int]] = {}
    for _, name, edge, _ in log:
        c = out.setdefault(name, {"entry": 0, "exit": 0})
        c[edge] += 1
    return out


def add_relative(results: dict[str, PolicyResult], baseline: str = "buy_and_hold") -> None:
    """Drawdown reduction versus the buy-and-hold policy, where there is one."""
    base = results.get(baseline)
    if base is None:
        return
    b = base.metrics["max_drawdown"]
    for r in results.values():
        r.metrics["drawdown_reduction_vs_hold"] = round(r.metrics["max_drawdown"] - b, 6)
