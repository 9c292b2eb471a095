"""Pieces both sandboxes share: the admin credential check, the request log, their settings base, the
admin knobs kept across restarts, and the one log line for a client that went away.

The admin API lives under ``/__admin/`` and takes only the ``X-Sandbox-Admin-Key`` header; API
credentials (bearer tokens, OAuth 1.0a signatures) are never accepted there, and the admin key is never
accepted by the API.
"""

from __future__ import annotations

import hmac
import json
import logging
import os
import threading
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send

ADMIN_PREFIX = "/__admin"
ADMIN_HEADER = "X-Sandbox-Admin-Key"

log = logging.getLogger("q2c_sandbox")


@dataclass
class SandboxSettings:
    """What every sandbox needs: where its data lives and the admin credential."""

    db_path: Path
    admin_key: str = "q2c-sandbox-admin"

    @property
    def knobs_path(self) -> Path:
        """Where the admin-set knobs (latency, the concurrency limit) are kept: beside the database."""
        return self.db_path.with_suffix(".admin.json")


@dataclass
class AdminKnobs:
    """Admin-set knobs that outlive the process, in a JSON file beside the sandbox's database.

    A restart that silently dropped a latency or a concurrency limit set an hour ago would change a
    benchmark or a test without a word, so they are saved when set and announced when restored.
    """

    path: Path
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def load(self) -> dict[str, Any]:
        try:
            saved = json.loads(self.path.read_text())
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as exc:
            log.warning(
                "%s cannot be read (%s); starting with the default latency and limits", self.path, exc
            )
            return {}
        return saved if isinstance(saved, dict) else {}

    def save(self, name: str, value: Any) -> None:
        with self._lock:
            saved = self.load() | {name: value}
            partial = self.path.with_suffix(".tmp")
            partial.write_text(json.dumps(saved, indent=2) + "\n")
            os.replace(partial, self.path)  # whole or not at all, should the process die mid-write

    def announce(self, system: str, restored: list[str]) -> None:
        """Say, once at start, which knobs this run took over from the last one."""
        if restored:
            log.warning(
                "%s sandbox: %s kept from before the restart (saved in %s); set them again through the "
                "admin API to change them",
                system,
                ", ".join(restored),
                self.path,
            )


def client_went_away(system: str, method: str, path: str) -> None:
    """One line, not a traceback: a client killed mid-request is routine for a test server."""
    log.warning(
        "%s sandbox: %s %s: the client went away before sending the whole request; nothing was done",
        system,
        method,
        path,
    )


class ClientGoneMiddleware:
    """Turns a ``ClientDisconnect`` (the body never fully arrived) into ``client_went_away``'s line."""

    def __init__(self, app: ASGIApp, *, system: str) -> None:
        self.app = app
        self.system = system

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await self.app(scope, receive, send)
        except ClientDisconnect:
            if scope["type"] != "http":
                raise
            client_went_away(self.system, scope["method"], scope["path"])


def admin_refusal(request: Request, admin_key: str) -> Response | None:
    """None when the request carries the admin key; otherwise the 401 to send back."""
    given = request.headers.get(ADMIN_HEADER, "")
    if given and hmac.compare_digest(given.encode(), admin_key.encode()):
        return None
    return JSONResponse(
        {"error": "admin_unauthorized", "message": f"the admin API needs the {ADMIN_HEADER} header"},
        status_code=401,
    )


def admin_endpoint(
    admin_key: str, handler: Callable[[Request], Awaitable[Response]]
) -> Callable[[Request], Awaitable[Response]]:
    """Wrap an admin handler so it runs only for callers holding the admin key."""

    async def guarded(request: Request) -> Response:
        refusal = admin_refusal(request, admin_key)
        return refusal if refusal is not None else await handler(request)

    return guarded


@dataclass
class LoggedRequest:
    at: float
    method: str
    path: str
    status: int
    endpoint: str  # the route template, e.g. "PUT /services/rest/record/v1/salesOrder/{id}"


@dataclass
class RequestLog:
    """Every API request a sandbox answered (admin calls excluded), kept in memory, bounded."""

    max_entries: int = 50_000
    _entries: list[LoggedRequest] = field(default_factory=list)
    _counts: Counter[str] = field(default_factory=Counter)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def record(self, method: str, path: str, status: int, endpoint: str) -> None:
        with self._lock:
            self._entries.append(LoggedRequest(time.time(), method, path, status, endpoint))
            if len(self._entries) > self.max_entries:
                del self._entries[: len(self._entries) - self.max_entries]
            self._counts[endpoint] += 1

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self._counts.clear()

    def snapshot(self, limit: int = 500) -> dict[str, Any]:
        with self._lock:
            recent = self._entries[-limit:]
            return {
                "total": sum(self._counts.values()),
                "counts": dict(self._counts),
                "recent": [
                    {
                        "at": e.at,
                        "method": e.method,
                        "path": e.path,
                        "status": e.status,
                        "endpoint": e.endpoint,
                    }
                    for e in recent
                ],
            }
