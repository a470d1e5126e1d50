"""Command line: `python -m engine <command>` (also installed as `ballast`)."""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time

import orjson

from engine.venues.binance.symbols import MARKETS


def _setup_logging(level: str, json_lines: bool = False) -> None:
    from engine.node.logs import JsonFormatter

    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if json_lines else logging.Formatter(
        "%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(getattr(logging, level.upper(), logging.INFO))


LOG_LEVELS = ("debug", "info", "warning", "error", "critical")


class _Parser(argparse.ArgumentParser):
    """argparse that reports a bad argument in one line (no usage dump), exit 2."""

    def error(self, message: str):  # noqa: D401 - argparse's hook
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


def _log_level(text: str) -> str:
    if text.lower() not in LOG_LEVELS:
        raise argparse.ArgumentTypeError(f"{text!r} is not a log level: use "
                                         f"{', '.join(LOG_LEVELS)}")
    return text.lower()


def _port(lo: int):
    return _number(int, lambda v: lo <= v <= 65535, f"a port in {lo}..65535")


def _number(kind, ok, what: str):
    """An argparse type: `kind(text)` that satisfies `ok`, else one line saying `what`."""
    def parse(text: str):
        try:
            v = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
        if not ok(v):
            raise argparse.ArgumentTypeError(f"must be {what}, got {text}")
        return v
    return parse


def _non_empty(text: str) -> str:
    if not text.strip():
        raise argparse.ArgumentTypeError("needs a folder path")
    return text


_positive = _number(float, lambda v: 0 < v < float("inf"), "a finite number > 0")
_at_least_one = _number(int, lambda v: v >= 1, "a whole number >= 1")


def _parser() -> argparse.ArgumentParser:
    p = _Parser(prog="python -m engine", description=__doc__)
    p.add_argument("--log-level", default="warning", type=_log_level,
                   help="debug, info, warning (default), error, critical")
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)

    r = sub.add_parser("replay", help="replay raw captures through the local books",
                       description="Replay hftbacktest-format Binance captures (gzip or plain, "
                                   "`<local_ns> <raw JSON>` lines) merged by receive time, "
                                   "maintain the L2 books and report per symbol.")
    r.add_argument("files", nargs="+", metavar="FILE")
    r.add_argument("--verify", action="store_true",
                   help="check every book top against the recorded bookTicker by update id")
    r.add_argument("--json", action="store_true", help="end with one JSON object on the last line")
    r.add_argument("--market", choices=MARKETS,
                   help="market kind of every file (default: from the folder name or content)")
    r.add_argument("--speed", type=_positive, default=None,
                   help="pace at real time × SPEED (default: as fast as possible)")

    run = sub.add_parser("run", help="run the engine (replay: recorded input, paper broker)")
    run.add_argument("--config", required=True, metavar="FILE")
    run.add_argument("--mode", choices=("live", "paper", "replay"), default="replay")
    run.add_argument("--journal", metavar="PATH",
                     help="SQLite journal; resumes the run when it exists")
    run.add_argument("--input", action="append", metavar="FILE",
                     help="capture to replay (repeatable; default: the config's [replay].files)")
    run.add_argument("--json", action="store_true", help="end with one JSON object")
    run.add_argument("--status-port", type=_port(0), default=None,
                     help="serve /status and /metrics on 127.0.0.1:PORT (0: any free port)")
    run.add_argument("--log-format", choices=("json", "text"), default="json")
    run.add_argument("--duration", type=_positive, default=None, metavar="SECONDS",
                     help="paper/live modes: stop after this long (default: until a signal)")
    run.add_argument("--adopt-venue", action="store_true",
                     help="live: start from the venue's balances and positions even where "
                          "they differ from [account] (default: refuse to start)")
    run.add_argument("--speed", type=_positive, default=None,
                     help="replay pace: recorded time × SPEED (default: as fast as possible)")

    rep = sub.add_parser("report", help="summarise a journal")
    rep.add_argument("--journal", required=True, metavar="PATH")
    rep.add_argument("--json", action="store_true")

    st = sub.add_parser("status", help="ask a running engine for its status, or read a "
                        "journal's (read-only)")
    st.add_argument("--port", type=_port(1), default=8787)
    st.add_argument("--host", default="127.0.0.1")
    st.add_argument("--journal", metavar="PATH", help="read this journal instead (read-only)")

    rs = sub.add_parser("resume", help="clear a kill: trading may start again")
    rs.add_argument("--reason", required=True, help="why trading may resume (journaled)")
    rs.add_argument("--journal", metavar="PATH", help="a stopped run's journal")
    rs.add_argument("--port", type=_port(1), default=8787, help="else: a running engine's port")
    rs.add_argument("--host", default="127.0.0.1")
    rs.add_argument("--token-env", default="BALLAST_STATUS_TOKEN", metavar="NAME",
                    help="with --port: the variable holding the engine's steering token")

    k = sub.add_parser("kill", help="kill switch: halt a running engine")
    k.add_argument("--port", type=_port(1), default=8787)
    k.add_argument("--host", default="127.0.0.1")
    k.add_argument("--reason", default="operator kill")
    k.add_argument("--token-env", default="BALLAST_STATUS_TOKEN", metavar="NAME",
                   help="the variable holding the engine's steering token")

    ck = sub.add_parser("check", help="preflight before a live service: config, key "
                        "variables, venue, clock, key permissions, journal",
                        description="One line per check (ok / FAIL / skip); exit 0 when all "
                                    "pass, 1 when any fails, 2 when the config is invalid.")
    ck.add_argument("--config", required=True, metavar="FILE")
    ck.add_argument("--journal", metavar="PATH", help="the journal the service will use")
    ck.add_argument("--max-clock-offset-ms", type=_positive, default=1000.0, metavar="MS",
                    help="the venue's clock may differ from this machine's by this much "
                         "(default 1000)")

    bt = sub.add_parser("backtest", help="compare rebalancing policies on recorded bars")
    bt.add_argument("--config", required=True, metavar="FILE")
    bt.add_argument("--policies", metavar="A,B", help="run only these policies")
    bt.add_argument("--workers", type=_at_least_one,
                    help="local worker processes (default: config)")
    bt.add_argument("--html", metavar="PATH", help="report file (default: config or "
                    "out/backtest.html)")
    bt.add_argument("--no-html", action="store_true", help="no HTML report")
    bt.add_argument("--json", action="store_true", help="end with one JSON object")
    bt.add_argument("--export", metavar="DIR", type=_non_empty, help="write each policy's NAV, weights, trades "
                    "and funding per bar as Parquet and CSV under DIR")
    for sp in (r, run, rep, st, rs, k, ck, bt):  # also accepted after the command
        sp.add_argument("--log-level", type=_log_level, default=argparse.SUPPRESS,
                        help=argparse.SUPPRESS)
    return p


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    _setup_logging(args.log_level, getattr(args, "log_format", "text") == "json")
    if args.command == "replay":
        return cmd_replay(args)
    if args.command == "check":
        from engine.node.preflight import cmd_check

        return cmd_check(args)
    from engine.node import commands

    if args.command == "run":
        return commands.cmd_run(args)
    if args.command == "report":
        return commands.cmd_report(args)
    if args.command == "status":
        return commands.cmd_status(args)
    if args.command == "kill":
        return commands.cmd_kill(args)
    if args.command == "resume":
        return commands.cmd_resume(args)
    if args.command == "backtest":
        return commands.cmd_backtest(args)
    return 2  # pragma: no cover - argparse rejects unknown commands


