"""The journal store: SQLite in WAL mode through aiosqlite, one writer task, batched commits.

Hot-path code never waits on SQLite: it calls `write` (an O(1) append to a bounded queue) and
the writer task commits whatever has queued up in one transaction. Code that must not act
before a row is durable (an order about to leave, a fill about to be applied) awaits `flush`,
which returns once everything queued before it is committed.

Opening refuses, with a `JournalError` and never by overwriting: a file that is not SQLite, a
SQLite file that is not a Ballast journal, a journal from a newer schema, and a path in a
directory that cannot be written.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sqlite3
from typing import Any, Iterable

import aiosqlite

from engine.core.errors import FatalError
from engine.journal.schema import APPLICATION_ID, MIGRATIONS, SCHEMA_VERSION

log = logging.getLogger("engine.journal")

EXIT_JOURNAL = 3  # process exit code for journal errors


class JournalError(FatalError):
    """The journal cannot be used; the message says why and what to do."""


_FLUSH = object()
_STOP = object()


class Journal:
    def __init__(self, path: str, batch: int = 5000, backlog_limit: int = 50_000,
                 readonly: bool = False) -> None:
        self.path = path
        self.readonly = readonly  # `report` and `status`: never written, never created
        # Unbounded, so `write` never drops or blocks; producers that can write faster than
        # SQLite commits watch `backlog` and await `flush` (back-pressure) above the limit.
        self.queue: asyncio.Queue = asyncio.Queue()
        self.backlog_limit = backlog_limit
        self.batch = batch
        self.db: aiosqlite.Connection | None = None
        self._writer: asyncio.Task | None = None
        self.rows_written = 0
        self.commits = 0
        self.error: BaseException | None = None
        # after the writer died, the run halts; its shutdown (cancelling working orders) must
        # not fail on journal writes that can no longer be made: they are counted, not raised
        self.discarding = False
        self.discarded = 0

    # -- opening --------------------------------------------------------------------------
    @classmethod
    async def open(cls, path: str, **kw) -> "Journal":
        j = cls(path, **kw)
        await j._open()
        return j

    async def _open(self) -> None:
        if self.readonly:
            return await self._open_readonly()
        path = self.path
        folder = os.path.dirname(os.path.abspath(path)) or "."
        exists = os.path.exists(path)
        if os.path.isdir(path):
            raise JournalError(f"{path}: is a directory, not a journal file")
        if not os.path.isdir(folder):
            raise JournalError(f"{path}: folder {folder} does not exist")
        if not os.access(folder, os.W_OK | os.X_OK):
            raise JournalError(f"{path}: folder {folder} is not writable (the journal and its "
                               "WAL file must be written there)")
        if exists and not os.access(path, os.R_OK | os.W_OK):
            raise JournalError(f"{path}: journal file is not readable and writable")
        if exists and os.path.getsize(path) > 0:
            with open(path, "rb") as fh:
                head = fh.read(16)
            if head != b"SQLite format 3\x00":
                raise JournalError(f"{path}: not an SQLite file (corrupt or foreign); "
                                   "refusing to overwrite it")
        try:
            await self._connect(path)
            await self._check(exists)  # read-only look first: a refused file stays untouched
            await self.db.execute("PRAGMA journal_mode=WAL")
            await self.db.execute("PRAGMA synchronous=NORMAL")
            await self._migrate()
        except sqlite3.DatabaseError as exc:
            await self._close_db()
            raise JournalError(f"{path}: unusable SQLite file ({exc}); refusing to touch it")
        except JournalError:
            await self._close_db()
            raise
        self._writer = asyncio.create_task(self._write_loop(), name="journal-writer")

    async def _connect(self, target: str, **kw) -> None:
        conn = aiosqlite.connect(target, isolation_level=None, **kw)
        worker = getattr(conn, "_thread", None)
        if worker is not None:  # an unclosed journal must not keep a dying process alive
            worker.daemon = True
        self.db = await conn

    @staticmethod
    def readonly_uri(path: str) -> str:
        """SQLite's URI for reading a journal without writing a byte beside it. A journal
        closed cleanly (no -wal, no -shm) is read as immutable: SQLite would otherwise make
        a -shm of its own, owned by whoever reads (root's, in a service user's folder, would
        lock the service out of its own journal)."""
        from urllib.parse import quote

        clean = not any(os.path.exists(path + side) for side in ("-wal", "-shm"))
        return f"file:{quote(os.path.abspath(path))}?mode=ro" + ("&immutable=1" if clean else "")

    async def _open_readonly(self) -> None:
        path = self.path
        if os.path.isdir(path):
            raise JournalError(f"{path}: is a directory, not a journal file")
        if not os.path.isfile(path):
            raise JournalError(f"{path}: no such journal")
        with open(path, "rb") as fh:
            if fh.read(16) != b"SQLite format 3\x00":
                raise JournalError(f"{path}: not an SQLite file (corrupt or foreign)")
        try:
            await self._connect(self.readonly_uri(path), uri=True)
            await self._check(True)
            (version,) = await (await self.db.execute("PRAGMA user_version")).fetchone()
            if version == 0:
                raise JournalError(f"{path}: not a Ballast journal (empty)")
            self.version = version
        except sqlite3.DatabaseError as exc:
            await self._close_db()
            raise JournalError(f"{path}: unusable SQLite file ({exc})")
        except JournalError:
            await self._close_db()
            raise

    async def has_table(self, name: str) -> bool:
        return await self.fetchone("SELECT 1 FROM sqlite_master WHERE type='table' AND name=?",
                                   (name,)) is not None

    async def _check(self, existed: bool) -> None:
        db = self.db
        (app,) = await (await db.execute("PRAGMA application_id")).fetchone()
        (version,) = await (await db.execute("PRAGMA user_version")).fetchone()
        tables = [r[0] for r in await (await db.execute(
            "SELECT name FROM sqlite_master WHERE type='table'")).fetchall()]
        if app != APPLICATION_ID:
            if tables or version:
                raise JournalError(f"{self.path}: an SQLite database that is not a Ballast "
                                   f"journal (tables: {', '.join(tables[:5]) or 'none'}); "
                                   "refusing to overwrite it")
        if version > SCHEMA_VERSION:
            raise JournalError(f"{self.path}: journal schema v{version} is newer than this "
                               f"engine's v{SCHEMA_VERSION}; upgrade the engine")
        if existed and version:
            (ok,) = await (await db.execute("PRAGMA quick_check")).fetchone()
            if ok != "ok":
                raise JournalError(f"{self.path}: journal is damaged ({ok}); refusing to use it")

    async def _migrate(self) -> None:
        db = self.db
        (version,) = await (await db.execute("PRAGMA user_version")).fetchone()
        for v in range(version, SCHEMA_VERSION):
            await db.execute("BEGIN")
            for stmt in [s for s in MIGRATIONS[v].split(";") if s.strip()]:
                await db.execute(stmt)
            await db.execute(f"PRAGMA user_version={v + 1}")
            await db.execute(f"PRAGMA application_id={APPLICATION_ID}")
            await db.execute("COMMIT")
            log.info("journal %s migrated to schema v%d", self.path, v + 1)

    @property
    def writer_task(self) -> asyncio.Task | None:
        """The one writer (for the run's supervisor to watch)."""
        return self._writer

    # -- writing --------------------------------------------------------------------------
    @property
    def backlog(self) -> int:
        return self.queue.qsize()

    @property
    def needs_flush(self) -> bool:
        return self.queue.qsize() > self.backlog_limit

    def write(self, sql: str, params: tuple) -> None:
        """Queue one statement; never blocks."""
        if self.readonly:
            raise JournalError(f"{self.path}: opened read-only")
        if self.error is not None:
            if self.discarding:  # the run is shutting down after the writer died
                self.discarded += 1
                return
            raise JournalError(f"{self.path}: journal writer failed: {self.error}")
        self.queue.put_nowait((sql, params))

    async def flush(self) -> None:
        """Return once everything queued so far is committed."""
        if self._writer is None:
            raise JournalError(f"{self.path}: journal is closed")
        if self.error is not None:  # a dead writer would never answer
            if self.discarding:
                return
            raise JournalError(f"{self.path}: journal writer failed: {self.error}")
        fut = asyncio.get_running_loop().create_future()
        await self.queue.put((_FLUSH, fut))
        await fut

    async def _write_loop(self) -> None:
        db = self.db
        q = self.queue
        waiters: list = []
        try:
            while True:
                item = await q.get()
                items = [item]
                while len(items) < self.batch and not q.empty():
                    items.append(q.get_nowait())
                waiters = []
                stop = False
                groups: list[tuple[str, list[tuple]]] = []
                for sql, params in items:
                    if sql is _FLUSH:
                        waiters.append(params)
                    elif sql is _STOP:
                        stop = True
                    elif groups and groups[-1][0] == sql:
                        groups[-1][1].append(params)
                    else:
                        groups.append((sql, [params]))
                if groups:
                    await db.execute("BEGIN")
                    for sql, rows in groups:
                        await db.executemany(sql, rows)
                        self.rows_written += len(rows)
                    await db.execute("COMMIT")
                    self.commits += 1
                for w in waiters:
                    if not w.done():
                        w.set_result(None)
                if stop:
                    return
        except Exception as exc:  # the journal is broken: make every later call fail loudly
            self.error = exc
            log.error("journal writer failed: %s", exc)
            for w in waiters:  # flushes taken into the batch that failed: answered too
                if not w.done():
                    w.set_exception(JournalError(f"journal writer failed: {exc}"))
            while not q.empty():
                sql, params = q.get_nowait()
                if sql is _FLUSH and not params.done():
                    params.set_exception(JournalError(f"journal writer failed: {exc}"))
            raise

    async def close(self) -> None:
        if self._writer is not None:
            if not self._writer.done():
                await self.queue.put((_STOP, None))
                try:
                    await self._writer
                except Exception:  # already recorded in self.error and logged
                    pass
            self._writer = None
        await self._close_db()

    async def _close_db(self) -> None:
        if self.db is not None:
            await self.db.close()
            self.db = None

    # -- reading --------------------------------------------------------------------------
    async def fetchall(self, sql: str, params: Iterable[Any] = ()) -> list[tuple]:
        return list(await (await self.db.execute(sql, tuple(params))).fetchall())

    async def fetchone(self, sql: str, params: Iterable[Any] = ()) -> tuple | None:
        return await (await self.db.execute(sql, tuple(params))).fetchone()
