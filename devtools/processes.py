"""Child processes of ``q2c demo``: started in their own process group, awaited on a condition with a
deadline, restarted with back-off when they may be (the worker), and all stopped (TERM, then KILL) when
the demo ends or Ctrl-C arrives."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path


def wait_for(
    condition: Callable[[], bool],
    *,
    timeout: float,
    what: str,
    interval: float = 0.1,
    on_wait: Callable[[], None] | None = None,
) -> None:
    """Poll ``condition`` until it holds or ``timeout`` passes; ``on_wait`` may raise to give up early."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        if on_wait is not None:
            on_wait()
        time.sleep(interval)
    if not condition():
        raise TimeoutError(f"{what} was not ready within {timeout:.0f}s")


def port_open(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def q2c_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "starter.cli", *args]


class ChildExited(RuntimeError):
    """A child the demo cannot go on without exited; the message names it and its log."""


@dataclass(frozen=True)
class RestartPolicy:
    """How a child that exits is started again: after a doubling delay, at most ``max_restarts`` times."""

    max_restarts: int = 5
    first_delay_seconds: float = 1.0
    max_delay_seconds: float = 30.0

    def delay(self, restarts_so_far: int) -> float:
        return min(self.max_delay_seconds, self.first_delay_seconds * 2**restarts_so_far)


@dataclass
class Child:
    name: str
    command: list[str]
    process: subprocess.Popen[bytes]
    restart: RestartPolicy | None
    restarts: int = 0
    restart_due: float | None = None  # monotonic time of the next start while it waits out its delay
    given_up: bool = False


@dataclass
class Supervisor:
    log_dir: Path
    env: dict[str, str] = field(default_factory=dict)  # added to this process's environment
    report: Callable[[str], None] = print  # where restarts are told (the demo's console)
    children: list[Child] = field(default_factory=list)
    _lock: threading.RLock = field(default_factory=threading.RLock)
    _stopping: threading.Event = field(default_factory=threading.Event)
    _failure: ChildExited | None = None

    def log_path(self, name: str) -> Path:
        return self.log_dir / f"{name}.log"

    def start(
        self, name: str, command: list[str], *, restart: RestartPolicy | None = None
    ) -> subprocess.Popen[bytes]:
        """Start ``command``, output appended to ``<log_dir>/<name>.log``; with ``restart``, started
        again when it exits (see ``check_alive``)."""
        with self._lock:
            child = Child(name, command, self._spawn(name, command), restart)
            self.children.append(child)
            return child.process

    def _spawn(self, name: str, command: list[str]) -> subprocess.Popen[bytes]:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        with self.log_path(name).open("ab") as log:  # the child keeps its own copy of the descriptor
            return subprocess.Popen(
                command,
                stdout=log,
                stderr=subprocess.STDOUT,
                env={**os.environ, **self.env},
                start_new_session=True,
            )

    def pid(self, name: str) -> int:
        with self._lock:
            return next(child.process.pid for child in self.children if child.name == name)

    def check_alive(self) -> None:
        """Restart the children that exited and may be restarted, once their delay is over; give up
        on them (and say what to do) after their last restart. ``ChildExited`` for any other child
        that exited: the demo cannot go on without it."""
        with self._lock:
            if self._failure is not None:
                raise self._failure
            if self._stopping.is_set():
                return
            for child in self.children:
                code = child.process.poll()
                if code is None or child.given_up:
                    continue
                if child.restart is None:
                    raise ChildExited(
                        f"{child.name} exited with code {code}; see {self.log_path(child.name)}"
                    )
                self._restart(child, code)

    def _restart(self, child: Child, code: int) -> None:
        policy, log = child.restart, self.log_path(child.name)
        assert policy is not None
        if child.restarts >= policy.max_restarts:
            child.given_up = True
            self.report(
                f"{child.name} exited with code {code}; gave up on {child.name} after {child.restarts} "
                f"restarts: see {log}, fix the cause, then run `q2c {child.name}` in another terminal "
                "(same directory and environment); everything else keeps running"
            )
        elif child.restart_due is None:
            delay = policy.delay(child.restarts)
            child.restart_due = time.monotonic() + delay
            self.report(
                f"{child.name} exited with code {code}; restarting it in {delay:g}s "
                f"(restart {child.restarts + 1} of {policy.max_restarts}; its log: {log})"
            )
        elif time.monotonic() >= child.restart_due:
            child.restarts += 1
            child.restart_due = None
            with log.open("a") as out:
                out.write(
                    f"--- q2c demo: {child.name} exited with code {code}; restart {child.restarts} "
                    f"of {policy.max_restarts} ---\n"
                )
            child.process = self._spawn(child.name, child.command)
            self.report(f"restarted {child.name} (pid {child.process.pid})")

    def watch(self, interval: float = 0.5) -> None:
        """Run ``check_alive`` every ``interval`` on a background thread (the demo's main thread is busy
        driving deals) until ``stop_all``; a failure is raised by the next ``check_alive`` call."""

        def loop() -> None:
            while not self._stopping.wait(interval):
                try:
                    self.check_alive()
                except ChildExited as exc:
                    with self._lock:
                        self._failure = exc
                    self.report(str(exc))
                    return

        threading.Thread(target=loop, name="supervisor", daemon=True).start()

    def stop_all(self, timeout: float = 10.0) -> None:
        with self._lock:
            self._stopping.set()  # first: a child stopped here must not be restarted
            for child in reversed(self.children):
                if child.process.poll() is None:
                    os.killpg(child.process.pid, signal.SIGTERM)
            deadline = time.monotonic() + timeout
            for child in reversed(self.children):
                try:
                    child.process.wait(max(0.1, deadline - time.monotonic()))
                except subprocess.TimeoutExpired:
                    os.killpg(child.process.pid, signal.SIGKILL)
                    child.process.wait()
            self.children.clear()
