"""Serving an ASGI app over HTTPS with uvicorn, in the foreground or on a background thread (tests)."""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import uvicorn

from q2c_sandbox.tls import ServerCert


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def uvicorn_config(app: Any, host: str, port: int, cert: ServerCert) -> uvicorn.Config:
    return uvicorn.Config(
        app,
        host=host,
        port=port,
        ssl_certfile=str(cert.cert_path),
        ssl_keyfile=str(cert.key_path),
        log_level="warning",
        access_log=False,
        lifespan="on",
        # The sandboxes emulate remote services: keep-alive like a real load balancer.
        timeout_keep_alive=30,
    )


@dataclass
class BackgroundServer:
    """An HTTPS server on its own thread and event loop; ``start`` returns once it accepts connections."""

    app: Any
    host: str
    port: int
    cert: ServerCert
    _server: uvicorn.Server | None = None
    _thread: threading.Thread | None = None
    _started: threading.Event = field(default_factory=threading.Event)

    @property
    def base_url(self) -> str:
        return f"https://{self.host}:{self.port}"

    def start(self, timeout: float = 15.0) -> BackgroundServer:
        self._server = uvicorn.Server(uvicorn_config(self.app, self.host, self.port, self.cert))
        # uvicorn installs signal handlers only on the main thread, so this one leaves them alone.
        self._thread = threading.Thread(target=self._run, name=f"https-{self.port}", daemon=True)
        self._thread.start()
        if not _wait_until(lambda: self._server is not None and self._server.started, timeout):
            raise RuntimeError(f"server on {self.base_url} did not start within {timeout}s")
        return self

    def _run(self) -> None:
        assert self._server is not None
        asyncio.run(self._server.serve())

    def stop(self, timeout: float = 10.0) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout)


def _wait_until(predicate: Callable[[], bool], timeout: float) -> bool:
    event = threading.Event()
    deadline = timeout
    step = 0.02
    waited = 0.0
    while waited < deadline:
        if predicate():
            return True
        event.wait(step)
        waited += step
    return predicate()
