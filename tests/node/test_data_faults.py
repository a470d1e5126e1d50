"""A book that goes invalid mid-run (one ETH depth diff dropped from the recorded capture, no
later snapshot to repair it): the guard reduces (or halts, as configured), an alert goes out,
and the run's summary names the dead book and where it died."""

from __future__ import annotations

import sqlite3

import msgspec
import pytest
from aiohttp import web

from engine.feeds.capture import merge_captures
from engine.model import BookDelta
from engine.node import runner as runner_mod
from engine.node.alerts import Alerter
from engine.node.config import load_config
from engine.node.http import serve
from engine.node.runner import Runner, resolve_inputs
from tests.conftest import ROOT

CONFIG = str(ROOT / "configs" / "demo_perps.toml")
ETH = "ETH/USDT:USDT"


async def _receiver():
    got: list[dict] = []

    async def hook(request):
        got.append(await request.json())
        return web.Response(status=200)

    app = web.Application()
    app.router.add_post("/hook", hook)
    server, port = await serve(app)
    return server, f"http://127.0.0.1:{port}/hook", got


async def _run_with_a_gap(tmp_path, monkeypatch, on_data_fault: str):
    server, url, got = await _receiver()
    cfg = load_config(CONFIG)
    cfg = msgspec.structs.replace(
        cfg, alerts=msgspec.structs.replace(cfg.alerts, webhook_url=url, timeout_s=2.0),
        risk=msgspec.structs.replace(cfg.risk, on_data_fault=on_data_fault))
    inputs = resolve_inputs(cfg, CONFIG, None)
    evs = list(merge_captures(inputs))
    t0 = evs[0].ts_recv
    drop = next(i for i, e in enumerate(evs)
                if type(e) is BookDelta and e.symbol == ETH and e.ts_recv >= t0 + 25e9)
    dropped = evs.pop(drop)
    monkeypatch.setattr(runner_mod, "merge_captures", lambda *a, **k: iter(evs))
    r = Runner(cfg, CONFIG, open(CONFIG).read(), inputs, str(tmp_path / "j.sqlite"))
    alerter = Alerter.from_config(r.cfg.alerts, r)
    r.on_tick = alerter.tick
    try:
        report = await r.run()
        await alerter.close()
    finally:
        await server.cleanup()
    return r, report, got, dropped


async def test_a_book_gap_reduces_alerts_and_is_reported_dead(tmp_path, monkeypatch):
    r, report, got, dropped = await _run_with_a_gap(tmp_path, monkeypatch, "reduce")
    faults = [c for c in r.session.guard.history if "data_fault" in c.reason]
    assert faults and faults[0].new == "REDUCING" and ETH in faults[0].reason
    assert r.session.guard.state == "REDUCING"  # never repaired: still reducing at the end
    assert "data_fault" in [g["event"] for g in got]
    where = report["dead_books"][ETH]
    # the gap is seen at the first diff after the dropped one: the last good id is before it
    last_good = dropped.first_update_id - 1
    assert where.startswith("gap after update ") and "never resynced" in where
    assert int(where.split()[3]) <= last_good
    assert list(report["dead_books"]) == [ETH]  # BTC's book is fine
    assert report["no_data"] == []


async def test_on_data_fault_halt_is_a_kill_that_is_journaled(tmp_path, monkeypatch):
    r, report, got, _ = await _run_with_a_gap(tmp_path, monkeypatch, "halt")
    assert report["risk_state"] == "HALTED" and r.session.guard.killed
    assert "halted" in [g["event"] for g in got]
    con = sqlite3.connect(tmp_path / "j.sqlite")
    (action, reason), = con.execute("SELECT action, reason FROM kill_switch").fetchall()
    assert action == "kill" and reason.startswith("data fault: ETH/USDT:USDT book invalid")


@pytest.mark.parametrize("cfg_text", ['on_data_fault = "pause"'])
def test_a_bad_on_data_fault_is_one_line(tmp_path, cfg_text):
    from engine.core.errors import ConfigError
    from engine.node.config import parse_config

    text = open(CONFIG).read().replace("[risk]", f"[risk]\n{cfg_text}")
    with pytest.raises(ConfigError, match=r"on_data_fault"):
        parse_config(text)


async def test_an_instrument_with_no_data_is_named_in_the_summary(tmp_path, caplog):
    from tests.conftest import USDM_BTC

    cfg = load_config(CONFIG)
    r = Runner(cfg, CONFIG, open(CONFIG).read(), [str(USDM_BTC)], None)  # BTC only
    report = await r.run()
    assert report["no_data"] == [ETH] and report["events"] > 90_000
    assert "no data for ETH/USDT:USDT in this run" in caplog.text


def test_a_replay_run_on_an_all_garbage_capture_exits_1(tmp_path):
    import gzip
    import subprocess
    import sys

    cap = tmp_path / "usdm" / "btcusdt_20240808.gz"
    cap.parent.mkdir()
    with gzip.open(cap, "wb") as fh:
        fh.write(b"\n".join(b"1723161255088169167 {garbage %d" % i for i in range(20)))
    p = subprocess.run([sys.executable, "-m", "engine", "run", "--config", CONFIG,
                        "--input", str(cap)], cwd=str(ROOT), capture_output=True, text=True,
                       timeout=120)
    assert p.returncode == 1, p.stderr[-800:]
    assert "error: no market events in the input (1 file(s))" in p.stderr
    assert "Traceback" not in p.stderr
