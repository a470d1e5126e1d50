"""The headless process: status and metrics over HTTP, the kill command, clean SIGTERM, JSON
logs, and webhook alerts that never block trading."""

from __future__ import annotations

import os
import re
import signal
import sqlite3
import subprocess
import sys
import time

import msgspec
import orjson
import pytest
from aiohttp import web

from engine.node.config import load_config
from engine.node.http import serve
from engine.node.runner import Runner, resolve_inputs
from tests.conftest import ROOT

CONFIG = str(ROOT / "configs" / "demo_perps.toml")
TOKEN = "test-steering-token"  # kill and resume over HTTP need it; set for engine and CLI
WITH_TOKEN = {**os.environ, "BALLAST_STATUS_TOKEN": TOKEN}


def _start(journal, speed="25", extra=(), config=CONFIG, env=WITH_TOKEN):
    return subprocess.Popen([sys.executable, "-m", "engine", "run", "--config", config,
                             "--journal", str(journal), "--status-port", "0", "--speed", speed,
                             "--json", *extra], cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env)


def _port(proc) -> int:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        line = proc.stderr.readline()  # blocks until the engine logs a line
        if not line:
            raise AssertionError(f"the engine exited ({proc.wait()}) before announcing its "
                                 "status port")
        rec = orjson.loads(line)  # every log line is one JSON object
        m = re.search(r"status on http://127\.0\.0\.1:(\d+)/status", rec["msg"])
        if m:
            return int(m.group(1))
    raise AssertionError("status server never announced its port")


def _cli(*args, env=WITH_TOKEN) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "engine", *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=60, env=env)


