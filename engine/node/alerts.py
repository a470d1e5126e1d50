"""Alerts when the guard halts, on a kill, on repeated rejects, or when a feed goes stale: kept
for the status page, and posted as JSON to a webhook where one is configured (a `text` field, as
Slack and Telegram bridges expect). Delivery runs in its
own tasks with a timeout; a failure is logged and never blocks or stops trading."""

from __future__ import annotations

import asyncio
import logging
import os
import time

import aiohttp

from engine.node.logs import redact

log = logging.getLogger("engine.alerts")


class Alerter:
    def __init__(self, url: str | None, runner, timeout_s: float = 3.0, rejects_threshold: int = 5,
                 rejects_window_s: float = 60.0) -> None:
        self.url, self.runner, self.timeout = url, runner, aiohttp.ClientTimeout(total=timeout_s)
        self.rejects_threshold, self.rejects_window_ns = rejects_threshold, int(
            rejects_window_s * 1e9)
        self._seen_changes = 0
        self._rejects: list[tuple[int, int]] = []  # (run clock, cumulative rejects)
        self._alerted_rejects_at = -1
        self._tasks: set[asyncio.Task] = set()
        self._session: aiohttp.ClientSession | None = None
        self.sent = 0
        self.failed = 0

    @classmethod
    def from_config(cls, cfg, runner) -> "Alerter":
        """Alerts are decided on every run and kept for the status page; they are posted
        only where a webhook is configured."""
        url = os.environ.get(cfg.webhook_env) if cfg.webhook_env else cfg.webhook_url
        return cls(url or None, runner, cfg.timeout_s, cfg.rejects_threshold,
                   cfg.rejects_window_s)

    def tick(self) -> None:
        """Look at what changed since the last tick (called from the run loop)."""
        s = self.runner.session
        hist = s.guard.history
        for ch in hist[self._seen_changes:]:
            if ch.new == "HALTED":
                self.alert("halted", f"Ballast HALTED: {ch.reason}")
            elif "stale_feed" in ch.reason and ch.new == "REDUCING":
                self.alert("stale_feed", f"Ballast feed stale, REDUCING: {ch.reason}")
            elif "data_fault" in ch.reason and ch.new == "REDUCING":
                self.alert("data_fault", f"Ballast data fault, REDUCING: {ch.reason}")
        self._seen_changes = len(hist)
        now = s.clock.now_ns()
        rej = self.runner.state.rejects
        self._rejects.append((now, rej))
        while self._rejects and self._rejects[0][0] < now - self.rejects_window_ns:
            self._rejects.pop(0)
        recent = rej - self._rejects[0][1] if self._rejects else 0
        if recent >= self.rejects_threshold and rej > self._alerted_rejects_at:
            self._alerted_rejects_at = rej + self.rejects_threshold
            self.alert("rejects", f"Ballast: {recent} order rejects in the last "
                                  f"{self.rejects_window_ns / 1e9:.0f}s")

    def alert(self, kind: str, text: str) -> None:
        log.warning("alert %s: %s", kind, text)
        self.runner.state.recent.alert(self.runner.session.clock.now_ns(), kind, text)
        if self.url is None:
            return
        t = asyncio.get_running_loop().create_task(self._post(kind, text))
        self._tasks.add(t)
        t.add_done_callback(self._tasks.discard)

    async def _post(self, kind: str, text: str) -> None:
        try:
            if self._session is None:
                self._session = aiohttp.ClientSession(timeout=self.timeout)
            async with self._session.post(self.url, json={
                    "text": text, "event": kind, "run_id": self.runner.run_id,
                    "ts": time.time()}) as r:
                if r.status >= 300:
                    raise RuntimeError(f"HTTP {r.status}")
            self.sent += 1
        except Exception as exc:  # delivery must never hurt trading
            self.failed += 1
            log.error("alert %s not delivered: %s", kind, redact(str(exc)))

    async def close(self) -> None:
        if self._tasks:
            await asyncio.wait(self._tasks, timeout=self.timeout.total)
        if self._session is not None:
            await self._session.close()
