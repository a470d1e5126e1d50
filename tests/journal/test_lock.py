"""One run per journal: the OS lock refuses a second holder, names the first, and dies with
its process (kill -9 included), so a crash never blocks the restart."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import pytest

from engine.journal.lock import JournalLock
from engine.journal.store import JournalError


def test_a_second_lock_on_a_journal_in_use_is_refused_naming_the_holder(tmp_path):
    path = str(tmp_path / "j.sqlite")
    first = JournalLock(path).acquire()
    try:
        with pytest.raises(JournalError, match=rf"journal in use by pid {os.getpid()} since "):
            JournalLock(path).acquire()
    finally:
        first.release()
    JournalLock(path).acquire().release()  # free again once released


def test_the_lock_of_a_killed_process_is_free_at_once(tmp_path):
    path = str(tmp_path / "j.sqlite")
    code = ("import os, signal, sys; from engine.journal.lock import JournalLock; "
            f"JournalLock({path!r}).acquire(); print('held', flush=True); "
            "sys.stdin.readline()")
    proc = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True,
                            cwd=os.path.dirname(os.path.dirname(os.path.dirname(__file__))))
    try:
        assert proc.stdout.readline().strip() == "held"
        with pytest.raises(JournalError, match=f"pid {proc.pid}"):
            JournalLock(path).acquire()
        proc.send_signal(signal.SIGKILL)
        proc.wait(30)
    finally:
        if proc.poll() is None:
            proc.kill()
    JournalLock(path).acquire().release()  # the kernel released it with the process


def test_a_journal_path_that_is_a_directory_is_refused(tmp_path):
    with pytest.raises(JournalError, match="is a directory"):
        JournalLock(str(tmp_path)).acquire()
