"""The backtest report: a terminal table, the answer to "did threshold rebalancing lower the max
drawdown versus set-and-forget, and at what cost?", and an HTML file with matplotlib plots
(equity, drawdown, weights with rebalance marks, funding) embedded as PNG."""

from __future__ import annotations

import bisect

import base64
import html
import io
from datetime import datetime, timezone

from engine.backtest import metrics as m

COLUMNS = [("cagr", "CAGR", "{:+.2%}"), ("volatility", "vol", "{:.2%}"),
           ("sharpe", "Sharpe", "{:.2f}"), ("sortino", "Sortino", "{:.2f}"),
           ("max_drawdown", "max DD", "{:.2%}"), ("max_drawdown_days", "DD days", "{:.0f}"),
           ("rebalances", "rebal", "{:d}"), ("turnover", "turnover/yr", "{:.2f}"),
           ("fees", "fees", "{:,.0f}"), ("slippage", "slippage", "{:,.0f}"),
           ("funding", "funding", "{:+,.0f}"), ("tracking_error", "track err", "{:.3f}"),
           ("time_in_band", "in band", "{:.1%}"),
           ("max_margin_utilisation", "max margin", "{:.1%}"),
           ("drawdown_reduction_vs_hold", "DD vs hold", "{:+.2%}"),
           ("seconds", "secs", "{:.2f}")]


def _fmt(fmt: str, v) -> str:
    if v is None:
        return "-"
    try:
        return fmt.format(v)
    except (ValueError, TypeError):
        return str(v)


def answer(results: dict, baseline: str = "buy_and_hold") -> str:
    """Plain words on the seeds' question, from the figures."""
    base = results.get(baseline)
    bands = {n: r for n, r in results.items() if r.metrics.get("band_policy")}
    if base is None or not bands:
        return "(needs a buy_and_hold policy and at least one threshold policy to answer)"
    b = base.metrics
    lines = [f"Set-and-forget ({baseline}): max drawdown {b['max_drawdown']:.2%}, "
             f"CAGR {b['cagr']:+.2%}."]
    better = 0
    idle = sorted(n for n, r in bands.items() if not r.metrics["rebalances"])
    traded = {n: r for n, r in bands.items() if r.metrics["rebalances"]}
    for n, r in traded.items():
        x = r.metrics
        d = x["max_drawdown"] - b["max_drawdown"]
        better += d > 0
        lines.append(f"{n}: max drawdown {x['max_drawdown']:.2%} ({d * 100:+.2f} pts vs hold), "
                     f"CAGR {x['cagr']:+.2%}, {x['rebalances']} rebalances, turnover "
                     f"{x['turnover']:.2f}/yr, fees {x['fees']:,.0f} + slippage "
                     f"{x['slippage']:,.0f}.")
    # a band that never traded is the buy-and-hold again: counting it would say nothing
    if not traded:
        head = f"No threshold policy traded ({len(bands)} tried)."
    elif better:
        head = (f"Threshold rebalancing lowered the max drawdown in {better} of {len(traded)} "
                "band policies that traded.")
    else:
        head = (f"Threshold rebalancing did not lower the max drawdown in any of {len(traded)} "
                "band policies that traded.")
    lines.insert(1, head)
    if idle:
        lines.append(f"Never rebalanced (not counted above): {', '.join(idle)}.")
    lines += regime_answer(results, base)
    return "\n".join(lines)


def regime_answer(results: dict, base) -> list[str]:
    """Did a regime matrix lower the drawdown, and at what cost (fees, funding, turnover)?"""
    out = []
    b = base.metrics
    for n, r in results.items():
        x = r.metrics
        if not x.get("time_in_regime"):
            continue
        d = x["max_drawdown"] - b["max_drawdown"]
        verdict = "lowered" if d > 0 else "did not lower"
        time_in = ", ".join(f"{k} {v:.0%}" for k, v in sorted(
            x["time_in_regime"].items(), key=lambda kv: -kv[1]))
        rules = ", ".join(f"{k} {v['entry']} in / {v['exit']} out"
                          for k, v in sorted(x.get("signals", {}).items()))
        out.append(f"The regime matrix ({n}) {verdict} the max drawdown: {x['max_drawdown']:.2%}"
                   f" vs {b['max_drawdown']:.2%} held ({d * 100:+.2f} pts), CAGR "
                   f"{x['cagr']:+.2%} vs {b['cagr']:+.2%}, at the cost of fees "
                   f"{x['fees']:,.0f} + slippage {x['slippage']:,.0f}, funding "
                   f"{x['funding']:+,.0f}, turnover {x['turnover']:.2f}/yr. Time in regimes: "
                   f"{time_in}. Rules: {rules or 'none fired'}.")
    return out


