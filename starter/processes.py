"""Child processes of ``q2c demo``: started in their own process group, awaited on a condition with a
deadline, and all stopped (TERM, then KILL) when the demo ends or Ctrl-C arrives."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
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


@dataclass
class Supervisor:
    log_dir: Path
    env: dict[str, str] = field(default_factory=dict)  # added to this process's environment
    children: list[tuple[str, subprocess.Popen[bytes]]] = field(default_factory=list)

    def start(
        self, name: str, command: list[str], env: dict[str, str] | None = None
    ) -> subprocess.Popen[bytes]:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        log = (self.log_dir / f"{name}.log").open("ab")
        process = subprocess.Popen(
            command,
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**os.environ, **self.env},
            start_new_session=True,
        )
        self.children.append((name, process))
        return process

    def check_alive(self) -> None:
        for name, process in self.children:
            if process.poll() is not None:
                raise RuntimeError(
                    f"{name} exited with code {process.returncode}; see {self.log_dir / (name + '.log')}"
                )

    def stop_all(self, timeout: float = 10.0) -> None:
        for _, process in reversed(self.children):
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        for _, process in reversed(self.children):
            try:
                process.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        self.children.clear()
