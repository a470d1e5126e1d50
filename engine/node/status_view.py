"""What /status answers and the dashboard draws: one snapshot of a running engine, numbered.

`StatusBoard` takes at most one snapshot per interval and hands the same one to every reader
(`/status`, each page's event stream), so a page and `/status` read at the same moment show
the same numbers under the same `seq`.
"""

from __future__ import annotations

import math
import time

import orjson

from engine.core.clock import utc_text

RISK_HISTORY_KEPT = 20  # transitions a page lists (the journal keeps all of them)


def _underlyings(s) -> list[dict]:
    """Per coin: net weight against its target and band, and the legs that make it up."""
    p = s.portfolio
    nav = p.nav
    targets = s.trigger.targets or {}
    drift = s.trigger.drift
    legs: dict[str, list[dict]] = {}
    for coin, symbol, leg, wallet, amount, exposure in p.legs():
        legs.setdefault(coin, []).append({
            "symbol": symbol, "leg": leg, "account": wallet, "amount": round(amount, 10),
            "exposure": round(exposure, 2),
            "weight": round(exposure / nav, 6) if nav > 0 else 0.0})
    out = []
    for coin in sorted(set(p.assets) | set(targets)):
        target = targets.get(coin)
        band = drift.band(target) if drift is not None and target is not None else None
        out.append({"asset": coin, "weight": round(p.weight(coin), 6),
                    "exposure": round(p.exposure(coin), 2), "target": target,
                    "band": None if band is None else round(band, 6),
                    "legs": legs.get(coin, [])})
    return out


def _rebalances(s) -> list[dict]:
    """Working parents: filled of planned, and the shortfall against the arrival mid so far."""
    return [{"parent_id": r.parent_id, "symbol": r.symbol, "side": r.side,
             "target_qty": str(r.target_qty), "filled_qty": str(r.filled_qty),
             "fill_ratio": round(r.fill_ratio, 6),
             "shortfall_bps": None if r.shortfall_bps is None else round(r.shortfall_bps, 2),
             "children": r.children, "state": r.state}
            for r in s.execution.working_reports()]


def _finite(x: float, cap: float = 1e9) -> float:
    """JSON has no infinity (orjson writes null): an exhausted margin account is sent as a
    large number, with its own flag, so no page shows it as missing."""
    return x if math.isfinite(x) else cap


def status_payload(runner, seq: int = 0, steering: bool = False) -> dict:
    s = runner.session
    now = s.clock.now_ns()
    weights = s.portfolio.weights()
    util = s.portfolio.margin_utilisation
    rebalances = _rebalances(s)
    ages, ages_now = runner.stream_ages()
    recent = runner.state.recent
    return {
        "seq": seq,
        "ts": now,
        "time": utc_text(now, ms=True) if now else None,
        "mode": runner.mode,
        "run_id": runner.run_id,
        "events": runner.state.events,
        "fills": runner.state.fills,
        "finished": runner.state.finished,
        "steering": steering,
        "risk_state": s.guard.state,
        "risk_conditions": dict(s.guard.conditions),
        "killed": s.guard.killed,
        "risk_history": [{"ts": c.ts, "old": c.old, "new": c.new, "reason": c.reason}
                         for c in s.guard.history[-RISK_HISTORY_KEPT:]],
        "nav": round(s.portfolio.nav, 2),
        "weights": {a: round(w, 6) for a, w in weights.items()},
        "targets": s.trigger.targets or {},
        "underlyings": _underlyings(s),
        "margin_utilisation": round(_finite(util), 6),
        "margin_exhausted": not math.isfinite(util),  # no margin balance left
        "margin_cap": s.guard.limits.max_margin_utilisation,
        "max_price_age_s": s.guard.limits.max_price_age_s,  # the guard's stale limit
        "open_parents": [{k: r[k] for k in ("parent_id", "symbol", "side", "target_qty",
                                            "filled_qty", "state")} for r in rebalances],
        "rebalances": rebalances,
        "recent_fills": list(recent.fills)[-20:],
        "recent_transfers": list(recent.transfers)[-20:],
        "recent_alerts": list(recent.alerts)[-20:],
        "feed_age_s": {sym: round((now - ts) / 1e9, 3)
                       for sym, ts in s.pipeline.price_ts.items()},
        "streams": [{"symbol": sym, "stream": stream, "age_s": round((ages_now - ts) / 1e9, 3)}
                    for (sym, stream), ts in sorted(ages.items())],
    }


class StatusBoard:
    """The latest snapshot, taken again once `interval_s` has passed since the last one."""

    def __init__(self, runner, interval_s: float = 0.5, steering: bool = False,
                 monotonic=time.monotonic) -> None:
        self.runner, self.interval_s, self.steering = runner, interval_s, steering
        self._monotonic = monotonic
        self.seq = 0
        self._taken_at = float("-inf")
        self._latest: dict | None = None
        self._bytes: bytes | None = None

    def current(self) -> dict:
        now = self._monotonic()
        if self._latest is None or now - self._taken_at >= self.interval_s:
            self.seq += 1
            self._latest = status_payload(self.runner, self.seq, self.steering)
            self._bytes = None
            self._taken_at = now
        return self._latest

    def current_json(self) -> tuple[int, bytes]:
        """(seq, the snapshot as JSON), serialised once however many pages read it."""
        snap = self.current()
        if self._bytes is None:
            self._bytes = orjson.dumps(snap)
        return snap["seq"], self._bytes

    def invalidate(self) -> None:
        """The next reader gets a fresh snapshot (after a kill or a resume, say)."""
        self._latest = None