def print_table(results: dict, data_report: dict) -> None:
    from rich.console import Console
    from rich.table import Table

    t = Table(title=f"backtest: {data_report['bars']:,} bars, {data_report['timeframe']}, "
                    f"{_day(data_report['start_ns'])} → {_day(data_report['end_ns'])}")
    t.add_column("policy")
    for _, head, _ in COLUMNS:
        t.add_column(head, justify="right")
    for n, r in results.items():
        t.add_row(n, *(_fmt(f, r.metrics.get(k)) for k, _, f in COLUMNS))
    c = Console(width=220)
    c.print(t)
    for sym, cov in data_report["instruments"].items():
        if cov["missing_bars"] or cov["bad_rows"]:
            c.print(f"[yellow]data: {sym} lacks {cov['missing_bars']} bars others have "
                    f"(e.g. {', '.join(_iso(t) for t in cov['missing_sample_ns'])}); "
                    f"{cov['bad_rows']} unreadable rows; its last price stands meanwhile")
    for sym, f in data_report["funding"].items():
        c.print(f"data: {sym} funding: {f['settlements']} settlements, "
                f"{f['covered_fraction']:.1%} of the window, {len(f['gaps'])} gaps, "
                f"{f['without_mark']} without a recorded mark")
    c.print(answer(results))


def _day(ns: int) -> str:
    return datetime.fromtimestamp(ns / 1e9, timezone.utc).strftime("%Y-%m-%d")


def _iso(ns: int) -> str:
    return datetime.fromtimestamp(ns / 1e9, timezone.utc).strftime("%Y-%m-%d %H:%M")


def _png(fig) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90, bbox_inches="tight")
    return base64.b64encode(buf.getvalue()).decode()


MAX_LINES = 8  # lines per chart that tab10's colours still tell apart (plus the baseline)


def _groups(results: dict, baseline: str = "buy_and_hold") -> list[list[str]]:
    """Policies in charts of at most MAX_LINES each: listed policies first, then the swept
    bands, each chart with the baseline drawn in black for reference."""
    names = [n for n in results if n != baseline]
    names.sort(key=lambda n: bool(results[n].metrics.get("band_policy")))  # stable
    return [names[i:i + MAX_LINES] for i in range(0, len(names), MAX_LINES)] or [[]]


def _legend_outside(ax) -> None:
    # beside the plot, never on the data
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0.0)


