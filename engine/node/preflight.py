"""`engine check`: the preflight a server operator runs before enabling the service.

Each check is a small function giving one `Result` (name, ok, detail): ok True, False, or
None for a check that could not run because an earlier one failed (its detail says why).
`run_checks` runs them in order against the venue, through the same ccxt client a live run
builds (`engine.node.live_wiring`: [live]'s endpoints, the key from the environment);
`cmd_check` prints one line per check and exits 0 (all pass), 1 (any fails) or 2 (the config
itself is invalid: its one line only, nothing else can run without it).

Nothing here trades, writes a journal or leaves a lock: the journal's lock is taken and let go
at once only where its file already exists (a missing lock file is a lock nobody holds), and a
journal that does not exist is not created. Values of the key variables are never printed.
"""

from __future__ import annotations

import os
import time
from typing import Callable, Mapping, NamedTuple

from engine.core.errors import (ConfigError, FatalError, VenueAuthError, VenueError, one_line,
                                VenueUnavailable)
from engine.journal.store import Journal, JournalError

MAX_CLOCK_OFFSET_MS = 1000.0  # the venue's clock vs this machine's, either way
CLOCK_SAMPLES = 3  # server-time requests; the one with the shortest round trip is read

NAMES = ("config", "key-variables", "venue", "clock", "key-permissions", "journal")
_WIDTH = max(map(len, NAMES)) + 2


class Result(NamedTuple):
    name: str
    ok: bool | None  # None: skipped
    detail: str


def line(r: Result) -> str:
    """`ok    config           configs/live.toml valid ...`: status, name, one-line detail."""
    status = "skip" if r.ok is None else ("ok" if r.ok else "FAIL")
    detail = one_line(r.detail, 600)  # one line, whatever the venue's text held, unsigned
    return f"{status:<6}{r.name:<{_WIDTH}}{detail}"


