"""The journal: every decision, order, fill and state change, in SQLite through aiosqlite."""

from engine.journal.store import Journal, JournalError

__all__ = ["Journal", "JournalError"]
