"""A backtest's results as files a user takes away: per policy, Parquet and CSV tables of the
NAV and drawdown per bar, the weights per bar, every trade, and funding per bar.

    DIR/<policy>/nav.{parquet,csv}      ts (UTC), nav, drawdown
    DIR/<policy>/weights.{parquet,csv}  ts, one column per asset
    DIR/<policy>/trades.{parquet,csv}   ts, symbol, side, qty, price, fee, fee_currency
    DIR/<policy>/funding.{parquet,csv}  ts, funding_cum (received +, paid −, to that bar)
    DIR/metrics.{parquet,csv}           one row per policy

Amounts of trades stay exact decimal strings; NAV and weights are floats (statistics).
"""

from __future__ import annotations

import bisect
import os
import re


def _ts_col(ts: list[int]):
    import pyarrow as pa

    return pa.array(ts, type=pa.int64()).cast(pa.timestamp("ns", tz="UTC"))


def _write(table, base: str) -> None:
    import pyarrow.csv as pcsv
    import pyarrow.parquet as pq

    pq.write_table(table, base + ".parquet")
    pcsv.write_csv(table, base + ".csv")


def safe_name(name: str, taken: set[str]) -> str:
    """A folder name for a policy: letters, digits, `_ . -`, never `.`/`..`/empty, unique."""
    base = re.sub(r"[^A-Za-z0-9_.-]+", "_", name).strip(".") or "policy"
    out, k = base, 2
    while out in taken:
        out, k = f"{base}_{k}", k + 1
    taken.add(out)
    return out


def export_results(results: dict, out_dir: str) -> list[str]:
    """Write every policy's tables under `out_dir`; returns the folders written."""
    import pyarrow as pa

    from engine.backtest import metrics as m

    os.makedirs(out_dir, exist_ok=True)
    written = []
    taken: set[str] = {"metrics.parquet", "metrics.csv"}
    for name, r in results.items():
        d = os.path.join(out_dir, safe_name(name, taken))
        os.makedirs(d, exist_ok=True)
        _write(pa.table({"ts": _ts_col(r.ts), "nav": r.nav, "drawdown": m.drawdowns(r.nav)}),
               os.path.join(d, "nav"))
        assets = sorted({a for w in r.weights for a in w})
        _write(pa.table({"ts": _ts_col(r.weights_ts),
                         **{a: [w.get(a, 0.0) for w in r.weights] for a in assets}}),
               os.path.join(d, "weights"))
        cols = list(zip(*r.trades)) if r.trades else [[]] * 7
        _write(pa.table({"ts": _ts_col(list(cols[0])), "symbol": pa.array(cols[1], pa.string()),
                         "side": pa.array(cols[2], pa.string()),
                         "qty": pa.array(cols[3], pa.string()),
                         "price": pa.array(cols[4], pa.string()),
                         "fee": pa.array(cols[5], pa.string()),
                         "fee_currency": pa.array(cols[6], pa.string())}),
               os.path.join(d, "trades"))
        # funding to each bar: the last settlement at or before it (0 before the first)
        cum = []
        for t in r.ts:
            k = bisect.bisect_right(r.funding_ts, t)
            cum.append(r.funding_cum[k - 1] if k else 0.0)
        _write(pa.table({"ts": _ts_col(r.ts), "funding_cum": cum}), os.path.join(d, "funding"))
        written.append(d)
    keys = sorted({k for r in results.values() for k, v in r.metrics.items()
                   if isinstance(v, (int, float, bool)) or v is None})
    _write(pa.table({"policy": list(results),
                     **{k: [r.metrics.get(k) for r in results.values()] for k in keys}}),
           os.path.join(out_dir, "metrics"))
    return written
