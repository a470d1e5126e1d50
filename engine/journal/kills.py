"""The kill switch as journaled state: every kill and every resume of a run is a row of
`kill_switch`, in order, never overwritten. A run whose last row is a kill is killed: it
starts HALTED however it was stopped, until a person resumes it (`engine resume`)."""

from __future__ import annotations

from engine.journal.store import Journal

KILL, RESUME = "kill", "resume"


async def kill_history(j: Journal, run_id: str) -> list[tuple[int, int, str, str]]:
    """(seq, ts ns, action, reason) of every kill and resume, oldest first."""
    if not await j.has_table("kill_switch"):
        return []
    return await j.fetchall("SELECT seq, ts, action, reason FROM kill_switch WHERE run_id=? "
                            "ORDER BY seq", (run_id,))


async def standing_kill(j: Journal, run_id: str) -> tuple[int, int, str, str] | None:
    """The kill in force (the last row, when it is a kill), or None."""
    hist = await kill_history(j, run_id)
    return hist[-1] if hist and hist[-1][2] == KILL else None


async def next_seq(j: Journal, run_id: str) -> int:
    if not await j.has_table("kill_switch"):
        return 1
    (n,) = await j.fetchone("SELECT COALESCE(MAX(seq), 0) FROM kill_switch WHERE run_id=?",
                            (run_id,))
    return n + 1


def write_action(j: Journal, run_id: str, seq: int, ts: int, action: str, reason: str) -> None:
    j.write("INSERT INTO kill_switch VALUES (?,?,?,?,?)", (run_id, seq, ts, action, reason))
