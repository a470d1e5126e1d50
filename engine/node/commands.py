"""The `run`, `report`, `status` and `kill` commands."""

from __future__ import annotations

import asyncio
import os
import logging
import signal
import sys

import orjson

from engine.core.clock import utc_text
from engine.core.errors import ConfigError, FatalError, one_line
from engine.journal.store import EXIT_JOURNAL, Journal, JournalError

log = logging.getLogger("engine.cli")

EXIT_TASK_FAILED = 4  # a supervised task (or the run loop) died unexpectedly


def run_on_loop(coro):
    """Run `coro` to its end on uvloop (asyncio's loop where uvloop is missing)."""
    try:
        import uvloop

        return uvloop.run(coro)
    except ImportError:  # pragma: no cover - uvloop builds wherever the engine runs
        return asyncio.run(coro)


def _journaled(coro) -> tuple[dict | None, int]:
    """Run `coro` on the loop; a journal problem becomes its message and exit code 3."""
    try:
        return run_on_loop(coro), 0
    except JournalError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return None, EXIT_JOURNAL


def cmd_run(args) -> int:
    from engine.node.config import load_config
    from engine.node.report import print_run_report
    from engine.node.runner import Runner, resolve_inputs

    try:
        cfg = load_config(args.config)
        with open(args.config, encoding="utf-8") as fh:
            text = fh.read()
        inputs = resolve_inputs(cfg, args.config, args.input) if args.mode == "replay" else []
        token = None
        port = args.status_port if args.status_port is not None else (
            cfg.status.port if cfg.status.enabled else None)
        if port is not None:
            from engine.node.status import status_token

            token = status_token(cfg.status)  # refused here when bound beyond loopback
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2

    async def main() -> dict:
        try:
            runner = Runner(cfg, args.config, text, inputs, args.journal, mode=args.mode,
                            progress=True, speed=args.speed or 0.0, duration_s=args.duration,
                            adopt_venue=args.adopt_venue)
        except ConfigError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return None
        await runner.open()  # the journal's lock first: a run in use is refused here
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, runner.request_stop, signal.Signals(sig).name)
        runner.session.guard.install_kill_signal(loop, runner.session.clock.now_ns)
        server = None
        from engine.node.alerts import Alerter

        alerter = Alerter.from_config(cfg.alerts, runner)
        if port is not None:
            from engine.node.status import StatusServer

            server = StatusServer(runner, cfg.status.host, port, token=token,
                                  interval_s=cfg.status.push_interval_s,
                                  allowed_hosts=tuple(cfg.status.allowed_hosts))
            await server.start()
            log.warning("status on http://%s:%d/status (dashboard at /; %s)", cfg.status.host,
                        server.port, "steering with the token" if token else
                        f"read-only: no token in ${cfg.status.token_env}")
        runner.on_tick = alerter.tick if alerter else None
        if alerter:
            runner.on_failure = lambda f: alerter.alert("failure", f"Ballast HALTED: {f}")
        try:
            return await runner.run()
        finally:
            if alerter:
                await alerter.close()
            if server is not None:
                await server.stop()

    unreachable: tuple[type, ...] = ()
    if args.mode != "replay":  # ccxt is not imported where no venue is asked
        import ccxt

        from engine.core.errors import VenueUnavailable

        unreachable = (ccxt.NetworkError, VenueUnavailable)
    try:
        report, code = _journaled(main())
    except FatalError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except unreachable as exc:  # at start: worth another try later (exit 1, restarted)
        print(f"error: the venue did not answer at start: {type(exc).__name__}: "
              f"{one_line(str(exc))}", file=sys.stderr)
        return 1
    if report is None:
        return code or 2
    print_run_report(report)
    if args.json:
        sys.stdout.write(orjson.dumps(report).decode() + "\n")
    if report.get("failure"):
        print(f"error: {report['failure']} (trading halted; working orders settled per "
              "[run].on_shutdown; see the log for the traceback)", file=sys.stderr)
        return EXIT_TASK_FAILED
    if args.mode == "replay" and not report["events"]:  # nothing to run on: never a success
        print(f"error: no market events in the input ({len(inputs)} file(s)); see the "
              "skipped-line counts in the log", file=sys.stderr)
        return 1
    return 0


