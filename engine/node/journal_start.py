"""What a journaled run learns from its journal when it starts, and writes there first.

A new run: its `runs` row (a live run only once the venue's account is the start). The same
run again: the next attempt, with what the earlier ones left: a replay's last checkpoint and the
orders already sent (recognised, never sent twice), a paper or live run's flag to settle its
unfinished orders, and every kill and resume, applied again where they happened (`KillReplay`).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path

import orjson

from engine.core.clock import utc_text
from engine.journal.kills import KILL, kill_history, next_seq, standing_kill
from engine.journal.recorder import Recorder
from engine.journal.store import Journal, JournalError

log = logging.getLogger("engine.run")


class KillReplay:
    """The journaled kill-switch actions, applied to the guard in the run clock's order: all of
    them at once in paper and live; in a replay as the rebuild passes each one, so it rebuilds
    what the killed attempt did up to its kill and nothing after."""

    def __init__(self, actions: list[tuple[int, str, str]], guard) -> None:
        self.pending, self.guard = actions, guard

    def due(self, ts: int) -> bool:
        return bool(self.pending) and ts >= self.pending[0][0]

    def apply(self, upto: int | None) -> None:
        """Every action up to the run-clock time `upto` (None: all)."""
        plan = self.pending
        while plan and (upto is None or plan[0][0] <= upto):
            ts, action, reason = plan.pop(0)
            why = f"killed at {utc_text(ts)}: {reason}" if action == KILL else None
            self.guard.restore_kill(why, ts)


@dataclass
class JournalStart:
    rec: Recorder
    attempt: int
    kills: KillReplay
    resuming: bool = False  # paper/live: an earlier attempt's orders must be settled first
    checkpoint: int = -1  # replay: the last event index the journal vouches for
    # replay: client order id -> (symbol, side, qty, price) of every order already sent
    known_orders: dict[str, tuple] = field(default_factory=dict)
    halted_at_start: str | None = None  # a kill standing in the journal


async def start_journaled_run(j: Journal, *, run_id: str, mode: str, cfg_text: str,
                              inputs: list[str], journal_path: str, guard,
                              start_from_venue) -> JournalStart:
    """Check the journal holds this run or none, write the new attempt, and return what the
    run must know. `start_from_venue` (live) is awaited before a new run is written, so a
    refused start leaves nothing of the run behind. The caller closes the journal on error."""
    other = await j.fetchone("SELECT run_id, config_hash FROM runs WHERE run_id != ?",
                             (run_id,))
    if other is not None:
        raise JournalError(f"{journal_path}: holds run {other[0]} of another config or input; "
                           "use a new journal path")
    halted = None
    standing = await standing_kill(j, run_id)
    if standing is not None:  # the first thing a restarted killed run says
        _, ts, _, reason = standing
        halted = f"killed at {utc_text(ts)}: {reason}"
        log.error("HALTED: this run was killed (%s) and stays halted: no order will be placed "
                  "until `engine resume --journal %s --reason ...`", halted, journal_path)
    row = await j.fetchone("SELECT run_id FROM runs WHERE run_id=?", (run_id,))
    (last,) = await j.fetchone("SELECT COALESCE(MAX(attempt), 0) FROM attempts WHERE run_id=?",
                               (run_id,))
    attempt = last + 1
    resuming, checkpoint, known = False, -1, {}
    if row is None:
        if mode == "live":
            await start_from_venue()
        j.write("INSERT INTO runs VALUES (?,?,?,?,?,?,?)",
                (run_id, time.time_ns(), mode, run_id, cfg_text,
                 orjson.dumps([Path(p).name for p in inputs]).decode(), "running"))
    else:
        j.write("UPDATE runs SET status='running' WHERE run_id=?", (run_id,))
        if mode != "replay":
            resuming = True
        else:
            cp = await j.fetchone("SELECT event_index FROM checkpoints WHERE run_id=?",
                                  (run_id,))
            checkpoint = cp[0] if cp else -1
            for cid, sym, side, qty, price in await j.fetchall(
                    "SELECT client_order_id, symbol, side, qty, price FROM orders "
                    "WHERE run_id=? AND status != 'refused'", (run_id,)):
                known[cid] = (sym, side, qty, price)
            log.warning("resuming run %s (attempt %d) from event %d: %d orders already sent",
                        run_id, attempt, checkpoint, len(known))
    j.write("INSERT INTO attempts VALUES (?,?,?,?)", (run_id, attempt, time.time_ns(), checkpoint))
    await j.flush()
    (risk_seq,) = await j.fetchone("SELECT COALESCE(MAX(seq), 0) FROM risk_states "
                                   "WHERE run_id=?", (run_id,))
    # a replayed run writes its risk changes again with the same numbers (ignored as
    # duplicates); paper and live runs go on from the journal's last one
    rec = Recorder(j, run_id, attempt, risk_seq=0 if mode == "replay" else risk_seq,
                   kill_seq=await next_seq(j, run_id))
    kills = KillReplay([(ts, action, reason) for _, ts, action, reason
                        in await kill_history(j, run_id)], guard)
    return JournalStart(rec=rec, attempt=attempt, kills=kills, resuming=resuming,
                        checkpoint=checkpoint, known_orders=known, halted_at_start=halted)