def _wait_for(pred, timeout=60.0):
    """Ask until `pred()` holds; each ask is a `status` command run (a process), so the
    asking itself paces the loop."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        v = pred()
        if v:
            return v
    raise AssertionError("condition not met in time")


def _sigterm_report(proc) -> dict:
    """SIGTERM a running engine; it must exit 0 with its JSON report as the last line."""
    try:
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err[-1500:]
    return orjson.loads(out.strip().splitlines()[-1])


def test_status_metrics_and_kill_command_on_a_running_engine(tmp_path):
    proc = _start(tmp_path / "j.sqlite")
    try:
        port = _port(proc)

        def running_parents():
            st = orjson.loads(_cli("status", "--port", str(port)).stdout)
            return st if st["open_parents"] else None

        st = _wait_for(running_parents)
        assert st["mode"] == "replay" and st["risk_state"] == "ACTIVE"
        assert set(st["weights"]) == {"BTC", "ETH"} and st["targets"] == {"BTC": 0.6, "ETH": 0.4}
        assert 0 < st["margin_utilisation"] < 0.8
        assert set(st["feed_age_s"]) == {"BTC/USDT:USDT", "ETH/USDT:USDT"}
        import urllib.request

        metrics = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics").read().decode()
        for name in ("ballast_events_total", "ballast_orders_total", "ballast_fills_total",
                     "ballast_rejects_total", "ballast_book_resyncs_total",
                     "ballast_events_per_second", "ballast_trigger_latency_seconds_bucket"):
            assert name in metrics, name
        k = _cli("kill", "--port", str(port), "--reason", "test")
        assert k.returncode == 0 and orjson.loads(k.stdout)["risk_state"] == "HALTED"
        out, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err[-1500:]
    report = orjson.loads(out.strip().splitlines()[-1])
    assert report["risk_state"] == "HALTED"
    con = sqlite3.connect(tmp_path / "j.sqlite")
    states = con.execute("SELECT old, new, reason FROM risk_states").fetchall()
    assert ("ACTIVE", "HALTED", "kill: command: test") in states


def test_sigterm_stops_slicing_cancels_and_flushes(tmp_path):
    journal = tmp_path / "j.sqlite"
    proc = _start(journal, speed="10")
    try:
        port = _port(proc)
        _wait_for(lambda: orjson.loads(_cli("status", "--port", str(port)).stdout)["open_parents"])
    finally:
        report = _sigterm_report(proc)
    assert report["stopped"] == "SIGTERM"
    con = sqlite3.connect(journal)
    assert con.execute("SELECT status FROM runs").fetchone() == ("stopped",)
    states = dict(con.execute("SELECT state, COUNT(*) FROM parents GROUP BY state").fetchall())
    assert states.get("aborted", 0) >= 1 and "running" not in states and "paused" not in states
    assert report["journal_fills"] == report["fills"]


def test_status_command_without_an_engine_fails_clearly():
    p = _cli("status", "--port", "1")
    assert p.returncode == 1 and "no engine answering" in p.stderr


async def _receiver(fail: bool = False):
    got: list[dict] = []

    async def hook(request):
        got.append(await request.json())
        return web.Response(status=500 if fail else 200)

    app = web.Application()
    app.router.add_post("/hook", hook)
    runner, port = await serve(app)
    return runner, f"http://127.0.0.1:{port}/hook", got


def _runner_with_alerts(url: str, tmp_path, stale_eth: bool):
    from engine.feeds.capture import merge_captures
    from engine.model import BestBidAsk, Trade
    from engine.node import runner as runner_mod

    cfg = load_config(CONFIG)
    cfg = msgspec.structs.replace(cfg, alerts=msgspec.structs.replace(
        cfg.alerts, webhook_url=url, timeout_s=2.0))
    inputs = resolve_inputs(cfg, CONFIG, None)
    r = Runner(cfg, CONFIG, open(CONFIG).read(), inputs, str(tmp_path / "j.sqlite"))
    if stale_eth:
        evs = list(merge_captures(inputs))
        t0 = evs[0].ts_recv
        evs = [e for e in evs if not (e.symbol == "ETH/USDT:USDT" and type(e) in (BestBidAsk, Trade)
                                      and t0 + 20e9 <= e.ts_recv < t0 + 32e9)]
        runner_mod.merge_captures = lambda *a, **k: iter(evs)
    return r, runner_mod


async def test_alerts_post_halted_and_stale_feed_to_a_local_webhook(tmp_path):
    from engine.node.alerts import Alerter

    server, url, got = await _receiver()
    real = None
    try:
        r, mod = _runner_with_alerts(url, tmp_path, stale_eth=True)
        real = mod.merge_captures
        alerter = Alerter.from_config(r.cfg.alerts, r)
        n = 0

        def tick():
            nonlocal n
            n += 1
            if n == 200:  # ~100k events in: the operator pulls the kill switch
                r.session.guard.kill("operator", r.session.clock.now_ns())
            alerter.tick()

        r.on_tick = tick
        report = await r.run()
        await alerter.close()
    finally:
        await server.cleanup()
        if real is not None:
            from engine.feeds import capture

            mod.merge_captures = capture.merge_captures
    kinds = [g["event"] for g in got]
    assert "stale_feed" in kinds and "halted" in kinds
    assert all(isinstance(g["text"], str) and g["text"] for g in got)
    assert report["risk_state"] == "HALTED"


async def test_undeliverable_alerts_never_block_trading(tmp_path):
    from engine.node.alerts import Alerter

    server, url, got = await _receiver(fail=True)
    try:
        r, mod = _runner_with_alerts(url, tmp_path, stale_eth=False)
        alerter = Alerter.from_config(r.cfg.alerts, r)
        alerter.alert("test", "first")
        dead = Alerter("http://127.0.0.1:9/hook", r, timeout_s=0.5)  # nothing listens there
        dead.alert("test", "second")
        r.on_tick = alerter.tick
        t = time.monotonic()
        report = await r.run()
        await alerter.close()
        await dead.close()
    finally:
        await server.cleanup()
    assert report["fills"] > 0 and report["final_weights"]["BTC"] == pytest.approx(0.6, abs=0.01)
    assert alerter.failed >= 1 and dead.failed == 1 and got
    assert time.monotonic() - t < 60


def test_json_log_lines_never_print_secrets(tmp_path, monkeypatch):
    import logging

    from engine.node.logs import JsonFormatter

    monkeypatch.setenv("BINANCE_API_SECRET", "s3cr3t-value-123")
    rec = logging.LogRecord("x", logging.ERROR, __file__, 1,
                            "failed with key %s", ("s3cr3t-value-123",), None)
    line = JsonFormatter().format(rec)
    assert orjson.loads(line)["msg"] == "failed with key ***"
    assert "s3cr3t" not in line