def cmd_report(args) -> int:
    from engine.node.config import parse_config
    from engine.node.run_report import journal_summary

    async def main() -> dict:
        j = await Journal.open(args.journal, readonly=True)
        try:
            row = await j.fetchone("SELECT run_id, config_text, status FROM runs LIMIT 1")
            if row is None:
                raise JournalError(f"{args.journal}: no run in this journal")
            try:
                cfg = parse_config(row[1], f"{args.journal}:runs.config_text")
            except ConfigError as exc:  # written by an older engine that checked less
                raise JournalError(f"the journal's config is not valid any more: {exc}") from None
            out = {"run_id": row[0], "status": row[2]}
            out.update(await journal_summary(j, row[0], cfg))
            out.update(await _kill_state(j, row[0]))
            return out
        finally:
            await j.close()

    out, code = _journaled(main())
    if out is None:
        return code
    from engine.node.report import print_journal_report

    print_journal_report(out)
    if args.json:
        print(orjson.dumps(out).decode())
    return 0


def _http(method: str, url: str, body: dict | None = None,
          token: str | None = None) -> tuple[int, bytes]:
    import urllib.error
    import urllib.request

    data = orjson.dumps(body) if body is not None else None
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    req = urllib.request.Request(url, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=5) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as exc:  # the engine's answer, refusals included
        return exc.code, exc.read()
    except urllib.error.URLError as exc:
        raise ConnectionError(str(exc.reason)) from None


async def _kill_state(j: Journal, run_id: str) -> dict:
    from engine.journal.kills import kill_history

    hist = await kill_history(j, run_id)
    killed = bool(hist) and hist[-1][2] == "kill"
    return {"killed": killed, "kill_history": [
        {"ts": ts, "action": action, "reason": reason} for _, ts, action, reason in hist]}


def cmd_status(args) -> int:
    if args.journal is None:
        return _ask_engine(args, "GET", "/status")

    async def main() -> dict:  # a stopped (or running) run, from its journal, read-only
        from engine.journal.lock import lock_path

        j = await Journal.open(args.journal, readonly=True)
        try:
            row = await j.fetchone("SELECT run_id, mode, status FROM runs LIMIT 1")
            if row is None:
                raise JournalError(f"{args.journal}: no run in this journal")
            out = {"run_id": row[0], "mode": row[1], "status": row[2]}
            last = await j.fetchone("SELECT new, reason FROM risk_states WHERE run_id=? "
                                    "ORDER BY seq DESC LIMIT 1", (row[0],))
            out.update(await _kill_state(j, row[0]))
            out["risk_state"] = "HALTED" if out["killed"] else (last[0] if last else "ACTIVE")
        finally:
            await j.close()
        try:
            with open(lock_path(args.journal), encoding="utf-8") as fh:
                out["held_by"] = fh.read().strip() or None
        except OSError:
            out["held_by"] = None
        return out

    out, code = _journaled(main())
    if out is None:
        return code
    print(orjson.dumps(out).decode())
    return 0


def cmd_resume(args) -> int:
    """Clear a standing kill: on a stopped run's journal (journaled, the next start trades),
    or on a running engine through its status server (`--port`)."""
    if not args.reason.strip():
        print("error: --reason must say why trading may resume", file=sys.stderr)
        return 2
    if args.journal is None:
        return _ask_engine(args, "POST", "/resume", {"reason": args.reason})

    async def main() -> dict:
        import time

        from engine.journal.kills import RESUME, next_seq, standing_kill, write_action
        from engine.journal.lock import JournalLock

        if not os.path.isfile(args.journal):
            raise JournalError(f"{args.journal}: no such journal")
        lock = JournalLock(args.journal).acquire()  # a running engine: resume it by --port
        try:
            j = await Journal.open(args.journal)
            try:
                row = await j.fetchone("SELECT run_id, mode FROM runs LIMIT 1")
                if row is None:
                    raise JournalError(f"{args.journal}: no run in this journal")
                run_id, mode = row
                kill = await standing_kill(j, run_id)
                if kill is None:
                    return {"run_id": run_id, "resumed": False, "why": "not killed"}
                ts = time.time_ns()
                if mode == "replay":  # in the run's own clock: where it stopped
                    cp = await j.fetchone("SELECT ts_recv FROM checkpoints WHERE run_id=?",
                                          (run_id,))
                    ts = max(cp[0] if cp else 0, kill[1])
                write_action(j, run_id, await next_seq(j, run_id), ts, RESUME, args.reason)
                await j.flush()
                return {"run_id": run_id, "resumed": True, "cleared": kill[3],
                        "reason": args.reason}
            finally:
                await j.close()
        finally:
            lock.release()

    out, code = _journaled(main())
    if out is None:
        return code
    if out["resumed"]:
        print(f"run {out['run_id']}: kill cleared ({out['cleared']}); resumed: {out['reason']}")
    else:
        print(f"run {out['run_id']}: not killed, nothing to resume")
    return 0 if out["resumed"] else 1