def _what(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"


# -- checks without the venue ---------------------------------------------------------------
def check_config(path: str):
    """The config loads and validates, can run live (one venue, [live].exchange) and wires up
    as a session (strategy, triggers, market rules). (Result, config or None)."""
    from engine.node.config import load_config
    from engine.node.live_wiring import live_venue
    from engine.node.session import PaperSession
    from engine.node.status import status_token

    try:
        cfg = load_config(path)
        venue = live_venue(cfg, path)
        if cfg.status.enabled:  # beyond loopback only with a steering token, as `run` says
            status_token(cfg.status)
        PaperSession(cfg, whole_books=True, cfg_path=path)  # what `run` builds before trading
    except ConfigError as exc:
        return Result("config", False, str(exc)), None
    except Exception as exc:  # one line, never a traceback
        return Result("config", False, f"{path}: {_what(exc)}"), None
    n = len(cfg.instruments)
    return Result("config", True, f"{path} valid (live on {venue}, {n} instrument"
                                  f"{'s' if n != 1 else ''})"), cfg


def key_variables(cfg) -> list[tuple[str, str | None]]:
    """(what, variable name) the live run reads its key from; name None where the config
    names none but the venue needs one."""
    live = cfg.live
    out = [("API key", live.api_key_env), ("API secret", live.api_secret_env)]
    if live.exchange == "okx":  # OKX signs with the key's passphrase too
        out.append(("API passphrase", live.api_passphrase_env))
    return out


def check_key_variables(cfg, env: Mapping[str, str]) -> Result:
    """Every variable the config names for the key is set and not empty (names only)."""
    missing = []
    for what, name in key_variables(cfg):
        if name is None:
            missing.append(f"{what}: the config names no variable ([live].api_passphrase_env; "
                           f"{cfg.live.exchange} needs one)")
        elif not env.get(name, "").strip():
            missing.append(f"{name} ({what}) is {'empty' if name in env else 'not set'}")
    if missing:
        return Result("key-variables", False, "; ".join(missing))
    return Result("key-variables", True,
                  ", ".join(name for _, name in key_variables(cfg)) + " set")


def clock_result(offset_ms: float, rtt_ms: float,
                 limit_ms: float = MAX_CLOCK_OFFSET_MS) -> Result:
    """The venue's clock minus this machine's (`offset_ms`, measured at the middle of a request
    that took `rtt_ms`) against the limit, either way."""
    side = "ahead of" if offset_ms >= 0 else "behind"
    text = (f"the venue's clock is {abs(offset_ms):.0f} ms {side} this machine's "
            f"(round trip {rtt_ms:.0f} ms, limit {limit_ms:.0f} ms)")
    if abs(offset_ms) > limit_ms:
        return Result("clock", False, text + ": sync this machine's clock (chrony, "
                      "systemd-timesyncd); the venue refuses signed requests stamped too far "
                      "from its own time")
    return Result("clock", True, text)


def check_journal_files(path: str) -> Result | None:
    """What the run's journal needs of the file system (the folder exists and is writable, an
    existing file is readable and writable): a failing Result, or None when all is well.
    Mirrors `Journal.open`'s own checks: the folder is not created (the service's
    StateDirectory= makes it)."""
    folder = os.path.dirname(os.path.abspath(path)) or "."
    if os.path.isdir(path):
        return Result("journal", False, f"{path}: is a directory, not a journal file")
    if not os.path.isdir(folder):
        return Result("journal", False, f"{path}: folder {folder} does not exist (create it, "
                                        "owned by the user the engine runs as)")
    if not os.access(folder, os.W_OK | os.X_OK):
        return Result("journal", False, f"{path}: folder {folder} is not writable (the journal "
                                        "and its WAL file are written there)")
    if os.path.exists(path) and not os.access(path, os.R_OK | os.W_OK):
        return Result("journal", False, f"{path}: journal file is not readable and writable")
    return None


def read_journal(path: str) -> str:
    """An existing journal, read as `Journal.open` reads it before using it (a Ballast journal,
    a schema this engine knows, SQLite's quick check): its schema and run, or `JournalError`.
    Read-only and leaving nothing behind: a journal closed cleanly (no -wal/-shm beside it)
    is read as an immutable file, so SQLite creates no -wal/-shm of its own."""
    import sqlite3

    from engine.journal.schema import APPLICATION_ID, SCHEMA_VERSION

    with open(path, "rb") as fh:
        if fh.read(16) != b"SQLite format 3\x00":
            raise JournalError(f"{path}: not an SQLite file (corrupt or foreign); the run "
                               "refuses to overwrite it")
    try:
        con = sqlite3.connect(Journal.readonly_uri(path), uri=True)
        try:
            (app,) = con.execute("PRAGMA application_id").fetchone()
            (version,) = con.execute("PRAGMA user_version").fetchone()
            tables = [r[0] for r in con.execute(
                "SELECT name FROM sqlite_master WHERE type='table'")]
            if app != APPLICATION_ID and (tables or version):
                raise JournalError(f"{path}: an SQLite database that is not a Ballast journal "
                                   f"(tables: {', '.join(tables[:5]) or 'none'}); the run "
                                   "refuses to overwrite it")
            if version > SCHEMA_VERSION:
                raise JournalError(f"{path}: journal schema v{version} is newer than this "
                                   f"engine's v{SCHEMA_VERSION}; upgrade the engine")
            if version:
                (ok,) = con.execute("PRAGMA quick_check").fetchone()
                if ok != "ok":
                    raise JournalError(f"{path}: journal is damaged ({ok}); the run refuses "
                                       "to use it")
            run = con.execute("SELECT run_id FROM runs LIMIT 1").fetchone() \
                if "runs" in tables else None
        finally:
            con.close()
    except sqlite3.DatabaseError as exc:
        raise JournalError(f"{path}: unusable SQLite file ({exc})") from None
    return f"schema v{version}, " + (f"run {run[0]}" if run else "no run yet")


# -- the venue ---------------------------------------------------------------------------------
def _clients(cfg, cfg_path: str, keyed: bool) -> list:
    """The venue's clients as a live run builds them: with the key (`live_exchange_and_broker`:
    the main client first, then its spot and COIN-M ones), or without it (the same client, no
    key) when the key variables are missing."""
    from engine.feeds.live import make_exchange
    from engine.node.live_wiring import endpoints, live_exchange_and_broker

    if not keyed:
        return [make_exchange(endpoints(cfg), cfg.live.exchange, rate_limit=False)]
    exchange, broker = live_exchange_and_broker(cfg, cfg_path)
    return [c for c in (exchange, getattr(broker, "spot_ex", None),
                        getattr(broker, "coinm_ex", None)) if c is not None]


def _venue_failure(name: str, exc: BaseException, orders) -> str:
    """One line for a failed venue request: the engine's reading of ccxt's error."""
    import ccxt

    cause = exc.__cause__  # ccxt's network errors name the URL; the socket's error says why
    if isinstance(exc, ccxt.BaseError):
        exc = orders.classify(exc)
    if isinstance(exc, VenueAuthError):
        code = f" (code {exc.code})" if exc.code else ""
        return f"the venue refused the key: {exc.venue_message or exc}{code}"
    if isinstance(exc, VenueUnavailable):
        return f"{name} did not answer: {exc}" + (f" ({cause})" if cause else "")
    if isinstance(exc, VenueError):
        return f"{name} answered with an error: {exc}"
    return _what(exc)


async def _server_time(client) -> tuple[float, float]:
    """(offset ms: venue minus local at the request's middle, round trip ms)."""
    t0 = time.time() * 1000.0
    server = await client.fetch_time()
    t1 = time.time() * 1000.0
    if not isinstance(server, (int, float)):
        raise VenueError(f"the venue's server time is not a number: {server!r}")
    return server - (t0 + t1) / 2.0, t1 - t0


async def check_venue(client, cfg) -> tuple[Result, tuple[float, float] | None]:
    """A public request (the venue's server time) through the run's own client."""
    from engine.venues import orders_of

    where = cfg.live.rest_base or "its own endpoints"
    try:
        sample = await _server_time(client)
    except Exception as exc:  # classified, one line
        return Result("venue", False, _venue_failure(cfg.live.exchange, exc,
                                                     orders_of(cfg.live.exchange))), None
    return Result("venue", True, f"{cfg.live.exchange} reachable at {where} (server time in "
                                 f"{sample[1]:.0f} ms)"), sample


async def check_clock(client, cfg, first: tuple[float, float],
                      limit_ms: float = MAX_CLOCK_OFFSET_MS) -> Result:
    from engine.venues import orders_of

    samples = [first]
    try:
        for _ in range(CLOCK_SAMPLES - 1):
            samples.append(await _server_time(client))
    except Exception as exc:
        return Result("clock", False, _venue_failure(cfg.live.exchange, exc,
                                                     orders_of(cfg.live.exchange)))
    offset, rtt = min(samples, key=lambda s: s[1])
    return clock_result(offset, rtt, limit_ms)


def key_needs(cfg) -> dict:
    """What the live run asks of the key (as `Runner.open` does): spot trading where it buys
    spot, universal transfers where it moves margin between the wallets."""
    from engine.node.config import buys_spot

    return {"spot": any(":" not in i.symbol for i in cfg.instruments)
            and buys_spot(cfg.strategy), "transfers": cfg.accounts.enabled}


async def check_key_permissions(client, cfg) -> Result:
    """The venue's own permission check (`engine.venues.<venue>.orders`): a key that can
    withdraw, or lacks what the config needs, fails; so does a key the venue refuses."""
    from engine.venues import orders_of

    orders = orders_of(cfg.live.exchange)
    needs = key_needs(cfg)
    try:
        await orders.check_key_permissions(client, **needs)
    except VenueError as exc:  # already read by the venue's table
        return Result("key-permissions", False, _venue_failure(cfg.live.exchange, exc, orders))
    except FatalError as exc:  # withdrawals allowed, a permission missing
        return Result("key-permissions", False, str(exc))
    except Exception as exc:  # ccxt's errors classified, the rest named
        return Result("key-permissions", False, _venue_failure(cfg.live.exchange, exc, orders))
    extra = [w for w, on in (("spot trading", needs["spot"]),
                             ("universal transfer", needs["transfers"])) if on]
    return Result("key-permissions", True, "the venue accepts the key; it cannot withdraw"
                  + (f" and has {' and '.join(extra)}" if extra else ""))


def check_journal(path: str | None) -> Result:
    """The journal can be written and no running engine holds it; an existing one reads as a
    Ballast journal this engine can use. Its lock is taken (and held while the file is read,
    so no engine starts writing meanwhile) only where the lock file exists: nobody holds a
    lock file that does not exist, and none is left behind."""
    from engine.journal.lock import JournalLock, lock_path

    if path is None:
        return Result("journal", None, "no --journal given (the config names no journal)")
    failed = check_journal_files(path)
    if failed is not None:
        return failed
    lock = None
    try:
        if os.path.exists(lock_path(path)):
            lock = JournalLock(path).acquire()
        if not os.path.exists(path) or os.path.getsize(path) == 0:
            folder = os.path.dirname(os.path.abspath(path)) or "."
            return Result("journal", True, f"{path}: new journal (folder {folder} writable), "
                                           "not in use")
        what = read_journal(path)
    except JournalError as exc:
        return Result("journal", False, str(exc))
    finally:
        if lock is not None:
            lock.release()
    return Result("journal", True, f"{path}: writable, not in use, {what}")


# -- the runner --------------------------------------------------------------------------------
async def run_checks(cfg_path: str, journal: str | None,
                     emit: Callable[[Result], None] | None = None,
                     max_clock_offset_ms: float = MAX_CLOCK_OFFSET_MS) -> list[Result]:
    """Every check in order; `emit` hears each result as it is known. A config that does not
    load ends the list there. The key comes from this process's environment, as a run's."""
    results: list[Result] = []

    def done(r: Result) -> Result:
        results.append(r)
        if emit is not None:
            emit(r)
        return r

    async def guarded(name: str, check) -> Result:
        try:
            return done(await check)
        except Exception as exc:  # a FAIL line, never a traceback
            return done(Result(name, False, _what(exc)))

    config, cfg = check_config(cfg_path)
    done(config)
    if cfg is None:
        return results
    keys = done(_safe("key-variables", check_key_variables, cfg, os.environ))
    clients: list = []
    try:
        try:
            clients = _clients(cfg, cfg_path, keyed=bool(keys.ok))
            venue, sample = await check_venue(clients[0], cfg)
        except Exception as exc:  # the client could not be built, or a bug: one line
            venue, sample = Result("venue", False, _what(exc)), None
        reached = done(venue).ok
        if not reached:
            done(Result("clock", None, "the venue check failed"))
        else:
            await guarded("clock", check_clock(clients[0], cfg, sample, max_clock_offset_ms))
        if not keys.ok:
            done(Result("key-permissions", None, "no key: its variables are not all set"))
        elif not reached:
            done(Result("key-permissions", None, "the venue check failed"))
        else:
            await guarded("key-permissions", check_key_permissions(clients[0], cfg))
    finally:
        for c in clients:
            try:
                await c.close()
            except Exception:  # closing is best effort
                pass
    done(_safe("journal", check_journal, journal))
    return results


def _safe(name: str, check, *args) -> Result:
    try:
        return check(*args)
    except Exception as exc:
        return Result(name, False, _what(exc))


def exit_code(results: list[Result]) -> int:
    if results and results[0].name == "config" and results[0].ok is False:
        return 2
    return 1 if any(r.ok is False for r in results) else 0


def cmd_check(args) -> int:
    """Print one line per check as it completes; 0 all pass, 1 any fails, 2 bad config."""
    from engine.node.logs import redact, secret_values

    secrets = secret_values()
    try:
        cfg_secrets = _named_values(args.config)
    except Exception:  # the config check says what is wrong with it
        cfg_secrets = []

    def emit(r: Result) -> None:
        print(redact(line(r), secrets + cfg_secrets), flush=True)

    from engine.node.commands import run_on_loop

    results = run_on_loop(run_checks(args.config, args.journal, emit=emit,
                               max_clock_offset_ms=args.max_clock_offset_ms))
    return exit_code(results)


def _named_values(cfg_path: str) -> list[str]:
    """The values of the key variables the config names (masked in every line, whatever the
    variables are called)."""
    from engine.node.config import load_config

    cfg = load_config(cfg_path)
    values = (os.environ.get(n, "").strip() for _, n in key_variables(cfg) if n)
    return [v for v in values if len(v) >= 6]  # as the log's masking: shorter ones are noise