def cmd_replay(args: argparse.Namespace) -> int:
    from engine.feeds.capture import CaptureStats, merge_captures
    from engine.node.replay_session import ReplaySession
    from engine.node.report import print_replay_table

    for f in args.files:
        if not os.path.isfile(f):
            print(f"error: no such capture file: {f}", file=sys.stderr)
            return 2
    captures: list[CaptureStats] = []
    try:
        events = merge_captures(args.files, market=args.market, stats=captures)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    session = ReplaySession(verify=args.verify)
    t0 = time.perf_counter()
    if args.speed:

        from engine.core.clock import ReplayClock
        from engine.feeds.replay import replay

        async def _run() -> None:
            async for ev in replay(events, ReplayClock(), speed=args.speed):
                session.on_event(ev)

        from engine.node.commands import run_on_loop

        run_on_loop(_run())
    else:
        on_event = session.on_event
        for ev in events:
            on_event(ev)
    session.finish()
    elapsed = time.perf_counter() - t0
    symbols = session.summary(captures)
    rate = session.events / elapsed if elapsed > 0 else 0.0
    report = {
        "symbols": symbols,
        "files": [{"path": c.path, "market": c.market, "symbol": c.symbol, "lines": c.lines,
                   "events": c.events, "skipped": c.skipped, "unused": c.unused,
                   "truncated": c.truncated,
                   "backwards": c.backwards}
                  for c in captures],
        "messages": session.events,
        "seconds": round(elapsed, 4),
        "msgs_per_s": round(rate, 1),
        "verified": bool(args.verify),
    }
    print_replay_table(report)
    if args.json:
        sys.stdout.write(orjson.dumps(report).decode() + "\n")
    if not session.events:  # nothing usable: say so, never a quiet success
        lines = sum(c.lines for c in captures)
        skipped: dict[str, int] = {}
        for c in captures:
            for k, v in c.skipped.items():
                skipped[k] = skipped.get(k, 0) + v
        print(f"error: no market events in {len(captures)} file(s): {lines} lines, skipped "
              f"{skipped or 'none'}", file=sys.stderr)
        return 1
    return 0
