"""The status server (aiohttp): the dashboard at / with its live stream /events (server-sent
events), /status (JSON), /metrics (Prometheus), and the steering: POST /kill, POST /resume (a
person clears a kill; the reason is journaled). Steering needs the token of `[status].token_env`
as `Authorization: Bearer <token>`; without a token the server is read-only, and it binds
beyond loopback only with one."""

from __future__ import annotations

import asyncio
import hmac
import ipaddress
import logging
import os
import time
from importlib import resources

import orjson
from aiohttp import web

from engine.core.errors import ConfigError
from engine.node.http import serve
from engine.node.status_view import StatusBoard
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily

log = logging.getLogger("engine.status")

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


# the page's own files, served by the engine itself: no CDN, nothing fetched from elsewhere
PAGE_FILES = {"/": ("dashboard.html", "text/html"),
              "/dashboard.js": ("dashboard.js", "application/javascript"),
              "/dashboard.css": ("dashboard.css", "text/css")}


SECURITY_HEADERS = {"X-Frame-Options": "DENY", "X-Content-Type-Options": "nosniff",
                    "Content-Security-Policy": "default-src 'self'; frame-ancestors 'none'",
                    "Referrer-Policy": "no-referrer"}
MAX_STREAMS = 16  # pages watching at once
WRITE_TIMEOUT_S = 5.0


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:  # a name: it may resolve to anything
        return False


def status_token(cfg) -> str | None:
    """The steering token from the variable `[status].token_env` names (None: read-only);
    a server bound beyond loopback without one is refused here, before the run starts."""
    token = os.environ.get(cfg.token_env, "").strip() or None
    if token is None and not is_loopback(cfg.host):
        raise ConfigError(f"$.status.host {cfg.host!r} is not loopback: serving beyond this "
                          f"machine needs a steering token in ${cfg.token_env} "
                          "($.status.token_env)")
    return token


class StatusServer:
    def __init__(self, runner, host: str = "127.0.0.1", port: int = 8787, *,
                 token: str | None = None, interval_s: float = 0.5,
                 allowed_hosts: tuple[str, ...] = ()) -> None:
        self.runner, self.host, self.port = runner, host, port
        if token is None and not is_loopback(host):
            raise ConfigError(f"status server on {host!r} without a steering token")
        self.token = token
        runner.track_streams = True  # a replay keeps its streams' ages for this server
        self.board = StatusBoard(runner, interval_s, steering=token is not None)
        self.registry = CollectorRegistry()
        self.registry.register(_Collector(runner))
        self._app_runner: web.AppRunner | None = None
        self._closing = asyncio.Event()
        self._streams = 0
        # the names this server answers to: loopback's, and the host it was told to bind
        self._hosts = {"127.0.0.1", "localhost", "::1", host, *allowed_hosts}

    @web.middleware
    async def _guard_request(self, request: web.Request, handler):
        """Answer only requests addressed to this server by name (a page elsewhere cannot
        rebind its own name to 127.0.0.1 and read the portfolio), and forbid framing and
        foreign scripts on every answer."""
        host = request.host.rsplit(":", 1)[0].strip("[]") if request.host else ""
        if host not in self._hosts:
            return web.json_response({"error": f"unknown Host {request.host!r}"}, status=421)
        resp = await handler(request)
        if not resp.prepared:  # an event stream sent its own with its first bytes
            resp.headers.update(SECURITY_HEADERS)
        return resp

    async def start(self) -> None:
        app = web.Application(middlewares=[self._guard_request])
        for path in PAGE_FILES:
            app.router.add_get(path, self._page)
        app.router.add_get("/events", self._events)
        app.router.add_get("/status", self._status)
        app.router.add_get("/metrics", self._metrics)
        app.router.add_post("/kill", self._kill)
        app.router.add_post("/resume", self._resume)
        self._app_runner, self.port = await serve(app, self.host, self.port)

    async def stop(self) -> None:
        self._closing.set()  # the event streams end first, so the shutdown does not wait
        if self._app_runner is not None:
            await self._app_runner.cleanup()

    async def _page(self, request: web.Request) -> web.Response:
        name, kind = PAGE_FILES[request.path]
        body = resources.files("engine.node").joinpath("web", name).read_bytes()
        return web.Response(body=body, content_type=kind, charset="utf-8",
                            headers={"Cache-Control": "no-cache"})

    async def _events(self, request: web.Request) -> web.StreamResponse:
        """Server-sent events: each new snapshot as one `data:` line, as the board takes it."""
        if self._streams >= MAX_STREAMS:
            return web.json_response({"error": f"{MAX_STREAMS} pages are watching already"},
                                     status=503)
        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream",
                                           "Cache-Control": "no-cache", **SECURITY_HEADERS})
        await resp.prepare(request)
        self._streams += 1
        sent = -1
        try:
            while not self._closing.is_set():
                seq, body = self.board.current_json()
                if seq != sent:
                    # a page that stops reading is dropped, not waited for
                    await asyncio.wait_for(resp.write(b"data: " + body + b"\n\n"),
                                           WRITE_TIMEOUT_S)
                    sent = seq
                try:  # the push cadence; the server's stop ends it at once
                    await asyncio.wait_for(self._closing.wait(), self.board.interval_s)
                except asyncio.TimeoutError:
                    pass
        except (ConnectionResetError, asyncio.TimeoutError):
            pass  # the page went away, or stopped reading
        finally:
            self._streams -= 1
        return resp

    async def _status(self, request: web.Request) -> web.Response:
        return web.Response(body=self.board.current_json()[1], content_type="application/json")

    async def _metrics(self, request: web.Request) -> web.Response:
        return web.Response(body=generate_latest(self.registry),
                            headers={"Content-Type": "text/plain; version=0.0.4"})

    def _refused(self, request: web.Request) -> web.Response | None:
        """Steering's gate: None when the request carries the token."""
        if self.token is None:
            return web.json_response({"error": "read-only: no steering token is set (the "
                                      "variable [status].token_env names)"}, status=403)
        given = request.headers.get("Authorization", "")
        scheme, _, value = given.partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(value.strip().encode(),
                                                                 self.token.encode()):
            log.warning("steering refused: %s %s without a valid token", request.method,
                        request.path)
            return web.json_response({"error": "a valid token is required"}, status=401)
        return None

    async def _reason(self, request: web.Request) -> str:
        try:
            body = await request.json()
        except (ValueError, UnicodeDecodeError):
            body = {}
        return str((body.get("reason") if isinstance(body, dict) else None) or "")[:200]

    async def _kill(self, request: web.Request) -> web.Response:
        if (refused := self._refused(request)) is not None:
            return refused
        reason = (await self._reason(request)).strip()
        if not reason:
            return web.json_response({"error": "a reason is required"}, status=400)
        s = self.runner.session
        s.guard.kill(f"command: {reason}", s.clock.now_ns())
        self.board.invalidate()
        return web.Response(body=orjson.dumps({"risk_state": s.guard.state}),
                            content_type="application/json")

    async def _resume(self, request: web.Request) -> web.Response:
        if (refused := self._refused(request)) is not None:
            return refused
        reason = await self._reason(request)
        s = self.runner.session
        if not reason.strip():
            return web.json_response({"error": "a reason is required"}, status=400)
        if not s.guard.killed:
            return web.json_response({"risk_state": s.guard.state, "error": "not killed"},
                                     status=409)
        s.guard.reset_kill(f"command: {reason}", s.clock.now_ns())
        self.board.invalidate()
        return web.Response(body=orjson.dumps({"risk_state": s.guard.state}),
                            content_type="application/json")