def cmd_kill(args) -> int:
    return _ask_engine(args, "POST", "/kill", {"reason": args.reason})


def _ask_engine(args, method: str, path: str, body: dict | None = None) -> int:
    """One request to a running engine's status server; its answer on stdout. Steering
    carries the token from the variable `--token-env` names."""
    token = None
    if method == "POST":
        token = os.environ.get(args.token_env, "").strip() or None
        if token is None:
            print(f"error: no steering token in ${args.token_env} (the engine's "
                  "[status].token_env): the engine refuses kill and resume without it",
                  file=sys.stderr)
            return 2
    try:
        code, answer = _http(method, f"http://{args.host}:{args.port}{path}", body, token)
    except ConnectionError as exc:
        print(f"error: no engine answering on {args.host}:{args.port} ({exc})", file=sys.stderr)
        return 1
    print(answer.decode())
    return 0 if code == 200 else 1


def _check_writable(path: str, what: str) -> None:
    """Before an hour of work: can the report be written where it should go?"""
    if os.path.isdir(path):
        raise ConfigError(f"{what} {path}: is a directory, not a file")
    existed = os.path.exists(path)
    parent = os.path.dirname(os.path.abspath(path))
    up = parent
    while up and not os.path.exists(up):
        up = os.path.dirname(up)
    if up and not os.path.isdir(up):
        raise ConfigError(f"{what} {path}: cannot be written: {up} is a file, not a folder")
    try:
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        with open(path, "a"):
            pass
    except OSError as exc:
        raise ConfigError(f"{what} {path}: cannot be written: {exc.strerror}") from None
    if not existed:
        os.remove(path)


def cmd_backtest(args) -> int:
    """Run the config's policies over its bars; table, answer, HTML report, `--json`."""
    import time

    from engine.backtest.data import load_bar_data
    from engine.backtest.report import print_table, write_html
    from engine.backtest.run import add_relative
    from engine.backtest.sweep import expand_policies, run_all
    from engine.node.config import load_config

    try:
        cfg = load_config(args.config)
        if cfg.backtest is None:
            raise ConfigError(f"{args.config}: no [backtest] section")
        policies = [p.name for p in expand_policies(cfg)]
        if args.policies:
            want = [n.strip() for n in args.policies.split(",") if n.strip()]
            unknown = [n for n in want if n not in policies]
            if unknown:
                raise ConfigError(f"unknown policies {unknown}; the config has {policies}")
            policies = want
        data = load_bar_data(cfg.backtest, args.config)  # fail early on bad data
        html = None if args.no_html else (args.html or cfg.backtest.html or "out/backtest.html")
        if html is not None:
            _check_writable(html, "--html" if args.html else "$.backtest.html")
        if args.export:
            _check_writable(os.path.join(args.export, ".probe"), "--export")
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    workers = args.workers or cfg.backtest.workers
    t0 = time.perf_counter()
    try:
        results = run_all(args.config, policies, workers=workers,
                          ray_address=cfg.backtest.ray_address, detail=bool(args.export))
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    wall = time.perf_counter() - t0
    add_relative(results)
    report = data.report()
    print_table(results, report)
    out = {"policies": {n: r.metrics for n, r in results.items()}, "data": report,
           "wall_seconds": round(wall, 3), "workers": workers,
           # every entry and exit of each policy's signal rules, at its bar's close
           "signal_log": {n: [{"ts": utc_text(ts), "rule": rule, "edge": edge,
                               "value": None if v is None else round(v, 6)}
                              for ts, rule, edge, v in r.signal_log]
                          for n, r in results.items() if r.signal_log}}
    if html is not None:
        out["html"] = write_html(results, report, html, f"Ballast backtest: {args.config}")
        print(f"report: {out['html']}")
    if args.export:
        from engine.backtest.export import export_results

        out["export"] = export_results(results, args.export)
        print(f"exported {len(out['export'])} policies to {args.export} (Parquet and CSV)")
    print(f"{len(results)} policies in {wall:.1f}s with {workers} worker(s)")
    if args.json:
        sys.stdout.write(orjson.dumps(out).decode() + "\n")
    return 0
