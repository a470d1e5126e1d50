"""The command line's exit code when a supervised task dies: 4, with one line naming the
task, after the run flushed what it could (here the journal writer itself, in replay)."""

from __future__ import annotations

from engine.journal.recorder import Recorder
from engine.node import cli
from tests.conftest import ROOT

CONFIG = str(ROOT / "configs" / "demo_perps.toml")


def test_a_dead_journal_writer_ends_the_run_with_exit_4(tmp_path, monkeypatch, capsys):
    original = Recorder.fill
    calls = {"n": 0}

    def fill(self, f):
        calls["n"] += 1
        if calls["n"] == 3:  # SQLite refuses this statement: the writer task dies
            self.j.write("INSERT INTO no_such_table VALUES (?)", (1,))
        return original(self, f)

    monkeypatch.setattr(Recorder, "fill", fill)
    code = cli.main(["--log-level", "critical", "run", "--config", CONFIG, "--journal",
                     str(tmp_path / "j.sqlite"), "--log-format", "text"])
    err = capsys.readouterr().err
    assert code == 4, err
    assert "task journal-writer failed: OperationalError: no such table" in err
    assert "Traceback" not in err
