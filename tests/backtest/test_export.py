"""`engine backtest --export DIR`: each policy's NAV, weights, trades and funding per bar as
Parquet and CSV, agreeing with the run's own figures."""

from __future__ import annotations

import subprocess
import sys
from decimal import Decimal

import orjson
import pyarrow.csv as pcsv
import pyarrow.parquet as pq
import pytest

from tests.conftest import ROOT


def test_export_writes_parquet_and_csv_that_agree_with_the_metrics(tmp_path):
    out = tmp_path / "export"
    p = subprocess.run([sys.executable, "-m", "engine", "backtest", "--config",
                        str(ROOT / "configs" / "backtest_daily.toml"), "--policies",
                        "buy_and_hold,calendar_monthly", "--workers", "1", "--no-html",
                        "--export", str(out), "--json"], cwd=str(ROOT), capture_output=True,
                       text=True, timeout=300)
    assert p.returncode == 0, p.stderr[-1000:]
    metrics = orjson.loads(p.stdout.strip().splitlines()[-1])["policies"]
    for name in ("buy_and_hold", "calendar_monthly"):
        d = out / name
        nav = pq.read_table(d / "nav.parquet")
        m = metrics[name]
        assert nav.num_rows == m["bars"]
        assert nav.column("nav").to_pylist()[-1] == pytest.approx(m["end_nav"], abs=0.01)
        assert min(nav.column("drawdown").to_pylist()) == pytest.approx(m["max_drawdown"],
                                                                          abs=1e-6)
        w = pq.read_table(d / "weights.parquet")
        assert w.num_rows == m["bars"] and set(w.column_names) == {
            "ts", "BTC", "ETH", "SOL", "BNB", "XRP"}
        trades = pq.read_table(d / "trades.parquet")
        assert trades.num_rows == m["fills"]
        fees = sum((Decimal(f) for f in trades.column("fee").to_pylist()), Decimal(0))
        assert float(fees) == pytest.approx(m["fees"], abs=1e-8)
        funding = pq.read_table(d / "funding.parquet")
        assert funding.num_rows == m["bars"] and set(funding.column("funding_cum").to_pylist()) \
            == {0.0}  # spot only: no funding
        for table in ("nav", "weights", "trades", "funding"):  # the CSV twin of each
            assert pcsv.read_csv(d / f"{table}.csv").num_rows == \
                pq.read_table(d / f"{table}.parquet").num_rows
    assert metrics["calendar_monthly"]["rebalances"] > 50
    ms = pq.read_table(out / "metrics.parquet")
    assert ms.column("policy").to_pylist() == ["buy_and_hold", "calendar_monthly"]
