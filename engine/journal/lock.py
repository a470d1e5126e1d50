"""One run per journal: an OS lock held for the run's whole life.

`flock` on a file beside the journal (`<journal>.lock`), taken without waiting. The kernel
releases it when the process dies, however it dies (kill -9 included), so a crash never
blocks the restart that recovers it; a second `run` while the first is alive is refused with
the holder's pid and start time, which the holder wrote into the lock file. SQLite's own locks
are per transaction and would let two engines interleave their orders in one journal.
"""

from __future__ import annotations

import fcntl
import os
import time

from engine.journal.store import JournalError


def lock_path(journal_path: str) -> str:
    return journal_path + ".lock"


class JournalLock:
    def __init__(self, journal_path: str) -> None:
        self.journal_path = journal_path
        self.path = lock_path(journal_path)
        self._fd: int | None = None

    def acquire(self) -> "JournalLock":
        folder = os.path.dirname(os.path.abspath(self.journal_path)) or "."
        if not os.path.isdir(folder):
            raise JournalError(f"{self.journal_path}: folder {folder} does not exist")
        if os.path.isdir(self.journal_path):
            raise JournalError(f"{self.journal_path}: is a directory, not a journal file")
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise JournalError(f"{self.journal_path}: cannot create its lock file "
                               f"{self.path} ({exc.strerror})") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 200).decode(errors="replace").strip()
            os.close(fd)
            raise JournalError(f"{self.journal_path}: journal in use by {holder or 'another run'}"
                               "; one run per journal (stop it first, or use another path)"
                               ) from None
        os.ftruncate(fd, 0)
        os.write(fd, f"pid {os.getpid()} since "
                     f"{time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())}\n".encode())
        self._fd = fd
        return self

    def release(self) -> None:
        if self._fd is not None:
            os.ftruncate(self._fd, 0)
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None

    @property
    def held(self) -> bool:
        return self._fd is not None
