"""Status endpoint on localhost (aiohttp): /status (JSON), /metrics (Prometheus), POST /kill,
POST /resume (a person clears a kill; the reason is journaled)."""

from __future__ import annotations

import time

import orjson
from aiohttp import web

from engine.node.http import serve
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily

LATENCY_BUCKETS_US = (5, 10, 25, 50, 100, 250, 500, 1000, 5000)


class LatencyHistogram:
    """Cheap fixed-bucket histogram (µs) filled on the hot path, exported at scrape time."""

    def __init__(self, buckets=LATENCY_BUCKETS_US) -> None:
        self.buckets = buckets
        self.counts = [0] * (len(buckets) + 1)
        self.sum = 0.0

    def observe(self, us: float) -> None:
        for i, b in enumerate(self.buckets):
            if us <= b:
                self.counts[i] += 1
                break
        else:
            self.counts[-1] += 1
        self.sum += us


class _Collector:
    def __init__(self, runner) -> None:
        self.r = runner

    def collect(self):
        r, st = self.r, self.r.state
        s = r.session
        elapsed = max(1e-9, time.monotonic() - st.started)
        for name, help_, value in (
                ("ballast_events", "market events processed", st.events),
                ("ballast_intents", "rebalance intents", st.intents),
                ("ballast_orders", "child orders sent", st.orders),
                ("ballast_fills", "fills", st.fills),
                ("ballast_rejects", "orders rejected (risk guard or venue)", st.rejects),
                ("ballast_book_resyncs", "book resyncs",
                 sum(x.resyncs for x in s.books.syncs.values())),
                ("ballast_book_gaps", "book sequence gaps",
                 sum(x.gaps for x in s.books.syncs.values()))):
            c = CounterMetricFamily(name, help_)
            c.add_metric([], value)
            yield c
        g = GaugeMetricFamily("ballast_events_per_second", "events per second since start")
        g.add_metric([], st.events / elapsed)
        yield g
        g = GaugeMetricFamily("ballast_margin_utilisation", "initial margin / margin balance")
        g.add_metric([], s.portfolio.margin_utilisation)
        yield g
        g = GaugeMetricFamily("ballast_risk_halted", "1 when the risk guard is HALTED")
        g.add_metric([], 1.0 if s.guard.state == "HALTED" else 0.0)
        yield g
        h = r.latency
        cum, buckets = 0, []
        for b, n in zip(h.buckets, h.counts):
            cum += n
            buckets.append((str(b / 1e6), cum))
        cum += h.counts[-1]
        buckets.append(("+Inf", cum))
        hm = HistogramMetricFamily("ballast_trigger_latency_seconds",
                                   "event taken in -> trigger decided")
        hm.add_metric([], buckets, sum_value=h.sum / 1e6)
        yield hm


def status_payload(runner) -> dict:
    s = runner.session
    now = s.clock.now_ns()
    weights = s.portfolio.weights()
    targets = s.trigger.targets or {}
    return {
        "mode": runner.mode,
        "run_id": runner.run_id,
        "events": runner.state.events,
        "risk_state": s.guard.state,
        "risk_conditions": dict(s.guard.conditions),
        "weights": {a: round(w, 6) for a, w in weights.items()},
        "targets": targets,
        "margin_utilisation": round(s.portfolio.margin_utilisation, 6),
        "nav": s.portfolio.nav,
        "open_parents": [
            {"parent_id": r.parent_id, "symbol": r.symbol, "side": r.side,
             "target_qty": str(r.target_qty), "filled_qty": str(r.filled_qty), "state": r.state}
            for r in s.execution.reports() if r.state in ("running", "paused")],
        "feed_age_s": {sym: round((now - ts) / 1e9, 3)
                       for sym, ts in s.pipeline.price_ts.items()},
        "finished": runner.state.finished,
    }


class StatusServer:
    def __init__(self, runner, host: str = "127.0.0.1", port: int = 8787) -> None:
        self.runner, self.host, self.port = runner, host, port
        self.registry = CollectorRegistry()
        self.registry.register(_Collector(runner))
        self._app_runner: web.AppRunner | None = None

    async def start(self) -> None:
        app = web.Application()
        app.router.add_get("/status", self._status)
        app.router.add_get("/metrics", self._metrics)
        app.router.add_post("/kill", self._kill)
        app.router.add_post("/resume", self._resume)
        self._app_runner, self.port = await serve(app, self.host, self.port)

    async def stop(self) -> None:
        if self._app_runner is not None:
            await self._app_runner.cleanup()

    async def _status(self, request: web.Request) -> web.Response:
        return web.Response(body=orjson.dumps(status_payload(self.runner)),
                            content_type="application/json")

    async def _metrics(self, request: web.Request) -> web.Response:
        return web.Response(body=generate_latest(self.registry),
                            headers={"Content-Type": "text/plain; version=0.0.4"})

    async def _reason(self, request: web.Request) -> str:
        try:
            body = await request.json()
        except (ValueError, UnicodeDecodeError):
            body = {}
        return str((body.get("reason") if isinstance(body, dict) else None) or "")[:200]

    async def _kill(self, request: web.Request) -> web.Response:
        reason = await self._reason(request) or "kill command"
        s = self.runner.session
        s.guard.kill(f"command: {reason}", s.clock.now_ns())
        return web.Response(body=orjson.dumps({"risk_state": s.guard.state}),
                            content_type="application/json")

    async def _resume(self, request: web.Request) -> web.Response:
        reason = await self._reason(request)
        s = self.runner.session
        if not reason.strip():
            return web.json_response({"error": "a reason is required"}, status=400)
        if not s.guard.killed:
            return web.json_response({"risk_state": s.guard.state, "error": "not killed"},
                                     status=409)
        s.guard.reset_kill(f"command: {reason}", s.clock.now_ns())
        return web.Response(body=orjson.dumps({"risk_state": s.guard.state}),
                            content_type="application/json")
