"""scripts/deploy/ballast.service: systemd accepts it, and its restart policy is the engine's
exit codes (a deliberate stop is never restarted, a crash is)."""

from __future__ import annotations

import shutil
import subprocess
import sys

import pytest

from tests.conftest import ROOT

UNIT = ROOT / "scripts" / "deploy" / "ballast.service"
VENV_PYTHON = "/opt/ballast/venv/bin/python"


def _settings(text: str) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for ln in text.splitlines():
        if ln and not ln.startswith(("#", "[")) and "=" in ln:
            k, v = ln.split("=", 1)
            out.setdefault(k.strip(), []).append(v.strip())
    return out


def test_systemd_analyze_verify_accepts_the_unit(tmp_path):
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not installed here: the unit cannot be verified")
    # verify checks that ExecStart='s program exists: point it at this test's python
    unit = tmp_path / "ballast.service"
    unit.write_text(UNIT.read_text().replace(VENV_PYTHON, sys.executable))
    r = subprocess.run([analyze, "verify", "--man=no", str(unit)], capture_output=True,
                       text=True, timeout=60)
    said = [ln for ln in (r.stdout + r.stderr).splitlines() if "ballast" in ln]
    assert r.returncode == 0, r.stdout + r.stderr
    assert said == [], said  # no warning about the unit (an unknown key is only a warning)


def test_the_unit_runs_the_live_engine_as_its_own_user_with_the_key_from_a_file():
    s = _settings(UNIT.read_text())
    args = "--config /etc/ballast/live.toml --journal /var/lib/ballast/journal.sqlite"
    assert s["ExecStart"] == [f"{VENV_PYTHON} -m engine run --mode live {args}"]
    assert s["ExecStartPre"] == [f"{VENV_PYTHON} -m engine check {args}"]
    assert s["User"] == s["Group"] == ["ballast"]
    assert s["EnvironmentFile"] == ["/etc/ballast/ballast.env"]
    assert s["StandardOutput"] == s["StandardError"] == ["journal"]
    assert s["StateDirectory"] == ["ballast"] and s["ReadWritePaths"] == ["/var/lib/ballast"]
    for hardening in ("NoNewPrivileges", "PrivateTmp", "ProtectHome", "RestrictSUIDSGID"):
        assert s[hardening] == ["yes"], hardening
    assert s["ProtectSystem"] == ["strict"]


def test_the_restart_policy_spares_what_the_engine_ended_on_purpose():
    from engine.journal.store import EXIT_JOURNAL
    from engine.node.commands import EXIT_TASK_FAILED

    s = _settings(UNIT.read_text())
    assert s["Restart"] == ["on-failure"]  # a clean stop (exit 0) is never restarted
    prevented = {int(c) for c in s["RestartPreventExitStatus"][0].split()}
    # 2: bad config or a refused key; 3: the journal in use or unusable; 4: a task failed
    # and the engine journaled a kill (a restart would only come back HALTED)
    assert prevented == {2, EXIT_JOURNAL, EXIT_TASK_FAILED}
    assert 1 not in prevented  # an unexpected error at start (the network) is retried
    assert s["KillSignal"] == ["SIGTERM"]  # the engine's clean stop: cancels, flushes