def build_figures(results: dict, baseline: str = "buy_and_hold") -> list[tuple[str, object]]:
    """The report's charts as matplotlib figures (titled), for `write_html` and tests."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.dates as mdates
    import matplotlib.pyplot as plt

    def dates(ts):
        return [datetime.fromtimestamp(t / 1e9, timezone.utc) for t in ts]

    base = results.get(baseline)
    figs: list[tuple[str, object]] = []
    groups = _groups(results, baseline)
    for k, names in enumerate(groups):
        part = f" ({k + 1} of {len(groups)})" if len(groups) > 1 else ""
        fig, (ax, dd) = plt.subplots(2, 1, figsize=(11, 6.5), sharex=True,
                                     gridspec_kw={"height_ratios": [3, 2]})
        colours = plt.get_cmap("tab10").colors
        if base is not None:
            step = max(1, len(base.ts) // 3000)
            ax.plot(dates(base.ts[::step]), base.nav[::step], label=baseline, lw=1.2,
                    color="black", ls="--")
            dd.plot(dates(base.ts[::step]), [d * 100 for d in m.drawdowns(base.nav)[::step]],
                    lw=1.0, color="black", ls="--")
        for i, n in enumerate(names):
            r = results[n]
            step = max(1, len(r.ts) // 3000)
            ax.plot(dates(r.ts[::step]), r.nav[::step], label=n, lw=1, color=colours[i])
            dd.plot(dates(r.ts[::step]), [d * 100 for d in m.drawdowns(r.nav)[::step]],
                    lw=0.8, color=colours[i])
        ax.set_title(f"Equity (NAV, quote currency, log scale) and drawdown (%){part}")
        ax.set_yscale("log")
        _legend_outside(ax)
        dd.set_ylabel("drawdown %")
        dd.xaxis.set_major_formatter(mdates.DateFormatter("%Y-%m"))
        figs.append((f"Equity and drawdown{part}", fig))

    for n, r in results.items():  # the signal log as marks on the price it was read from
        if not r.signal_log or not r.prices:
            continue
        fig, ax = plt.subplots(figsize=(11, 3.5))
        asset = sorted(r.prices)[0]
        step = max(1, len(r.weights_ts) // 3000)
        ax.plot(dates(r.weights_ts[::step]), r.prices[asset][::step], lw=0.8, color="black",
                label=asset)
        series = r.prices[asset]

        def price_at(t, ts=r.weights_ts, series=series):  # the last sampled bar at or before t
            i = bisect.bisect_right(ts, t) - 1
            return series[i] if i >= 0 else None

        rules = sorted({rule for _, rule, _, _ in r.signal_log})
        colours = plt.get_cmap("tab10").colors
        for i, rule in enumerate(rules):
            for edge, marker in (("entry", "^"), ("exit", "v")):
                pts = [(t, price_at(t)) for t, x, e, _ in r.signal_log
                       if x == rule and e == edge]
                pts = [(t, p) for t, p in pts if p is not None]
                if pts:
                    ax.scatter(dates([t for t, _ in pts]), [p for _, p in pts], marker=marker,
                               s=22, color=colours[i % 10], label=f"{rule} {edge}",
                               zorder=3)
        ax.set_yscale("log")
        ax.set_title(f"{n}: {asset} price with each signal's entries (▲) and exits (▼)")
        _legend_outside(ax)
        figs.append((f"{n}: signals on the price", fig))

    for n, r in results.items():
        if not r.weights:
            continue
        fig, ax = plt.subplots(figsize=(11, 3))
        assets = sorted(r.weights[0])
        step = max(1, len(r.weights) // 3000)  # every bar with --export: thin the line
        d = dates(r.weights_ts[::step])
        for a in assets:
            ax.plot(d, [w.get(a, 0.0) for w in r.weights[::step]], label=a, lw=0.9)
        if r.rebalance_ts:  # every rebalance, as a tick at the foot of the chart
            ax.vlines(dates(r.rebalance_ts), 0, 0.06, transform=ax.get_xaxis_transform(),
                      color="grey", lw=0.4, alpha=0.7, label="rebalance")
        ax.set_title(f"{n}: weights over time (all {len(r.rebalance_ts)} rebalances marked)")
        _legend_outside(ax)
        figs.append((f"Weights: {n}", fig))

    funded = {n: r for n, r in results.items() if any(r.funding_cum)}
    names = list(funded)
    for k in range(0, len(names), MAX_LINES):
        fig, ax = plt.subplots(figsize=(11, 3))
        for n in names[k:k + MAX_LINES]:
            r = funded[n]
            ax.step(dates(r.funding_ts), r.funding_cum, where="post", label=n, lw=0.9)
        ax.set_title("Funding received (+) / paid (−), cumulative")
        _legend_outside(ax)
        figs.append(("Funding", fig))
    return figs


def write_html(results: dict, data_report: dict, path: str, title: str) -> str:
    import matplotlib.pyplot as plt

    figs = []
    for t, fig in build_figures(results):
        figs.append((t, _png(fig)))
        plt.close(fig)

    head = "".join(f"<th>{html.escape(h)}</th>" for _, h, _ in COLUMNS)
    rows = "".join(
        f"<tr><td>{html.escape(n)}</td>" + "".join(
            f"<td>{html.escape(_fmt(f, r.metrics.get(k)))}</td>" for k, _, f in COLUMNS)
        + "</tr>" for n, r in results.items())
    imgs = "".join(f"<h2>{html.escape(t)}</h2><img src='data:image/png;base64,{b}'/>"
                   for t, b in figs)
    doc = (f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}"
           "</title><style>body{font-family:sans-serif;margin:2em}table{border-collapse:"
           "collapse;font-size:13px}td,th{border:1px solid #ccc;padding:3px 6px;text-align:"
           "right}td:first-child{text-align:left}</style></head><body>"
           f"<h1>{html.escape(title)}</h1><p>{data_report['bars']:,} bars "
           f"({data_report['timeframe']}), {_day(data_report['start_ns'])} → "
           f"{_day(data_report['end_ns'])}</p><table><tr><th>policy</th>{head}</tr>{rows}"
           f"</table><h2>Did threshold rebalancing lower the max drawdown, and at what cost?"
           f"</h2><pre>{html.escape(answer(results))}</pre>{imgs}</body></html>")
    with open(path, "w", encoding="utf-8") as fh:
        fh.write(doc)
    return path
