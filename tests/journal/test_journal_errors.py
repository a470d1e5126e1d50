"""The journal never silently overwrites: corrupt, foreign, newer-schema files and read-only
folders give a clear error and exit code 3, and the file is left exactly as it was."""

from __future__ import annotations

import hashlib
import os
import sqlite3
import subprocess
import sys

import pytest

from engine.journal.schema import APPLICATION_ID, SCHEMA_VERSION
from engine.journal.store import Journal, JournalError
from tests.conftest import ROOT

CONFIG = str(ROOT / "configs" / "demo_perps.toml")


def _run(journal) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "engine", "run", "--config", CONFIG,
                           "--journal", str(journal)], cwd=ROOT, capture_output=True,
                          text=True, timeout=300)


def _digest(p) -> str:
    return hashlib.sha256(open(p, "rb").read()).hexdigest()


def _refused(path, words: str):
    before = _digest(path)
    p = _run(path)
    assert p.returncode == 3, p.stderr[-800:]
    assert words in p.stderr and str(path) in p.stderr
    assert _digest(path) == before


def test_corrupt_file_is_refused(tmp_path):
    path = tmp_path / "j.sqlite"
    path.write_bytes(b"this is not a database, just bytes" * 100)
    _refused(path, "not an SQLite file")


def test_truncated_sqlite_file_is_refused(tmp_path):
    path = tmp_path / "j.sqlite"
    con = sqlite3.connect(path)
    con.execute("CREATE TABLE t (x)")
    con.executemany("INSERT INTO t VALUES (?)", [(i,) for i in range(5000)])
    con.commit()
    con.close()
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 3] + b"\x00" * 100 + data[len(data) // 2:])
    _refused(path, "error:")


def test_foreign_sqlite_database_is_refused(tmp_path):
    path = tmp_path / "orders.db"
    con = sqlite3.connect(path)
    con.execute("CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT)")
    con.execute("INSERT INTO customers VALUES (1, 'keep me')")
    con.commit()
    con.close()
    _refused(path, "not a Ballast journal")


def test_journal_from_a_newer_schema_is_refused(tmp_path):
    path = tmp_path / "j.sqlite"
    con = sqlite3.connect(path)
    con.execute(f"PRAGMA application_id={APPLICATION_ID}")
    con.execute(f"PRAGMA user_version={SCHEMA_VERSION + 1}")
    con.execute("CREATE TABLE runs (run_id TEXT)")
    con.commit()
    con.close()
    _refused(path, f"schema v{SCHEMA_VERSION + 1} is newer")


async def test_read_only_folder_is_refused(tmp_path, monkeypatch):
    d = tmp_path / "ro"
    d.mkdir()
    d.chmod(0o555)
    real = os.access
    # root bypasses permission bits, so ask the same question the way an unprivileged user would
    monkeypatch.setattr(os, "access", lambda p, m: False if str(p) == str(d) else real(p, m))
    with pytest.raises(JournalError, match="not writable"):
        await Journal.open(str(d / "j.sqlite"))
    assert not (d / "j.sqlite").exists()


async def test_missing_folder_is_refused(tmp_path):
    with pytest.raises(JournalError, match="does not exist"):
        await Journal.open(str(tmp_path / "nope" / "j.sqlite"))


def test_journal_of_another_config_is_refused(tmp_path):
    path = tmp_path / "j.sqlite"
    assert _run(path).returncode == 0
    other = tmp_path / "other.toml"
    other.write_text(open(CONFIG).read().replace("abs_band = 0.03", "abs_band = 0.04")
                     .replace('"../scripts', f'"{ROOT}/scripts'))
    p = subprocess.run([sys.executable, "-m", "engine", "run", "--config", str(other),
                        "--journal", str(path)], cwd=ROOT, capture_output=True, text=True,
                       timeout=300)
    assert p.returncode == 3 and "another config" in p.stderr


async def test_writer_batches_and_flush_makes_rows_durable(tmp_path):
    j = await Journal.open(str(tmp_path / "j.sqlite"))
    try:
        for i in range(1000):
            j.write("INSERT INTO funding VALUES (?,?,?,?,?,?)", ("r", "S", i, 0.0, "0", "x"))
        await j.flush()
        # a second connection sees every row once flush has returned
        con = sqlite3.connect(tmp_path / "j.sqlite")
        assert con.execute("SELECT COUNT(*) FROM funding").fetchone() == (1000,)
        con.close()
        assert j.rows_written == 1000 and j.commits <= 3
    finally:
        await j.close()
