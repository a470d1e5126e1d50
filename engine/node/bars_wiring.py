"""`[bars]` wired into a run: one bar builder per asset (on the symbol whose trades build its
bars), warmed up from history before the first event (bar files, or the venue's klines in
paper and live), and what they did for the report."""

from __future__ import annotations

import logging
from pathlib import Path

from engine.core.clock import utc_text
from engine.feeds.bar_builder import BarBuilder
from engine.feeds.bars import timeframe_ns
from engine.feeds.warm_history import History, from_files, from_ohlcv
from engine.node.config import EngineConfig

log = logging.getLogger("engine.bars")


def bar_symbols(cfg: EngineConfig) -> dict[str, str]:
    """asset -> the symbol whose trades build its bars (its spot, else its perp)."""
    out = {}
    for asset, legs in cfg.universe.items():
        sym = cfg.bars.symbols.get(asset) or legs.spot or legs.perp
        if sym is not None:
            out[asset] = sym
    return out


def bar_builders(cfg: EngineConfig) -> dict[str, tuple[str, BarBuilder]]:
    from engine.execution.markets import CCXT_ID, market_kind

    if cfg.bars is None:
        return {}
    iv = timeframe_ns(cfg.bars.interval)
    return {sym: (asset, BarBuilder(CCXT_ID[market_kind(sym)], sym, cfg.bars.interval, iv))
            for asset, sym in bar_symbols(cfg).items()}


def history_paths(cfg: EngineConfig, cfg_path: str | None) -> list[str]:
    base = Path(cfg_path).resolve().parent if cfg_path else Path.cwd()
    return [str((base / f).resolve()) for f in cfg.bars.history] if cfg.bars else []


def from_bar_files(cfg: EngineConfig, cfg_path: str | None, symbol: str, start_ns: int
                   ) -> History:
    return from_files(history_paths(cfg, cfg_path), symbol, timeframe_ns(cfg.bars.interval),
                      start_ns, cfg.bars.history_bars)


async def from_venue(cfg: EngineConfig, client, symbol: str, start_ns: int,
                     since_ns: int | None = None) -> History:
    """The venue's klines of `symbol` through its ccxt client, up to `start_ns`; from
    `since_ns` on only, where the bars before it are known (a restart's journal)."""
    from engine.execution.markets import CCXT_ID, market_kind

    iv = timeframe_ns(cfg.bars.interval)
    cur = start_ns - start_ns % iv
    first = cur - cfg.bars.history_bars * iv
    if since_ns is not None:
        first = max(first, since_ns)
    limit = (cur - first) // iv + 1  # the closed ones and the one in progress
    since = first // 1_000_000
    rows = await client.fetch_ohlcv(symbol, cfg.bars.interval, since=since, limit=limit)
    return from_ohlcv(rows, symbol, CCXT_ID[market_kind(symbol)], cfg.bars.interval, iv,
                      start_ns, cfg.bars.history_bars)


def warm_symbol(pipeline, symbol: str, h: History, start_ns: int) -> dict:
    """Hand one symbol's history to its asset's statistics and its builder (before its first
    trade, at `start_ns`, exchange time); returns what was used."""
    asset, b = pipeline.bar_builders[symbol]
    for bar in h.closed:
        pipeline.stats.on_bar(asset, bar.open, bar.high, bar.low, bar.close)
    prev = h.closed[-1] if h.closed else None
    cur = start_ns - start_ns % b.interval
    if h.seed is not None:
        s = h.seed
        b.seed(s.ts_open, s.open, s.high, s.low, s.close, s.volume,
               prev_close=prev.close if prev is not None else None)
        if s.known_until < start_ns:
            log.warning("%s %s bar in progress: history to %s, trades from %s (%.0f s "
                        "between them unseen)", asset, b.timeframe, utc_text(s.known_until),
                        utc_text(start_ns), (start_ns - s.known_until) / 1e9)
    elif prev is not None and prev.ts_open + b.interval == cur == start_ns:
        b.seed_close(prev.ts_open, prev.close)
    return {"symbol": symbol, "interval": b.timeframe, "history_bars": len(h.closed),
            "seeded": h.seed is not None,
            "unseen_s": round((start_ns - h.seed.known_until) / 1e9, 3)
            if h.seed is not None else None,
            "source": h.source}


def bars_report(pipeline, warmed: dict[str, dict]) -> dict[str, dict]:
    out = {}
    for sym, (asset, b) in pipeline.bar_builders.items():
        out[asset] = {**warmed.get(sym, {"symbol": sym, "interval": b.timeframe,
                                         "history_bars": 0, "seeded": False}),
                      "built": b.built, "flat": b.flat, "partial_dropped": b.partial}
    return out
