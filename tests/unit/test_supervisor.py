"""The demo's process supervisor, on real (short-lived) child processes."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from devtools.processes import ChildExited, RestartPolicy, Supervisor, wait_for

QUICK = RestartPolicy(max_restarts=2, first_delay_seconds=0.05, max_delay_seconds=0.1)


def _exits(code: int) -> list[str]:
    return [sys.executable, "-c", f"import sys; print('started'); sys.exit({code})"]


def test_a_child_that_dies_is_restarted_with_back_off_then_given_up_with_what_to_do(tmp_path: Path) -> None:
    reports: list[str] = []
    supervisor = Supervisor(tmp_path / "logs", report=reports.append)
    try:
        supervisor.start("worker", _exits(3), restart=QUICK)
        supervisor.watch(interval=0.02)
        wait_for(lambda: any("gave up" in r for r in reports), timeout=20, what="the supervisor giving up")
        supervisor.check_alive()  # a child given up on is reported, not an error: the rest keeps running
    finally:
        supervisor.stop_all()

    log = tmp_path / "logs" / "worker.log"
    assert [r.split(";")[0] for r in reports if "exited" in r] == ["worker exited with code 3"] * 3
    assert "restarting it in 0.05s (restart 1 of 2;" in reports[0]
    assert "restarting it in 0.1s (restart 2 of 2;" in next(r for r in reports[1:] if "exited" in r)
    assert sum("restarted worker (pid" in r for r in reports) == 2
    assert "gave up on worker after 2 restarts" in reports[-1]
    assert f"see {log}" in reports[-1] and "q2c worker" in reports[-1]
    assert log.read_text().count("started") == 3
    assert log.read_text().count("exited with code 3") == 2  # a marker before each restart


def test_a_child_without_a_restart_policy_that_dies_stops_the_demo(tmp_path: Path) -> None:
    supervisor = Supervisor(tmp_path / "logs", report=lambda message: None)
    try:
        supervisor.start("temporal", _exits(1))
        with pytest.raises(ChildExited, match=r"temporal exited with code 1; see .*temporal\.log"):
            wait_for(lambda: False, timeout=20, what="temporal to die", on_wait=supervisor.check_alive)
    finally:
        supervisor.stop_all()


def test_stopping_restarts_nothing(tmp_path: Path) -> None:
    reports: list[str] = []
    supervisor = Supervisor(tmp_path / "logs", report=reports.append)
    process = supervisor.start("worker", [sys.executable, "-c", "import time; time.sleep(60)"], restart=QUICK)
    supervisor.watch(interval=0.01)
    supervisor.stop_all()

    assert process.poll() is not None
    assert supervisor.children == [] and reports == []
